package log

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zombi-dev/zombi/metrics"
)

// BenchmarkAppendMetrics is what every Append call pays for
// zombi_log_append_duration_seconds (the per-round commit histogram and
// per-partition atomics are paid once per group commit, by the writer).
func BenchmarkAppendMetrics(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := metrics.Now()
			appendDuration.Observe(start.Seconds())
		}
	})
}

// BenchmarkCollect2000Topics is one scrape of the log collector with 2,000
// topics of 4 partitions (8,000 partitions): in-memory reads only.
func BenchmarkCollect2000Topics(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := range 2000 {
		if _, err := l.CreateTopic(fmt.Sprintf("topic-%04d", i), 4, nil); err != nil {
			b.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(l.Collector())
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
