package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// BenchmarkPartition is the Kafka door's lookup on every request, from
// many goroutines: no lock, no allocation. The store is the RocksDB one
// (no etcd needed to measure a memory read).
func BenchmarkPartition(b *testing.B) {
	l := openLog(b, b.TempDir())
	s := meta.NewLogStore(l)
	b.Cleanup(func() { _ = s.Close() }) // after the node stops
	n := startNode(b, 1, s, l)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.cat.CreateTopic(ctx, "bench", 64, 2, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := int32(0)
		for pb.Next() {
			if _, _, ok := n.cat.Partition("bench", p); !ok {
				b.Fatal("unknown partition")
			}
			p = (p + 1) % 64
		}
	})
}
