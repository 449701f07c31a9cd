package log

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/log/batch"
)

func makeBatch(records, valueSize int) []byte {
	b := batch.NewBuilder()
	v := make([]byte, valueSize)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	now := time.Now().UnixMilli()
	for i := 0; i < records; i++ {
		b.Add(now, nil, v, nil)
	}
	return append([]byte(nil), b.Bytes()...)
}

// benchAppend runs b.N batch appends of recordsPerBatch 100-byte records
// from `writers` goroutines with durable (fsynced) writes and reports
// records/s.
func benchAppend(b *testing.B, writers, recordsPerBatch, partitions int) {
	l, err := Open(Options{Dir: b.TempDir(), SyncWrites: true, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic("bench", int32(partitions), nil); err != nil {
		b.Fatal(err)
	}
	proto := makeBatch(recordsPerBatch, 100)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(recordsPerBatch * 100))
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, len(proto))
			for next.Add(1) <= int64(b.N) {
				copy(buf, proto)
				req := []AppendRequest{{Topic: "bench", Partition: int32(w % partitions), Batch: buf}}
				if r := l.Append(context.Background(), req); r[0].Err != nil {
					b.Error(r[0].Err)
					return
				}
				buf = make([]byte, len(proto)) // the log may still reference nothing, but be honest about ownership
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N*recordsPerBatch)/el.Seconds(), "records/s")
}

func BenchmarkAppendSingle64(b *testing.B)    { benchAppend(b, 64, 1, 1) }
func BenchmarkAppendSingle64x8(b *testing.B)  { benchAppend(b, 64, 1, 8) }
func BenchmarkAppendBatch1000(b *testing.B)   { benchAppend(b, 4, 1000, 1) }
func BenchmarkAppendBatch1000x8(b *testing.B) { benchAppend(b, 8, 1000, 8) }
func BenchmarkAppendSingle1(b *testing.B)     { benchAppend(b, 1, 1, 1) }

func BenchmarkRead(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir(), SyncWrites: false, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic("bench", 1, nil); err != nil {
		b.Fatal(err)
	}
	proto := makeBatch(100, 100)
	for i := 0; i < 1000; i++ {
		buf := append([]byte(nil), proto...)
		if r := l.Append(context.Background(), []AppendRequest{{Topic: "bench", Batch: buf}}); r[0].Err != nil {
			b.Fatal(r[0].Err)
		}
	}
	b.SetBytes(1 << 20)
	b.ResetTimer()
	off := int64(0)
	records := 0
	for i := 0; i < b.N; i++ {
		rr, err := l.Read("bench", 0, off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		if len(rr.Batches) == 0 {
			off = 0
			continue
		}
		for _, bt := range rr.Batches {
			records += int(bt.LastOffset-bt.BaseOffset) + 1
		}
		off = rr.Batches[len(rr.Batches)-1].LastOffset + 1
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
