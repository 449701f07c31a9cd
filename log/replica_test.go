package log

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/log/batch"
)

// copyReplica copies what the follower lacks from the leader, as a
// follower's fetcher would: ReadReplica from the follower's log end, then
// AppendReplica, maxBytes per fetch.
func copyReplica(t *testing.T, leader, follower *Log, topic string, maxBytes int) {
	t.Helper()
	for {
		leo, err := follower.LogEndOffset(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := leader.ReadReplica(topic, 0, leo, maxBytes)
		if err != nil {
			t.Fatalf("leader read at %d: %v", leo, err)
		}
		if len(rr.Batches) == 0 {
			return
		}
		var raws [][]byte
		for _, b := range rr.Batches {
			raws = append(raws, b.Raw)
		}
		got, err := follower.AppendReplica(context.Background(), topic, 0, raws)
		if err != nil {
			t.Fatalf("append replica at %d: %v", leo, err)
		}
		if want := rr.Batches[len(rr.Batches)-1].LastOffset + 1; got != want {
			t.Fatalf("append replica: log end %d, want %d", got, want)
		}
	}
}

// rawLog returns every stored batch of partition 0, as stored.
func rawLog(t *testing.T, l *Log, topic string) [][]byte {
	t.Helper()
	start, err := l.HotStart(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		rr, err := l.ReadReplica(topic, 0, start, 1<<20)
		if err != nil {
			t.Fatalf("read replica at %d: %v", start, err)
		}
		if len(rr.Batches) == 0 {
			return out
		}
		for _, b := range rr.Batches {
			out = append(out, b.Raw)
		}
		start = rr.Batches[len(rr.Batches)-1].LastOffset + 1
	}
}

// statesOp reads a partition's full producer states and max timestamp on
// the writer goroutine, which owns them.
type statesOp struct {
	l      *Log
	p      *partition
	states map[int64]producerState
	maxTs  int64
	done   chan struct{}
}

func (op *statesOp) size() int      { return 0 }
func (op *statesOp) finish(error)   { close(op.done) }
func (op *statesOp) stage(r *round) { op.read() }
func (op *statesOp) read() {
	op.states = map[int64]producerState{}
	prefix := partPrefix(kindProducer, op.p.tid, op.p.id)
	it := op.l.db.NewIterator(op.l.ro)
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		if s, ok := decodeProducerState(it.Value().Data()); ok {
			op.states[int64(be.Uint64(it.Key().Data()[len(prefix):]))] = *s
		}
	}
	for pid, s := range op.p.producers {
		op.states[pid] = *s
	}
	op.maxTs = op.p.maxTs
}

type logSnap struct {
	Start, LEO, HWM, LSO int64
	Epoch                int32
	Epochs               [][2]int64
	Raw                  [][]byte
	Aborted              []AbortedTxn
	Open                 []OpenTxn
	States               map[int64]producerState
	MaxTs                int64
	Times                []int64 // OffsetForTimestamp of snapTimes
	Committed            []int64 // what a read_committed consumer gets
}

var snapTimes = []int64{0, 1, 1000, 1500, 2000, 4_000_000_000_000}

func snap(t *testing.T, l *Log, topic string) logSnap {
	t.Helper()
	var s logSnap
	var err error
	if s.Start, s.HWM, err = l.Offsets(topic, 0); err != nil {
		t.Fatal(err)
	}
	s.LEO, _ = l.LogEndOffset(topic, 0)
	s.LSO, _ = l.LastStable(topic, 0)
	s.Epoch, _ = l.LeaderEpochOf(topic, 0)
	s.Epochs, _ = l.LeaderEpochs(topic, 0)
	s.Raw = rawLog(t, l, topic)
	if s.Aborted, err = l.AbortedIn(topic, 0, 0, 1<<62); err != nil {
		t.Fatal(err)
	}
	open, err := l.OpenTxns()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range open {
		if o.Topic == topic {
			s.Open = append(s.Open, o)
		}
	}
	p, _ := l.partition(topic, 0)
	op := &statesOp{l: l, p: p, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		t.Fatal(err)
	}
	<-op.done
	s.States, s.MaxTs = op.states, op.maxTs
	for _, ts := range snapTimes {
		off, _, err := l.OffsetForTimestamp(topic, 0, ts)
		if err != nil {
			t.Fatal(err)
		}
		s.Times = append(s.Times, off)
	}
	s.Committed, _ = committedOffsets(t, l, topic, 0, s.Start)
	return s
}

func sameSnap(t *testing.T, what string, got, want logSnap) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, w := got, want
		g.Raw, w.Raw = nil, nil
		t.Fatalf("%s:\n got %+v (%d batches)\nwant %+v (%d batches)\nraw equal: %v", what, g, len(got.Raw), w, len(want.Raw), reflect.DeepEqual(got.Raw, want.Raw))
	}
}

func newTopic(t *testing.T, topic string, logs ...*Log) {
	t.Helper()
	for _, l := range logs {
		if _, err := l.CreateTopic(topic, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func appendKey(t *testing.T, l *Log, topic string, b []byte, key string) AppendResult {
	t.Helper()
	res := l.Append(context.Background(), []AppendRequest{{Topic: topic, Batch: b, IdempotencyKey: key}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0]
}

// A follower fed with ReadReplica -> AppendReplica holds the leader's
// batches byte for byte and everything derived from them; made leader with
// a newer epoch, it dedupes a retried idempotent batch and fences the old
// epoch.
func TestReplicaCopyIsIdentical(t *testing.T) {
	fdir := t.TempDir()
	leader, follower := openTest(t, ""), openTest(t, fdir)
	newTopic(t, "r", leader, follower)
	if err := leader.BecomeLeader("r", 0, 1); err != nil {
		t.Fatal(err)
	}
	appendOne(t, leader, "r", 0, oneRecord(1000, "k", "plain"))                                            // 0
	appendOne(t, leader, "r", 0, idemProducerBatch(5, 0, 0, 2))                                            // 1-2
	appendOne(t, leader, "r", 0, idemProducerBatch(5, 0, 2, 1))                                            // 3
	appendOne(t, leader, "r", 0, txnBatch(7, 0, 0, 2))                                                     // 4-5
	appendOne(t, leader, "r", 0, txnBatch(8, 0, 0, 1))                                                     // 6
	mustEnd(t, leader, EndTxnRequest{ProducerID: 7, Commit: true, Partitions: []TopicPartition{{"r", 0}}}) // 7
	if err := leader.BecomeLeader("r", 0, 2); err != nil {
		t.Fatal(err)
	}
	mustEnd(t, leader, EndTxnRequest{ProducerID: 8, Commit: false, Partitions: []TopicPartition{{"r", 0}}}) // 8
	appendOne(t, leader, "r", 0, txnBatch(9, 0, 0, 1))                                                      // 9, open
	appendOne(t, leader, "r", 0, oneRecord(2000, "", "late"))                                               // 10

	copyReplica(t, leader, follower, "r", 1) // one batch per call
	want := snap(t, leader, "r")
	if want.LEO != 11 || want.LSO != 9 || len(want.Aborted) != 1 || len(want.Open) != 1 {
		t.Fatalf("leader: %+v", want)
	}
	sameSnap(t, "follower after copy", snap(t, follower, "r"), want)
	follower.Close()
	follower = openTest(t, fdir)
	sameSnap(t, "follower after restart", snap(t, follower, "r"), want)

	if err := follower.BecomeLeader("r", 0, 3); err != nil {
		t.Fatal(err)
	}
	dup := follower.Append(context.Background(), []AppendRequest{{Topic: "r", Batch: idemProducerBatch(5, 0, 2, 1)}})[0]
	if dup.Err != nil || !dup.Duplicate || dup.BaseOffset != 3 {
		t.Fatalf("retried idempotent batch on the new leader: %+v, want a duplicate at 3", dup)
	}
	gap := follower.Append(context.Background(), []AppendRequest{{Topic: "r", Batch: idemProducerBatch(5, 0, 9, 1)}})[0]
	if !errors.Is(gap.Err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap on the new leader: %v, want ErrOutOfOrderSequence", gap.Err)
	}
	if err := follower.BecomeLeader("r", 0, 2); !errors.Is(err, ErrFencedEpoch) {
		t.Fatalf("old epoch on the new leader: %v, want ErrFencedEpoch", err)
	}
	res := appendOne(t, follower, "r", 0, oneRecord(3000, "", "new"))
	if e := storedEpoch(t, follower, "r", 0, res.BaseOffset); e != 3 {
		t.Fatalf("new leader stamped epoch %d, want 3", e)
	}
	// The old leader now follows: a batch of the old epoch is refused.
	rr, _ := follower.ReadReplica("r", 0, res.BaseOffset, 1)
	stale := append([]byte(nil), rr.Batches[0].Raw...)
	batch.SetLeaderEpoch(stale, 1)
	if _, err := follower.AppendReplica(context.Background(), "r", 0, [][]byte{stale}); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("replica batch below the log end: %v", err)
	}
}

// Hostile input to the replica calls gets a clear error and changes nothing.
func TestReplicaRefusesHostileInput(t *testing.T) {
	leader, follower := openTest(t, ""), openTest(t, "")
	newTopic(t, "h", leader, follower)
	if err := leader.BecomeLeader("h", 0, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		appendOne(t, leader, "h", 0, idemProducerBatch(5, 0, int32(2*i), 2))
	}
	raw := rawLog(t, leader, "h") // bases 0, 2, 4
	if _, err := follower.AppendReplica(context.Background(), "h", 0, raw[:1]); err != nil {
		t.Fatal(err)
	}
	before := snap(t, follower, "h")
	flipped := append([]byte(nil), raw[1]...)
	flipped[len(flipped)-1] ^= 0xff
	noEpoch := append([]byte(nil), raw[1]...)
	batch.SetLeaderEpoch(noEpoch, -1)
	oldEpoch := append([]byte(nil), raw[1]...)
	batch.SetLeaderEpoch(oldEpoch, 0)
	for _, c := range []struct {
		name    string
		topic   string
		batches [][]byte
		want    error
	}{
		{"a gap after the log end", "h", raw[2:], ErrInvalidOffset},
		{"below the log end", "h", raw[:2], ErrInvalidOffset},
		{"not contiguous", "h", [][]byte{raw[1], raw[1]}, ErrInvalidOffset},
		{"bad CRC", "h", [][]byte{flipped}, ErrCorruptBatch},
		{"truncated batch", "h", [][]byte{raw[1][:40]}, ErrCorruptBatch},
		{"no leader epoch", "h", [][]byte{noEpoch}, ErrCorruptBatch},
		{"epoch below the log's", "h", [][]byte{oldEpoch}, ErrFencedEpoch},
		{"unknown topic", "nope", raw[1:2], ErrUnknownTopic},
	} {
		if _, err := follower.AppendReplica(context.Background(), c.topic, 0, c.batches); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		sameSnap(t, c.name+": follower changed", snap(t, follower, "h"), before)
	}
	if _, err := follower.TruncateTo(context.Background(), "h", 0, -1); !errors.Is(err, ErrInvalidOffset) {
		t.Errorf("truncate to -1: %v", err)
	}
	if _, err := follower.TruncateTo(context.Background(), "nope", 0, 0); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("truncate an unknown topic: %v", err)
	}
	sameSnap(t, "after refused truncations", snap(t, follower, "h"), before)
	if err := leader.SetReplicated("h", 0, true); err != nil {
		t.Fatal(err)
	}
	// (A hwm inside a batch: TestReplicatedHighWatermark.)
	if err := leader.AdvanceHighWatermark("h", 0, -1); !errors.Is(err, ErrInvalidOffset) {
		t.Errorf("hwm -1: %v, want ErrInvalidOffset", err)
	}
	if _, h, _ := leader.Offsets("h", 0); h != 6 {
		t.Fatalf("leader hwm %d after refused moves, want 6", h)
	}
	// The rest still works.
	if leo, err := follower.AppendReplica(context.Background(), "h", 0, raw[1:]); err != nil || leo != 6 {
		t.Fatalf("append the rest: %d %v", leo, err)
	}
	sameSnap(t, "follower caught up", snap(t, follower, "h"), snap(t, leader, "h"))
}

// Two replicas share a prefix, then diverge in different epochs (a stale
// leader goes on writing while a new one is elected). The stale one asks
// the new leader where its last epoch ended, truncates there, and copies
// the rest: both hold identical bytes and identical derived state, and
// after the truncation the stale one is exactly a log of the kept prefix
// (before and after a restart).
func TestDivergentLogsConverge(t *testing.T) {
	adir := t.TempDir()
	a, b, ref := openTest(t, adir), openTest(t, ""), openTest(t, "")
	newTopic(t, "d", a, b, ref)
	ctx := context.Background()
	if err := a.BecomeLeader("d", 0, 1); err != nil {
		t.Fatal(err)
	}
	appendOne(t, a, "d", 0, oneRecord(1000, "", "p0"))                                                // 0
	appendOne(t, a, "d", 0, idemProducerBatch(5, 0, 0, 2))                                            // 1-2
	appendOne(t, a, "d", 0, idemProducerBatch(5, 0, 2, 1))                                            // 3
	appendOne(t, a, "d", 0, txnBatch(7, 0, 0, 1))                                                     // 4: open across the divergence
	appendOne(t, a, "d", 0, txnBatch(8, 0, 0, 1))                                                     // 5
	mustEnd(t, a, EndTxnRequest{ProducerID: 8, Commit: true, Partitions: []TopicPartition{{"d", 0}}}) // 6
	copyReplica(t, a, b, "d", 1<<20)
	copyReplica(t, a, ref, "d", 1<<20) // the reference: the kept prefix only

	// a, stale, goes on in epoch 1.
	appendOne(t, a, "d", 0, idemProducerBatch(5, 0, 3, 1))                                             // 7
	mustEnd(t, a, EndTxnRequest{ProducerID: 7, Commit: true, Partitions: []TopicPartition{{"d", 0}}})  // 8
	appendOne(t, a, "d", 0, txnBatch(9, 0, 0, 1))                                                      // 9: open
	appendOne(t, a, "d", 0, txnBatch(8, 0, 1, 2))                                                      // 10-11
	mustEnd(t, a, EndTxnRequest{ProducerID: 8, Commit: false, Partitions: []TopicPartition{{"d", 0}}}) // 12
	appendOne(t, a, "d", 0, oneRecord(4_000_000_000_000, "", "future"))                                // 13
	appendKey(t, a, "d", oneRecord(1500, "", "http"), "key-1")                                         // 14
	if lso, _ := a.LastStable("d", 0); lso != 9 {
		t.Fatalf("stale leader LSO %d", lso)
	}
	// b is elected in epoch 2 and writes other records at the same offsets.
	if err := b.BecomeLeader("d", 0, 2); err != nil {
		t.Fatal(err)
	}
	appendOne(t, b, "d", 0, oneRecord(2000, "", "b7"))                                                 // 7
	mustEnd(t, b, EndTxnRequest{ProducerID: 7, Commit: false, Partitions: []TopicPartition{{"d", 0}}}) // 8
	appendOne(t, b, "d", 0, idemProducerBatch(6, 0, 0, 1))                                             // 9

	// a becomes a follower: truncation by leader epoch (KIP-101).
	latest, _ := a.LeaderEpochOf("d", 0)
	e, end, err := b.EndOffsetForEpoch("d", 0, latest)
	if err != nil || e != 1 || end != 7 {
		t.Fatalf("leader's end of epoch %d: (%d, %d) %v, want (1, 7)", latest, e, end, err)
	}
	leo, err := a.TruncateTo(ctx, "d", 0, end)
	if err != nil || leo != 7 {
		t.Fatalf("truncate: %d %v", leo, err)
	}
	want := snap(t, ref, "d")
	sameSnap(t, "stale leader truncated", snap(t, a, "d"), want)
	a.Close()
	a = openTest(t, adir)
	sameSnap(t, "truncated log after restart", snap(t, a, "d"), want)

	copyReplica(t, b, a, "d", 64)
	sameSnap(t, "converged", snap(t, a, "d"), snap(t, b, "d"))
	wantEpochs(t, a, "d", 1, 0, 2, 7)

	// What the removed tail held is gone from the dedupe state too.
	if err := a.BecomeLeader("d", 0, 3); err != nil {
		t.Fatal(err)
	}
	r := a.Append(ctx, []AppendRequest{{Topic: "d", Batch: idemProducerBatch(5, 0, 3, 1)}})[0]
	if r.Err != nil || r.Duplicate || r.BaseOffset != 10 {
		t.Fatalf("pid 5 seq 3 (only in the removed tail): %+v, want appended at 10", r)
	}
	r = a.Append(ctx, []AppendRequest{{Topic: "d", Batch: idemProducerBatch(5, 0, 2, 1)}})[0]
	if !r.Duplicate || r.BaseOffset != 3 {
		t.Fatalf("pid 5 seq 2 (kept): %+v, want a duplicate at 3", r)
	}
	if r := appendKey(t, a, "d", oneRecord(1500, "", "http"), "key-1"); r.Duplicate {
		t.Fatalf("idempotency key of a removed record answered as a duplicate: %+v", r)
	}
}

// Truncating at any point leaves exactly the state of a log that only ever
// held the kept batches (what a re-scan gives), with checkpoints on both
// sides of the cut: every derived structure, live and after a restart.
func TestTruncateMatchesRescan(t *testing.T) {
	src := openTest(t, "")
	newTopic(t, "s", src)
	if err := src.BecomeLeader("s", 0, 1); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big := func(ts int64) []byte { // ~64 KiB: four of them pass a checkpoint
		b := batch.NewBuilder()
		b.Add(ts, nil, make([]byte, 64<<10), nil)
		return append([]byte(nil), b.Bytes()...)
	}
	appendOne(t, src, "s", 0, oneRecord(1000, "", "a"))      // 0
	appendOne(t, src, "s", 0, idemProducerBatch(5, 0, 0, 3)) // 1-3
	appendOne(t, src, "s", 0, txnBatch(7, 0, 0, 2))          // 4-5
	appendOne(t, src, "s", 0, big(1500))                     // 6
	appendOne(t, src, "s", 0, idemProducerBatch(5, 0, 3, 1)) // 7
	appendOne(t, src, "s", 0, big(1200))                     // 8
	appendOne(t, src, "s", 0, txnBatch(8, 0, 0, 1))          // 9
	appendOne(t, src, "s", 0, big(2000))                     // 10
	if err := src.BecomeLeader("s", 0, 2); err != nil {      //
		t.Fatal(err)
	}
	mustEnd(t, src, EndTxnRequest{ProducerID: 8, Commit: false, Partitions: []TopicPartition{{"s", 0}}}) // 11
	appendOne(t, src, "s", 0, big(1800))                                                                 // 12
	appendOne(t, src, "s", 0, idemProducerBatch(5, 0, 4, 2))                                             // 13-14
	mustEnd(t, src, EndTxnRequest{ProducerID: 7, Commit: true, Partitions: []TopicPartition{{"s", 0}}})  // 15
	appendOne(t, src, "s", 0, txnBatch(9, 0, 0, 1))                                                      // 16
	for i := int32(0); i < 6; i++ {
		appendOne(t, src, "s", 0, idemProducerBatch(6, 0, i, 1)) // 17-22
	}
	appendOne(t, src, "s", 0, oneRecord(900, "", "z")) // 23
	// Producer epochs move: an idempotent producer's bump, a transaction
	// aborted by its coordinator with the bumped epoch.
	appendOne(t, src, "s", 0, idemProducerBatch(5, 1, 0, 1))                                                                // 24
	appendOne(t, src, "s", 0, txnBatch(10, 0, 0, 1))                                                                        // 25
	mustEnd(t, src, EndTxnRequest{ProducerID: 10, ProducerEpoch: 1, Commit: false, Partitions: []TopicPartition{{"s", 0}}}) // 26
	appendOne(t, src, "s", 0, idemProducerBatch(5, 1, 1, 1))                                                                // 27
	appendOne(t, src, "s", 0, txnBatch(10, 1, 0, 1))                                                                        // 28
	all := rawLog(t, src, "s")

	for _, c := range []struct {
		cut, leo int64 // truncate to cut; the log then ends at leo
	}{
		{29, 29}, {28, 28}, {27, 27}, {26, 26}, {25, 25}, {24, 24}, {23, 23}, {22, 22}, {18, 18}, {16, 16}, {15, 15}, {14, 13}, {12, 12}, {11, 11},
		{10, 10}, {9, 9}, {7, 7}, {5, 4}, {2, 1}, {1, 1}, {0, 0}, {99, 29},
	} {
		t.Run(fmt.Sprint(c.cut), func(t *testing.T) {
			xdir := t.TempDir()
			x, ref := openTest(t, xdir), openTest(t, "")
			newTopic(t, "s", x, ref)
			copyReplica(t, src, x, "s", 1) // a round per batch: checkpoints fall in the middle
			if v, _ := x.db.GetBytes(x.ro, partPrefix(kindPartition, 0, 0)); len(v) < 16 || be.Uint64(v[8:]) != 13 {
				t.Fatalf("checkpoint %x, want one at 13: both sides of it are tested", v)
			}
			var kept [][]byte
			for _, raw := range all {
				if h, _ := batch.ReadHeader(raw); h.BaseOffset < c.leo {
					kept = append(kept, raw)
				}
			}
			for _, raw := range kept {
				if _, err := ref.AppendReplica(ctx, "s", 0, [][]byte{raw}); err != nil {
					t.Fatal(err)
				}
			}
			leo, err := x.TruncateTo(ctx, "s", 0, c.cut)
			if err != nil || leo != c.leo {
				t.Fatalf("truncate to %d: %d %v, want %d", c.cut, leo, err, c.leo)
			}
			want := snap(t, ref, "s")
			got := snap(t, x, "s")
			// The current epoch is the partition's, not the log's: a
			// truncation keeps it (the reference has the kept batches' one).
			if got.Epoch < want.Epoch {
				t.Fatalf("current epoch %d went below the log's %d", got.Epoch, want.Epoch)
			}
			got.Epoch = want.Epoch
			sameSnap(t, "truncated", got, want)
			x.Close()
			x = openTest(t, xdir)
			// Reopened, the current epoch is the log's latest again.
			sameSnap(t, "truncated, after a restart", snap(t, x, "s"), want)
		})
	}
}

// Truncation at or below the log start empties the partition there.
func TestTruncateBelowLogStart(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	newTopic(t, "b", l)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		appendOne(t, l, "b", 0, idemProducerBatch(5, 0, int32(i), 1))
	}
	if _, err := l.TrimBefore(ctx, "b", 0, 3); err != nil {
		t.Fatal(err)
	}
	leo, err := l.TruncateTo(ctx, "b", 0, 2)
	if err != nil || leo != 2 {
		t.Fatalf("truncate below the log start: %d %v", leo, err)
	}
	check := func(l *Log) {
		t.Helper()
		s := snap(t, l, "b")
		if s.Start != 2 || s.LEO != 2 || s.HWM != 2 || s.LSO != 2 || len(s.Raw) != 0 || len(s.States) != 0 {
			t.Fatalf("emptied partition: %+v", s)
		}
	}
	check(l)
	l.Close()
	l = openTest(t, dir)
	check(l)
	if r := appendOne(t, l, "b", 0, idemProducerBatch(5, 0, 9, 1)); r.BaseOffset != 2 {
		t.Fatalf("append after emptying: %+v", r)
	}
}

// A replicated partition: appends move the log end, readers stop at the
// high watermark, which moves only by AdvanceHighWatermark; ReadReplica
// goes to the log end; watchers wake on both.
func TestReplicatedHighWatermark(t *testing.T) {
	l := openTest(t, "")
	newTopic(t, "w", l)
	ctx := context.Background()
	appendOne(t, l, "w", 0, oneRecord(1000, "", "a")) // 0, before: visible
	if err := l.SetReplicated("w", 0, true); err != nil {
		t.Fatal(err)
	}
	ch, hwm, err := l.Watch("w", 0)
	if err != nil || hwm != 1 {
		t.Fatalf("watch: %d %v", hwm, err)
	}
	ended := make(chan int64, 1)
	go func() {
		leo, _ := l.WaitForEnd(ctx, "w", 0, 1)
		ended <- leo
	}()
	appendOne(t, l, "w", 0, txnBatch(7, 0, 0, 2))     // 1-2
	appendOne(t, l, "w", 0, oneRecord(1000, "", "b")) // 3
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not fire when the log end moved")
	}
	select {
	case leo := <-ended:
		if leo < 2 {
			t.Fatalf("WaitForEnd returned %d", leo)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitForEnd did not return")
	}
	if _, h, _ := l.Offsets("w", 0); h != 1 {
		t.Fatalf("hwm moved by an append: %d", h)
	}
	if leo, _ := l.LogEndOffset("w", 0); leo != 4 {
		t.Fatalf("log end %d, want 4", leo)
	}
	if rr, err := l.Read("w", 0, 1, 1<<20); err != nil || len(rr.Batches) != 0 || rr.HighWatermark != 1 {
		t.Fatalf("read at the hwm: %+v %v", rr, err)
	}
	if _, err := l.Read("w", 0, 2, 1<<20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read above the hwm: %v", err)
	}
	if rr, err := l.ReadReplica("w", 0, 1, 1<<20); err != nil || len(rr.Batches) != 2 || rr.HighWatermark != 1 {
		t.Fatalf("replica read: %+v %v", rr, err)
	}
	if _, err := l.ReadReplica("w", 0, 5, 1<<20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("replica read above the log end: %v", err)
	}
	if lso, _ := l.LastStable("w", 0); lso != 1 {
		t.Fatalf("LSO %d above the hwm", lso)
	}
	waited := make(chan int64, 1)
	go func() {
		h, _ := l.WaitFor(ctx, "w", 0, 1)
		waited <- h
	}()
	select {
	case h := <-waited:
		t.Fatalf("WaitFor returned %d before the hwm moved", h)
	case <-time.After(100 * time.Millisecond):
	}
	ch, _, _ = l.Watch("w", 0)
	if err := l.AdvanceHighWatermark("w", 0, 2); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("hwm inside a batch: %v", err)
	}
	if err := l.AdvanceHighWatermark("w", 0, 3); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not fire when the hwm moved")
	}
	select {
	case h := <-waited:
		if h != 3 {
			t.Fatalf("WaitFor returned %d, want 3", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return")
	}
	// The open transaction holds the LSO at 1, below the hwm.
	if lso, _ := l.LastStable("w", 0); lso != 1 {
		t.Fatalf("LSO %d", lso)
	}
	if err := l.AdvanceHighWatermark("w", 0, 2); err != nil {
		t.Fatalf("a lower hwm: %v", err)
	}
	if err := l.AdvanceHighWatermark("w", 0, 99); err != nil {
		t.Fatal(err)
	}
	if _, h, _ := l.Offsets("w", 0); h != 4 {
		t.Fatalf("hwm %d, want 4 (clamped to the log end)", h)
	}
	appendOne(t, l, "w", 0, oneRecord(1000, "", "c")) // 4
	if _, h, _ := l.Offsets("w", 0); h != 4 {
		t.Fatalf("hwm %d after an append, want 4", h)
	}
	// Truncation below the hwm moves it down.
	if leo, err := l.TruncateTo(ctx, "w", 0, 3); err != nil || leo != 3 {
		t.Fatalf("truncate: %d %v", leo, err)
	}
	if _, h, _ := l.Offsets("w", 0); h != 3 {
		t.Fatalf("hwm %d after truncating to 3", h)
	}
	appendOne(t, l, "w", 0, oneRecord(1000, "", "d")) // 3
	if err := l.SetReplicated("w", 0, false); err != nil {
		t.Fatal(err)
	}
	if _, h, _ := l.Offsets("w", 0); h != 4 {
		t.Fatalf("hwm %d after leaving replicated mode, want the log end 4", h)
	}
	appendOne(t, l, "w", 0, oneRecord(1000, "", "e"))
	if _, h, _ := l.Offsets("w", 0); h != 5 {
		t.Fatalf("hwm %d, want 5", h)
	}
}

// Appends, high watermark moves and reads racing: a reader never gets a
// batch at or past the high watermark it was given, the high watermark
// never goes back and never passes the log end.
func TestReplicatedHighWatermarkConcurrent(t *testing.T) {
	l := openTest(t, "")
	newTopic(t, "c", l)
	if err := l.SetReplicated("c", 0, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 200
	done := make(chan struct{})
	errs := make(chan error, 3)
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if r := l.Append(ctx, []AppendRequest{{Topic: "c", Batch: idemProducerBatch(5, 0, int32(2*i), 2)}})[0]; r.Err != nil {
				errs <- r.Err
				return
			}
		}
	}()
	go func() { // the leader's view of its followers
		for {
			leo, _ := l.LogEndOffset("c", 0)
			if err := l.AdvanceHighWatermark("c", 0, leo); err != nil {
				errs <- err
				return
			}
			if leo == 2*n {
				errs <- nil
				return
			}
			if _, err := l.WaitForEnd(ctx, "c", 0, leo); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		var last int64
		for off := int64(0); off < 2*n; {
			h, err := l.WaitFor(ctx, "c", 0, off)
			if err != nil {
				errs <- err
				return
			}
			leo, _ := l.LogEndOffset("c", 0)
			if h < last || h > leo {
				errs <- fmt.Errorf("hwm %d after %d, log end %d", h, last, leo)
				return
			}
			last = h
			rr, err := l.Read("c", 0, off, 1<<20)
			if err != nil {
				errs <- err
				return
			}
			for _, b := range rr.Batches {
				if b.LastOffset >= rr.HighWatermark {
					errs <- fmt.Errorf("read batch %d-%d past the hwm %d", b.BaseOffset, b.LastOffset, rr.HighWatermark)
					return
				}
				off = b.LastOffset + 1
			}
		}
		errs <- nil
	}()
	<-done
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// A truncation submitted while appends stream in commits alone, between
// whole rounds: the log stays contiguous and a restart finds it as it was.
func TestTruncateRacingAppends(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	newTopic(t, "x", l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if r := l.Append(ctx, []AppendRequest{{Topic: "x", Batch: oneRecord(int64(1000+i), "", "v")}})[0]; r.Err != nil {
					t.Error(r.Err)
					return
				}
			}
		}()
	}
	for i := 1; i <= 10; i++ {
		leo, err := l.WaitForEnd(ctx, "x", 0, int64(20*i))
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.TruncateTo(ctx, "x", 0, leo-3)
		if err != nil || got != leo-3 {
			t.Fatalf("truncate to %d: %d %v", leo-3, got, err)
		}
	}
	wg.Wait()
	raw := rawLog(t, l, "x")
	next := int64(0)
	for _, b := range raw {
		h, err := batch.Validate(b)
		if err != nil || h.BaseOffset != next {
			t.Fatalf("batch at %d (want %d): %v", h.BaseOffset, next, err)
		}
		next = h.LastOffset() + 1
	}
	before := snap(t, l, "x")
	if before.LEO != next || next > 400-30 {
		t.Fatalf("log end %d, batches end at %d: 400 appended, at least 30 removed", before.LEO, next)
	}
	l.Close()
	l = openTest(t, dir)
	sameSnap(t, "after restart", snap(t, l, "x"), before)
}
