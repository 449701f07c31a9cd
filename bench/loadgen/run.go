package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Op performs one operation of up to n records and returns once they are
// acknowledged (produce) or received (consume). It returns how many records
// and payload bytes it handled; for a produce op that is n records on
// success. An op that returns ErrDone ends its worker (a consumer that
// reached the end).
type Op func(ctx context.Context, n int) (records int, bytes int64, err error)

// ErrDone ends a worker without counting as an error.
var ErrDone = errors.New("loadgen: done")

// Target is what a run drives: one Op per worker.
type Target interface {
	// Name describes the target in the report (URL, brokers, ...).
	Name() string
	// Worker returns the op of worker i. It is called for every worker
	// before the clock starts.
	Worker(ctx context.Context, i int) (Op, error)
	// Close releases connections.
	Close() error
}

// Config is one run's shape.
type Config struct {
	Mode        string
	Profile     Profile
	Rate        float64       // base records/s for paced profiles; 0 = the profile's default
	Duration    time.Duration // stop claiming new work after this; 0 = no limit
	Records     int64         // stop after this many records; 0 = no limit
	Concurrency int           // workers
	Batch       int           // records per op (produce); 1 for single events
	PayloadSize int
	Seed        uint64
	// Consume marks a consume run: the records count is what ops return,
	// not what workers claim, and pacing does not apply.
	Consume bool
	// Progress, when set, receives a progress line every ProgressEvery
	// (default 1 s).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Grace bounds how long in-flight ops may run after Duration; they are
	// cancelled after that (default 30 s).
	Grace time.Duration
}

// Validate checks a config and fills defaults.
func (c *Config) Validate() error {
	if c.Profile == "" {
		c.Profile = Stress
	}
	if _, err := ParseProfile(string(c.Profile)); err != nil {
		return err
	}
	if c.Concurrency <= 0 {
		return fmt.Errorf("concurrency must be at least 1, got %d", c.Concurrency)
	}
	if c.Batch <= 0 {
		c.Batch = 1
	}
	if c.Duration < 0 || c.Records < 0 {
		return errors.New("duration and records must not be negative")
	}
	if c.Duration == 0 && c.Records == 0 {
		return errors.New("give a duration or a number of records")
	}
	if c.PayloadSize < 0 {
		return fmt.Errorf("payload size must not be negative, got %d", c.PayloadSize)
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 30 * time.Second
	}
	return nil
}

// claimer hands out record indexes to produce workers.
type claimer struct {
	next  atomic.Int64
	limit int64 // 0 = none
	batch int64
}

// claim returns the first record index and the size of the next op, or
// ok=false when the record limit is used up.
func (c *claimer) claim() (first int64, n int, ok bool) {
	first = c.next.Add(c.batch) - c.batch
	size := c.batch
	if c.limit > 0 {
		if first >= c.limit {
			return 0, 0, false
		}
		size = min(size, c.limit-first)
	}
	return first, int(size), true
}

// Run drives target with cfg and returns what it measured. ctx ends the run
// early (Ctrl-C); Duration and Records end it normally. Errors of single
// operations are counted in the result, not returned; Run returns an error
// only when the run could not start.
func Run(ctx context.Context, cfg Config, target Target) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	sched, err := NewSchedule(cfg.Profile, cfg.Rate, cfg.Seed)
	if err != nil {
		return Result{}, err
	}
	if cfg.Consume {
		sched = unpaced{}
	}
	ops := make([]Op, cfg.Concurrency)
	for i := range ops {
		if ops[i], err = target.Worker(ctx, i); err != nil {
			return Result{}, err
		}
	}

	// stopClaims ends the claiming of new work (duration over, records
	// reached, ctx done); opCtx is what ops run under, cancelled only on
	// ctx's end or after the grace period.
	claimCtx, stopClaims := context.WithCancel(ctx)
	defer stopClaims()
	opCtx, cancelOps := context.WithCancel(ctx)
	defer cancelOps()

	var (
		cl        = claimer{limit: cfg.Records, batch: int64(cfg.Batch)}
		records   atomic.Int64
		bytes     atomic.Int64
		nops      atomic.Int64
		errs      atomic.Int64
		firstErr  atomic.Value
		recs      = make([]*recorder, cfg.Concurrency)
		wg        sync.WaitGroup
		startTime = time.Now()
	)
	for i := range recs {
		recs[i] = newRecorder()
	}
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() {
			stopClaims()
			time.AfterFunc(cfg.Grace, cancelOps)
		})
		defer t.Stop()
	}

	worker := func(i int) {
		defer wg.Done()
		op, rec := ops[i], recs[i]
		for claimCtx.Err() == nil {
			n := cfg.Batch
			if !cfg.Consume {
				first, size, ok := cl.claim()
				if !ok {
					stopClaims()
					return
				}
				n = size
				if !sched.Unpaced() {
					if !sleepUntil(claimCtx, startTime.Add(sched.At(first))) {
						return
					}
				}
			}
			t0 := time.Now()
			got, b, err := op(opCtx, n)
			lat := time.Since(t0)
			if errors.Is(err, ErrDone) {
				return
			}
			if cfg.Consume && got == 0 && err == nil {
				continue // an empty poll is no operation
			}
			nops.Add(1)
			if err != nil {
				if opCtx.Err() != nil && ctx.Err() != nil {
					return // interrupted: not the server's fault
				}
				errs.Add(int64(max(n-got, 1)))
				firstErr.CompareAndSwap(nil, err.Error())
				if cfg.Consume {
					// Avoid a hot loop against a failing server.
					sleepUntil(claimCtx, time.Now().Add(50*time.Millisecond))
				}
			}
			if got > 0 || err == nil {
				rec.record(lat)
			}
			total := records.Add(int64(got))
			bytes.Add(b)
			if cfg.Consume && cfg.Records > 0 && total >= cfg.Records {
				stopClaims()
				return
			}
		}
	}
	wg.Add(cfg.Concurrency)
	for i := range cfg.Concurrency {
		go worker(i)
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if cfg.Progress != nil {
		printProgress(cfg, startTime, done, recs, &records, &bytes, &errs)
	}
	<-done
	elapsed := time.Since(startTime)

	total := newHist()
	for _, r := range recs {
		total.Merge(r.total)
	}
	res := Result{
		Mode:        cfg.Mode,
		Profile:     cfg.Profile,
		Target:      target.Name(),
		Concurrency: cfg.Concurrency,
		Batch:       cfg.Batch,
		PayloadSize: cfg.PayloadSize,
		Records:     records.Load(),
		Bytes:       bytes.Load(),
		Ops:         nops.Load(),
		Errors:      errs.Load(),
		Elapsed:     elapsed,
		Latency:     LatencyOf(total),
	}
	if cfg.Consume {
		res.Profile = Stress
	}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	res.finish()
	return res, nil
}

// printProgress writes one line per interval until done.
func printProgress(cfg Config, start time.Time, done <-chan struct{}, recs []*recorder, records, bytes, errs *atomic.Int64) {
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	interval := newHist()
	last, lastBytes, lastAt := int64(0), int64(0), start
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			interval.Reset()
			for _, r := range recs {
				r.drainInterval(interval)
			}
			n, b := records.Load(), bytes.Load()
			secs := now.Sub(lastAt).Seconds()
			rate, mbps := float64(n-last)/secs, float64(b-lastBytes)/secs/1e6
			last, lastBytes, lastAt = n, b, now
			fmt.Fprintln(cfg.Progress, ProgressLine(now.Sub(start), n, rate, mbps, errs.Load(), LatencyOf(interval)))
		}
	}
}

// ProgressLine is the live line: elapsed time, records so far, the
// interval's rate and latency, errors so far.
func ProgressLine(elapsed time.Duration, records int64, rate, mbps float64, errs int64, l Latency) string {
	return fmt.Sprintf("[%5.1fs] %12s records  %10s rec/s  %7.2f MB/s  p50 %-8s p99 %-8s max %-8s errors %d",
		elapsed.Seconds(), FormatCount(float64(records)), FormatCount(rate), mbps,
		FormatMicros(l.P50US), FormatMicros(l.P99US), FormatMicros(l.MaxUS), errs)
}

// sleepUntil waits for t or ctx's end; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
