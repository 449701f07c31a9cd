package main

import (
	"context"
	"log/slog"

	"github.com/zombi-dev/zombi/history"
	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/internal/connlimit"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/tiering"
)

// runningHistory is the console's sampler and how to stop it.
type runningHistory struct {
	*history.Sampler
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the sampler and waits for its last pass.
func (h runningHistory) stop() {
	h.cancel()
	<-h.done
}

// startHistory wires the sampler to the log, the Kafka door, the REST
// listener and the cold tier (tierStatus nil: none), and starts it.
func startHistory(ctx context.Context, l *plog.Log, ks *kafka.Server, httpLn *connlimit.Listener, tierStatus func() tiering.Status, cfg Config, logger *slog.Logger) runningHistory {
	hc := history.Config{
		Traffic: l,
		Latency: history.DoorLatency(kafka.RequestDurations(), httpapi.RequestDurations()),
		Offsets: l,
		Groups:  ks.Groups(),
		Connections: func() (int, int) {
			n := 0
			for _, c := range ks.Connections() {
				n += c
			}
			return n, httpLn.Open()
		},
		// With ZOMBI_HOT_MAX_BYTES the figure its gate compares (unflushed
		// bytes), so that the console's bar means what the limit does;
		// otherwise what RocksDB holds.
		HotBytes: l.DiskBytes,
		Logger:   logger,
	}
	if tierStatus != nil {
		hc.Cold = func() (int64, bool) {
			st := tierStatus()
			return st.PendingBytes, st.Reachable
		}
		if cfg.hotLimit() > 0 {
			hc.HotBytes = func() int64 { return tierStatus().PendingBytes }
		}
	}
	h := runningHistory{Sampler: history.New(hc), done: make(chan struct{})}
	ctx, h.cancel = context.WithCancel(ctx)
	go func() {
		defer close(h.done)
		h.Run(ctx)
	}()
	return h
}

// hotLimit is the ZOMBI_HOT_MAX_BYTES that applies: the append gate exists
// only with a cold tier to wait for (0 = no limit).
func (c Config) hotLimit() int64 {
	if c.S3Bucket == "" {
		return 0
	}
	return c.HotMaxBytes
}
