package tiering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// StartOrRetry is Start for the server: when S3 cannot be reached at
// start-up and this data directory already knows the cold tier, it serves the
// hot tier at once and keeps trying to start the tier in the background
// (DESIGN: S3 down, writes and hot reads go on). Until then, reads below the
// hot tier get ErrColdUnavailable (retriable, never "out of range") and the
// append gate counts everything appended since start-up as unflushed. A data
// directory that does not know the cold tier yet (a new disk) must load it
// first, or its offsets could restart below the cold data's: then the error
// is returned. In a cluster (cfg.Leadership) it always retries.
func StartOrRetry(ctx context.Context, l *plog.Log, cfg Config, logger *slog.Logger) (Running, error) {
	return startOrRetry(ctx, l, cfg, logger, func(ctx context.Context) (ObjectStore, error) { return OpenS3(ctx, cfg) })
}

func startOrRetry(ctx context.Context, l *plog.Log, cfg Config, logger *slog.Logger, open func(context.Context) (ObjectStore, error)) (Running, error) {
	if logger == nil {
		logger = slog.Default()
	}
	t, err := tryStart(ctx, l, cfg, logger, open)
	if err == nil {
		return t, nil
	}
	// In a cluster nothing is rebuilt from the bucket (the catalog holds
	// the topics, a replica's offsets come from its leader): always retry.
	known, merr := l.Meta(markerKey(cfg))
	if cfg.Leadership == nil && (merr != nil || known == nil) {
		return nil, err
	}
	logger = logger.With("component", "tiering")
	logger.Warn("cold tier unreachable at start-up: serving the hot tier, retrying in the background", "err", err)
	r := &retrying{l: l, cfg: cfg, logger: logger, open: open, stop: make(chan struct{}), done: make(chan struct{})}
	l.SetColdTier(notLoaded{l})
	if cfg.HotMaxBytes > 0 {
		l.SetAppendGate(r.gate)
	}
	activeRetry.Store(r)
	go r.loop(ctx)
	return r, nil
}

func tryStart(ctx context.Context, l *plog.Log, cfg Config, logger *slog.Logger, open func(context.Context) (ObjectStore, error)) (*Tier, error) {
	st, err := open(ctx)
	if err != nil {
		return nil, err
	}
	return start(ctx, l, cfg, st, logger)
}

// errNotLoaded is what reads below the hot tier get until the tier starts.
var errNotLoaded = errors.New("cold tier not loaded yet: S3 was unreachable at start-up")

// notLoaded stands in for the cold tier until it starts: every partition's
// range below its hot start is cold and unreadable for now.
type notLoaded struct{ l *plog.Log }

func (n notLoaded) Bounds(topic string, part int32) (int64, int64, bool) {
	hs, err := n.l.HotStart(topic, part)
	if err != nil || hs == 0 {
		return 0, 0, false
	}
	return 0, hs, true
}

func (notLoaded) Read(context.Context, string, int32, int64, int) ([]plog.Batch, error) {
	return nil, errNotLoaded
}

func (notLoaded) StartForTimestamp(context.Context, string, int32, int64) (int64, bool, error) {
	return 0, false, errNotLoaded
}

func (notLoaded) AbortedTxns(context.Context, string, int32, int64, int64) ([]plog.AbortedTxn, error) {
	return nil, errNotLoaded
}

// retrying starts the tier in the background.
type retrying struct {
	l      *plog.Log
	cfg    Config
	logger *slog.Logger
	open   func(context.Context) (ObjectStore, error)

	full       atomic.Bool
	stop, done chan struct{}
	mu         sync.Mutex
	tier       *Tier
	closeOnce  sync.Once
}

func (r *retrying) gate(string, int32) error {
	if r.full.Load() {
		return fmt.Errorf("%w (%w)", plog.ErrHotTierFull, errNotLoaded)
	}
	return nil
}

// measure counts what was appended since start-up against HotMaxBytes.
func (r *retrying) measure() {
	var n int64
	for _, info := range r.l.Topics() {
		if plog.IsInternalTopic(info.Name) {
			continue // never tiered: it never waits for the tier
		}
		for p := int32(0); p < info.Partitions; p++ {
			if b, err := r.l.AppendedBytes(info.Name, p); err == nil {
				n += b
			}
		}
	}
	r.full.Store(n > r.cfg.HotMaxBytes)
}

func (r *retrying) loop(ctx context.Context) {
	defer close(r.done)
	for attempt := 1; ; attempt++ {
		wait := time.NewTimer(backoff(attempt))
		tick := time.NewTicker(time.Second)
	waiting:
		for {
			if r.cfg.HotMaxBytes > 0 {
				r.measure()
			}
			select {
			case <-r.stop:
				wait.Stop()
				tick.Stop()
				return
			case <-tick.C:
			case <-wait.C:
				break waiting
			}
		}
		tick.Stop()
		t, err := tryStart(context.WithoutCancel(ctx), r.l, r.cfg, r.logger, r.open)
		if err != nil {
			continue
		}
		r.mu.Lock()
		r.tier = t
		r.mu.Unlock()
		r.logger.Info("cold tier started after the outage", "attempts", attempt)
		return
	}
}

// Close stops retrying, or closes the tier once it started.
func (r *retrying) Close() error {
	r.closeOnce.Do(func() { close(r.stop) })
	<-r.done
	activeRetry.CompareAndSwap(r, nil)
	r.mu.Lock()
	t := r.tier
	r.mu.Unlock()
	if t != nil {
		return t.Close()
	}
	return nil
}
