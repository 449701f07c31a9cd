package tiering

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Benchmarks against versitygw on this machine (docs/BENCHMARKS-tiering.md):
//
//	go test -run '^$' -bench . -benchtime 3x ./tiering/
//
// Record data: 1 KiB values, 100 records per batch (a typical producer
// batch of ~100 KiB), 4 partitions.

const (
	benchParts      = 4
	benchValue      = 1024
	benchPerBatch   = 100
	benchPartBytes  = 64 << 20 // record data per partition per iteration
	benchBatchBytes = benchValue * benchPerBatch
)

func benchBatch() []byte {
	b := batch.NewBuilder()
	v := make([]byte, benchValue)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	for i := 0; i < benchPerBatch; i++ {
		b.Add(time.Now().UnixMilli(), nil, v, nil)
	}
	return append([]byte(nil), b.Bytes()...)
}

// fillLog appends benchPartBytes of record data to each partition.
func fillLog(b *testing.B, l *plog.Log, topic string) int64 {
	raw := benchBatch()
	var total int64
	for p := int32(0); p < benchParts; p++ {
		for n := 0; n < benchPartBytes/benchBatchBytes; n += 16 {
			reqs := make([]plog.AppendRequest, 16)
			for i := range reqs {
				reqs[i] = plog.AppendRequest{Topic: topic, Partition: p, Batch: append([]byte(nil), raw...)}
			}
			for _, r := range l.Append(context.Background(), reqs) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			total += int64(16 * len(raw))
		}
	}
	return total
}

// noAutoFlush keeps the scheduler from flushing: the benchmark runs the
// flush jobs itself, to time them alone.
func noAutoFlush(c Config) Config {
	c.FlushInterval = time.Hour
	c.FlushBatchSize = 1 << 30
	c.FlushMaxSegment = 10000
	c.FlushMaxBytes = 64 << 20
	return c
}

func flushAll(b *testing.B, tr *Tier, topic string) {
	var wg sync.WaitGroup
	for p := int32(0); p < benchParts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tr.runJob(tr.lookup(topic, p)); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkFlush: segments of 10000 records (~10 MiB) uploaded from 4
// partitions concurrently; MB/s of record data.
func BenchmarkFlush(b *testing.B) {
	v := startVersity(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := openLog(b, b.TempDir())
		tr, err := Start(context.Background(), l, noAutoFlush(v.config(fmt.Sprintf("flush%d", i))), testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		topic := "bench"
		if _, _, err := l.EnsureTopic(topic, benchParts); err != nil {
			b.Fatal(err)
		}
		tr.refreshTopics()
		n := fillLog(b, l, topic)
		b.SetBytes(n)
		b.StartTimer()
		flushAll(b, tr, topic)
		b.StopTimer()
		tr.Close()
		l.Close()
	}
}

// BenchmarkColdRead: a consumer per partition reads everything from S3 in
// 1 MiB fetches (the Kafka per-partition default) with a cold cache; MB/s,
// and the time to the first byte of the first fetch.
func BenchmarkColdRead(b *testing.B) {
	v := startVersity(b)
	l := openLog(b, b.TempDir())
	defer l.Close()
	cfg := noAutoFlush(v.config("coldread"))
	tr, err := Start(context.Background(), l, cfg, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	topic := "bench"
	if _, _, err := l.EnsureTopic(topic, benchParts); err != nil {
		b.Fatal(err)
	}
	tr.refreshTopics()
	n := fillLog(b, l, topic)
	flushAll(b, tr, topic)
	tr.Close()
	var ttfb time.Duration
	b.SetBytes(n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tr, err := Start(context.Background(), l, cfg, testLogger(b)) // empty caches
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var read atomic.Int64
		var wg sync.WaitGroup
		for p := int32(0); p < benchParts; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, hwm, _ := l.Offsets(topic, p)
				for off := int64(0); off < hwm; {
					t0 := time.Now()
					rr, err := l.Read(topic, p, off, 1<<20)
					if err != nil {
						b.Error(err)
						return
					}
					if off == 0 && p == 0 {
						ttfb += time.Since(t0)
					}
					for _, bt := range rr.Batches {
						read.Add(int64(len(bt.Raw)))
						off = bt.LastOffset + 1
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if read.Load() != n {
			b.Fatalf("read %d bytes, flushed %d", read.Load(), n)
		}
		tr.Close()
	}
	b.ReportMetric(float64(ttfb.Microseconds())/1000/float64(b.N), "ms-first-byte")
}

// BenchmarkHotWrite: 8 writers append 100 KiB batches (fsync'd, group
// commit) without a cold tier, with the flusher uploading to S3 at the same
// time, and with the flusher writing to a store that drops segment bodies
// (no HTTP, no S3 server: what the flusher itself costs the hot path).
func BenchmarkHotWrite(b *testing.B) {
	for _, mode := range []string{"hot-only", "with-s3-flusher", "flusher-no-s3"} {
		b.Run(mode, func(b *testing.B) {
			l, err := plog.Open(plog.Options{Dir: b.TempDir(), SyncWrites: true, Logger: testLogger(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var cfg Config
			var st ObjectStore
			switch mode {
			case "with-s3-flusher":
				cfg = startVersity(b).config("hotwrite")
			case "flusher-no-s3":
				cfg, st = Config{Bucket: "hotwrite"}, dropStore{newMemStore()}
			}
			if mode != "hot-only" {
				cfg.FlushInterval, cfg.FlushBatchSize, cfg.FlushMaxSegment = 5*time.Second, 1000, 10000
				cfg.HotMaxBytes = 10 << 30 // the default: the gate measures unflushed bytes
				var tr interface{ Close() error }
				if st == nil {
					tr, err = Start(context.Background(), l, cfg, testLogger(b))
				} else {
					tr, err = start(context.Background(), l, cfg, st, testLogger(b))
				}
				if err != nil {
					b.Fatal(err)
				}
				defer tr.Close()
			}
			if _, _, err := l.EnsureTopic("w", benchParts); err != nil {
				b.Fatal(err)
			}
			raw := benchBatch()
			b.SetBytes(int64(len(raw)))
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						r := l.Append(context.Background(), []plog.AppendRequest{{Topic: "w", Partition: int32(i % benchParts), Batch: append([]byte(nil), raw...)}})
						if r[0].Err != nil {
							b.Error(r[0].Err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// dropStore keeps manifests and chunks but not segment bodies, so a long
// benchmark does not hold every byte in memory.
type dropStore struct{ *memStore }

func (d dropStore) Put(ctx context.Context, key string, body []byte) error {
	if strings.HasPrefix(key, "segments/") {
		body = nil
	}
	return d.memStore.Put(ctx, key, body)
}
