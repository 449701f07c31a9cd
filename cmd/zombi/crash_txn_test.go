package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnRun is one transaction a producer ran before the kill.
type txnRun struct {
	records int
	commit  bool // what the producer asked for
	known   bool // EndTransaction answered: the outcome is commit
}

// TestCrashTransactionsAllOrNothing kills the process with SIGKILL while
// transactional producers commit and abort transactions over three
// partitions. After a restart every transaction is either wholly visible
// to a read_committed consumer or not at all: those whose commit was
// acknowledged are all there, those aborted never are, and those in flight
// at the kill are one or the other (open ones are aborted when their
// transaction.timeout.ms passes). Offsets are contiguous (markers
// included) and the same transactional ids work again.
func TestCrashTransactionsAllOrNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	dir := t.TempDir()
	const (
		topic     = "txcrash"
		parts     = 3
		producers = 3
	)
	p := startZombi(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	var mu sync.Mutex
	runs := map[string]*txnRun{} // "c-i" -> run
	var wg sync.WaitGroup
	for c := 0; c < producers; c++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.TransactionalID(fmt.Sprintf("crash-tx-%d", c)),
			kgo.TransactionTimeout(4*time.Second), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.ProducerLinger(time.Millisecond), kgo.RequestRetries(1), kgo.RetryTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("%d-%d", c, i)
				n := 1 + (i*7+c)%40
				run := &txnRun{records: n, commit: i%3 != 0}
				mu.Lock()
				runs[id] = run
				mu.Unlock()
				if err := cl.BeginTransaction(); err != nil {
					return
				}
				for j := 0; j < n; j++ {
					cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%d-of-%d", id, j, n))}, nil)
				}
				if err := cl.Flush(ctx); err != nil {
					return
				}
				end := kgo.TryAbort
				if run.commit {
					end = kgo.TryCommit
				}
				if err := cl.EndTransaction(ctx, end); err != nil {
					return
				}
				mu.Lock()
				run.known = true
				mu.Unlock()
			}
		}(c)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()

	p2 := startZombi(t, dir)
	seen := readAllTxn(t, p2.KafkaAddr, topic, parts, true)
	mu.Lock()
	defer mu.Unlock()
	var committed, aborted, inFlight, inFlightVisible int
	for id, run := range runs {
		got := seen[id]
		for j, k := range got {
			if k != 1 {
				t.Fatalf("transaction %s: record %d seen %d times", id, j, k)
			}
		}
		switch {
		case run.known && run.commit:
			committed++
			if len(got) != run.records {
				t.Fatalf("committed transaction %s: %d of %d records visible", id, len(got), run.records)
			}
		case run.known:
			aborted++
			if len(got) != 0 {
				t.Fatalf("aborted transaction %s: %d records visible to read_committed", id, len(got))
			}
		default:
			inFlight++
			if len(got) != 0 && len(got) != run.records {
				t.Fatalf("transaction %s in flight at the kill: %d of %d records visible (half visible)", id, len(got), run.records)
			}
			if len(got) > 0 {
				inFlightVisible++
			}
		}
	}
	if committed < 10 || aborted < 3 {
		t.Fatalf("too little happened before the kill: %d committed, %d aborted", committed, aborted)
	}
	for id := range seen {
		if runs[id] == nil {
			t.Fatalf("records of transaction %s that no producer ran", id)
		}
	}
	// The same transactional id works after the restart: the new producer
	// fences the old epoch and commits.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p2.KafkaAddr), kgo.TransactionalID("crash-tx-0"), kgo.TransactionTimeout(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	actx, acancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer acancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(actx, &kgo.Record{Topic: topic, Value: []byte("after-0-of-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(actx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after restart: %v", err)
	}
	if got := readAllTxn(t, p2.KafkaAddr, topic, parts, false)["after"]; len(got) != 1 {
		t.Fatalf("the transaction committed after the restart: %v", got)
	}
	t.Logf("%d committed, %d aborted, %d in flight at SIGKILL (%d of them committed), all or nothing after restart", committed, aborted, inFlight, inFlightVisible)
}

// readAllTxn reads a topic to its end with a read_committed consumer (once
// every transaction is closed: open ones wait for their timeout) and
// returns, per transaction id, how often each record index was seen. With
// checkOffsets it first reads read_uncommitted with control records and
// wants contiguous offsets.
func readAllTxn(t *testing.T, addr, topic string, parts int32, checkOffsets bool) map[string]map[int]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	if len(end) != int(parts) {
		t.Fatalf("end offsets %v", end)
	}
	// Both reads keep control records: every partition ends with a marker
	// once its transactions are closed, so the last offset seen reaches the
	// end offset.
	consume := func(opts ...kgo.Opt) []*kgo.Record {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.KeepControlRecords(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var out []*kgo.Record
		pos := map[int32]int64{}
		for {
			done := true
			for p, e := range end {
				if pos[p] < e {
					done = false
				}
			}
			if done {
				return out
			}
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("at %v, not at the end offsets %v after 60 s (open transactions not aborted?)", pos, end)
			}
			fs.EachError(func(tp string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("fetch %s/%d: %v", tp, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				pos[r.Partition] = r.Offset + 1
				out = append(out, r)
			})
		}
	}
	if checkOffsets {
		next := map[int32]int64{}
		for _, r := range consume() {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d after %d (gap or repeat)", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
		}
	}
	seen := map[string]map[int]int{}
	for _, r := range consume(kgo.FetchIsolationLevel(kgo.ReadCommitted())) {
		if r.Attrs.IsControl() {
			continue
		}
		v := string(r.Value)
		i := strings.LastIndex(v, "-of-")
		head := v[:i]
		k := strings.LastIndex(head, "-")
		j, err := strconv.Atoi(head[k+1:])
		if err != nil {
			t.Fatalf("record %q", v)
		}
		id := head[:k]
		if seen[id] == nil {
			seen[id] = map[int]int{}
		}
		seen[id][j]++
	}
	return seen
}
