// Command zombi runs the Zombi server: the Kafka protocol listener and the
// REST API over one durable partition log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
	"github.com/zombi-dev/zombi/tiering"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "segments":
			os.Exit(segmentsCommand(os.Args[2:], os.Stdout, os.Stderr))
		case "bench":
			os.Exit(benchCommand(os.Args[2:], os.Stdout, os.Stderr))
		case "certs":
			os.Exit(certsCommand(os.Args[2:], os.Stdout, os.Stderr))
		case "serve":
			os.Args = append(os.Args[:1], os.Args[2:]...)
		}
	}
	cfg, err := loadConfig(os.Args[1:], nil, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zombi:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("zombi stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down in order: stop accepting,
// finish in-flight requests, close the log.
func run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	l, err := plog.Open(plog.Options{
		Dir:               cfg.DataDir,
		SyncWrites:        cfg.SyncWrites,
		IdempotencyWindow: cfg.IdempotencyWindow,
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
		}, logger)
		if err != nil {
			return fmt.Errorf("cold tier (ZOMBI_S3_BUCKET=%s): %w", cfg.S3Bucket, err)
		}
		// Closed after the front doors stop and before the log closes.
		defer tier.Close()
	}

	httpLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen for HTTP (ZOMBI_PORT): %w", err)
	}
	kafkaLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.KafkaPort)))
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("listen for Kafka (ZOMBI_KAFKA_PORT): %w", err)
	}

	ks := kafka.NewServer(l, st, kafka.Config{
		AdvertisedHost:             cfg.KafkaAdvHost,
		AdvertisedPort:             int32(cfg.KafkaAdvPort),
		MaxRequestBytes:            int32(cfg.KafkaMaxRequest),
		AutoCreateTopics:           cfg.AutoCreateTopics,
		DefaultPartitions:          int32(cfg.DefaultPartitions),
		IdleTimeout:                10 * time.Minute,
		GroupInitialRebalanceDelay: cfg.GroupRebalanceDelay,
	}, logger)
	api := httpapi.New(l, st, httpapi.Config{
		MaxRequestBytes:   cfg.MaxRequestBytes,
		DefaultPartitions: int32(cfg.DefaultPartitions),
		Groups:            ks.Groups(), // GET /consumers sees live groups
	}, logger)
	hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	errc := make(chan error, 2)
	go func() {
		if err := hs.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve HTTP: %w", err)
		}
	}()
	go func() {
		if err := ks.Serve(kafkaLn); err != nil {
			errc <- fmt.Errorf("serve Kafka: %w", err)
		}
	}()
	logger.Info("zombi listening", "http", httpLn.Addr().String(), "kafka", kafkaLn.Addr().String(),
		"data_dir", cfg.DataDir, "sync_writes", cfg.SyncWrites)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		logger.Warn("HTTP shutdown", "err", err)
	}
	if err := ks.Close(); err != nil {
		logger.Warn("Kafka shutdown", "err", err)
	}
	return runErr
}
