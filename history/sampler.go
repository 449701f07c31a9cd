package history

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// Defaults: a sample every 2 s, the slow pass (topics, lags) every fifth,
// 15 minutes kept.
const (
	DefaultInterval = 2 * time.Second
	SlowEvery       = 5
	Window          = 15 * time.Minute
	// RatePoints is the number of points of a topic's sparkline, one per
	// RatePointTicks slow passes (30 s with the default interval).
	RatePoints     = 30
	RatePointTicks = 3
)

// Config holds the sources; any may be nil (its figures stay 0).
type Config struct {
	Traffic Traffic
	Latency Latency
	Offsets Offsets
	Groups  Groups
	// Connections is the open connections of the Kafka listeners and of
	// the REST API.
	Connections func() (kafka, http int)
	// HotBytes is what the hot tier holds (see cmd/zombi: the append gate's
	// measure with ZOMBI_HOT_MAX_BYTES, else RocksDB's size).
	HotBytes func() int64
	// Cold is the cold tier's unflushed bytes and S3 reachability; nil
	// without a cold tier.
	Cold func() (pending int64, reachable bool)
	// Interval between samples; 0 = DefaultInterval. The slow pass runs
	// every SlowEvery samples, and Window is kept at any interval.
	Interval time.Duration
	Logger   *slog.Logger
}

// Sampler keeps the history. Its methods are safe for concurrent use; Run
// does the sampling.
type Sampler struct {
	cfg    Config
	logger *slog.Logger
	size   int // samples in the window
	slowN  int // slow passes in the window

	// Owned by the sampling goroutine.
	traffic     []plog.TopicTraffic
	prevProduce Hist
	prevFetch   Hist
	prevT       time.Time
	started     bool
	gen         uint32

	mu      sync.RWMutex
	samples []Sample // ring of size
	next    int      // samples taken so far
	topics  map[string]*topicSeries
	slow    int     // slow passes so far
	slowT   []int64 // ring of slowN: time of each slow pass
	lags    map[string]map[lagKey]*lagSeries

	wmu      sync.Mutex
	watchers map[chan Sample]struct{}
}

// New returns a sampler over cfg's sources; Run starts it.
func New(cfg Config) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	size := int(Window / cfg.Interval)
	slowN := max(size/SlowEvery, RatePoints*RatePointTicks)
	return &Sampler{
		cfg: cfg, logger: cfg.Logger.With("component", "history"), size: size, slowN: slowN,
		samples: make([]Sample, size), topics: map[string]*topicSeries{}, slowT: make([]int64, slowN),
		lags: map[string]map[lagKey]*lagSeries{}, watchers: map[chan Sample]struct{}{},
	}
}

// Interval is the time between samples.
func (s *Sampler) Interval() time.Duration { return s.cfg.Interval }

// SlowInterval is the time between two points of the lag history.
func (s *Sampler) SlowInterval() time.Duration { return s.cfg.Interval * SlowEvery }

// Run samples every Interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	s.safeTick(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.safeTick(now)
		}
	}
}

// safeTick is tick that logs a panic instead of taking the server down:
// the console's numbers are not worth the broker.
func (s *Sampler) safeTick(now time.Time) {
	defer func() {
		if v := recover(); v != nil {
			s.logger.Error("history sample failed", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	s.tick(now)
}

// tick takes one sample at now; the first only sets the baselines. Every
// SlowEvery-th also runs the slow pass.
func (s *Sampler) tick(now time.Time) {
	smp, ok := s.sample(now)
	if !ok {
		return
	}
	s.mu.Lock()
	s.samples[s.next%s.size] = smp
	s.next++
	n := s.next
	s.mu.Unlock()
	s.publish(smp)
	if n%SlowEvery == 0 {
		s.slowPass(now)
	}
}

// sample reads every source; false the first time (baselines only).
func (s *Sampler) sample(now time.Time) (Sample, bool) {
	smp := Sample{T: now.UnixMilli(), ProduceP50: math.NaN(), ProduceP99: math.NaN(), FetchP50: math.NaN(), FetchP99: math.NaN()}
	var in, inB, out, outB int64
	if s.cfg.Traffic != nil {
		s.traffic = s.cfg.Traffic.Traffic(s.traffic[:0])
		in, inB, out, outB = s.topicDeltas(s.traffic)
	}
	var produce, fetch Hist
	if s.cfg.Latency != nil {
		produce, fetch = s.cfg.Latency.Latency()
	}
	live := s.Live()
	smp.Connections = live.KafkaConnections + live.HTTPConnections
	smp.HotBytes, smp.ColdPendingBytes = live.HotBytes, live.ColdPendingBytes

	first := !s.started
	elapsed := now.Sub(s.prevT).Seconds()
	s.started, s.prevT = true, now
	prevP, prevF := s.prevProduce, s.prevFetch
	s.prevProduce, s.prevFetch = produce, fetch
	if first || elapsed <= 0 {
		return smp, false
	}
	smp.RecordsIn, smp.BytesIn = float64(in)/elapsed, float64(inB)/elapsed
	smp.RecordsOut, smp.BytesOut = float64(out)/elapsed, float64(outB)/elapsed
	if d, ok := produce.sub(prevP); ok {
		smp.ProduceP50, smp.ProduceP99 = d.quantile(0.5)*1000, d.quantile(0.99)*1000
	}
	if d, ok := fetch.sub(prevF); ok {
		smp.FetchP50, smp.FetchP99 = d.quantile(0.5)*1000, d.quantile(0.99)*1000
	}
	return smp, true
}

// Live reads the status sources now.
func (s *Sampler) Live() Live {
	var l Live
	if s.cfg.Connections != nil {
		l.KafkaConnections, l.HTTPConnections = s.cfg.Connections()
	}
	if s.cfg.HotBytes != nil {
		l.HotBytes = s.cfg.HotBytes()
	}
	if s.cfg.Cold != nil {
		l.ColdPendingBytes, l.S3Reachable = s.cfg.Cold()
	}
	return l
}

// Samples returns the samples of the window newer than sinceMS (0: all),
// oldest first.
func (s *Sampler) Samples(sinceMS int64) []Sample {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := min(s.next, s.size)
	out := make([]Sample, 0, n)
	for i := s.next - n; i < s.next; i++ {
		if smp := s.samples[i%s.size]; smp.T > sinceMS {
			out = append(out, smp)
		}
	}
	return out
}

// watcherBuffer is how many samples a watcher may fall behind before it
// misses some.
const watcherBuffer = 8

// Subscribe returns a channel that gets each new sample, and a cancel that
// ends the subscription and closes the channel. A watcher that falls
// watcherBuffer samples behind misses the next ones.
func (s *Sampler) Subscribe() (<-chan Sample, func()) {
	ch := make(chan Sample, watcherBuffer)
	s.wmu.Lock()
	s.watchers[ch] = struct{}{}
	s.wmu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.wmu.Lock()
			delete(s.watchers, ch)
			close(ch)
			s.wmu.Unlock()
		})
	}
}

// Watchers is the number of open subscriptions.
func (s *Sampler) Watchers() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return len(s.watchers)
}

func (s *Sampler) publish(smp Sample) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for ch := range s.watchers {
		select {
		case ch <- smp:
		default: // slow watcher: it misses this one
		}
	}
}
