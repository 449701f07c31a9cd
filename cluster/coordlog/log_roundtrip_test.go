package coordlog

import (
	"context"
	"encoding/json"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
)

// applyUpTo is the apply loop in small: read [applied, end) of the
// partition, decode against the view, apply with the new applied offset.
func applyUpTo(t *testing.T, l *plog.Log, kind Kind, p int32) {
	t.Helper()
	topic := TopicOf(kind)
	from, err := l.ViewApplied(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := l.ReadReplica(topic, p, from, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Batches) == 0 {
		return
	}
	ch, err := DecodeFrom(kind, p, rr.Batches, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.ApplyView(topic, p, rr.Batches[len(rr.Batches)-1].LastOffset+1, ch); err != nil {
		t.Fatal(err)
	}
}

// The whole path on a real log: coordinators append Kafka's records to the
// real internal partitions (AppendInternal), a transaction's marker enters
// __consumer_offsets (WriteMarker), the replica's records are decoded
// against the view and applied; the offsets and the transaction state are
// then where a single node keeps them (FetchOffset, Meta "txn/{id}").
func TestAppendDecodeApplyOnTheLog(t *testing.T) {
	ctx := context.Background()
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetClusterMode()
	for _, k := range []Kind{Group, Transaction} {
		if err := l.MakeInternalReal(TopicOf(k)); err != nil {
			t.Fatal(err)
		}
	}
	group, txnID := "orders-consumers", "etl-1"
	gp, tp := Partition(group), Partition(txnID)
	for _, x := range []struct {
		k Kind
		p int32
	}{{Group, gp}, {Transaction, tp}} {
		if err := l.BecomeLeader(TopicOf(x.k), x.p, 3); err != nil {
			t.Fatal(err)
		}
	}
	appendTo := func(k Kind, p int32, raw []byte) {
		t.Helper()
		if _, _, err := l.AppendInternal(ctx, TopicOf(k), p, raw); err != nil {
			t.Fatal(err)
		}
	}

	o1 := plog.CommittedOffset{Group: group, Topic: "orders", Partition: 0, Offset: 100, LeaderEpoch: 2, CommitTimeMs: nowMs}
	appendTo(Group, gp, OffsetBatch([]plog.CommittedOffset{o1}, nil, nowMs))
	st := TxnState{ProducerID: 5000, Epoch: 1, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 60000, State: "Ongoing",
		Partitions: []plog.TopicPartition{{Topic: OffsetsTopic, Partition: gp}}, StartMs: nowMs, UpdateMs: nowMs}
	appendTo(Transaction, tp, TxnStateBatch(txnID, st, nowMs))
	o2 := plog.CommittedOffset{Group: group, Topic: "orders", Partition: 1, Offset: 7, LeaderEpoch: 2, CommitTimeMs: nowMs}
	appendTo(Group, gp, TxnOffsetBatch(5000, 1, []plog.CommittedOffset{o2}, nowMs))
	applyUpTo(t, l, Group, gp)
	applyUpTo(t, l, Transaction, tp)

	if got, ok, _ := l.FetchOffset(group, "orders", 0); !ok || got != o1 {
		t.Fatalf("committed offset %+v %v", got, ok)
	}
	if _, ok, _ := l.FetchOffset(group, "orders", 1); ok {
		t.Fatal("a transactional offset is visible before its marker")
	}
	if pend, err := PendingIn(l, gp); err != nil || len(pend[5000]) != 1 {
		t.Fatalf("pending %+v %v", pend, err)
	}
	var got TxnState
	v, _ := l.Meta(TxnKey(txnID))
	if err := json.Unmarshal(v, &got); err != nil || got.State != "Ongoing" || got.ProducerID != 5000 {
		t.Fatalf("txn state %s: %+v %v", v, got, err)
	}

	// The coordinator commits: PrepareCommit, the marker, CompleteCommit.
	st.State = "PrepareCommit"
	appendTo(Transaction, tp, TxnStateBatch(txnID, st, nowMs))
	if _, err := l.WriteMarker(ctx, OffsetsTopic, gp, plog.MarkerRequest{ProducerID: 5000, ProducerEpoch: 1, Commit: true, CoordinatorEpoch: 3}); err != nil {
		t.Fatal(err)
	}
	st.State, st.Partitions = "CompleteCommit", nil
	appendTo(Transaction, tp, TxnStateBatch(txnID, st, nowMs))
	applyUpTo(t, l, Group, gp)
	applyUpTo(t, l, Transaction, tp)
	if got, ok, _ := l.FetchOffset(group, "orders", 1); !ok || got != o2 {
		t.Fatalf("after the commit marker: %+v %v", got, ok)
	}
	if pend, _ := PendingIn(l, gp); len(pend) != 0 {
		t.Fatalf("pending after the marker: %+v", pend)
	}
	v, _ = l.Meta(TxnKey(txnID))
	got = TxnState{}
	if err := json.Unmarshal(v, &got); err != nil || got.State != "CompleteCommit" || len(got.Partitions) != 0 {
		t.Fatalf("txn state after commit %s", v)
	}
	if end, _ := l.LogEndOffset(OffsetsTopic, gp); end != 3 {
		t.Fatalf("__consumer_offsets-%d ends at %d, want 3 (offsets, txn offsets, marker)", gp, end)
	}
	if lso, _ := l.LastStable(OffsetsTopic, gp); lso != 3 {
		t.Fatalf("last stable %d after the marker", lso)
	}

	// Expiry: the tombstone deletes the id; DeleteGroups: the offsets go.
	appendTo(Transaction, tp, TxnStateBatch(txnID, TxnState{State: StateDead}, nowMs))
	appendTo(Group, gp, GroupTombstones([]string{group}, []plog.OffsetKey{{Group: group, Topic: "orders", Partition: 0}, {Group: group, Topic: "orders", Partition: 1}}, nowMs))
	applyUpTo(t, l, Group, gp)
	applyUpTo(t, l, Transaction, tp)
	if v, _ := l.Meta(TxnKey(txnID)); v != nil {
		t.Fatalf("expired id still in the view: %s", v)
	}
	if offs, _ := l.GroupOffsets(group); len(offs) != 0 {
		t.Fatalf("deleted group's offsets: %+v", offs)
	}

	// A reset forgets the partition's view; replaying the log rebuilds it
	// (here: to nothing, as the group was deleted; the applied offset
	// returns to the log end).
	if err := l.ResetView(OffsetsTopic, gp); err != nil {
		t.Fatal(err)
	}
	applyUpTo(t, l, Group, gp)
	if n, _ := l.ViewApplied(OffsetsTopic, gp); n != 6 {
		t.Fatalf("applied %d after the replay, want 6 (the log end)", n)
	}
	if offs, _ := l.GroupOffsets(group); len(offs) != 0 {
		t.Fatalf("replayed offsets: %+v", offs)
	}
}
