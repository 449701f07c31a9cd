package tiering

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// tierValue gathers the tier collector and returns name{labels}'s value.
func tierValue(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(tierCollector{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestTierMetrics(t *testing.T) {
	st, l, tr := startEv(t, fastConfig())
	puts := testutil.ToFloat64(s3Requests.WithLabelValues("put", "ok"))
	before := histCount(t)

	appendN(t, l, "ev", 0, 0, 300, 3, 1000)
	waitFlushed(t, tr, "ev", 0, 300)
	if v, ok := tierValue(t, "zombi_tier_cold_end_offset", map[string]string{"topic": "ev", "partition": "0"}); !ok || v != 300 {
		t.Fatalf("zombi_tier_cold_end_offset{ev,0} = %v (present %v), want 300", v, ok)
	}
	if v, _ := tierValue(t, "zombi_tier_s3_reachable", nil); v != 1 {
		t.Fatalf("zombi_tier_s3_reachable = %v while S3 answers", v)
	}
	if got := testutil.ToFloat64(s3Requests.WithLabelValues("put", "ok")) - puts; got < 2 {
		t.Fatalf("%v successful puts counted for a segment and its manifest", got)
	}
	// The job observes its time after the manifest moved: wait for it.
	if !eventually(5*time.Second, func() bool { return histCount(t) > before }) {
		t.Fatal("no flush observed in zombi_tier_flush_duration_seconds")
	}
	// Once the hot copy is trimmed, nothing is pending.
	ok := eventually(5*time.Second, func() bool {
		v, _ := tierValue(t, "zombi_tier_pending_bytes", nil)
		return v == 0
	})
	if !ok {
		v, _ := tierValue(t, "zombi_tier_pending_bytes", nil)
		t.Fatalf("zombi_tier_pending_bytes = %v after everything was flushed", v)
	}

	// S3 down: the next flush fails, the gauge drops, failures are counted.
	errs := testutil.ToFloat64(s3Requests.WithLabelValues("put", "error"))
	st.down.Store(true)
	appendN(t, l, "ev", 0, 300, 30, 3, 2000)
	if !eventually(10*time.Second, func() bool { v, _ := tierValue(t, "zombi_tier_s3_reachable", nil); return v == 0 }) {
		t.Fatal("zombi_tier_s3_reachable stays 1 while every S3 call fails")
	}
	if testutil.ToFloat64(s3Requests.WithLabelValues("put", "error")) <= errs {
		t.Fatal("failed puts not counted")
	}
	if v, _ := tierValue(t, "zombi_tier_pending_bytes", nil); v <= 0 {
		t.Fatalf("zombi_tier_pending_bytes = %v with 30 unflushed records", v)
	}
	if s := tr.Status(); s.Reachable || s.PendingBytes <= 0 {
		t.Fatalf("Status() = %+v during the outage, want unreachable and bytes pending", s)
	}
	st.down.Store(false)
	waitFlushed(t, tr, "ev", 0, 330)
	if !eventually(10*time.Second, func() bool { v, _ := tierValue(t, "zombi_tier_s3_reachable", nil); return v == 1 }) {
		t.Fatal("zombi_tier_s3_reachable does not come back to 1")
	}
	if !eventually(10*time.Second, func() bool { return tr.Status().Reachable }) {
		t.Fatalf("Status() = %+v once S3 answers again", tr.Status())
	}

	// Closed: no tier to report.
	tr.Close()
	if n := testutil.CollectAndCount(tierCollector{}); n != 0 {
		t.Fatalf("%d tier series after Close", n)
	}
}

func histCount(t *testing.T) uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(flushDuration)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasSuffix(mf.GetName(), "flush_duration_seconds") {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}
