package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, 100 on Linux.
const userHZ = 100

// statFields are the fields of /proc/PID/stat after the command name
// (which may hold spaces): statFields[0] is field 3, the state.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(s[i+1:]), nil
}

// procCPU is a process's CPU time so far: utime + stime (fields 14 and
// 15), its threads included, in 10 ms ticks. pid 0: not measured.
func procCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * time.Second / userHZ, nil
}

// procAge is how long ago the process started (field 22, starttime, in
// ticks since boot, against /proc/uptime): 10 ms resolution.
func procAge(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	start, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	up, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return 0, err
	}
	return time.Duration((up - float64(start)/userHZ) * float64(time.Second)), nil
}

// procMem is the process's VmRSS and VmHWM (peak RSS), in KiB.
func procMem(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}

// diskUsage is the space a directory's files take on disk (allocated
// blocks, as du counts: sparse preallocated index files count what they
// use).
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk (a rolled segment)
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// readyCmd waits until a started server answers and records its start-up
// time: from the process's start (as the kernel records it) to the first
// answer of every probe given: a Kafka Metadata response, GET /health 200,
// a NATS connection with JetStream account info, a Redis PING. Probes run
// every 10 ms.
func readyCmd(args []string) error {
	fs := flag.NewFlagSet("ready", flag.ExitOnError)
	pid := fs.Int("pid", 0, "the server's process id")
	server := fs.String("server", "", "the server's name in the table")
	out := fs.String("out", "", "append the start-up time to this .jsonl file")
	kafkaAddr := fs.String("kafka", "", "host:port: a Kafka Metadata request must be answered")
	httpURL := fs.String("http", "", "base URL: GET /health must answer 200")
	natsAddr := fs.String("nats", "", "host:port: JetStream must answer")
	redisAddr := fs.String("redis", "", "host:port: PING must answer")
	timeout := fs.Duration("timeout", 180*time.Second, "give up after this")
	_ = fs.Parse(args)
	if *pid <= 0 {
		return errors.New("ready needs --pid")
	}
	var probes []func(context.Context) error
	if *kafkaAddr != "" {
		probes = append(probes, func(ctx context.Context) error { return probeKafka(ctx, *kafkaAddr) })
	}
	if *httpURL != "" {
		probes = append(probes, func(ctx context.Context) error { return probeHTTP(ctx, *httpURL) })
	}
	if *natsAddr != "" {
		probes = append(probes, func(ctx context.Context) error { return probeNATS(ctx, *natsAddr) })
	}
	if *redisAddr != "" {
		probes = append(probes, func(ctx context.Context) error { return probeRedis(ctx, *redisAddr) })
	}
	deadline := time.Now().Add(*timeout)
	var last error
	for i := 0; i < len(probes); {
		if _, err := statFields(*pid); err != nil {
			return fmt.Errorf("%s (pid %d) exited before it was ready: %w", *server, *pid, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", *server, *timeout, last)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = probes[i](ctx)
		cancel()
		if last == nil {
			i++
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	age, err := procAge(*pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %-18s ready %s after its process started\n", *server, age.Round(10*time.Millisecond))
	if *out == "" {
		return nil
	}
	return appendCell(*out, cell{Label: *server, Server: *server, Kind: kindServer, Workload: "startup", CPUPerRecordUS: -1,
		Stats: &serverStats{StartupMS: float64(age.Microseconds()) / 1000}})
}

func probeKafka(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Brokers) == 0 {
		return errors.New("metadata without brokers")
	}
	return nil
}

func probeHTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /health: %s", resp.Status)
	}
	return nil
}

func probeNATS(ctx context.Context, addr string) error {
	nc, err := nats.Connect("nats://"+addr, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	_, err = js.AccountInfo(nats.Context(ctx))
	return err
}

func probeRedis(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	return c.Ping(ctx).Err()
}

// serverCmd records a server's memory (VmRSS and VmHWM now) and the disk
// space of its data directory, with the records written to it (the sum of
// the written counts of its cells in the given files, warm-up included).
func serverCmd(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	pid := fs.Int("pid", 0, "the server's process id")
	server := fs.String("server", "", "the server's name in the table")
	data := fs.String("data", "", "its data directory")
	out := fs.String("out", "", "append the figures to this .jsonl file")
	_ = fs.Parse(args)
	cells, err := readCells(fs.Args())
	if err != nil {
		return err
	}
	st := &serverStats{}
	for _, c := range cells {
		if c.Server == *server {
			st.Written += c.Written
			st.WrittenBytes += c.WrittenBytes
		}
	}
	if st.RSSKB, st.HWMKB, err = procMem(*pid); err != nil {
		return err
	}
	if st.DiskBytes, err = diskUsage(*data); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %-18s VmRSS %d MiB, VmHWM %d MiB, data %.1f MB for %s records of %.1f MB\n", *server,
		st.RSSKB>>10, st.HWMKB>>10, float64(st.DiskBytes)/1e6, formatInt(st.Written), float64(st.WrittenBytes)/1e6)
	return appendCell(*out, cell{Label: *server, Server: *server, Kind: kindServer, Workload: "resources", CPUPerRecordUS: -1, Stats: st})
}

// diskCmd records the data directory's size once the server has stopped
// (memtables flushed, preallocated files trimmed), with the payload bytes
// of every record written to it, the perf tools' included.
func diskCmd(args []string) error {
	fs := flag.NewFlagSet("disk", flag.ExitOnError)
	server := fs.String("server", "", "the server's name in the table")
	data := fs.String("data", "", "its data directory")
	out := fs.String("out", "", "append the figures to this .jsonl file")
	_ = fs.Parse(args)
	cells, err := readCells(fs.Args())
	if err != nil {
		return err
	}
	st := &serverStats{}
	for _, c := range cells {
		if c.Server == *server {
			st.StoppedWrittenBytes += c.WrittenBytes
		}
	}
	if st.StoppedDiskBytes, err = diskUsage(*data); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %-18s stopped: data %.1f MB for %.1f MB of payload\n", *server,
		float64(st.StoppedDiskBytes)/1e6, float64(st.StoppedWrittenBytes)/1e6)
	return appendCell(*out, cell{Label: *server, Server: *server, Kind: kindServer, Workload: "stopped", CPUPerRecordUS: -1, Stats: st})
}
