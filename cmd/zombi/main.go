// Command zombi runs the Zombi server: the Kafka protocol listener and the
// REST API over one durable partition log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cli"
	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/iceberg"
	"github.com/zombi-dev/zombi/internal/connlimit"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/metrics"
	"github.com/zombi-dev/zombi/stats"
	"github.com/zombi-dev/zombi/tiering"
	"github.com/zombi-dev/zombi/tlsconf"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr,
		cli.Passthrough("serve [flags]", "Run the server (the default without a command; --help lists every setting)", serveCommand),
		cli.Passthrough("bench [MODE] [flags]", "Drive a running Zombi or Kafka broker and print throughput and latency", benchCommand),
		segmentsTree(), certsTree()))
}

// serveCommand runs the server until SIGINT or SIGTERM: exit status 0 after
// a clean shutdown, 1 when it stopped on an error, 2 on a bad setting.
func serveCommand(args []string, _, stderr io.Writer) int {
	cfg, err := loadConfig(args, nil, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "zombi:", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("zombi stopped", "err", err)
		return 1
	}
	return 0
}

// segmentsTree is zombi segments ls|cat.
func segmentsTree() *cobra.Command {
	sub := func(name string) func([]string, io.Writer, io.Writer) int {
		return func(args []string, stdout, stderr io.Writer) int {
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return segmentsCommand(args[:1], stdout, stderr) // the usage, without a bucket
			}
			return segmentsCommand(append([]string{name}, args...), stdout, stderr)
		}
	}
	c := &cobra.Command{Use: "segments", Short: "Inspect the cold tier's segment objects in S3"}
	c.AddCommand(
		cli.Passthrough("ls [--table T]", "One JSON line per cold segment (from the manifests)", sub("ls")),
		cli.Passthrough("cat KEY", "One JSON line per record of a segment object", sub("cat")))
	return c
}

// certsTree is zombi certs dev.
func certsTree() *cobra.Command {
	c := &cobra.Command{Use: "certs", Short: "Write TLS certificates for development"}
	c.AddCommand(cli.Passthrough("dev --out DIR", "Write a development CA, a server and a client certificate", func(args []string, stdout, stderr io.Writer) int {
		return certsCommand(append([]string{"dev"}, args...), stdout, stderr)
	}))
	return c
}

// run serves until ctx ends, then shuts down in order: stop accepting,
// finish in-flight requests, close the log.
func run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	// The certificate first: its mistakes need nothing else to be found.
	var certs *tlsconf.Reloader
	if cfg.TLS.HasCertificate() {
		var err error
		if certs, err = tlsconf.New(cfg.TLS, logger); err != nil {
			return err
		}
	}
	topicDefaults := cfg.topicDefaults()
	l, err := plog.Open(plog.Options{
		Dir:               cfg.DataDir,
		SyncWrites:        cfg.SyncWrites,
		IdempotencyWindow: cfg.IdempotencyWindow,
		TopicDefaults:     &topicDefaults,
		RetentionInterval: cfg.RetentionCheck,
		Logger:            logger,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := l.Close(); err != nil {
			logger.Error("close log", "err", err)
		}
	}()
	st := stats.New()
	// Alone, users, ACLs and tokens live in the data directory; in a
	// cluster, in etcd, opened once the node has joined (and adopted what
	// a single node had).
	var authSvc *auth.Service
	if !cfg.Cluster.Enabled() {
		if authSvc, err = openAuth(cfg, auth.LogStore(l), logger); err != nil {
			return err
		}
	}
	for _, w := range []string{cfg.exposureWarning(), cfg.cleartextWarning()} {
		if w != "" {
			logger.Warn(w)
		}
	}

	var ready func() error // GET /health/ready beyond the log: the cold tier loaded
	var tierStatus func() tiering.Status
	// In a cluster the bucket is shared: only leaders flush (the runtime,
	// started below, says who leads).
	leadership := newTierLeadership(cfg.Cluster)
	if cfg.S3Bucket != "" {
		tier, err := tiering.StartOrRetry(ctx, l, tiering.Config{
			Bucket:          cfg.S3Bucket,
			Endpoint:        cfg.S3Endpoint,
			Region:          cfg.S3Region,
			FlushInterval:   cfg.FlushInterval,
			FlushBatchSize:  cfg.FlushBatchSize,
			FlushMaxSegment: cfg.FlushMaxSegment,
			FlushMaxBytes:   cfg.FlushMaxBytes,
			HotRetention:    cfg.HotRetention,
			HotMaxBytes:     cfg.HotMaxBytes,
			Retention:       cfg.Retention,
			Leadership:      leadership.tiering(),
		}, logger)
		if err != nil {
			return fmt.Errorf("cold tier (ZOMBI_S3_BUCKET=%s): %w", cfg.S3Bucket, err)
		}
		// Closed after the front doors stop and before the log closes.
		defer tier.Close()
		ready = tier.Ready
		tierStatus = tier.Status
	}

	icebergOwners := newIcebergOwnership(cfg) // nil alone
	mat, err := startIceberg(ctx, cfg, l, icebergOwners.owns(), logger)
	if err != nil {
		return err
	}
	// Stopped before the cold tier and the log it reads.
	defer mat.Close()
	l.SetConfigGuard(mat.CheckConfigChange)

	rawHTTPLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen for HTTP (ZOMBI_PORT): %w", err)
	}
	// The same caps as the Kafka door, counted apart.
	httpLn := connlimit.New(rawHTTPLn, cfg.MaxConnections, cfg.MaxConnectionsPerIP)
	kafkaLns := make([]net.Listener, 0, len(cfg.KafkaListeners))
	closeAll := func() {
		httpLn.Close()
		for _, ln := range kafkaLns {
			ln.Close()
		}
	}
	for _, lc := range cfg.KafkaListeners {
		ln, err := net.Listen("tcp", lc.Addr)
		if err != nil {
			closeAll()
			setting := "ZOMBI_KAFKA_LISTENERS " + lc.String()
			if cfg.kafkaListenersRaw == "" {
				setting = "ZOMBI_KAFKA_PORT"
			}
			return fmt.Errorf("listen for Kafka (%s): %w", setting, err)
		}
		kafkaLns = append(kafkaLns, ln)
	}
	// Cluster mode: join before serving, once the advertised addresses are
	// known; an unreachable etcd or a live duplicate id stops the start.
	self := nodeRecord(cfg, kafkaLns, httpLn)
	member, err := joinCluster(ctx, cfg.Cluster, self)
	if err != nil {
		closeAll()
		return err
	}
	defer member.leave(logger) // after the doors stop, before the log closes
	ready = member.ready(ready)
	// The catalog and the replica manager: the local log follows etcd's
	// topics and this node's replica roles (stopped after the doors).
	// The other nodes are reached on the inter-node listener with this
	// node's credentials (Kafka's inter.broker.listener.name).
	in := interNode{listener: cfg.InterNode.Listener}
	if in.kgoOpts, err = cfg.interNodeKgoOpts(certs); err != nil {
		closeAll()
		return err
	}
	forwardClient, err := cfg.interNodeHTTPClient(certs)
	if err != nil {
		closeAll()
		return err
	}
	rt, err := member.start(ctx, l, in, logger)
	if err != nil {
		closeAll()
		return err
	}
	defer rt.close()
	leadership.set(rt)
	if rt != nil {
		if authSvc, err = openAuth(cfg, rt.rt.AuthStore(), logger); err != nil {
			closeAll()
			return err
		}
		// Other nodes' changes count here as soon as etcd tells of them.
		defer rt.rt.FollowAuth(authSvc)() // stopped before the runtime closes
	}
	// One node at a time materializes a topic to Iceberg.
	defer icebergOwners.start(rt, l, logger)()

	ks := kafka.NewServer(l, st, kafka.Config{
		AdvertisedHost:             cfg.KafkaAdvHost,
		AdvertisedPort:             int32(cfg.KafkaAdvPort),
		MaxRequestBytes:            int32(cfg.KafkaMaxRequest),
		AutoCreateTopics:           cfg.AutoCreateTopics,
		DefaultPartitions:          int32(cfg.DefaultPartitions),
		IdleTimeout:                10 * time.Minute,
		GroupInitialRebalanceDelay: cfg.GroupRebalanceDelay,
		TransactionMaxTimeout:      cfg.TxnMaxTimeout,
		Auth:                       authSvc,
		MaxConnections:             cfg.MaxConnections,
		MaxConnectionsPerIP:        cfg.MaxConnectionsPerIP,
		AuthTimeout:                cfg.AuthTimeout,
		TLSHandshakeTimeout:        cfg.AuthTimeout, // one deadline setting for both steps of an unauthenticated client
		SASLMaxReceiveBytes:        int32(cfg.SASLMaxReceiveBytes),
		ReauthMax:                  cfg.ReauthMax,
		Cluster:                    rt.door(),
		ProducerIDBlock:            rt.producerIDs(),
		InterBrokerOpts:            in.kgoOpts,
		InterBrokerListener:        in.listener,
	}, logger)
	// The transaction coordinator loads its state and aborts what a crash
	// left open before any client is served.
	if err := ks.StartTransactions(); err != nil {
		_ = ks.Close()
		return fmt.Errorf("start the transaction coordinator: %w", err)
	}
	// The console's history runs from the start, so that its 15 minutes
	// exist when someone opens it; stopped before the tier and the log close.
	hist := startHistory(ctx, l, ks, httpLn, tierStatus, cfg, logger)
	defer hist.stop()
	build := cli.Build()
	streamsDone := make(chan struct{}) // closed when the HTTP server shuts down
	api := httpapi.New(l, st, httpapi.Config{
		MaxRequestBytes:   cfg.MaxRequestBytes,
		DefaultPartitions: int32(cfg.DefaultPartitions),
		StreamsDone:       streamsDone,
		Groups:            ks.Groups(), // GET /consumers sees live groups
		Auth:              authSvc,
		RequireAuth:       cfg.Authenticates(),
		PublicPaths:       cfg.HTTPPublicPaths,
		Ready:             ready,
		Iceberg:           mat,
		IcebergCatalog:    icebergCatalog(cfg, mat),
		Cluster:           rt.api(),
		LocalHTTP:         self.HTTP,
		ForwardClient:     forwardClient,
		LocalListeners:    clusterListeners(self),
		History:           hist.Sampler,
		Overview:          httpapi.OverviewInfo{Version: build.Version, Commit: build.Commit, HotMaxBytes: cfg.hotLimit(), Bucket: cfg.S3Bucket},
		SecurityCounters: func() map[string]uint64 {
			m := ks.SecurityCounters().Map()
			m["http_refused_connections"] = httpLn.Refused()
			return m
		},
		Metrics: append([]prometheus.Collector{
			ks.Collector(),
			mat.Collector(),
			metrics.BuildInfo(build.Version, build.Commit),
			metrics.Connections(func() map[string]int {
				m := ks.Connections()
				m["http"] = httpLn.Open()
				return m
			}),
		}, rt.collectors()...),
	}, logger)
	// ReadTimeout bounds a whole request, body included: a client that
	// trickles a body (or one refused with 401 whose body the server
	// drains) cannot hold a connection for ever.
	hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	// Shutdown waits for every handler: end the event streams, which never
	// end by themselves.
	hs.RegisterOnShutdown(func() { close(streamsDone) })
	if cfg.HTTPTLS {
		hs.TLSConfig = certs.ServerConfig()
	}

	errc := make(chan error, 1+len(kafkaLns))
	go func() {
		var err error
		if cfg.HTTPTLS {
			err = hs.ServeTLS(httpLn, "", "") // the certificate comes from TLSConfig
		} else {
			err = hs.Serve(httpLn)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve HTTP: %w", err)
		}
	}()
	kafkaAddrs := make([]string, len(kafkaLns))
	for i, ln := range kafkaLns {
		lc := cfg.KafkaListeners[i]
		kl := kafka.Listener{Protocol: kafka.SecurityProtocol(lc.Protocol), Advertised: lc.Advertised}
		if lc.usesTLS() {
			kl.TLS = certs.ServerConfig()
		}
		kafkaAddrs[i] = lc.Protocol + "://" + ln.Addr().String()
		go func() {
			if err := ks.ServeListener(ln, kl); err != nil {
				errc <- fmt.Errorf("serve Kafka (ZOMBI_KAFKA_LISTENERS %s): %w", lc, err)
			}
		}()
	}
	httpScheme := "http://"
	if cfg.HTTPTLS {
		httpScheme = "https://"
	}
	logger.Info("zombi listening", "http", httpScheme+httpLn.Addr().String(), "kafka", strings.Join(kafkaAddrs, ","),
		"data_dir", cfg.DataDir, "sync_writes", cfg.SyncWrites, "authentication", cfg.Authenticates(), "authorization", cfg.AuthorizationOn())

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-errc:
	}
	// Cluster mode: leaderships move first, while the doors still answer
	// (clients are told NOT_LEADER_OR_FOLLOWER and go to the new leaders).
	rt.controlledShutdown(logger)
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if err := hs.Shutdown(shutCtx); err != nil {
			logger.Warn("HTTP shutdown", "err", err)
		}
	}()
	// Requests already sent are answered before their connections close.
	drainCtx, drained := context.WithTimeout(shutCtx, kafkaDrainTimeout)
	ks.Drain(drainCtx)
	drained()
	<-httpDone
	if err := ks.Close(); err != nil {
		logger.Warn("Kafka shutdown", "err", err)
	}
	return runErr
}

// kafkaDrainTimeout bounds the Kafka door's graceful stop: a request in
// progress (an acks=all Produce, a Fetch long poll) is answered within it.
const kafkaDrainTimeout = 2 * time.Second

// openAuth opens the users, tokens and ACLs stored in st (the log alone,
// etcd in a cluster), applies ZOMBI_BOOTSTRAP_USERS (created or updated,
// never deleted) and checks that a SASL listener has someone to
// authenticate. Errors name the setting and
// never a password.
func openAuth(cfg Config, st auth.Store, logger *slog.Logger) (*auth.Service, error) {
	svc, err := auth.Open(st, auth.Config{
		Mechanisms:           cfg.SASLMechanisms,
		Superusers:           cfg.Superusers,
		Authorization:        cfg.AuthorizationOn(),
		AllowEveryoneIfNoACL: cfg.AllowEveryoneIfNoACL,
		FailedAuthDelay:      cfg.FailedAuthDelay,
		Logger:               logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open users and ACLs: %w", err)
	}
	for _, u := range cfg.BootstrapUsers {
		if svc.HasPassword(u.Name, string(u.Password)) {
			// Unchanged: nothing written (in a cluster every node starts
			// with the list, and each write would reach every node).
			continue
		}
		if err := svc.SetPassword(u.Name, string(u.Password)); err != nil {
			return nil, fmt.Errorf("ZOMBI_BOOTSTRAP_USERS: user %q: %w", u.Name, err)
		}
	}
	if len(cfg.BootstrapUsers) > 0 {
		logger.Info("bootstrap users applied", "count", len(cfg.BootstrapUsers))
	}
	if cfg.HasSASLListener() && !svc.HasUsers() {
		for _, lc := range cfg.KafkaListeners {
			if lc.usesSASL() {
				return nil, fmt.Errorf("ZOMBI_BOOTSTRAP_USERS names no user and none is stored, but ZOMBI_KAFKA_LISTENERS has %s: set ZOMBI_BOOTSTRAP_USERS=user:password", lc)
			}
		}
	}
	return svc, nil
}

// startIceberg starts the Iceberg materializer over the warehouse
// (ZOMBI_ICEBERG_WAREHOUSE or its default). It runs whether or not a topic
// enables it yet: a topic config change needs no restart. In a cluster,
// owns says which topics this node materializes now.
func startIceberg(ctx context.Context, cfg Config, l *plog.Log, owns func(topic string) bool, logger *slog.Logger) (*iceberg.Materializer, error) {
	uri := cfg.icebergWarehouse()
	var client *s3.Client
	if strings.HasPrefix(uri, "s3://") {
		var err error
		client, err = tiering.NewS3Client(ctx, tiering.Config{Bucket: cfg.S3Bucket, Endpoint: cfg.S3Endpoint, Region: cfg.S3Region})
		if err != nil {
			return nil, fmt.Errorf("iceberg warehouse (ZOMBI_ICEBERG_WAREHOUSE=%s): %w", uri, err)
		}
	}
	wh, err := iceberg.OpenWarehouse(uri, client)
	if err != nil {
		return nil, fmt.Errorf("ZOMBI_ICEBERG_WAREHOUSE: %w", err)
	}
	// Spilled files of a process that crashed mid-append are garbage.
	spill := filepath.Join(cfg.DataDir, "iceberg-spill")
	if err := os.RemoveAll(spill); err != nil {
		return nil, fmt.Errorf("empty %s: %w", spill, err)
	}
	return iceberg.Start(l, iceberg.Config{
		Warehouse: wh,
		Namespace: cfg.IcebergNamespace,
		SpillDir:  spill,
		Owns:      owns,
		Logger:    logger,
	}), nil
}

// icebergCatalog is the read-only REST catalog over the materializer's
// warehouse, handing clients the S3 endpoint they reach it at.
func icebergCatalog(cfg Config, mat *iceberg.Materializer) *httpapi.IcebergCatalog {
	c := &httpapi.IcebergCatalog{Warehouse: mat.Warehouse(), Namespace: mat.Namespace(), S3Endpoint: cfg.S3Endpoint, S3Region: cfg.S3Region}
	if _, onS3 := mat.Warehouse().S3(); onS3 && cfg.IcebergVendKeys {
		c.VendCredentials = mat.Warehouse().S3Credentials
	}
	return c
}
