package log

import (
	"testing"

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
