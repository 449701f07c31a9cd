package log

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/grocksdb"
	"github.com/zombi-dev/zombi/log/batch"
)

func TestIdempotencyKey(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 3, nil); err != nil {
		t.Fatal(err)
	}
	first := l.Append(context.Background(), []AppendRequest{{Topic: "t", Partition: 2, Batch: oneRecord(1, "", "a"), IdempotencyKey: "k1"}})[0]
	if first.Err != nil || first.Duplicate {
		t.Fatalf("first: %+v", first)
	}
	// Concurrent repeats, even aimed at another partition, return the first write.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Partition: int32(i % 3), Batch: oneRecord(1, "", "b"), IdempotencyKey: "k1"}})[0]
			if r.Err != nil || !r.Duplicate || r.Partition != 2 || r.BaseOffset != first.BaseOffset {
				t.Errorf("repeat: %+v", r)
			}
		}(i)
	}
	wg.Wait()
	for p := int32(0); p < 3; p++ {
		_, hwm, _ := l.Offsets("t", p)
		if want := map[int32]int64{2: 1}[p]; hwm != want {
			t.Fatalf("partition %d hwm %d, want %d", p, hwm, want)
		}
	}
	// Same key, same round: only one append.
	res := l.Append(context.Background(), []AppendRequest{
		{Topic: "t", Partition: 0, Batch: oneRecord(1, "", "c"), IdempotencyKey: "k2"},
		{Topic: "t", Partition: 0, Batch: oneRecord(1, "", "c"), IdempotencyKey: "k2"},
	})
	if res[0].Err != nil || res[1].Err != nil || res[0].Duplicate || !res[1].Duplicate || res[0].BaseOffset != res[1].BaseOffset {
		t.Fatalf("same round: %+v", res)
	}
}

func TestIdempotencyKeyExpires(t *testing.T) {
	l, err := Open(Options{Dir: t.TempDir(), SyncWrites: true, IdempotencyWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: oneRecord(1, "", "a"), IdempotencyKey: "k"}})[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := l.expireIdempotencyOnce(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if v, _ := l.db.GetBytes(l.ro, idemKey(0, "k")); v != nil {
		t.Fatal("expired key still stored")
	}
	r2 := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: oneRecord(1, "", "a"), IdempotencyKey: "k"}})[0]
	if r2.Err != nil || r2.Duplicate || r2.BaseOffset != 1 {
		t.Fatalf("after expiry: %+v", r2)
	}
}

func idemProducerBatch(pid int64, epoch int16, seq int32, n int) []byte {
	b := batch.NewBuilder()
	b.SetProducer(pid, epoch, seq)
	for i := 0; i < n; i++ {
		b.Add(1, nil, []byte("x"), nil)
	}
	return append([]byte(nil), b.Bytes()...)
}

func TestIdempotentProducer(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	app := func(epoch int16, seq int32, n int) AppendResult {
		return l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: idemProducerBatch(7, epoch, seq, n)}})[0]
	}
	if r := app(0, 0, 3); r.Err != nil || r.BaseOffset != 0 {
		t.Fatalf("first %+v", r)
	}
	if r := app(0, 3, 2); r.Err != nil || r.BaseOffset != 3 {
		t.Fatalf("second %+v", r)
	}
	if r := app(0, 0, 3); r.Err != nil || !r.Duplicate || r.BaseOffset != 0 || r.LastOffset != 2 {
		t.Fatalf("retry of first %+v", r)
	}
	if r := app(0, 7, 1); !errors.Is(r.Err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %+v", r)
	}
	if r := app(1, 0, 1); r.Err != nil || r.BaseOffset != 5 {
		t.Fatalf("new epoch %+v", r)
	}
	if r := app(0, 5, 1); !errors.Is(r.Err, ErrProducerFenced) {
		t.Fatalf("old epoch: %+v", r)
	}
	// Producer state survives a restart.
	l.Close()
	l = openTest(t, dir)
	if r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: idemProducerBatch(7, 1, 0, 1)}})[0]; !r.Duplicate || r.BaseOffset != 5 {
		t.Fatalf("retry after restart %+v", r)
	}
	if _, hwm, _ := l.Offsets("t", 0); hwm != 6 {
		t.Fatalf("hwm %d", hwm)
	}
}

func TestCorruptBatchRejected(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	b := oneRecord(1, "", "hello")
	b[len(b)-3] ^= 0xff
	if r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: b}})[0]; !errors.Is(r.Err, ErrCorruptBatch) {
		t.Fatalf("corrupt: %+v", r)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, make([]byte, 70)} {
		if r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: bad}})[0]; !errors.Is(r.Err, ErrCorruptBatch) {
			t.Fatalf("bad %v: %+v", bad, r)
		}
	}
	if _, hwm, _ := l.Offsets("t", 0); hwm != 0 {
		t.Fatalf("hwm %d after rejected appends", hwm)
	}
}

func TestTimeIndexAndTrim(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	// Batches of 3 records at ts 100.., with one out-of-order batch.
	ts := []int64{100, 200, 150, 300, 400}
	for _, base := range ts {
		b := batch.NewBuilder()
		for i := int64(0); i < 3; i++ {
			b.Add(base+i, nil, []byte(fmt.Sprint(base+i)), nil)
		}
		appendOne(t, l, "t", 0, append([]byte(nil), b.Bytes()...))
	}
	cases := []struct{ ts, off, rts int64 }{
		{0, 0, 100}, {100, 0, 100}, {101, 1, 101}, {103, 3, 200}, {150, 3, 200}, {202, 5, 202}, {203, 9, 300}, {402, 14, 402}, {403, -1, -1},
	}
	for _, c := range cases {
		off, rts, err := l.OffsetForTimestamp("t", 0, c.ts)
		if err != nil || off != c.off || rts != c.rts {
			t.Errorf("ts %d: got %d@%d %v, want %d@%d", c.ts, off, rts, err, c.off, c.rts)
		}
	}
	// Trim into the middle of the second batch: it stays, the first goes.
	if ls, err := l.TrimBefore(context.Background(), "t", 0, 4); err != nil || ls != 4 {
		t.Fatalf("trim: %d %v", ls, err)
	}
	if _, err := l.Read("t", 0, 2, 1<<20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	rr, err := l.Read("t", 0, 4, 1<<20)
	if err != nil || len(rr.Batches) != 4 || rr.Batches[0].BaseOffset != 3 || rr.LogStartOffset != 4 {
		t.Fatalf("read after trim: %+v %v", rr, err)
	}
	if off, _, _ := l.OffsetForTimestamp("t", 0, 0); off != 4 {
		t.Fatalf("earliest by time after trim: %d", off)
	}
	if _, err := l.TrimBefore(context.Background(), "t", 0, 99); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("trim past hwm: %v", err)
	}
	// Log start persists; offsets continue.
	dir := l.opts.Dir
	l.Close()
	l2 := openTest(t, dir)
	if ls, hwm, _ := l2.Offsets("t", 0); ls != 4 || hwm != 15 {
		t.Fatalf("after restart: %d %d", ls, hwm)
	}
	// Trimming everything keeps the next offset.
	if _, err := l2.TrimBefore(context.Background(), "t", 0, 15); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	l3 := openTest(t, dir)
	if r := appendOne(t, l3, "t", 0, oneRecord(1, "", "z")); r.BaseOffset != 15 {
		t.Fatalf("offset after full trim and restart: %d", r.BaseOffset)
	}
}

func TestReadMaxBytes(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		appendOne(t, l, "t", 0, makeBatch(10, 100))
	}
	rr, err := l.Read("t", 0, 15, 1)
	if err != nil || len(rr.Batches) != 1 || rr.Batches[0].BaseOffset != 10 {
		t.Fatalf("maxBytes 1 returns the one batch holding the offset: %+v %v", rr, err)
	}
	size := len(rr.Batches[0].Raw)
	rr, _ = l.Read("t", 0, 0, 3*size)
	if len(rr.Batches) != 3 {
		t.Fatalf("3 batches fit, got %d", len(rr.Batches))
	}
}

func TestTopicsCreateDeleteGrow(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for _, bad := range []string{"", ".", "..", "a b", "x/y", string(make([]byte, 250))} {
		if _, err := l.CreateTopic(bad, 1, nil); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := l.CreateTopic("ok", 0, nil); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("a", 2, map[string]string{"retention.ms": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("a", 2, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatal(err)
	}
	appendOne(t, l, "a", 1, oneRecord(1, "", "x"))
	if _, err := l.AddPartitions("a", 1); !errors.Is(err, ErrPartitionsNotRaised) {
		t.Fatal(err)
	}
	if info, err := l.AddPartitions("a", 4); err != nil || info.Partitions != 4 {
		t.Fatal(info, err)
	}
	appendOne(t, l, "a", 3, oneRecord(1, "", "x"))
	if err := l.DeleteTopic("a"); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteTopic("a"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatal(err)
	}
	if r := l.Append(context.Background(), []AppendRequest{{Topic: "a", Batch: oneRecord(1, "", "x")}})[0]; !errors.Is(r.Err, ErrUnknownTopic) {
		t.Fatal(r)
	}
	if _, err := l.CreateTopic("a", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, hwm, _ := l.Offsets("a", 0); hwm != 0 {
		t.Fatalf("recreated topic has hwm %d", hwm)
	}
	appendOne(t, l, "a", 0, oneRecord(1, "", "new"))
	l.Close()
	l = openTest(t, dir)
	topics := l.Topics()
	if len(topics) != 1 || topics[0].Name != "a" || topics[0].Partitions != 1 {
		t.Fatalf("topics after restart: %+v", topics)
	}
	if recs := readAll(t, l, "a", 0, 0); len(recs) != 1 || string(recs[0].Value) != "new" {
		t.Fatalf("recreated topic data: %+v", recs)
	}
}

func TestConsumerOffsets(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	err := l.CommitOffsets([]CommittedOffset{
		{Group: "g", Topic: "t", Partition: 0, Offset: 10, Metadata: "m"},
		{Group: "g", Topic: "t", Partition: 1, Offset: 20},
		{Group: "g2", Topic: "u", Partition: 0, Offset: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []CommittedOffset{{Group: "", Topic: "t"}, {Group: "g", Topic: "a b"}, {Group: "g", Topic: "t", Offset: -1}} {
		if err := l.CommitOffsets([]CommittedOffset{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	l.Close()
	l = openTest(t, dir)
	o, ok, err := l.FetchOffset("g", "t", 0)
	if err != nil || !ok || o.Offset != 10 || o.Metadata != "m" {
		t.Fatalf("fetch: %+v %v %v", o, ok, err)
	}
	if _, ok, _ := l.FetchOffset("g", "t", 5); ok {
		t.Fatal("uncommitted partition found")
	}
	all, _ := l.GroupOffsets("g")
	if len(all) != 2 || all[1].Offset != 20 {
		t.Fatalf("group offsets %+v", all)
	}
	groups, _ := l.Groups()
	if len(groups) != 2 || groups[0] != "g" || groups[1] != "g2" {
		t.Fatalf("groups %v", groups)
	}
	if err := l.DeleteOffsets("g", "t", []int32{0}); err != nil {
		t.Fatal(err)
	}
	if all, _ := l.GroupOffsets("g"); len(all) != 1 {
		t.Fatalf("after delete %+v", all)
	}
}

func TestWaitForWakesOnAppend(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan int64)
	go func() {
		hwm, _ := l.WaitFor(context.Background(), "t", 0, 0)
		done <- hwm
	}()
	time.Sleep(20 * time.Millisecond)
	appendOne(t, l, "t", 0, oneRecord(1, "", "x"))
	select {
	case hwm := <-done:
		if hwm != 1 {
			t.Fatalf("hwm %d", hwm)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not wake")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.WaitFor(ctx, "t", 0, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

func TestClosedLogRefuses(t *testing.T) {
	l, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: oneRecord(1, "", "x")}})[0]; !errors.Is(r.Err, ErrClosed) {
		t.Fatal(r)
	}
	if _, err := l.Read("t", 0, 0, 10); err != nil {
		// hwm is 0, so reading at 0 returns nothing without touching RocksDB.
		t.Fatal(err)
	}
	if l.Healthy() == nil {
		t.Fatal("closed log reports healthy")
	}
}

func TestProducerCacheBounded(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	reqs := make([]AppendRequest, 0, maxCachedProducers+100)
	for pid := int64(0); pid < maxCachedProducers+100; pid++ {
		reqs = append(reqs, AppendRequest{Topic: "t", Batch: idemProducerBatch(pid, 0, 0, 1)})
	}
	for _, r := range l.Append(context.Background(), reqs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	p, _ := l.partition("t", 0)
	if n := len(p.producers); n > maxCachedProducers {
		t.Fatalf("%d producers cached", n)
	}
	// Evicted producers are still recognised from RocksDB.
	for pid := int64(0); pid < maxCachedProducers+100; pid += 97 {
		r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: idemProducerBatch(pid, 0, 0, 1)}})[0]
		if r.Err != nil || !r.Duplicate || r.BaseOffset != pid {
			t.Fatalf("pid %d retry: %+v", pid, r)
		}
	}
}

// A read racing with TrimBefore must never skip offsets: when the batches
// go between its range check and its scan, it reads again (here: the offset
// is first gone from both tiers, so it is out of range, never later data;
// then it is in the cold tier and read from there).
func TestReadRacingTrimNeverSkips(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		appendOne(t, l, "t", 0, oneRecord(1, "", "x"))
	}
	once := false
	testHookBeforeScan = func() {
		if !once {
			once = true
			if _, err := l.TrimBefore(context.Background(), "t", 0, 5); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHookBeforeScan = nil }()
	rr, err := l.Read("t", 0, 2, 1<<20)
	if !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read at a just-trimmed offset: %v, batches %+v", err, rr.Batches)
	}
	// With a cold tier holding the trimmed range, the retry reads it there.
	cold := &memCold{}
	for i := int64(0); i < 8; i++ {
		raw := oneRecord(1, "", "cold")
		batch.SetBaseOffset(raw, i)
		cold.batches = append(cold.batches, Batch{BaseOffset: i, LastOffset: i, MaxTimestamp: 1, Raw: raw})
	}
	l.SetColdTier(cold)
	once = false
	testHookBeforeScan = func() {
		if !once {
			once = true
			if _, err := l.TrimBefore(context.Background(), "t", 0, 8); err != nil {
				t.Error(err)
			}
		}
	}
	rr, err = l.Read("t", 0, 6, 1<<20)
	if err != nil || len(rr.Batches) == 0 || rr.Batches[0].BaseOffset != 6 {
		t.Fatalf("offset 6, trimmed from the hot tier mid-read, should come from the cold tier: %v %+v", err, rr.Batches)
	}
}

// The writer publishes a trim's new log start only after its RocksDB write
// returns, and can be descheduled in between: a read may find the batches
// gone while the old log start still says they are hot, on every retry.
// Here that window is held open (the delete written, the log start not
// moved): the read must come from the cold tier, or, without one, be out of
// range, never fail or skip to later data.
func TestReadWhileTrimUnpublished(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		appendOne(t, l, "t", 0, oneRecord(1, "", "hot"))
	}
	p, err := l.partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.DeleteRange(batchKey(p.tid, p.id, 0), batchKey(p.tid, p.id, 5))
	if err := l.db.Write(l.wo, wb); err != nil {
		t.Fatal(err)
	}
	if start := p.logStart.Load(); start != 0 {
		t.Fatalf("log start %d, want 0 (the trim not published)", start)
	}
	rr, err := l.Read("t", 0, 2, 1<<20)
	if !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("no cold tier: read at a deleted offset: %v, batches %+v", err, rr.Batches)
	}
	cold := &memCold{}
	for i := int64(0); i < 5; i++ {
		raw := oneRecord(1, "", "cold")
		batch.SetBaseOffset(raw, i)
		cold.batches = append(cold.batches, Batch{BaseOffset: i, LastOffset: i, MaxTimestamp: 1, Raw: raw})
	}
	l.SetColdTier(cold)
	for off := int64(0); off < 10; off++ {
		rr, err := l.Read("t", 0, off, 1)
		if err != nil {
			t.Fatalf("read at %d (batches deleted, log start not yet moved, cold tier holds [0, 5)): %v", off, err)
		}
		_, recs, err := batch.Records(rr.Batches[0].Raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := "hot"
		if off < 5 {
			want = "cold"
		}
		if rr.Batches[0].BaseOffset != off || len(recs) != 1 || string(recs[0].Value) != want {
			t.Fatalf("read at %d: batch at %d %q, want offset %d %q", off, rr.Batches[0].BaseOffset, recs[0].Value, off, want)
		}
	}
}

// A group of requests (a Kafka partition's record set) is appended all or
// nothing: a later batch's failure takes back the earlier ones.
func TestAppendGroupAllOrNothing(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 2, nil); err != nil {
		t.Fatal(err)
	}
	appendOne(t, l, "t", 0, oneRecord(1, "", "before"))
	res := l.Append(context.Background(), []AppendRequest{
		{Topic: "t", Partition: 1, Batch: oneRecord(1, "", "other partition"), Group: 1},
		{Topic: "t", Partition: 0, Batch: idemProducerBatch(78, 0, 0, 1), Group: 2},
		{Topic: "t", Partition: 0, Batch: oneRecord(1, "", "plain"), Group: 2},
		{Topic: "t", Partition: 0, Batch: idemProducerBatch(78, 0, 5, 1), Group: 2}, // gap: out of order
	})
	if res[0].Err != nil || res[0].BaseOffset != 0 {
		t.Fatalf("unrelated group: %+v", res[0])
	}
	for _, r := range res[1:] {
		if !errors.Is(r.Err, ErrOutOfOrderSequence) {
			t.Fatalf("group member: %+v", r)
		}
	}
	if _, hwm, _ := l.Offsets("t", 0); hwm != 1 {
		t.Fatalf("hwm %d after a failed group, want 1", hwm)
	}
	// The producer state was rolled back too: sequence 0 is still new.
	res = l.Append(context.Background(), []AppendRequest{
		{Topic: "t", Partition: 0, Batch: idemProducerBatch(78, 0, 0, 2), Group: 3},
		{Topic: "t", Partition: 0, Batch: idemProducerBatch(78, 0, 2, 1), Group: 3},
	})
	if res[0].Err != nil || res[0].Duplicate || res[0].BaseOffset != 1 || res[1].BaseOffset != 3 {
		t.Fatalf("group after rollback: %+v", res)
	}
	recs := readAll(t, l, "t", 0, 0)
	if len(recs) != 4 || string(recs[0].Value) != "before" {
		t.Fatalf("records %+v", recs)
	}
	// A group with a corrupt batch appends nothing.
	bad := oneRecord(1, "", "x")
	bad[len(bad)-1] ^= 1
	res = l.Append(context.Background(), []AppendRequest{
		{Topic: "t", Partition: 0, Batch: oneRecord(1, "", "y"), Group: 4},
		{Topic: "t", Partition: 0, Batch: bad, Group: 4},
	})
	if !errors.Is(res[0].Err, ErrCorruptBatch) || !errors.Is(res[1].Err, ErrCorruptBatch) {
		t.Fatalf("corrupt group: %+v", res)
	}
	if _, hwm, _ := l.Offsets("t", 0); hwm != 4 {
		t.Fatalf("hwm %d", hwm)
	}
}

// The time index is sparse and the partition state is a checkpoint plus the
// batches after it: lookups by time must still find the exact first record,
// before and after a restart, over several checkpoints' worth of data.
func TestSparseTimeIndexAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type rec struct{ off, ts int64 }
	var recs []rec
	value := make([]byte, 300)
	ts := int64(1000)
	for i := 0; i < 5000; i++ {
		// Mostly rising timestamps, some from the past, runs of equal ones.
		switch rng.IntN(10) {
		case 0:
			ts -= rng.Int64N(50)
		case 1, 2:
		default:
			ts += rng.Int64N(5)
		}
		b := batch.NewBuilder()
		n := 1 + rng.IntN(3)
		for j := 0; j < n; j++ {
			b.Add(ts+int64(j), nil, value, nil)
		}
		res := appendOne(t, l, "t", 0, append([]byte(nil), b.Bytes()...))
		for j := 0; j < n; j++ {
			recs = append(recs, rec{res.BaseOffset + int64(j), ts + int64(j)})
		}
	}
	// The newest maximum only in the tail: the small batch after an indexed
	// one is not indexed.
	for _, r := range recs {
		ts = max(ts, r.ts)
	}
	for _, size := range []int{5000, 100, 100} {
		ts++
		res := appendOne(t, l, "t", 0, oneRecord(ts, "", string(make([]byte, size))))
		recs = append(recs, rec{res.BaseOffset, ts})
	}
	want := func(q int64) (int64, int64) {
		for _, r := range recs {
			if r.ts >= q {
				return r.off, r.ts
			}
		}
		return -1, -1
	}
	check := func(l *Log) {
		t.Helper()
		maxTs := int64(0)
		for _, r := range recs {
			maxTs = max(maxTs, r.ts)
		}
		for q := int64(900); q <= maxTs+2; q += 1 + rng.Int64N(40) {
			wo, wts := want(q)
			off, rts, err := l.OffsetForTimestamp("t", 0, q)
			if err != nil || off != wo || rts != wts {
				t.Fatalf("ts %d: got %d@%d %v, want %d@%d", q, off, rts, err, wo, wts)
			}
			// The start for a read by time is the batch that holds the answer.
			start, err := l.StartOffsetForTimestamp("t", 0, q)
			if wo < 0 {
				wo = recs[len(recs)-1].off + 1
			}
			if err != nil || start > wo || start < wo-2 {
				t.Fatalf("start for ts %d: %d %v, want the batch of %d", q, start, err, wo)
			}
		}
		if off, _, _ := l.OffsetForTimestamp("t", 0, maxTs); off < 0 {
			t.Fatalf("the newest timestamp %d is not found", maxTs)
		}
	}
	check(l)

	var index, state int
	it := l.db.NewIterator(l.ro)
	for it.Seek([]byte{kindTime}); it.Valid() && it.Key().Data()[0] == kindTime; it.Next() {
		index++
	}
	for it.Seek([]byte{kindPartition}); it.Valid() && it.Key().Data()[0] == kindPartition; it.Next() {
		state++
	}
	it.Close()
	if index == 0 || index > 5000/10 {
		t.Fatalf("%d time index entries for 5000 batches of about 400 bytes", index)
	}
	if state != 1 {
		t.Fatalf("%d partition state keys", state)
	}

	_ = l.Close()
	l = openTest(t, dir)
	check(l)
	next := recs[len(recs)-1].off + 1
	if r := appendOne(t, l, "t", 0, oneRecord(ts+100, "", "after")); r.BaseOffset != next {
		t.Fatalf("offset after restart %d, want %d", r.BaseOffset, next)
	}
	recs = append(recs, rec{next, ts + 100})
	check(l)
}

// Producer state is written only at checkpoints; the batches after the last
// one carry the rest and are replayed at Open. After a restart every
// producer's last five batches are still recognised, whichever side of a
// checkpoint they fell on.
func TestProducerStateAcrossCheckpoints(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	const producers = 40
	seq := make([]int32, producers)
	var offsets [producers][]int64 // base offset of each batch, by sequence
	big := make([]byte, 8000)
	for round := 0; round < 200; round++ {
		pid := int64(round % producers)
		b := batch.NewBuilder()
		b.SetProducer(pid, 3, seq[pid])
		b.Add(1, nil, big, nil) // 200 x 8 KB: the checkpoint falls mid-way
		r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: append([]byte(nil), b.Bytes()...)}})[0]
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		offsets[pid] = append(offsets[pid], r.BaseOffset)
		seq[pid]++
	}
	p, _ := l.partition("t", 0)
	if v, _ := l.db.GetBytes(l.ro, partPrefix(kindPartition, p.tid, 0)); len(v) != 24 {
		t.Fatalf("no checkpoint after 1.6 MB: %x", v)
	}
	_ = l.Close()
	l = openTest(t, dir)
	retry := func(pid int64, epoch int16, s int32) AppendResult {
		return l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: idemProducerBatch(pid, epoch, s, 1)}})[0]
	}
	for pid := int64(0); pid < producers; pid++ {
		n := len(offsets[pid])
		for k := n - maxProducerBatches; k < n; k++ {
			if r := retry(pid, 3, int32(k)); r.Err != nil || !r.Duplicate || r.BaseOffset != offsets[pid][k] {
				t.Fatalf("producer %d, retry of batch %d after restart: %+v, want duplicate at %d", pid, k, r, offsets[pid][k])
			}
		}
		if r := retry(pid, 3, int32(n-maxProducerBatches-1)); !errors.Is(r.Err, ErrOutOfOrderSequence) {
			t.Fatalf("producer %d, batch older than the last five: %+v", pid, r)
		}
		if r := retry(pid, 2, int32(n)); !errors.Is(r.Err, ErrProducerFenced) {
			t.Fatalf("producer %d, old epoch: %+v", pid, r)
		}
		if r := retry(pid, 3, int32(n)); r.Err != nil || r.Duplicate {
			t.Fatalf("producer %d, next batch: %+v", pid, r)
		}
	}
}
