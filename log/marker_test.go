package log

import (
	"context"
	"errors"
	"testing"
)

// leaderOf returns a cluster-mode log leading topic/0 at epoch 1.
func leaderOf(t *testing.T, dir, topic string) *Log {
	t.Helper()
	l := openTest(t, dir)
	l.SetClusterMode()
	if _, ok := l.Topic(topic); !ok {
		if _, err := l.CreateTopic(topic, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.BecomeLeader(topic, 0, 1); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestWriteMarkerCommitAndAbort(t *testing.T) {
	ctx := context.Background()
	l := leaderOf(t, "", "t")
	appendOne(t, l, "t", 0, txnBatch(5, 1, 0, 2)) // 0-1
	appendOne(t, l, "t", 0, txnBatch(6, 0, 0, 1)) // 2
	if lso, _ := l.LastStable("t", 0); lso != 0 {
		t.Fatalf("last stable %d with two open transactions", lso)
	}
	off, err := l.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 1, Commit: true, CoordinatorEpoch: 3})
	if err != nil || off != 3 {
		t.Fatalf("commit marker at %d, %v; want 3", off, err)
	}
	if lso, _ := l.LastStable("t", 0); lso != 2 {
		t.Fatalf("last stable %d after the commit, want 2 (producer 6 still open)", lso)
	}
	off, err = l.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 6, ProducerEpoch: 0, Commit: false, CoordinatorEpoch: 3})
	if err != nil || off != 4 {
		t.Fatalf("abort marker at %d, %v; want 4", off, err)
	}
	if lso, _ := l.LastStable("t", 0); lso != 5 {
		t.Fatalf("last stable %d after both markers, want 5", lso)
	}
	ab, err := l.AbortedIn("t", 0, 0, 10)
	if err != nil || len(ab) != 1 || ab[0].ProducerID != 6 || ab[0].FirstOffset != 2 || ab[0].LastOffset != 4 {
		t.Fatalf("aborted %+v %v", ab, err)
	}
	rr, err := l.ReadIsolated("t", 0, 0, 1<<20, ReadCommitted)
	if err != nil {
		t.Fatal(err)
	}
	if kept := Committed(rr); len(kept) != 1 || kept[0].BaseOffset != 0 {
		t.Fatalf("read_committed keeps %+v", kept)
	}
	ps, _ := l.Producers("t", 0)
	if len(ps) != 2 || ps[0].CoordinatorEpoch != 3 || ps[0].TxnStartOffset != -1 {
		t.Fatalf("producers %+v", ps)
	}
	// A marker for a producer with nothing open is written all the same.
	if off, err := l.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 77, ProducerEpoch: 0, Commit: true, CoordinatorEpoch: 0}); err != nil || off != 5 {
		t.Fatalf("marker without a transaction: %d %v", off, err)
	}
}

func TestWriteMarkerRefusals(t *testing.T) {
	ctx := context.Background()
	l := leaderOf(t, "", "t")
	if _, err := l.CreateTopic("f", 1, nil); err != nil {
		t.Fatal(err)
	}
	appendOne(t, l, "t", 0, txnBatch(5, 2, 0, 1))
	if _, err := l.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 4}); err != nil {
		t.Fatal(err)
	}
	end, _ := l.LogEndOffset("t", 0)
	for _, c := range []struct {
		name  string
		topic string
		part  int32
		m     MarkerRequest
		want  error
	}{
		{"deposed coordinator", "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 2, CoordinatorEpoch: 3}, ErrCoordinatorFenced},
		{"older producer epoch", "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 1, CoordinatorEpoch: 9}, ErrProducerFenced},
		{"negative producer", "t", 0, MarkerRequest{ProducerID: -1, CoordinatorEpoch: 9}, ErrInvalidTxnState},
		{"negative epoch", "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: -1, CoordinatorEpoch: 9}, ErrInvalidTxnState},
		{"negative coordinator epoch", "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 2, CoordinatorEpoch: -1}, ErrInvalidTxnState},
		{"unknown partition", "t", 1, MarkerRequest{ProducerID: 5, ProducerEpoch: 2, CoordinatorEpoch: 9}, ErrUnknownTopic},
		{"follower", "f", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 2, CoordinatorEpoch: 9}, ErrNotLeader},
	} {
		if _, err := l.WriteMarker(ctx, c.topic, c.part, c.m); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if e, _ := l.LogEndOffset("t", 0); e != end {
		t.Fatalf("a refused marker moved the log end %d -> %d", end, e)
	}
	// The same coordinator epoch and a newer one pass.
	for _, ce := range []int32{4, 6} {
		if _, err := l.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 2, CoordinatorEpoch: ce}); err != nil {
			t.Fatalf("coordinator epoch %d: %v", ce, err)
		}
	}
	if _, err := l.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 2, CoordinatorEpoch: 5}); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("after epoch 6, epoch 5: %v", err)
	}
}

// A follower that copied the leader's log fences a deposed coordinator as
// the leader did, once it leads: live, after a restart (markers replayed
// from the log) and after a truncation that removed the marker.
func TestCoordinatorEpochSurvivesReplicationAndRestart(t *testing.T) {
	ctx := context.Background()
	leader := leaderOf(t, "", "t")
	appendOne(t, leader, "t", 0, txnBatch(5, 0, 0, 2))
	if _, err := leader.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 0, Commit: true, CoordinatorEpoch: 7}); err != nil {
		t.Fatal(err)
	}
	rr, err := leader.ReadReplica("t", 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, b := range rr.Batches {
		raws = append(raws, b.Raw)
	}
	dir := t.TempDir()
	f := openTest(t, dir)
	f.SetClusterMode()
	if _, err := f.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AppendReplica(ctx, "t", 0, raws); err != nil {
		t.Fatal(err)
	}
	fenced := func(l *Log, when string) {
		t.Helper()
		if err := l.BecomeLeader("t", 0, 2); err != nil {
			t.Fatal(err)
		}
		if _, err := l.WriteMarker(ctx, "t", 0, MarkerRequest{ProducerID: 5, ProducerEpoch: 0, CoordinatorEpoch: 6}); !errors.Is(err, ErrCoordinatorFenced) {
			t.Fatalf("%s: coordinator epoch 6 after 7: %v", when, err)
		}
		if err := l.BecomeFollower("t", 0); err != nil {
			t.Fatal(err)
		}
	}
	fenced(f, "replica")
	if ps, _ := f.Producers("t", 0); len(ps) != 1 || ps[0].CoordinatorEpoch != 7 {
		t.Fatalf("replica's producers %+v", ps)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f = openTest(t, dir)
	f.SetClusterMode()
	fenced(f, "after a restart")
	if _, err := f.TruncateTo(ctx, "t", 0, 2); err != nil {
		t.Fatal(err)
	}
	if end, _ := f.LogEndOffset("t", 0); end != 2 {
		t.Fatalf("log end %d after truncating the marker", end)
	}
	fenced(f, "after truncating the marker")
	// The truncation wrote a checkpoint: the 'S' key holds the epoch now.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f = openTest(t, dir)
	f.SetClusterMode()
	fenced(f, "after a restart from the checkpoint")
}

func TestProducerStateCoordEpochEncoding(t *testing.T) {
	s := &producerState{Epoch: 3, Batches: []producerBatch{{FirstSeq: 1, LastSeq: 2, BaseOffset: 10, LastOffsetDelta: 1}}}
	old := s.encode()
	if len(old) != 3+20 {
		t.Fatalf("a state without a coordinator epoch must keep the old layout: %d bytes", len(old))
	}
	s.CoordEpoch = 9
	got, ok := decodeProducerState(s.encode())
	if !ok || got.CoordEpoch != 9 || got.Epoch != 3 || len(got.Batches) != 1 || got.Batches[0] != s.Batches[0] {
		t.Fatalf("round trip %+v %v", got, ok)
	}
	if got, ok := decodeProducerState(old); !ok || got.CoordEpoch != 0 {
		t.Fatalf("old layout %+v %v", got, ok)
	}
	if _, ok := decodeProducerState(append(s.encode(), 0)); ok {
		t.Fatal("a state of a wrong length decoded")
	}
}
