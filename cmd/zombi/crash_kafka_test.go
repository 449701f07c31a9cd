package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashKeepsAcknowledgedKafkaWrites is INV-6 through the Kafka door:
// franz-go producers with acks=all write while the process is killed with
// SIGKILL; after a restart every acknowledged record is at its offset with
// its exact value, and offsets are contiguous.
func TestCrashKeepsAcknowledgedKafkaWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	dir := t.TempDir()
	const parts = 3
	p := startZombi(t, dir, fmt.Sprintf("ZOMBI_DEFAULT_PARTITIONS=%d", parts))
	addr := p.KafkaAddr

	type acked struct {
		part   int32
		offset int64
		value  string
	}
	var mu sync.Mutex
	var acks []acked
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(time.Millisecond), kgo.RecordRetries(0), kgo.ProduceRequestTimeout(2*time.Second),
			kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				val := fmt.Sprintf("client-%d-record-%d", c, i)
				cl.Produce(ctx, &kgo.Record{Topic: "kcrash", Key: []byte(fmt.Sprint(i % 11)), Value: []byte(val)}, func(r *kgo.Record, err error) {
					if err != nil {
						return
					}
					mu.Lock()
					acks = append(acks, acked{r.Partition, r.Offset, string(r.Value)})
					mu.Unlock()
				})
				if i%200 == 199 {
					time.Sleep(time.Millisecond) // keep the buffer from growing without bound
				}
			}
		}(c)
	}
	time.Sleep(2 * time.Second)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	got := append([]acked(nil), acks...)
	mu.Unlock()
	if len(got) < 1000 {
		t.Fatalf("only %d acknowledged records before the kill", len(got))
	}

	addr2 := startZombi(t, dir).KafkaAddr
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr2), kgo.ConsumeTopics("kcrash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stored := map[[2]int64]string{}
	next := map[int32]int64{}
	// Read each partition past its last acknowledged offset: records
	// written but not acknowledged before the kill may be there too, so a
	// count of records read says nothing about a given partition.
	want := map[int32]int64{}
	for _, a := range got {
		want[a.part] = max(want[a.part], a.offset+1)
	}
	readAll := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(60 * time.Second)
	for !readAll() && time.Now().Before(deadline) {
		fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		fs.EachError(func(topic string, part int32, err error) {
			if !strings.Contains(err.Error(), "deadline") {
				t.Fatalf("fetch %s/%d: %v", topic, part, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d after %d (gap or repeat)", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			stored[[2]int64{int64(r.Partition), r.Offset}] = string(r.Value)
		})
	}
	for _, a := range got {
		v, ok := stored[[2]int64{int64(a.part), a.offset}]
		if !ok || v != a.value {
			t.Fatalf("acknowledged %d/%d %q: after restart %q (found %v)", a.part, a.offset, a.value, v, ok)
		}
	}
	t.Logf("%d acknowledged Kafka records before SIGKILL, all found after restart (%d stored)", len(got), len(stored))
}
