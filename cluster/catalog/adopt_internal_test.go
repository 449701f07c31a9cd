package catalog_test

import (
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	plog "github.com/zombi-dev/zombi/log"
)

// TestAdoptCoordinatorState (issue 19 point 7): a node alone's committed
// offsets and transactions become records of the internal topics, on it
// alone, each partition's view applied to its log end; replaying the
// records gives the same offsets and states, an open transaction becomes
// PrepareAbort, the cluster's producer ids start above the node's, and
// adopting again writes nothing twice.
func TestAdoptCoordinatorState(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	s := newStore(t, e, "/adoptcoord/")
	l := openLog(t, t.TempDir())
	if _, err := l.CreateTopic("orders", 2, nil); err != nil {
		t.Fatal(err)
	}
	offs := []plog.CommittedOffset{
		{Group: "g1", Topic: "orders", Partition: 0, Offset: 10, LeaderEpoch: -1, Metadata: "m", CommitTimeMs: 1000},
		{Group: "g1", Topic: "orders", Partition: 1, Offset: 11, LeaderEpoch: -1, CommitTimeMs: 1000},
		{Group: "g2", Topic: "orders", Partition: 0, Offset: 5, LeaderEpoch: -1, CommitTimeMs: 1000},
	}
	if err := l.CommitOffsets(offs); err != nil {
		t.Fatal(err)
	}
	txns := map[string]coordlog.TxnState{
		"open": {ProducerID: 7, Epoch: 2, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 60000, State: "Ongoing",
			Partitions: []plog.TopicPartition{{Topic: "orders", Partition: 1}}, StartMs: 1, UpdateMs: 2},
		"done": {ProducerID: 8, Epoch: 0, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 60000, State: "CompleteCommit", StartMs: 1, UpdateMs: 2},
	}
	for id, st := range txns {
		b, _ := json.Marshal(st)
		if err := l.SetMeta(coordlog.TxnKey(id), b); err != nil {
			t.Fatal(err)
		}
	}
	const ceiling = 1_700_000_000_000_000
	if err := l.SetMeta("kafka.producer_id.ceiling", binary.BigEndian.AppendUint64(nil, ceiling)); err != nil {
		t.Fatal(err)
	}
	l.SetClusterMode()
	cat := catalog.New(catalog.Config{Store: s, Log: l, NodeID: 1, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
	if n, err := cat.Adopt(ctx); err != nil || n != 1 {
		t.Fatalf("Adopt: %d %v, want 1 user topic", n, err)
	}
	leos := map[string]int64{}
	check := func(kind coordlog.Kind, key string) plog.ViewChange {
		t.Helper()
		topic, p := coordlog.TopicOf(kind), coordlog.Partition(key)
		leo, err := l.LogEndOffset(topic, p)
		if err != nil || leo == 0 {
			t.Fatalf("%s-%d: log end %d %v, want records", topic, p, leo, err)
		}
		if applied, err := l.ViewApplied(topic, p); err != nil || applied != leo {
			t.Fatalf("%s-%d: view applied to %d (%v), want the log end %d", topic, p, applied, err, leo)
		}
		leos[topic+strconv.Itoa(int(p))] = leo
		r, err := l.Read(topic, p, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := coordlog.Decode(kind, p, r.Batches, nil)
		if err != nil {
			t.Fatalf("%s-%d does not decode: %v", topic, p, err)
		}
		return ch
	}
	for _, o := range offs {
		ch := check(coordlog.Group, o.Group)
		found := false
		for _, got := range ch.Offsets {
			if got.Group == o.Group && got.Topic == o.Topic && got.Partition == o.Partition {
				found = got.Offset == o.Offset && got.Metadata == o.Metadata
			}
		}
		if !found {
			t.Errorf("offset %+v not replayed from the log: %+v", o, ch.Offsets)
		}
	}
	for id, want := range map[string]string{"open": "PrepareAbort", "done": "CompleteCommit"} {
		ch := check(coordlog.Transaction, id)
		var replayed string
		for _, m := range ch.Meta {
			if m.Key == coordlog.TxnKey(id) {
				var st coordlog.TxnState
				_ = json.Unmarshal(m.Value, &st)
				replayed = st.State
			}
		}
		v, _ := l.Meta(coordlog.TxnKey(id))
		var view coordlog.TxnState
		_ = json.Unmarshal(v, &view)
		if replayed != want || view.State != want {
			t.Errorf("transaction %s: log says %q, view %q, want %q", id, replayed, view.State, want)
		}
	}
	kv, err := s.Get(ctx, meta.ProducerIDKey)
	if err != nil || string(kv.Value) != strconv.Itoa(ceiling+1) {
		t.Fatalf("pid/next = %q (%v), want %d", kv.Value, err, ceiling+1)
	}
	// Again, as after a crash half-way: nothing is written twice.
	if _, err := cat.Adopt(ctx); err != nil {
		t.Fatalf("Adopt again: %v", err)
	}
	for _, key := range []struct {
		kind coordlog.Kind
		id   string
	}{{coordlog.Group, "g1"}, {coordlog.Group, "g2"}, {coordlog.Transaction, "open"}} {
		topic, p := coordlog.TopicOf(key.kind), coordlog.Partition(key.id)
		if leo, _ := l.LogEndOffset(topic, p); leo != leos[topic+strconv.Itoa(int(p))] {
			t.Errorf("%s-%d: log end %d after adopting again, was %d", topic, p, leo, leos[topic+strconv.Itoa(int(p))])
		}
	}
	// The node then runs as node 1 of the cluster: the catalog leads the
	// internal topics here, replication factor 1.
	n1 := startNode(t, 1, s, l)
	for _, name := range []string{coordlog.OffsetsTopic, coordlog.TxnTopic} {
		st, _, ok := n1.cat.Partition(name, coordlog.Partition("g1"))
		if !ok || st.Leader != 1 || len(st.Replicas) != 1 {
			t.Errorf("%s in the catalog: %+v %v, want led by node 1 alone", name, st, ok)
		}
	}
}
