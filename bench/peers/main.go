// Command peers runs the side-by-side benchmark's workloads against Zombi
// (REST API and Kafka protocol), Apache Kafka, NATS JetStream and Redis
// Streams, and prints the tables of the results. bench/peers.sh starts and
// stops the servers; this program only talks to them and reads their
// /proc entries.
//
//	peers ready --pid PID --server NAME --kafka HOST:PORT --out r.jsonl   start-up time
//	peers run --system zombi-http --addr http://127.0.0.1:PORT --pid PID --out r.jsonl
//	peers perf --kind producer --pid PID --label L --out r.jsonl -- kafka.sh kafka-producer-perf-test ...
//	peers server --pid PID --server NAME --data DIR --out r.jsonl r.jsonl warmup.jsonl
//	peers disk --server NAME --data DIR --out r.jsonl r.jsonl warmup.jsonl       after it stopped
//	peers fsync --dir DIR
//	peers freeport
//	peers table r1.jsonl r2.jsonl ...
//
// It is a module of its own so that the NATS and Redis clients stay out of
// Zombi's go.mod.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zombi-dev/zombi/bench/loadgen"
)

// Kinds of workload and of result line.
const (
	kindProduce = "produce"
	kindConsume = "consume"
	kindE2E     = "e2e"
	kindPerf    = "perf"   // kafka-producer-perf-test / kafka-consumer-perf-test
	kindServer  = "server" // start-up time, memory, disk of one server process
)

// workload is one cell of the matrix: every system runs every workload it
// has a client for.
type workload struct {
	Name        string
	Kind        string
	Concurrency int
	Batch       int // records per op; 1 = single-event durable append
	PayloadSize int
	// From is the produce workload whose topic a consume workload reads.
	From string
}

var workloads = []workload{
	{Name: "append 100B c=1", Kind: kindProduce, Concurrency: 1, Batch: 1, PayloadSize: 100},
	{Name: "append 100B c=16", Kind: kindProduce, Concurrency: 16, Batch: 1, PayloadSize: 100},
	{Name: "append 100B c=64", Kind: kindProduce, Concurrency: 64, Batch: 1, PayloadSize: 100},
	{Name: "append 1KB c=1", Kind: kindProduce, Concurrency: 1, Batch: 1, PayloadSize: 1000},
	{Name: "append 1KB c=16", Kind: kindProduce, Concurrency: 16, Batch: 1, PayloadSize: 1000},
	{Name: "append 1KB c=64", Kind: kindProduce, Concurrency: 64, Batch: 1, PayloadSize: 1000},
	{Name: "batch100 100B c=4", Kind: kindProduce, Concurrency: 4, Batch: 100, PayloadSize: 100},
	{Name: "batch100 1KB c=4", Kind: kindProduce, Concurrency: 4, Batch: 100, PayloadSize: 1000},
	{Name: "consume 100B c=1", Kind: kindConsume, Concurrency: 1, Batch: 1, PayloadSize: 100, From: "batch100 100B c=4"},
	{Name: "e2e 100B 1000/s", Kind: kindE2E, Concurrency: 1, Batch: 1, PayloadSize: 100},
}

// topicOf is the topic, stream or key of a workload: w<index>.
func topicOf(name string) string {
	for i, w := range workloads {
		if w.Name == name {
			return fmt.Sprintf("w%d", i)
		}
	}
	return ""
}

// serverStats is what `peers ready` and `peers server` measure of one
// server process.
type serverStats struct {
	StartupMS float64 `json:"startup_ms,omitempty"`
	RSSKB     int64   `json:"rss_kb,omitempty"`
	HWMKB     int64   `json:"hwm_kb,omitempty"`
	DiskBytes int64   `json:"disk_bytes,omitempty"`
	Written   int64   `json:"written,omitempty"`
	// WrittenBytes is the payload bytes of the records written.
	WrittenBytes int64 `json:"written_bytes,omitempty"`
	// StoppedDiskBytes is the data directory once the server stopped,
	// for StoppedWrittenBytes of payload (the perf tools' records too).
	StoppedDiskBytes    int64 `json:"stopped_disk_bytes,omitempty"`
	StoppedWrittenBytes int64 `json:"stopped_written_bytes,omitempty"`
}

// perfStats is what Kafka's perf tools print besides Result's fields.
type perfStats struct {
	AvgMS         float64 `json:"avg_ms"`
	P95MS         float64 `json:"p95_ms"`
	FetchRecPerS  float64 `json:"fetch_records_per_sec,omitempty"`
	RebalanceMS   float64 `json:"rebalance_ms,omitempty"`
	CommandSecs   float64 `json:"command_secs"`
	CommandString string  `json:"command"`
}

// cell is one result line of the .jsonl files.
type cell struct {
	System   string         `json:"system"`
	Label    string         `json:"label"`
	Server   string         `json:"server,omitempty"`
	Kind     string         `json:"kind,omitempty"`
	Workload string         `json:"workload"`
	Result   loadgen.Result `json:"result"`
	// CPUPerRecordUS is the server process's CPU time (user + system)
	// during the workload divided by its records; -1: not measured.
	CPUPerRecordUS float64 `json:"cpu_per_record_us"`
	// Written is how many records the workload stored on the server.
	Written      int64        `json:"written,omitempty"`
	WrittenBytes int64        `json:"written_bytes,omitempty"`
	Stats        *serverStats `json:"stats,omitempty"`
	Perf         *perfStats   `json:"perf,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peers run|ready|perf|server|fsync|freeport|table ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "ready":
		err = readyCmd(os.Args[2:])
	case "perf":
		err = perfCmd(os.Args[2:])
	case "server":
		err = serverCmd(os.Args[2:])
	case "disk":
		err = diskCmd(os.Args[2:])
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

// isKafka: the kgo client (Zombi's Kafka door or Apache Kafka).
func isKafka(system string) bool { return system == "zombi-kafka" || system == "kafka" }

// isWire: the blocking Kafka client.
func isWire(system string) bool { return system == "zombi-kafka-wire" || system == "kafka-wire" }

// supports says whether a system's clients run a kind of workload. The
// REST API has no tailing read (consume and e2e go through the Kafka door
// of the same server); the wire client produces only (its server's kgo
// column consumes).
func supports(system, kind string) bool {
	switch kind {
	case kindProduce:
		return true
	case kindConsume, kindE2E:
		return isKafka(system) || system == "nats" || system == "redis"
	}
	return false
}

func appendCell(out string, c cell) error {
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(c); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	system := fs.String("system", "", "zombi-http, zombi-kafka, zombi-kafka-wire, kafka, kafka-wire, nats or redis")
	label := fs.String("label", "", "column name in the table (default: the system)")
	server := fs.String("server", "", "the server process's name (default: the label)")
	addr := fs.String("addr", "", "URL (zombi-http), host:port (others)")
	out := fs.String("out", "", "append results to this .jsonl file")
	duration := fs.Duration("duration", 4*time.Second, "time per workload")
	only := fs.String("only", "", "run only workloads whose name contains this (comma-separated: any of these)")
	pid := fs.Int("pid", 0, "the server's process id: its CPU time per record is measured from /proc (0: not measured)")
	rate := fs.Float64("e2e-rate", 1000, "records/s of the end-to-end workload")
	_ = fs.Parse(args)
	if *label == "" {
		*label = *system
	}
	if *server == "" {
		*server = *label
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ran := map[string]bool{}
	for _, w := range workloads {
		if !selected(w.Name, *only) || !supports(*system, w.Kind) {
			continue
		}
		if w.From != "" && !ran[w.From] {
			fmt.Fprintf(os.Stderr, "  %-18s %-20s skipped: it reads what %q writes, which did not run\n", *label, w.Name, w.From)
			continue
		}
		ran[w.Name] = true
		cpu0, cpuErr := procCPU(*pid)
		res, written, writtenBytes, err := runWorkload(ctx, *system, *addr, w, *duration, *rate)
		if err != nil {
			return fmt.Errorf("%s %s: %w", *label, w.Name, err)
		}
		c := cell{System: *system, Label: *label, Server: *server, Kind: w.Kind, Workload: w.Name, Result: res,
			CPUPerRecordUS: -1, Written: written, WrittenBytes: writtenBytes}
		if cpu1, err := procCPU(*pid); err == nil && cpuErr == nil && res.Records > 0 {
			c.CPUPerRecordUS = (cpu1 - cpu0).Seconds() * 1e6 / float64(res.Records)
		}
		fmt.Fprintf(os.Stderr, "  %-18s %-20s %10s rec/s %8.2f MB/s  p50 %-8s p99 %-8s cpu/rec %-8s errors %d %s\n",
			*label, w.Name, loadgen.FormatCount(res.RecordsPerSec), res.MBPerSec,
			loadgen.FormatMicros(res.Latency.P50US), loadgen.FormatMicros(res.Latency.P99US), formatCPU(c.CPUPerRecordUS), res.Errors, res.FirstError)
		if err := appendCell(*out, c); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// selected says whether a workload's name contains one of only's
// comma-separated parts (an empty only selects all).
func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, part := range strings.Split(only, ",") {
		if part != "" && strings.Contains(name, part) {
			return true
		}
	}
	return false
}

// runWorkload runs one workload; written is how many records (of how many
// payload bytes) it stored.
func runWorkload(ctx context.Context, system, addr string, w workload, d time.Duration, rate float64) (res loadgen.Result, written, writtenBytes int64, err error) {
	switch w.Kind {
	case kindE2E:
		t, err := newE2E(ctx, system, addr, topicOf(w.Name))
		if err != nil {
			return res, 0, 0, err
		}
		defer t.Close()
		res, err = loadgen.RunE2E(ctx, loadgen.E2EConfig{Rate: rate, Duration: d, PayloadSize: w.PayloadSize, Grace: 10 * time.Second}, t)
		return res, res.Ops, res.Ops * int64(w.PayloadSize), err
	case kindConsume:
		t, err := newConsume(ctx, system, addr, topicOf(w.From))
		if err != nil {
			return res, 0, 0, err
		}
		defer t.Close()
		// Up to the whole duration plus 4x: the topic is read to its end
		// (records written by the From workload), which usually takes less.
		res, err = loadgen.Run(ctx, loadgen.Config{Mode: system + "-consume", Profile: loadgen.Stress, Duration: 5 * d,
			Concurrency: 1, Batch: 1, PayloadSize: w.PayloadSize, Consume: true, Grace: 5 * time.Second}, t)
		return res, 0, 0, err
	}
	target, err := newTarget(ctx, system, addr, topicOf(w.Name), w)
	if err != nil {
		return res, 0, 0, err
	}
	defer target.Close()
	res, err = loadgen.Run(ctx, loadgen.Config{
		Mode: system, Profile: loadgen.Stress, Duration: d, Concurrency: w.Concurrency,
		Batch: w.Batch, PayloadSize: w.PayloadSize, Grace: 20 * time.Second,
	}, target)
	return res, res.Records, res.Bytes, err
}

// newTarget builds the produce target of a system for one workload; name
// is a fresh topic, subject or stream key for it.
func newTarget(ctx context.Context, system, addr, name string, w workload) (loadgen.Target, error) {
	switch {
	case system == "zombi-http":
		return loadgen.NewHTTP(loadgen.HTTPConfig{URL: addr, Table: name, Bulk: w.Batch > 1, PayloadSize: w.PayloadSize, Conns: w.Concurrency})
	case isKafka(system):
		// One client (connection) per worker, as the other systems.
		return loadgen.NewKafkaProduce(loadgen.KafkaConfig{Brokers: []string{addr}, Topic: name, PayloadSize: w.PayloadSize,
			Acks: loadgen.AcksAll, Clients: 0})
	case isWire(system):
		// A blocking producer per worker: one request in flight, read on
		// the sending goroutine, as the NATS and Redis clients below do.
		return loadgen.NewKafkaWire(ctx, loadgen.KafkaConfig{Brokers: []string{addr}, Topic: name, PayloadSize: w.PayloadSize,
			Acks: loadgen.AcksAll})
	case system == "nats":
		return newNATS(ctx, addr, name, w)
	case system == "redis":
		return newRedis(addr, name, w), nil
	}
	return nil, fmt.Errorf("unknown system %q", system)
}

// newConsume reads a topic, stream or key from its start to the end seen
// when it starts, with one consumer.
func newConsume(ctx context.Context, system, addr, name string) (loadgen.Target, error) {
	switch {
	case isKafka(system):
		return loadgen.NewKafkaConsume(ctx, loadgen.KafkaConfig{Brokers: []string{addr}, Topic: name, ReadToEnd: true})
	case system == "nats":
		return newNATSConsume(ctx, addr, name)
	case system == "redis":
		return newRedisConsume(ctx, addr, name)
	}
	return nil, fmt.Errorf("no consumer for %q", system)
}

func newE2E(ctx context.Context, system, addr, name string) (loadgen.E2ETarget, error) {
	switch {
	case isKafka(system):
		return loadgen.NewKafkaE2E(ctx, loadgen.KafkaConfig{Brokers: []string{addr}, Topic: name})
	case system == "nats":
		return newNATSE2E(ctx, addr, name)
	case system == "redis":
		return newRedisE2E(addr, name), nil
	}
	return nil, fmt.Errorf("no end-to-end client for %q", system)
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

func formatCPU(us float64) string {
	switch {
	case us < 0:
		return "-"
	case us < 10:
		return fmt.Sprintf("%.2fµs", us)
	case us < 1000:
		return fmt.Sprintf("%.1fµs", us)
	}
	return fmt.Sprintf("%.2fms", us/1000)
}
