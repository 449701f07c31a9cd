package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zombi-dev/zombi/bench/loadgen"
)

// perfCmd runs one of Kafka's perf tools (the command after --), measures
// the server's CPU time around it, and records the tool's summary:
//
//	kafka-producer-perf-test: "N records sent, R records/sec (M MB/sec),
//	  A ms avg latency, X ms max latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th."
//	kafka-consumer-perf-test: the CSV line under "start.time, end.time,
//	  data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
//	  rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec".
func perfCmd(args []string) error {
	fs := flag.NewFlagSet("perf", flag.ExitOnError)
	kind := fs.String("kind", "producer", "producer or consumer: which tool's output to parse")
	name := fs.String("name", "", "the row's name in the table")
	label := fs.String("label", "", "the column (server) name")
	pid := fs.Int("pid", 0, "the server's process id (its CPU time per record)")
	out := fs.String("out", "", "append the result to this .jsonl file")
	logFile := fs.String("log", "", "append the tool's output to this file (default: stderr)")
	recordSize := fs.Int("record-size", 0, "the producer's record size (counts its records as written to the server)")
	timeout := fs.Duration("timeout", 5*time.Minute, "kill the tool after this (the row is then left out)")
	_ = fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("perf: give the command after --")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var log io.Writer = prefixed{os.Stderr}
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(f, "$ %s\n", strings.Join(argv, " "))
		log = f
	}
	cmd.Stdout = io.MultiWriter(&stdout, log)
	cmd.Stderr = log
	cpu0, cpuErr := procCPU(*pid)
	t0 := time.Now()
	runErr := cmd.Run()
	secs := time.Since(t0).Seconds()
	cpu1, cpuErr1 := procCPU(*pid)
	if runErr != nil && ctx.Err() == context.DeadlineExceeded {
		// A slow server: say so, and let the benchmark go on.
		fmt.Fprintf(os.Stderr, "  %-18s %-28s killed after %s: no figures (lower BENCH_PERF_RECORDS)\n", *label, *name, *timeout)
		return nil
	}
	if runErr != nil {
		return fmt.Errorf("%s: %w (its output: %s)", strings.Join(argv, " "), runErr, *logFile)
	}
	var (
		res  loadgen.Result
		ps   *perfStats
		perr error
	)
	if *kind == "consumer" {
		res, ps, perr = parseConsumerPerf(stdout.String())
	} else {
		res, ps, perr = parseProducerPerf(stdout.String())
	}
	if perr != nil {
		return perr
	}
	ps.CommandSecs = secs
	ps.CommandString = strings.Join(argv, " ")
	res.Mode = "kafka-" + *kind + "-perf-test"
	c := cell{System: "kafka-perf", Label: *label, Server: *label, Kind: kindPerf, Workload: *name, Result: res, CPUPerRecordUS: -1, Perf: ps}
	if *kind == "producer" {
		c.Written, c.WrittenBytes = res.Records, res.Records*int64(*recordSize)
	}
	if cpuErr == nil && cpuErr1 == nil && res.Records > 0 {
		c.CPUPerRecordUS = (cpu1 - cpu0).Seconds() * 1e6 / float64(res.Records)
	}
	fmt.Fprintf(os.Stderr, "  %-18s %-28s %10s rec/s %8.2f MB/s  p50 %-8s p99 %-8s cpu/rec %s\n", *label, *name,
		loadgen.FormatCount(res.RecordsPerSec), res.MBPerSec, loadgen.FormatMicros(res.Latency.P50US),
		loadgen.FormatMicros(res.Latency.P99US), formatCPU(c.CPUPerRecordUS))
	return appendCell(*out, c)
}

// prefixed indents the tool's own output in the script's log.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	s := strings.TrimRight(string(b), "\n")
	if s != "" {
		fmt.Fprintln(p.w, "    | "+strings.ReplaceAll(s, "\n", "\n    | "))
	}
	return len(b), nil
}

var producerSummary = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, ([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th, ([\d.]+) ms 99.9th`)

func parseProducerPerf(s string) (loadgen.Result, *perfStats, error) {
	// The last match is the summary; the lines before it are progress.
	ms := producerSummary.FindAllStringSubmatch(s, -1)
	if len(ms) == 0 {
		return loadgen.Result{}, nil, errors.New("no summary line in kafka-producer-perf-test's output")
	}
	m := ms[len(ms)-1]
	f := make([]float64, len(m))
	for i := 1; i < len(m); i++ {
		f[i], _ = strconv.ParseFloat(m[i], 64)
	}
	us := func(ms float64) int64 { return int64(ms * 1000) }
	res := loadgen.Result{Records: int64(f[1]), RecordsPerSec: f[2], MBPerSec: f[3] * 1.048576, // the tool's MB is MiB
		Latency: loadgen.Latency{Count: int64(f[1]), MeanUS: f[4] * 1000, MaxUS: us(f[5]), P50US: us(f[6]), P90US: 0, P99US: us(f[8]), P999US: us(f[9])}}
	return res, &perfStats{AvgMS: f[4], P95MS: f[7]}, nil
}

func parseConsumerPerf(s string) (loadgen.Result, *perfStats, error) {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "start.time") || i+1 >= len(lines) {
			continue
		}
		fields := strings.Split(lines[i+1], ",")
		if len(fields) < 10 {
			break
		}
		f := make([]float64, len(fields))
		for j := 2; j < len(fields); j++ {
			f[j], _ = strconv.ParseFloat(strings.TrimSpace(fields[j]), 64)
		}
		// 2 MB, 3 MB.sec, 4 nMsg, 5 nMsg.sec, 6 rebalance ms, 7 fetch ms, 8 fetch MB.sec, 9 fetch nMsg.sec
		res := loadgen.Result{Records: int64(f[4]), RecordsPerSec: f[5], MBPerSec: f[3] * 1.048576}
		return res, &perfStats{FetchRecPerS: f[9], RebalanceMS: f[6]}, nil
	}
	return loadgen.Result{}, nil, errors.New("no result line in kafka-consumer-perf-test's output")
}
