package iceberg

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppend: 1,000,000 records (100-byte values, 10-byte keys, one
// header) over 4 partitions into a day-partitioned table in a temp
// directory, Add through Commit. Reports records/s (wall) and
// records/cpu-s (user+system CPU of the process: the machine is shared,
// so wall time depends on the neighbours).
func BenchmarkAppend(b *testing.B) {
	benchAppend(b, func(int) Storage {
		st, err := DirStorage(b.TempDir() + "/t")
		if err != nil {
			b.Fatal(err)
		}
		return st
	})
}

// BenchmarkAppendS3: the same into versitygw on this machine (uploads
// through PutObject / multipart instead of a rename).
func BenchmarkAppendS3(b *testing.B) {
	s3 := s3Store(b).(*s3Storage)
	benchAppend(b, func(i int) Storage { return S3Storage(s3.c, s3.bucket, fmt.Sprintf("bench/t%d", i)) })
}

func benchAppend(b *testing.B, store func(i int) Storage) {
	ctx := context.Background()
	s := newStream()
	const perPart = 250_000
	hdr := []Header{{Key: "trace-id", Value: []byte("0123456789abcdef")}}
	base := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	next := map[int32]int64{0: perPart, 1: perPart, 2: perPart, 3: perPart}
	var cpu time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		st := store(i)
		tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
		if err != nil {
			b.Fatal(err)
		}
		spill := b.TempDir()
		c0 := cpuTime()
		b.StartTimer()
		a := tb.NewAppend(WriteOptions{SpillDir: spill})
		for p := int32(0); p < 4; p++ {
			for o := int64(0); o < perPart; o++ {
				if err := a.Add(ctx, s.record(p, o, base.Add(time.Duration(o)*time.Millisecond), 100, hdr)); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := a.Commit(ctx, "inc", next); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		b.StartTimer()
	}
	n := float64(4 * perPart * b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(n/cpu.Seconds(), "records/cpu-s")
}
