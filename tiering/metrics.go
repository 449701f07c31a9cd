package tiering

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/metrics"
)

// The cold tier's metrics. Request counts and flush times are counted as
// they happen (off the write path); pending bytes, reachability and cold
// ends are read at scrape time from the running tier.
var (
	flushDuration = metrics.Factory.NewHistogram(prometheus.HistogramOpts{
		Name:    "zombi_tier_flush_duration_seconds",
		Help:    "Time of one partition flush job that uploaded segments or failed (reading the hot log, the object PUTs, the manifest PUT, the hot trim).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12), // 5 ms .. ~20 min
	})
	s3Requests = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
		Name: "zombi_s3_requests_total",
		Help: "Object store (S3) requests, by operation (put, get, list, delete, list_uploads, abort_upload) and result (ok, not_found, error).",
	}, []string{"op", "result"})
)

// s3Counters[op] are the children of one operation: ok, not_found, error.
var s3Counters = func() map[string][3]prometheus.Counter {
	m := map[string][3]prometheus.Counter{}
	for _, op := range []string{"put", "get", "list", "delete", "list_uploads", "abort_upload"} {
		m[op] = [3]prometheus.Counter{s3Requests.WithLabelValues(op, "ok"), s3Requests.WithLabelValues(op, "not_found"), s3Requests.WithLabelValues(op, "error")}
	}
	return m
}()

func countS3(op string, err error) {
	c := s3Counters[op]
	switch {
	case err == nil:
		c[0].Inc()
	case errors.Is(err, ErrNotFound):
		c[1].Inc()
	default:
		c[2].Inc()
	}
}

// countedStore counts every request of the store it wraps.
type countedStore struct{ st ObjectStore }

func (c countedStore) Put(ctx context.Context, key string, body []byte) error {
	err := c.st.Put(ctx, key, body)
	countS3("put", err)
	return err
}

func (c countedStore) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := c.st.Get(ctx, key, off, n)
	countS3("get", err)
	return b, err
}

func (c countedStore) List(ctx context.Context, prefix, startAfter string, fn func(string, int64) bool) error {
	err := c.st.List(ctx, prefix, startAfter, fn)
	countS3("list", err)
	return err
}

func (c countedStore) Delete(ctx context.Context, keys ...string) error {
	err := c.st.Delete(ctx, keys...)
	countS3("delete", err)
	return err
}

// countedUploadStore is countedStore for a store that is an uploadStore too.
type countedUploadStore struct {
	countedStore
	us uploadStore
}

func (c countedUploadStore) ListUploads(ctx context.Context, prefix string, fn func(pendingUpload) bool) error {
	err := c.us.ListUploads(ctx, prefix, fn)
	countS3("list_uploads", err)
	return err
}

func (c countedUploadStore) AbortUpload(ctx context.Context, key, uploadID string) error {
	err := c.us.AbortUpload(ctx, key, uploadID)
	countS3("abort_upload", err)
	return err
}

func counted(st ObjectStore) ObjectStore {
	if us, ok := st.(uploadStore); ok {
		return countedUploadStore{countedStore{st}, us}
	}
	return countedStore{st}
}

// observeFlush records a flush job's time when it did something.
func observeFlush(start time.Time, segments int, err error) {
	if segments > 0 || err != nil {
		flushDuration.Observe(time.Since(start).Seconds())
	}
}

// The tier the scrape reports: the one this process started last (a server
// has one), or the start-up retry loop while S3 was down at start.
var (
	activeTier  atomic.Pointer[Tier]
	activeRetry atomic.Pointer[retrying]
)

var (
	descPending   = prometheus.NewDesc("zombi_tier_pending_bytes", "Hot bytes not yet flushed to the cold tier: as the ZOMBI_HOT_MAX_BYTES gate measures them when it is set, else the bytes appended since start not yet flushed.", nil, nil)
	descReachable = prometheus.NewDesc("zombi_tier_s3_reachable", "1 while the object store answers (no flush failing), 0 during an outage or while the tier waits to start.", nil, nil)
	descColdEnd   = prometheus.NewDesc("zombi_tier_cold_end_offset", "The offset after the last one in the cold tier, per partition (absent before its first flush).", []string{"topic", "partition"}, nil)
)

type tierCollector struct{}

func init() { metrics.Registry.MustRegister(tierCollector{}) }

func (tierCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPending
	ch <- descReachable
	ch <- descColdEnd
}

func (tierCollector) Collect(ch chan<- prometheus.Metric) {
	t := activeTier.Load()
	if t == nil {
		r := activeRetry.Load()
		if r == nil {
			return // no cold tier configured
		}
		ch <- prometheus.MustNewConstMetric(descReachable, prometheus.GaugeValue, 0)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(r.appended()))
		return
	}
	t.out.mu.Lock()
	down := t.out.down
	t.out.mu.Unlock()
	up := 1.0
	if down {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descReachable, prometheus.GaugeValue, up)

	t.mu.RLock()
	parts := make([]*partState, 0, len(t.parts))
	for _, ps := range t.parts {
		parts = append(parts, ps)
	}
	t.mu.RUnlock()
	for _, ps := range parts {
		if ps.dead.Load() {
			continue
		}
		if m := ps.man.Load(); m != nil {
			ch <- prometheus.MustNewConstMetric(descColdEnd, prometheus.GaugeValue, float64(m.End), ps.topic, strconv.Itoa(int(ps.part)))
		}
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(t.pendingBytes(parts)))
}

// pendingBytes is zombi_tier_pending_bytes: the gate's measure when
// HotMaxBytes is set, else what was appended since start and not flushed.
// parts nil: every partition the tier tracks.
func (t *Tier) pendingBytes(parts []*partState) int64 {
	if t.cfg.HotMaxBytes > 0 {
		return t.pending.Load()
	}
	if parts == nil {
		t.mu.RLock()
		parts = make([]*partState, 0, len(t.parts))
		for _, ps := range t.parts {
			parts = append(parts, ps)
		}
		t.mu.RUnlock()
	}
	var pending int64
	for _, ps := range parts {
		if ps.dead.Load() {
			continue
		}
		if b, err := t.l.AppendedBytes(ps.topic, ps.part); err == nil {
			pending += max(0, b-ps.flushedB.Load())
		}
	}
	return pending
}

// appended is what the hot log took since start-up: all of it waits for
// the tier.
func (r *retrying) appended() int64 {
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
	return n
}
