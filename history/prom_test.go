package history

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDoorLatencyClassifies(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1}
	k := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "k", Buckets: bounds}, []string{"api"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h", Buckets: bounds}, []string{"route", "method", "code"})
	k.WithLabelValues("Produce").Observe(0.0005)
	k.WithLabelValues("Fetch").Observe(0.05)
	k.WithLabelValues("Metadata").Observe(0.05)
	h.WithLabelValues("/tables/:table", "POST", "202").Observe(0.005)
	h.WithLabelValues("/tables/:table/bulk", "POST", "400").Observe(0.005)
	h.WithLabelValues("/tables/:table", "GET", "200").Observe(0.0005)
	h.WithLabelValues("/stats", "GET", "200").Observe(0.0005)
	p, f := DoorLatency(k, h).Latency()
	if p.Count != 3 || p.Cum[0] != 1 || p.Cum[1] != 3 {
		t.Fatalf("produce = %+v, want Kafka Produce + 2 REST writes (1 <= 1 ms, 3 <= 10 ms)", p)
	}
	if f.Count != 2 || f.Cum[0] != 1 || f.Cum[2] != 2 {
		t.Fatalf("fetch = %+v, want Kafka Fetch + REST read", f)
	}
	if p2, _ := DoorLatency(nil, nil).Latency(); p2.Count != 0 {
		t.Fatalf("no collectors: produce = %+v", p2)
	}
}
