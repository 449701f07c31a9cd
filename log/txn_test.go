package log

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
)

// txnBatch is a transactional batch of n records of producer pid.
func txnBatch(pid int64, epoch int16, seq int32, n int) []byte {
	b := batch.NewBuilder()
	b.SetProducer(pid, epoch, seq)
	for i := 0; i < n; i++ {
		b.Add(1000, nil, []byte("v"), nil)
	}
	raw := append([]byte(nil), b.Bytes()...)
	batch.SetTransactional(raw)
	return raw
}

func mustEnd(t *testing.T, l *Log, req EndTxnRequest) {
	t.Helper()
	if err := l.EndTxn(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

func committedOffsets(t *testing.T, l *Log, topic string, part int32, from int64) (offsets []int64, lso int64) {
	t.Helper()
	for {
		rr, err := l.ReadIsolated(topic, part, from, 1<<20, ReadCommitted)
		if err != nil {
			t.Fatal(err)
		}
		lso = rr.LastStableOffset
		if len(rr.Batches) == 0 {
			return offsets, lso
		}
		for _, b := range Committed(rr) {
			for o := max(b.BaseOffset, from); o <= b.LastOffset; o++ {
				offsets = append(offsets, o)
			}
		}
		from = rr.Batches[len(rr.Batches)-1].LastOffset + 1
	}
}

func TestTxnCommitAbortAndLSO(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	appendOne(t, l, "t", 0, oneRecord(1, "", "plain")) // 0
	appendOne(t, l, "t", 0, txnBatch(7, 0, 0, 2))      // 1-2: txn A (pid 7)
	appendOne(t, l, "t", 0, txnBatch(8, 0, 0, 1))      // 3: txn B (pid 8)
	if lso, _ := l.LastStable("t", 0); lso != 1 {
		t.Fatalf("LSO with A open = %d, want 1", lso)
	}
	if got, _ := committedOffsets(t, l, "t", 0, 0); len(got) != 1 || got[0] != 0 {
		t.Fatalf("read_committed with A and B open = %v, want [0]", got)
	}
	mustEnd(t, l, EndTxnRequest{ProducerID: 7, ProducerEpoch: 0, Commit: false, Partitions: []TopicPartition{{"t", 0}}}) // 4: abort A
	if lso, _ := l.LastStable("t", 0); lso != 3 {
		t.Fatalf("LSO with B open = %d, want 3", lso)
	}
	appendOne(t, l, "t", 0, txnBatch(8, 0, 1, 2)) // 5-6: B
	mustEnd(t, l, EndTxnRequest{ProducerID: 8, ProducerEpoch: 0, Commit: true, Partitions: []TopicPartition{{"t", 0}},
		Offsets: []CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 42}},
		Meta:    []MetaKV{{Key: "txn/x", Value: []byte("done")}}}) // 7: commit B
	check := func(l *Log) {
		t.Helper()
		got, lso := committedOffsets(t, l, "t", 0, 0)
		want := []int64{0, 3, 5, 6}
		if len(got) != len(want) || lso != 8 {
			t.Fatalf("read_committed = %v (LSO %d), want %v (LSO 8)", got, lso, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("read_committed = %v, want %v", got, want)
			}
		}
		if recs := readAll(t, l, "t", 0, 0); len(recs) != 8 {
			t.Fatalf("read_uncommitted sees %d records, want 8 (markers included)", len(recs))
		}
		rr, err := l.ReadIsolated("t", 0, 2, 1<<20, ReadCommitted)
		if err != nil {
			t.Fatal(err)
		}
		if len(rr.Aborted) != 1 || rr.Aborted[0] != (AbortedTxn{ProducerID: 7, FirstOffset: 1, LastOffset: 4, StableAt: 3}) {
			t.Fatalf("aborted = %+v", rr.Aborted)
		}
		if o, ok, _ := l.FetchOffset("g", "t", 0); !ok || o.Offset != 42 {
			t.Fatalf("offset committed with the transaction = %+v %v", o, ok)
		}
		if v, _ := l.Meta("txn/x"); string(v) != "done" {
			t.Fatalf("meta written with the markers = %q", v)
		}
		if open, _ := l.OpenTxns(); len(open) != 0 {
			t.Fatalf("open transactions left: %+v", open)
		}
	}
	check(l)
	// AbortedIn takes the entries whose markers are in [from, to).
	for _, c := range []struct {
		from, to int64
		want     int
	}{{0, 4, 0}, {0, 5, 1}, {4, 5, 1}, {5, 100, 0}} {
		if got, err := l.AbortedIn("t", 0, c.from, c.to); err != nil || len(got) != c.want {
			t.Fatalf("AbortedIn [%d, %d) = %+v %v, want %d entries", c.from, c.to, got, err, c.want)
		}
	}
	_ = l.Close()
	check(openTest(t, dir))
}

func TestTxnOpenSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 2, nil); err != nil {
		t.Fatal(err)
	}
	appendOne(t, l, "t", 1, oneRecord(1, "", "a"))
	appendOne(t, l, "t", 1, txnBatch(9, 3, 0, 5))
	_ = l.Close()
	l = openTest(t, dir)
	open, err := l.OpenTxns()
	if err != nil || len(open) != 1 || open[0] != (OpenTxn{Topic: "t", Partition: 1, ProducerID: 9, ProducerEpoch: 3, FirstOffset: 1}) {
		t.Fatalf("open after restart = %+v %v", open, err)
	}
	if lso, _ := l.LastStable("t", 1); lso != 1 {
		t.Fatalf("LSO after restart = %d, want 1", lso)
	}
	// The abort of recovery, with a bumped epoch, fences the old one.
	mustEnd(t, l, EndTxnRequest{ProducerID: 9, ProducerEpoch: 4, Partitions: []TopicPartition{{"t", 1}, {"gone", 0}}})
	res := l.Append(context.Background(), []AppendRequest{{Topic: "t", Partition: 1, Batch: txnBatch(9, 3, 5, 1)}})
	if !errors.Is(res[0].Err, ErrProducerFenced) {
		t.Fatalf("old epoch after the abort marker: %v, want fenced", res[0].Err)
	}
	if got, lso := committedOffsets(t, l, "t", 1, 0); len(got) != 1 || lso != 7 {
		t.Fatalf("after abort: committed %v LSO %d, want [0] and 7", got, lso)
	}
}

func TestTxnVerifierRefuses(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	var calls int
	l.SetTxnVerifier(func(pid int64, epoch int16, topic string, part int32) error {
		calls++
		if pid == 1 {
			return nil
		}
		return ErrInvalidTxnState
	})
	res := l.Append(context.Background(), []AppendRequest{
		{Topic: "t", Partition: 0, Batch: txnBatch(1, 0, 0, 1), Group: 1},
		{Topic: "t", Partition: 0, Batch: txnBatch(1, 0, 1, 1), Group: 1}, // continues: no call
	})
	if res[0].Err != nil || res[1].Err != nil || calls != 1 {
		t.Fatalf("verified producer: %v %v, %d calls", res[0].Err, res[1].Err, calls)
	}
	// A refused batch in a record set rolls the whole set back, its open
	// transaction included.
	res = l.Append(context.Background(), []AppendRequest{
		{Topic: "t", Partition: 0, Batch: txnBatch(3, 0, 0, 1), Group: 1},
		{Topic: "t", Partition: 0, Batch: oneRecord(1, "", "x"), Group: 1},
	})
	if !errors.Is(res[0].Err, ErrInvalidTxnState) {
		t.Fatalf("refused producer: %v", res[0].Err)
	}
	if open, _ := l.OpenTxns(); len(open) != 1 || open[0].ProducerID != 1 {
		t.Fatalf("open = %+v, want only producer 1", open)
	}
	if _, hwm, _ := l.Offsets("t", 0); hwm != 2 {
		t.Fatalf("hwm = %d, want 2: nothing of the refused set stored", hwm)
	}
	// A control batch never comes from a producer.
	m := batch.Marker(1, 0, true, 0, 5)
	res = l.Append(context.Background(), []AppendRequest{{Topic: "t", Partition: 0, Batch: m}})
	if !errors.Is(res[0].Err, ErrInvalidTxnState) {
		t.Fatalf("produced control batch: %v", res[0].Err)
	}
}

// A client may not write control batches, transactional or not: a forged
// marker with a producer id and a high epoch would fence that producer once
// the partition is loaded again (markers raise the producer epoch).
func TestTxnClientControlBatchRefused(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	victim := idemBatch(7, 0, 0)
	appendOne(t, l, "t", 0, victim)
	forged := batch.Marker(7, 5, true, 0, 1000)
	// Clear the transactional bit: a control batch outside any transaction.
	be.PutUint16(forged[21:], batch.ControlMask)
	be.PutUint32(forged[17:], crc32.Checksum(forged[21:], crc32.MakeTable(crc32.Castagnoli)))
	for _, b := range [][]byte{forged, batch.Marker(7, 5, false, 0, 1000)} {
		res := l.Append(context.Background(), []AppendRequest{{Topic: "t", Partition: 0, Batch: b}})
		if !errors.Is(res[0].Err, ErrInvalidTxnState) {
			t.Fatalf("client control batch (attributes %#x): err %v, want ErrInvalidTxnState", be.Uint16(b[21:]), res[0].Err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	if res := l.Append(context.Background(), []AppendRequest{{Topic: "t", Partition: 0, Batch: idemBatch(7, 0, 1)}}); res[0].Err != nil {
		t.Fatalf("the producer after a reload: %v", res[0].Err)
	}
}

func idemBatch(pid int64, epoch int16, seq int32) []byte {
	b := batch.NewBuilder()
	b.SetProducer(pid, epoch, seq)
	b.Add(1000, nil, []byte("v"), nil)
	return append([]byte(nil), b.Bytes()...)
}

// Records deleted past an open transaction's start (DeleteRecords): the
// last stable offset is never below the log start, as Kafka clamps its first
// unstable offset; else a read_committed consumer resetting to "latest"
// lands out of range, over and over.
func TestTxnLastStableNotBelowLogStart(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	appendOne(t, l, "t", 0, oneRecord(1, "", "a")) // 0
	appendOne(t, l, "t", 0, txnBatch(7, 0, 0, 2))  // 1-2: open
	appendOne(t, l, "t", 0, oneRecord(1, "", "b")) // 3
	appendOne(t, l, "t", 0, oneRecord(1, "", "c")) // 4
	if _, err := l.TrimBefore(context.Background(), "t", 0, 4); err != nil {
		t.Fatal(err)
	}
	if lso, _ := l.LastStable("t", 0); lso != 4 {
		t.Fatalf("LastStable = %d, want the log start 4", lso)
	}
	rr, err := l.ReadIsolated("t", 0, 4, 1<<20, ReadCommitted)
	if err != nil || rr.LastStableOffset != 4 || len(rr.Batches) != 0 {
		t.Fatalf("read_committed at the log start: LSO %d, %d batches, %v; want LSO 4, none", rr.LastStableOffset, len(rr.Batches), err)
	}
	mustEnd(t, l, EndTxnRequest{ProducerID: 7, ProducerEpoch: 0, Commit: true, Partitions: []TopicPartition{{"t", 0}}}) // 5
	if got, lso := committedOffsets(t, l, "t", 0, 4); len(got) != 1 || got[0] != 4 || lso != 6 {
		t.Fatalf("after the commit: %v (LSO %d), want [4] (LSO 6)", got, lso)
	}
}

// A producer with a transaction open in a partition writes only
// transactional batches there (Kafka's "Expected transactional write"): a
// plain batch in the middle would stay visible after an abort.
func TestTxnPlainBatchInsideOpenTxnRefused(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	appendOne(t, l, "t", 0, txnBatch(7, 0, 0, 1)) // 0: open
	res := l.Append(context.Background(), []AppendRequest{{Topic: "t", Partition: 0, Batch: idemBatch(7, 0, 1)}})
	if !errors.Is(res[0].Err, ErrInvalidTxnState) {
		t.Fatalf("plain batch inside the open transaction: err %v, want ErrInvalidTxnState", res[0].Err)
	}
	mustEnd(t, l, EndTxnRequest{ProducerID: 7, ProducerEpoch: 0, Partitions: []TopicPartition{{"t", 0}}}) // abort
	if got, _ := committedOffsets(t, l, "t", 0, 0); len(got) != 0 {
		t.Fatalf("read_committed after the abort sees %v, want nothing", got)
	}
	// Once the transaction is over, the producer's plain batches are fine.
	appendOne(t, l, "t", 0, idemBatch(7, 0, 1))
}

// TestSetMetaLazy: lazy meta writes are readable at once, also when they
// share a round with appends (written first, without the round's fsync),
// and survive a reopen.
func TestSetMetaLazy(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 400)
	for i := 0; i < 200; i++ {
		go func() {
			errs <- l.SetMetaLazy(fmt.Sprintf("lazy/%03d", i), []byte{byte(i)})
		}()
		go func() {
			res := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: oneRecord(1, "", "x")}})
			errs <- res[0].Err
		}()
	}
	for i := 0; i < 400; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	check := func(l *Log) {
		t.Helper()
		kvs, err := l.MetaList("lazy/")
		if err != nil || len(kvs) != 200 {
			t.Fatalf("lazy entries: %d, %v", len(kvs), err)
		}
		if _, hwm, _ := l.Offsets("t", 0); hwm != 200 {
			t.Fatalf("hwm %d, want 200", hwm)
		}
	}
	check(l)
	_ = l.Close()
	check(openTest(t, dir))
}
