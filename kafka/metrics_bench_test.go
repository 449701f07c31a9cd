package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/metrics"
)

// BenchmarkRequestMetrics is what every Kafka request pays for its
// histogram and counter: two clock reads and the observation, from all
// cores at once (the 64-producer case). Compare with a Produce's cost
// (BenchmarkProduce64Concurrent: milliseconds) in docs/BENCHMARKS.md.
func BenchmarkRequestMetrics(b *testing.B) {
	m := apis[kmsg.Produce.Int16()].m
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe(metrics.Now())
		}
	})
}
