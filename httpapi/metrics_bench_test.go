package httpapi

import (
	"testing"

	"github.com/zombi-dev/zombi/metrics"
)

// BenchmarkRouteMetrics is what every REST request pays in measure after
// its handler: the cached children's lookup, two clock reads and the
// observation, from all cores at once.
func BenchmarkRouteMetrics(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			childrenFor("/tables/:table", methodIndex("POST"), 202).observe(metrics.Now())
		}
	})
}
