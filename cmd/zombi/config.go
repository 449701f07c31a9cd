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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zombi-dev/zombi/cluster"
	"github.com/zombi-dev/zombi/log/topicconfig"
	"github.com/zombi-dev/zombi/tlsconf"
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
	TxnMaxTimeout       time.Duration // caps a producer's transaction.timeout.ms
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
	RetentionCheck      time.Duration
	LogLevel            slog.Level
	LogFormat           string // text or json
	IcebergDefault      bool   // zombi.iceberg.enable for topics that do not set it
	IcebergWarehouse    string // "" until resolved: s3://{bucket}/iceberg or {data dir}/iceberg
	IcebergNamespace    string
	IcebergVendKeys     bool // the REST catalog hands out Zombi's S3 keys

	// Security (DESIGN.md "Security"); security_config.go checks how they
	// fit together.
	KafkaListeners       []listenerConfig // ZOMBI_KAFKA_LISTENERS resolved, with advertised addresses
	kafkaListenersRaw    string
	kafkaAdvertisedRaw   string
	TLS                  tlsconf.Config
	HTTPTLS              bool
	SASLMechanisms       []string
	BootstrapUsers       []bootstrapUser
	Superusers           []string
	Authorization        string // auto, on, off
	AllowEveryoneIfNoACL bool
	HTTPPublicPaths      []string
	FailedAuthDelay      time.Duration
	AuthTimeout          time.Duration
	ReauthMax            time.Duration
	SASLMaxReceiveBytes  int
	MaxConnections       int
	MaxConnectionsPerIP  int

	// Cluster is DESIGN.md "Cluster" (cluster_config.go); without
	// ZOMBI_ETCD_ENDPOINTS it is checked and changes nothing.
	Cluster cluster.Config
	// InterNode is how this node reaches the others (internode_config.go).
	InterNode interNodeConfig
	// clusterGiven names the cluster settings given a value (flag or
	// environment), for the start-up note of a node alone.
	clusterGiven []string
}

// setting is one configuration variable: an environment variable and the
// matching flag, with its default and a parser that fills Config.
type setting struct {
	env, flag, def, help string
	set                  func(c *Config, v string) error
}

var settings = append([]setting{
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
	{"ZOMBI_TRANSACTION_MAX_TIMEOUT_MS", "transaction-max-timeout-ms", "900000", "largest transaction.timeout.ms a transactional producer may ask for; a transaction open longer is aborted (Kafka's transaction.max.timeout.ms)", intSetter(1000, math.MaxInt32, func(c *Config, n int64) { c.TxnMaxTimeout = time.Duration(n) * time.Millisecond })},
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
	{"ZOMBI_RETENTION_CHECK_SECS", "retention-check-secs", "300", "seconds between passes applying topics' retention.ms and retention.bytes to the hot tier (Kafka's log.retention.check.interval.ms)", intSetter(1, 86400, func(c *Config, n int64) { c.RetentionCheck = time.Duration(n) * time.Second })},
	{"ZOMBI_KAFKA_LISTENERS", "kafka-listeners", defaultListeners, "Kafka listeners, a comma list of PROTOCOL://host:port with PROTOCOL PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL ({ZOMBI_HOST} and {ZOMBI_KAFKA_PORT} are replaced)", func(c *Config, v string) error {
		c.kafkaListenersRaw = strings.TrimSpace(v)
		return nil
	}},
	{"ZOMBI_KAFKA_ADVERTISED_LISTENERS", "kafka-advertised-listeners", "", "address each listener advertises, same form, matched by protocol (default: the listener's, localhost for 0.0.0.0)", func(c *Config, v string) error {
		c.kafkaAdvertisedRaw = strings.TrimSpace(v)
		return nil
	}},
	{tlsconf.EnvCertFile, "tls-cert-file", "", "PEM server certificate for SSL/SASL_SSL listeners and HTTPS (reloaded when the file changes)", func(c *Config, v string) error {
		c.TLS.CertFile = strings.TrimSpace(v)
		return nil
	}},
	{tlsconf.EnvKeyFile, "tls-key-file", "", "PEM private key of the server certificate", func(c *Config, v string) error {
		c.TLS.KeyFile = strings.TrimSpace(v)
		return nil
	}},
	{tlsconf.EnvClientCAFile, "tls-client-ca-file", "", "PEM CA certificates that sign client certificates", func(c *Config, v string) error {
		c.TLS.ClientCAFile = strings.TrimSpace(v)
		return nil
	}},
	{tlsconf.EnvClientAuth, "tls-client-auth", "none", "client certificates: none, requested or required (on an SSL listener the principal is User:<CN>)", func(c *Config, v string) error {
		v = strings.ToLower(strings.TrimSpace(v))
		switch v {
		case tlsconf.ClientAuthNone, tlsconf.ClientAuthRequested, tlsconf.ClientAuthRequired:
		default:
			return fmt.Errorf("%q is not one of none, requested, required", v)
		}
		c.TLS.ClientAuth = v
		return nil
	}},
	{"ZOMBI_HTTP_TLS", "http-tls", "false", "serve the REST API as HTTPS with the TLS certificate", boolSetter(func(c *Config, b bool) { c.HTTPTLS = b })},
	{"ZOMBI_SASL_MECHANISMS", "sasl-mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN", "SASL mechanisms enabled on SASL listeners", setMechanisms},
	{"ZOMBI_BOOTSTRAP_USERS", "bootstrap-users", "", "user:password[,user:password...] created or updated at start (a secret: prefer the environment to the flag)", setBootstrapUsers},
	{"ZOMBI_SUPERUSERS", "superusers", "", "comma list of user names that bypass ACLs", func(c *Config, v string) error {
		names, err := splitNames(v)
		c.Superusers = names
		return err
	}},
	{"ZOMBI_AUTHORIZATION", "authorization", "auto", "ACLs: auto (enforced whenever a listener authenticates), on, off", func(c *Config, v string) error {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "auto" && v != "on" && v != "off" {
			return fmt.Errorf("%q is not one of auto, on, off", v)
		}
		c.Authorization = v
		return nil
	}},
	{"ZOMBI_ALLOW_EVERYONE_IF_NO_ACL_FOUND", "allow-everyone-if-no-acl-found", "false", "allow a request on a resource that has no ACL at all (Kafka's allow.everyone.if.no.acl.found)", boolSetter(func(c *Config, b bool) { c.AllowEveryoneIfNoACL = b })},
	{"ZOMBI_HTTP_PUBLIC_PATHS", "http-public-paths", "/health", "REST paths that need no credentials when authentication is on (comma list; a trailing * matches a prefix)", func(c *Config, v string) error {
		c.HTTPPublicPaths = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("%q does not start with /", p)
			}
			c.HTTPPublicPaths = append(c.HTTPPublicPaths, p)
		}
		return nil
	}},
	{"ZOMBI_FAILED_AUTH_DELAY_MS", "failed-auth-delay-ms", "100", "wait before answering a failed authentication", intSetter(0, 60000, func(c *Config, n int64) { c.FailedAuthDelay = time.Duration(n) * time.Millisecond })},
	{"ZOMBI_AUTH_TIMEOUT_MS", "auth-timeout-ms", "10000", "close a SASL connection that has not authenticated within this, and a TLS connection whose handshake takes longer", intSetter(1, 3600000, func(c *Config, n int64) { c.AuthTimeout = time.Duration(n) * time.Millisecond })},
	{"ZOMBI_CONNECTIONS_MAX_REAUTH_MS", "connections-max-reauth-ms", "0", "SASL sessions last this long before the client must re-authenticate (0: forever)", intSetter(0, 365*86400*1000, func(c *Config, n int64) { c.ReauthMax = time.Duration(n) * time.Millisecond })},
	{"ZOMBI_SASL_MAX_RECEIVE_BYTES", "sasl-max-receive-bytes", "524288", "largest Kafka frame accepted before authentication", intSetter(64, math.MaxInt32, func(c *Config, n int64) { c.SASLMaxReceiveBytes = int(n) })},
	{"ZOMBI_MAX_CONNECTIONS", "max-connections", "65536", "most open connections per door (Kafka, HTTP); new ones past it are closed at once", intSetter(1, 1<<24, func(c *Config, n int64) { c.MaxConnections = int(n) })},
	{"ZOMBI_MAX_CONNECTIONS_PER_IP", "max-connections-per-ip", "0", "most open connections per door from one IP address (0: no cap)", intSetter(0, 1<<24, func(c *Config, n int64) { c.MaxConnectionsPerIP = int(n) })},
	{"ZOMBI_ICEBERG_DEFAULT", "iceberg-default", "false", "materialize every topic that does not set zombi.iceberg.enable as an Iceberg table", boolSetter(func(c *Config, b bool) { c.IcebergDefault = b })},
	{"ZOMBI_ICEBERG_WAREHOUSE", "iceberg-warehouse", "", "where Iceberg tables live: s3://bucket/prefix or a local directory (default: s3://{ZOMBI_S3_BUCKET}/iceberg with a bucket, {ZOMBI_DATA_DIR}/iceberg without)", func(c *Config, v string) error {
		if v != "" && strings.Contains(v, "://") && !strings.HasPrefix(v, "s3://") {
			return fmt.Errorf("%q: only s3://bucket/prefix or a local directory", v)
		}
		if rest, ok := strings.CutPrefix(v, "s3://"); ok && strings.Trim(rest, "/") == "" {
			return fmt.Errorf("%q names no bucket", v)
		}
		c.IcebergWarehouse = v
		return nil
	}},
	{"ZOMBI_ICEBERG_NAMESPACE", "iceberg-namespace", "zombi", "Iceberg namespace of the tables: {warehouse}/{namespace}/{topic}", func(c *Config, v string) error {
		if v == "" || strings.ContainsAny(v, "/\\.") || strings.TrimSpace(v) != v {
			return fmt.Errorf("%q: a namespace is one non-empty name without '/', '\\', '.' or spaces", v)
		}
		c.IcebergNamespace = v
		return nil
	}},
	{"ZOMBI_ICEBERG_VEND_CREDENTIALS", "iceberg-vend-credentials", "false", "the Iceberg REST catalog (/iceberg/v1/) hands Zombi's own S3 keys to clients that may READ the topic (they can write the whole bucket: off unless every such client is trusted)", boolSetter(func(c *Config, b bool) { c.IcebergVendKeys = b })},
	{"ZOMBI_LOG_FORMAT", "log-format", "text", "log line format: text (key=value) or json (one JSON object per line)", func(c *Config, v string) error {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "text" && v != "json" {
			return fmt.Errorf("%q is not one of text, json", v)
		}
		c.LogFormat = v
		return nil
	}},
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
}, clusterSettings...)

// loadConfig resolves every setting: flag, else environment, else default.
// The error names the variable and the flag.
func loadConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("zombi", flag.ContinueOnError)
	vals := make([]*string, len(settings))
	for i, s := range settings {
		vals[i] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.help, s.env, s.def))
	}
	usage := func() {
		fmt.Fprintf(usageOut, "Usage: zombi [serve] [flags]\n\nRun the Zombi server (the default without a command; zombi --help lists the other commands).\n\n"+
			"Every flag of serve has an environment variable; a flag wins over its variable.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, usageOut, usage); err != nil {
		return Config{}, withHint(err, "zombi serve --help lists the settings")
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (zombi serve --help lists the settings)", fs.Arg(0))
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
		if from != "default" && strings.TrimSpace(v) != "" && s.env != "ZOMBI_ETCD_ENDPOINTS" && isClusterSetting(s.env) {
			c.clusterGiven = append(c.clusterGiven, s.env)
		}
	}
	if err := c.resolveSecurity(); err != nil {
		return Config{}, err
	}
	if err := c.resolveCluster(); err != nil {
		return Config{}, err
	}
	if err := c.resolveInterNode(); err != nil {
		return Config{}, err
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

// topicDefaults are the broker-level values of the topic configs Zombi
// honours: ZOMBI_ICEBERG_DEFAULT is zombi.iceberg.enable; in cluster mode
// ZOMBI_MIN_INSYNC_REPLICAS is min.insync.replicas; with a bucket,
// ZOMBI_HOT_RETENTION_SECS is local.retention.ms and ZOMBI_RETENTION_SECS
// (when set) retention.ms, as DescribeConfigs reports them
// (STATIC_BROKER_CONFIG when set); the rest are Kafka's defaults.
func (c *Config) topicDefaults() topicconfig.Broker {
	b := topicconfig.KafkaDefaults()
	b.IcebergDefault = c.IcebergDefault
	b.Static = map[string]string{}
	if c.IcebergDefault {
		b.Static[topicconfig.IcebergEnable] = "ZOMBI_ICEBERG_DEFAULT"
	}
	// Alone, a node has one replica of everything: the setting is ignored
	// there and Kafka's 1 described.
	if c.Cluster.Enabled() && c.Cluster.MinInsyncReplicas > 0 {
		b.MinInsyncReplicas = c.Cluster.MinInsyncReplicas
		if slices.Contains(c.clusterGiven, "ZOMBI_MIN_INSYNC_REPLICAS") {
			b.Static["min.insync.replicas"] = "ZOMBI_MIN_INSYNC_REPLICAS"
		}
	}
	if c.S3Bucket == "" {
		return b
	}
	b.Static["local.retention.ms"] = "ZOMBI_HOT_RETENTION_SECS"
	b.LocalRetentionMs = c.HotRetention.Milliseconds()
	if c.Retention > 0 {
		b.RetentionMs = c.Retention.Milliseconds()
		b.Static["retention.ms"] = "ZOMBI_RETENTION_SECS"
	}
	return b
}

// icebergWarehouse is ZOMBI_ICEBERG_WAREHOUSE or its default:
// s3://{bucket}/iceberg with a bucket, {data dir}/iceberg without.
func (c *Config) icebergWarehouse() string {
	switch {
	case c.IcebergWarehouse != "":
		return c.IcebergWarehouse
	case c.S3Bucket != "":
		return "s3://" + c.S3Bucket + "/iceberg"
	}
	return filepath.Join(c.DataDir, "iceberg")
}
