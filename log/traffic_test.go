package log

import (
	"fmt"
	"testing"
)

func TestTrafficAndDiskBytes(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("a", 2, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("b", 1, nil); err != nil {
		t.Fatal(err)
	}
	rec := oneRecord(1, "", "x")
	appendOne(t, l, "a", 0, rec)
	appendOne(t, l, "a", 1, oneRecord(2, "", "y"))
	l.CountServed("a", 1, 10)
	got := map[string]TopicTraffic{}
	for _, tt := range l.Traffic(nil) {
		got[tt.Name] = tt
	}
	a, b := got["a"], got["b"]
	if len(got) != 2 || a.Partitions != 2 || a.RecordsIn != 2 || a.BytesIn != 2*int64(len(rec)) || a.RecordsOut != 1 || a.BytesOut != 10 {
		t.Fatalf("traffic = %+v, want a: 2 partitions, 2 records (%d bytes) in, 1 record (10 bytes) out, and b", got, 2*len(rec))
	}
	if b.RecordsIn != 0 || b.UUID == a.UUID {
		t.Fatalf("b = %+v (a's UUID %x)", b, a.UUID)
	}
	if n := l.DiskBytes(); n <= 0 {
		t.Fatalf("DiskBytes = %d after appends, want > 0 (memtables at least)", n)
	}
}

// BenchmarkTraffic10k is the history sampler's read of the log every 2 s:
// 10,000 topics' counters.
func BenchmarkTraffic10k(b *testing.B) {
	l := openTest(b, "")
	for i := range 10_000 {
		if _, err := l.CreateTopic(fmt.Sprintf("t-%05d", i), 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	var buf []TopicTraffic
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf = l.Traffic(buf[:0])
	}
	if len(buf) != 10_000 {
		b.Fatalf("%d topics", len(buf))
	}
}
