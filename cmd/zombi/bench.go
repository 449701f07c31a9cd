package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zombi-dev/zombi/bench/loadgen"
	"github.com/zombi-dev/zombi/cli"
)

// The modes of `zombi bench`.
var benchModes = []string{"http", "http-bulk", "kafka-produce", "kafka-consume", "group-consume"}

// benchOptions are the parsed flags of `zombi bench`.
type benchOptions struct {
	mode        string
	profile     loadgen.Profile
	rate        float64
	duration    time.Duration
	records     int64
	concurrency int
	payloadSize int
	batch       int
	url         string
	format      string
	brokers     []string
	topic       string
	acks        loadgen.Acks
	linger      time.Duration
	batchBytes  int
	compression string
	clients     int
	client      string
	group       string
	prefill     int64
	toEnd       bool
	jsonOut     bool
	quiet       bool
	seed        uint64
	tlsOn       bool
	tlsCA       string
	mechanism   string
	user        string
	password    string
}

const benchUsage = `usage: zombi bench [MODE] [flags]

Drives a running Zombi (or any Kafka broker, for the kafka modes) and prints
throughput (records/s, MB/s) and latency percentiles from an HDR histogram.

Modes:
  http            POST /tables/{topic}, one event per request (default)
  http-bulk       POST /tables/{topic}/bulk, --batch events per request
  kafka-produce   Kafka produce with franz-go; --batch records awaited together
                  (--client wire: one blocking connection per worker instead)
  kafka-consume   read the topic from the start to its end (one reader)
  group-consume   the same as --concurrency members of consumer group --group

Profiles (as tools/producer): stress (default, unpaced), steady (--rate,
default 10/s), bursty (bursts of 50-200 records 0.5-2 s apart), spike
(--rate with 10x for 1 s in every 5 s).

Examples:
  zombi bench http --duration 10s --concurrency 16
  zombi bench kafka-produce --acks all --batch 100 --records 1000000
  zombi bench kafka-consume --prefill 100000 --json

Flags:
`

// parseBenchArgs parses the command line of `zombi bench`.
func parseBenchArgs(args []string, stderr io.Writer) (benchOptions, error) {
	o := benchOptions{mode: "http"}
	modeGiven := false
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.mode, args, modeGiven = args[0], args[1:], true
	}
	fs := flag.NewFlagSet("zombi bench", flag.ContinueOnError)
	usage := func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	// The connection defaults are the other commands' (ZOMBI_BROKERS,
	// ZOMBI_API); zombi --brokers B bench ... reaches here as flags too.
	brokersDef, urlDef := "127.0.0.1:9092", "http://127.0.0.1:8080"
	if v := os.Getenv("ZOMBI_BROKERS"); v != "" {
		brokersDef = v
	}
	if v := os.Getenv("ZOMBI_API"); v != "" {
		urlDef = v
	}
	var profile, brokers, acks string
	fs.StringVar(&o.mode, "mode", o.mode, "mode: "+strings.Join(benchModes, ", "))
	fs.StringVar(&profile, "profile", "stress", "traffic profile: steady, bursty, spike, stress")
	fs.Float64Var(&o.rate, "rate", 0, "base rate in records/s for steady, spike and bursty (0 = the profile's default)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to send (default 10s unless --records is given)")
	fs.Int64Var(&o.records, "records", 0, "stop after this many records (0 = no limit)")
	fs.IntVar(&o.concurrency, "concurrency", 10, "concurrent workers (requests or batches in flight; group members)")
	fs.IntVar(&o.payloadSize, "payload-size", 100, "payload bytes per record")
	fs.IntVar(&o.batch, "batch", 0, "records per operation (default 100 for http-bulk, 1 otherwise)")
	fs.StringVar(&o.url, "url", urlDef, "Zombi's HTTP base URL (env ZOMBI_API)")
	fs.StringVar(&o.url, "api", urlDef, "alias of --url, as the other commands spell it")
	fs.StringVar(&o.format, "format", "json", "http body format: json or protobuf")
	fs.StringVar(&brokers, "brokers", brokersDef, "Kafka bootstrap brokers, comma-separated (env ZOMBI_BROKERS)")
	fs.StringVar(&o.topic, "topic", "bench", "topic (= table) to write or read")
	fs.StringVar(&o.topic, "table", "bench", "alias of --topic")
	fs.StringVar(&acks, "acks", "all", "kafka-produce acks: all, leader or none")
	fs.DurationVar(&o.linger, "linger", 0, "kafka-produce linger")
	fs.StringVar(&o.compression, "compression", "none", "kafka-produce compression: none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&o.batchBytes, "batch-bytes", 0, "kafka-produce max record batch bytes (0 = franz-go's default)")
	fs.IntVar(&o.clients, "clients", 1, "kafka-produce clients (connections) shared by the workers; 0 = one per worker")
	fs.StringVar(&o.client, "client", "kgo", "kafka-produce client: kgo (franz-go's producer) or wire (one blocking connection per worker)")
	fs.StringVar(&o.group, "group", "zombi-bench", "group-consume consumer group")
	fs.Int64Var(&o.prefill, "prefill", 0, "consume modes: produce this many records first")
	fs.BoolVar(&o.toEnd, "to-end", true, "consume modes: stop at the end offsets seen at the start")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the bursty profile")
	fs.BoolVar(&o.tlsOn, "tls", false, "kafka modes: connect with TLS (SSL, SASL_SSL listeners)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "kafka modes: PEM CA to verify the broker with (implies --tls)")
	fs.StringVar(&o.mechanism, "sasl-mechanism", "SCRAM-SHA-256", "kafka modes with --user: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&o.user, "user", os.Getenv("ZOMBI_USER"), "kafka modes: SASL user (env ZOMBI_USER)")
	fs.StringVar(&o.password, "password", "", "password of --user (env ZOMBI_PASSWORD; prefer the variable)")
	const hint = "zombi bench --help lists the flags"
	if err := parseFlags(fs, args, stderr, usage); err != nil {
		return o, withHint(err, hint)
	}
	if fs.NArg() > 0 && !modeGiven {
		// The mode after flags: zombi --brokers B bench kafka-produce.
		o.mode, modeGiven = fs.Arg(0), true
		if err := parseFlags(fs, fs.Args()[1:], stderr, usage); err != nil {
			return o, withHint(err, hint)
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (the mode comes first: zombi bench MODE [flags])", fs.Arg(0))
	}
	known := false
	for _, m := range benchModes {
		known = known || m == o.mode
	}
	if !known {
		return o, fmt.Errorf("unknown mode %q (want one of %s)", o.mode, strings.Join(benchModes, ", "))
	}
	var err error
	if o.profile, err = loadgen.ParseProfile(profile); err != nil {
		return o, err
	}
	if o.acks, err = loadgen.ParseAcks(acks); err != nil {
		return o, err
	}
	if _, err := loadgen.ParseCompression(o.compression); err != nil {
		return o, err
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	switch {
	case o.format != "json" && o.format != "protobuf":
		return o, fmt.Errorf("unknown format %q (want json or protobuf)", o.format)
	case o.format == "protobuf" && o.mode != "http":
		return o, errors.New("--format protobuf applies to mode http only")
	case o.concurrency < 1:
		return o, fmt.Errorf("--concurrency must be at least 1, got %d", o.concurrency)
	case o.payloadSize < 0:
		return o, fmt.Errorf("--payload-size must not be negative, got %d", o.payloadSize)
	case o.batch < 0:
		return o, fmt.Errorf("--batch must not be negative, got %d", o.batch)
	case o.duration < 0 || o.records < 0 || o.prefill < 0:
		return o, errors.New("--duration, --records and --prefill must not be negative")
	case o.client != "kgo" && o.client != "wire":
		return o, fmt.Errorf("--client must be kgo or wire, got %q", o.client)
	case o.client == "wire" && o.mode != "kafka-produce":
		return o, errors.New("--client wire applies to mode kafka-produce only")
	case o.client == "wire" && o.compression != "none" && o.compression != "":
		return o, errors.New("--client wire sends uncompressed batches only")
	case o.user == "" && o.password != "":
		return o, errors.New("--password needs --user")
	case o.user != "" && !strings.HasPrefix(o.mode, "kafka") && o.mode != "group-consume":
		return o, errors.New("--user applies to the kafka modes only")
	case o.mechanism != "PLAIN" && o.mechanism != "SCRAM-SHA-256" && o.mechanism != "SCRAM-SHA-512":
		return o, fmt.Errorf("--sasl-mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", o.mechanism)
	case o.clients < 0:
		return o, fmt.Errorf("--clients must not be negative, got %d", o.clients)
	case o.batchBytes < 0 || o.batchBytes > 1<<30:
		return o, fmt.Errorf("--batch-bytes out of range: %d", o.batchBytes)
	}
	if o.password == "" {
		o.password = os.Getenv("ZOMBI_PASSWORD")
	}
	if o.batch == 0 {
		o.batch = 1
		if o.mode == "http-bulk" {
			o.batch = 100
		}
	}
	if o.mode == "http" {
		o.batch = 1
	}
	if o.duration == 0 && o.records == 0 {
		o.duration = 10 * time.Second
	}
	if o.mode == "kafka-consume" {
		o.concurrency = 1 // one reader of every partition
	}
	return o, nil
}

// benchCommand is `zombi bench`: it returns the process exit code (0 done
// without errors, 1 failed or some operations failed, 2 bad usage).
func benchCommand(args []string, stdout, stderr io.Writer) int {
	o, err := parseBenchArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "zombi bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runBench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "zombi bench:", err)
		return 1
	}
	if o.jsonOut {
		err = res.WriteJSON(stdout)
	} else {
		err = res.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "zombi bench:", err)
		return 1
	}
	if res.Errors > 0 || res.Records == 0 {
		return 1
	}
	return 0
}

// benchTarget builds the target of o's mode.
func benchTarget(ctx context.Context, o benchOptions) (loadgen.Target, error) {
	kcfg := loadgen.KafkaConfig{
		Brokers: o.brokers, Topic: o.topic, PayloadSize: o.payloadSize, Acks: o.acks, Linger: o.linger,
		BatchBytes: int32(o.batchBytes), Clients: o.clients, ReadToEnd: o.toEnd, Compression: o.compression,
	}
	if o.tlsOn || o.tlsCA != "" {
		tc, err := cli.ClientTLS(o.tlsCA, "", "")
		if err != nil {
			return nil, err
		}
		kcfg.TLS = tc
	}
	if o.user != "" {
		kcfg.SASL = cli.SASL(o.mechanism, o.user, o.password)
	}
	switch o.mode {
	case "http", "http-bulk":
		return loadgen.NewHTTP(loadgen.HTTPConfig{
			URL: o.url, Table: o.topic, Bulk: o.mode == "http-bulk", Protobuf: o.format == "protobuf",
			PayloadSize: o.payloadSize, Conns: o.concurrency,
		})
	case "kafka-produce":
		if o.client == "wire" {
			return loadgen.NewKafkaWire(ctx, kcfg)
		}
		return loadgen.NewKafkaProduce(kcfg)
	case "kafka-consume", "group-consume":
		if o.mode == "group-consume" {
			kcfg.Group = o.group
		}
		if o.prefill > 0 {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			if err := loadgen.Prefill(pctx, kcfg, o.prefill); err != nil {
				return nil, err
			}
		}
		return loadgen.NewKafkaConsume(ctx, kcfg)
	}
	return nil, fmt.Errorf("unknown mode %q", o.mode)
}

func runBench(ctx context.Context, o benchOptions, stderr io.Writer) (loadgen.Result, error) {
	target, err := benchTarget(ctx, o)
	if err != nil {
		return loadgen.Result{}, err
	}
	defer target.Close()
	cfg := loadgen.Config{
		Mode: o.mode, Profile: o.profile, Rate: o.rate, Duration: o.duration, Records: o.records,
		Concurrency: o.concurrency, Batch: o.batch, PayloadSize: o.payloadSize, Seed: o.seed,
		Consume: strings.HasSuffix(o.mode, "consume"),
	}
	if !o.quiet {
		cfg.Progress = stderr
	}
	return loadgen.Run(ctx, cfg, target)
}
