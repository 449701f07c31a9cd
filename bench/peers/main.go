// Command peers runs the side-by-side benchmark's workloads against Zombi
// (REST API and Kafka protocol), NATS JetStream and Redis Streams, and
// prints one table of the results. bench/peers.sh starts and stops the
// servers; this program only talks to them.
//
//	peers run --system zombi-http --addr http://127.0.0.1:PORT --out r.jsonl
//	peers fsync --dir DIR
//	peers freeport
//	peers table r1.jsonl r2.jsonl ...
//
// It is a module of its own so that the NATS and Redis clients stay out of
// Zombi's go.mod.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/zombi-dev/zombi/bench/loadgen"
)

// workload is one cell of the matrix: every system runs every workload.
type workload struct {
	Name        string
	Concurrency int
	Batch       int // records per op; 1 = single-event durable append
	PayloadSize int
}

var workloads = []workload{
	{"append 100B c=1", 1, 1, 100},
	{"append 100B c=16", 16, 1, 100},
	{"append 100B c=64", 64, 1, 100},
	{"append 1KB c=1", 1, 1, 1000},
	{"append 1KB c=16", 16, 1, 1000},
	{"append 1KB c=64", 64, 1, 1000},
	{"batch100 100B c=4", 4, 100, 100},
	{"batch100 1KB c=4", 4, 100, 1000},
}

// cell is one result line of the .jsonl files.
type cell struct {
	System   string         `json:"system"`
	Label    string         `json:"label"`
	Workload string         `json:"workload"`
	Result   loadgen.Result `json:"result"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peers run|fsync|freeport|table ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "fsync":
		err = fsyncCmd(os.Args[2:])
	case "freeport":
		err = freePortCmd()
	case "table":
		err = tableCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	system := fs.String("system", "", "zombi-http, zombi-kafka, zombi-kafka-wire, nats or redis")
	label := fs.String("label", "", "column name in the table (default: the system)")
	addr := fs.String("addr", "", "URL (zombi-http), host:port (others)")
	out := fs.String("out", "", "append results to this .jsonl file")
	duration := fs.Duration("duration", 4*time.Second, "time per workload")
	only := fs.String("only", "", "run only workloads whose name contains this")
	_ = fs.Parse(args)
	if *label == "" {
		*label = *system
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	for i, w := range workloads {
		if *only != "" && !strings.Contains(w.Name, *only) {
			continue
		}
		name := fmt.Sprintf("w%d", i)
		target, err := newTarget(ctx, *system, *addr, name, w)
		if err != nil {
			return fmt.Errorf("%s %s: %w", *label, w.Name, err)
		}
		res, err := loadgen.Run(ctx, loadgen.Config{
			Mode: *system, Profile: loadgen.Stress, Duration: *duration, Concurrency: w.Concurrency,
			Batch: w.Batch, PayloadSize: w.PayloadSize, Grace: 20 * time.Second,
		}, target)
		target.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", *label, w.Name, err)
		}
		fmt.Fprintf(os.Stderr, "  %-16s %-20s %10s rec/s %8.2f MB/s  p50 %-8s p99 %-8s errors %d %s\n",
			*label, w.Name, loadgen.FormatCount(res.RecordsPerSec), res.MBPerSec,
			loadgen.FormatMicros(res.Latency.P50US), loadgen.FormatMicros(res.Latency.P99US), res.Errors, res.FirstError)
		if err := json.NewEncoder(f).Encode(cell{System: *system, Label: *label, Workload: w.Name, Result: res}); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// newTarget builds the target of a system for one workload; name is a
// fresh topic, subject or stream key for it.
func newTarget(ctx context.Context, system, addr, name string, w workload) (loadgen.Target, error) {
	switch system {
	case "zombi-http":
		return loadgen.NewHTTP(loadgen.HTTPConfig{URL: addr, Table: name, Bulk: w.Batch > 1, PayloadSize: w.PayloadSize, Conns: w.Concurrency})
	case "zombi-kafka":
		// One client (connection) per worker, as the other systems.
		return loadgen.NewKafkaProduce(loadgen.KafkaConfig{Brokers: []string{addr}, Topic: name, PayloadSize: w.PayloadSize,
			Acks: loadgen.AcksAll, Clients: 0})
	case "zombi-kafka-wire":
		// A blocking producer per worker: one request in flight, read on
		// the sending goroutine, as the NATS and Redis clients below do.
		return loadgen.NewKafkaWire(ctx, loadgen.KafkaConfig{Brokers: []string{addr}, Topic: name, PayloadSize: w.PayloadSize,
			Acks: loadgen.AcksAll})
	case "nats":
		return newNATS(ctx, addr, name, w)
	case "redis":
		return newRedis(addr, name, w), nil
	}
	return nil, fmt.Errorf("unknown system %q", system)
}

func freePortCmd() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}

// tableCmd prints every workload with each system's figures and Zombi's
// throughput ratio to each (zombi ÷ system: above 1 Zombi is faster).
func tableCmd(files []string) error {
	var cells []cell
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var c cell
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", name, err)
			}
			cells = append(cells, c)
		}
		f.Close()
	}
	var labels []string
	seen := map[string]bool{}
	for _, c := range cells {
		if !seen[c.Label] {
			seen[c.Label] = true
			labels = append(labels, c.Label)
		}
	}
	byKey := map[string]cell{}
	for _, c := range cells {
		byKey[c.Workload+"|"+c.Label] = c
	}
	var zombis []string
	for _, l := range labels {
		if strings.HasPrefix(l, "zombi") {
			zombis = append(zombis, l)
		}
	}
	sort.Strings(zombis)
	header := "| workload | system | records/s | MB/s | p50 | p99 | p99.9 | errors |"
	sep := "|---|---|---:|---:|---:|---:|---:|---:|"
	for _, z := range zombis {
		header += " " + z + " ÷ system |"
		sep += "---:|"
	}
	fmt.Println(header)
	fmt.Println(sep)
	for _, w := range workloads {
		for _, l := range labels {
			c, ok := byKey[w.Name+"|"+l]
			if !ok {
				continue
			}
			r := c.Result
			line := fmt.Sprintf("| %s | %s | %s | %.2f | %s | %s | %s | %d |", w.Name, l, loadgen.FormatCount(r.RecordsPerSec), r.MBPerSec,
				loadgen.FormatMicros(r.Latency.P50US), loadgen.FormatMicros(r.Latency.P99US), loadgen.FormatMicros(r.Latency.P999US), r.Errors)
			for _, z := range zombis {
				zc, ok := byKey[w.Name+"|"+z]
				switch {
				case !ok || r.RecordsPerSec == 0:
					line += " - |"
				case z == l:
					line += " 1.00 |"
				default:
					line += fmt.Sprintf(" %.2f |", zc.Result.RecordsPerSec/r.RecordsPerSec)
				}
			}
			fmt.Println(line)
		}
	}
	return nil
}
