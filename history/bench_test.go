package history

import (
	"fmt"
	"runtime"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
)

// BenchmarkSlowCycle is one slow cycle: SlowEvery samples (10 s), the last
// of them with the slow pass, over 10,000 topics' counters and 1,000 group
// partitions' lags, from fakes (what the sources themselves cost is theirs).
// µs/sample is the average sample's cost.
func BenchmarkSlowCycle(b *testing.B) {
	fl := newFakeLog()
	for i := range 10_000 {
		fl.add(fmt.Sprintf("topic-%05d", i), 0, 0)
	}
	for g := range 100 {
		for p := range 10 {
			topic := fmt.Sprintf("topic-%05d", g)
			fl.offs = append(fl.offs, plog.CommittedOffset{Group: fmt.Sprintf("group-%03d", g), Topic: topic, Partition: int32(p), Offset: 5})
			fl.setBounds(topic, int32(p), 0, 100)
		}
	}
	s := New(Config{Traffic: fl, Offsets: fl})
	now := t0
	s.tick(now)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for range SlowEvery {
			now = now.Add(DefaultInterval)
			fl.add("topic-00001", 10, 100)
			s.tick(now)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*SlowEvery), "µs/sample")
}

// BenchmarkWindowMemory reports the heap a full 15-minute window takes with
// 10,000 topics and 1,000 group partitions (MB/window).
func BenchmarkWindowMemory(b *testing.B) {
	fl := newFakeLog()
	for i := range 10_000 {
		fl.add(fmt.Sprintf("topic-%05d", i), 0, 0)
	}
	for g := range 100 {
		for p := range 10 {
			topic := fmt.Sprintf("topic-%05d", g)
			fl.offs = append(fl.offs, plog.CommittedOffset{Group: fmt.Sprintf("group-%03d", g), Topic: topic, Partition: int32(p), Offset: 5})
			fl.setBounds(topic, int32(p), 0, 100)
		}
	}
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Config{Traffic: fl, Offsets: fl})
		now := t0
		for range s.size + 1 {
			now = now.Add(DefaultInterval)
			s.tick(now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "MB/window")
		runtime.KeepAlive(s)
	}
}
