package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything the server reads from its environment and flags.
type Config struct {
	DataDir             string
	Host                string
	Port                int
	KafkaPort           int
	KafkaAdvHost        string
	KafkaAdvPort        int
	KafkaMaxRequest     int64
	GroupRebalanceDelay time.Duration
	AutoCreateTopics    bool
	DefaultPartitions   int
	SyncWrites          bool
	MaxRequestBytes     int64
	IdempotencyWindow   time.Duration
	S3Bucket            string
	S3Endpoint          string
	S3Region            string
	FlushInterval       time.Duration
	FlushBatchSize      int
	FlushMaxSegment     int
	FlushMaxBytes       int64
	HotRetention        time.Duration
	HotMaxBytes         int64
	Retention           time.Duration
	LogLevel            slog.Level
}

// setting is one configuration variable: an environment variable and the
// matching flag, with its default and a parser that fills Config.
type setting struct {
	env, flag, def, help string
	set                  func(c *Config, v string) error
}

var settings = []setting{
	{"ZOMBI_DATA_DIR", "data-dir", "./data", "RocksDB data directory", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{"ZOMBI_HOST", "host", "0.0.0.0", "address the HTTP and Kafka listeners bind to", func(c *Config, v string) error {
		if v != "" && net.ParseIP(v) == nil && !validHostname(v) {
			return fmt.Errorf("%q is not an IP address or host name", v)
		}
		c.Host = v
		return nil
	}},
	{"ZOMBI_PORT", "port", "8080", "HTTP port (0: any free port)", portSetter(func(c *Config) *int { return &c.Port })},
	{"ZOMBI_KAFKA_PORT", "kafka-port", "9092", "Kafka protocol port (0: any free port)", portSetter(func(c *Config) *int { return &c.KafkaPort })},
	{"ZOMBI_KAFKA_ADVERTISED_HOST", "kafka-advertised-host", "", "host Kafka clients are told to connect to (default: the bind host, or localhost when binding all interfaces)", func(c *Config, v string) error {
		c.KafkaAdvHost = v
		return nil
	}},
	{"ZOMBI_KAFKA_ADVERTISED_PORT", "kafka-advertised-port", "0", "port Kafka clients are told to connect to (0: the Kafka port)", portSetter(func(c *Config) *int { return &c.KafkaAdvPort })},
	{"ZOMBI_KAFKA_MAX_REQUEST_BYTES", "kafka-max-request-bytes", "104857600", "largest Kafka request accepted, in bytes", intSetter(1024, math.MaxInt32, func(c *Config, n int64) { c.KafkaMaxRequest = n })},
	{"ZOMBI_GROUP_INITIAL_REBALANCE_DELAY_MS", "group-initial-rebalance-delay-ms", "0", "hold the first rebalance of an empty consumer group this long so members starting together share one generation (Kafka's group.initial.rebalance.delay.ms; 3000 suits production)", intSetter(0, 300000, func(c *Config, n int64) { c.GroupRebalanceDelay = time.Duration(n) * time.Millisecond })},
	{"ZOMBI_AUTO_CREATE_TOPICS", "auto-create-topics", "true", "create topics on first Kafka Metadata/Produce", boolSetter(func(c *Config, b bool) { c.AutoCreateTopics = b })},
	{"ZOMBI_DEFAULT_PARTITIONS", "default-partitions", "1", "partitions of auto-created topics and tables", intSetter(1, 10000, func(c *Config, n int64) { c.DefaultPartitions = int(n) })},
	{"ZOMBI_SYNC_WRITES", "sync-writes", "true", "fsync the write-ahead log before acknowledging (false: faster, loses recent writes on power loss)", boolSetter(func(c *Config, b bool) { c.SyncWrites = b })},
	{"ZOMBI_MAX_REQUEST_BYTES", "max-request-bytes", "1048576", "largest HTTP request body, in bytes", intSetter(64, 1<<30, func(c *Config, n int64) { c.MaxRequestBytes = n })},
	{"ZOMBI_IDEMPOTENCY_WINDOW_SECS", "idempotency-window-secs", "86400", "how long HTTP idempotency keys are remembered", intSetter(1, 365*86400, func(c *Config, n int64) { c.IdempotencyWindow = time.Duration(n) * time.Second })},
	{"ZOMBI_S3_BUCKET", "s3-bucket", "", "S3 bucket for the cold tier (empty: hot tier only)", func(c *Config, v string) error {
		c.S3Bucket = v
		return nil
	}},
	{"ZOMBI_S3_ENDPOINT", "s3-endpoint", "", "S3 endpoint URL, e.g. http://localhost:9000 for MinIO (empty: AWS)", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return fmt.Errorf("%q must start with http:// or https://", v)
		}
		c.S3Endpoint = v
		return nil
	}},
	{"ZOMBI_S3_REGION", "s3-region", "us-east-1", "S3 region", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.S3Region = v
		return nil
	}},
	{"ZOMBI_FLUSH_INTERVAL_SECS", "flush-interval-secs", "5", "seconds between cold-tier flushes", intSetter(1, 86400, func(c *Config, n int64) { c.FlushInterval = time.Duration(n) * time.Second })},
	{"ZOMBI_FLUSH_BATCH_SIZE", "flush-batch-size", "1000", "unflushed records in a partition that trigger a flush", intSetter(1, 1<<30, func(c *Config, n int64) { c.FlushBatchSize = int(n) })},
	{"ZOMBI_FLUSH_MAX_SEGMENT", "flush-max-segment", "10000", "most records in one cold segment", intSetter(1, 1<<30, func(c *Config, n int64) { c.FlushMaxSegment = int(n) })},
	{"ZOMBI_FLUSH_MAX_SEGMENT_BYTES", "flush-max-segment-bytes", "67108864", "most record-batch bytes in one cold segment", intSetter(1024, 5<<30, func(c *Config, n int64) { c.FlushMaxBytes = n })},
	{"ZOMBI_HOT_RETENTION_SECS", "hot-retention-secs", "0", "seconds flushed data stays in the hot tier before it is dropped", intSetter(0, 100*365*86400, func(c *Config, n int64) { c.HotRetention = time.Duration(n) * time.Second })},
	{"ZOMBI_HOT_MAX_BYTES", "hot-max-bytes", "10737418240", "unflushed bytes above which writes are refused while S3 is behind (0: no limit)", intSetter(0, 1<<50, func(c *Config, n int64) { c.HotMaxBytes = n })},
	{"ZOMBI_RETENTION_SECS", "retention-secs", "0", "seconds cold segments are kept (0: forever)", intSetter(0, 100*365*86400, func(c *Config, n int64) { c.Retention = time.Duration(n) * time.Second })},
	{"ZOMBI_LOG", "log", "info", "log level: debug, info, warn, error (zombi=LEVEL also accepted)", func(c *Config, v string) error {
		v = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), "zombi=")
		switch v {
		case "trace", "debug":
			c.LogLevel = slog.LevelDebug
		case "info", "":
			c.LogLevel = slog.LevelInfo
		case "warn", "warning":
			c.LogLevel = slog.LevelWarn
		case "error":
			c.LogLevel = slog.LevelError
		default:
			return fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}
		return nil
	}},
}

// loadConfig resolves every setting: flag, else environment, else default.
// The error names the variable and the flag.
func loadConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("zombi", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	vals := make([]*string, len(settings))
	for i, s := range settings {
		vals[i] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.help, s.env, s.def))
	}
	fs.Usage = func() {
		fmt.Fprintf(usageOut, "Usage: zombi [flags]\n\nZombi: a Kafka-compatible event store on RocksDB with an S3 cold tier.\nEvery flag has an environment variable; a flag wins over its variable.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (see zombi --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var c Config
	for i, s := range settings {
		v, from := s.def, "default"
		if set[s.flag] {
			v, from = *vals[i], "flag --"+s.flag
		} else if e, ok := lookup(getenv, s.env); ok {
			v, from = e, "environment"
		}
		if err := s.set(&c, v); err != nil {
			return Config{}, fmt.Errorf("invalid %s (%s): %w", s.env, from, err)
		}
	}
	return c, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	if getenv == nil {
		v, ok := os.LookupEnv(name)
		return v, ok
	}
	v := getenv(name)
	return v, v != ""
}

func intSetter(lo, hi int64, f func(*Config, int64)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
		}
		f(c, n)
		return nil
	}
}

func portSetter(field func(*Config) *int) func(*Config, string) error {
	return intSetter(0, 65535, func(c *Config, n int64) { *field(c) = int(n) })
}

func boolSetter(f func(*Config, bool)) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		f(c, b)
		return nil
	}
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
