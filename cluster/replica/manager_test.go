package replica_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/cluster/replica"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// handNode is one Manager over a real log and real etcd, fed by hand
// (no catalog, no listener): node 1, whose peers never answer.
type handNode struct {
	t     *testing.T
	log   *plog.Log
	store meta.Store
	mgr   *replica.Manager
	id    [16]byte
}

func newHandNode(t *testing.T, lag time.Duration, minISR int, racks map[int32]string) *handNode {
	t.Helper()
	c := &testCluster{t: t, etcd: etcdtest.Start(t)}
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	h := &handNode{t: t, log: l, store: c.newStore(), id: [16]byte{7, 7}}
	h.mgr = replica.New(replica.Config{
		Log: l, Store: h.store, NodeID: 1, LagTimeMax: lag,
		Addr:      func(int32) (string, bool) { return "", false },
		MinInsync: func(string) int { return minISR },
		Rack:      func(n int32) string { return racks[n] },
		Logger:    testLogger(1),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.mgr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; h.mgr.Close() })
	return h
}

// create writes topic t (one partition, state st) to etcd and the local
// log, hands the state to the Manager and returns its version.
func (h *handNode) create(topic string, st meta.PartitionState) int64 {
	h.t.Helper()
	ctx := testCtx(h.t, 5*time.Second)
	if err := meta.CreateTopic(ctx, h.store, meta.TopicRecord{Name: topic, UUID: h.id, Partitions: 1}, []meta.PartitionState{st}); err != nil {
		h.t.Fatalf("create %s: %v", topic, err)
	}
	if _, _, err := h.log.EnsureTopicWithID(topic, 1, h.id); err != nil {
		h.t.Fatalf("create %s locally: %v", topic, err)
	}
	kv, err := h.store.Get(ctx, meta.PartitionKey(topic, 0))
	if err != nil {
		h.t.Fatalf("read %s: %v", topic, err)
	}
	h.mgr.Apply([]catalog.Change{{Topic: topic, TopicID: h.id, Partition: 0, State: st, Version: kv.Version}})
	return kv.Version
}

func (h *handNode) append(topic string, n int) int64 {
	h.t.Helper()
	var b batch.Builder
	b.Reset()
	for range n {
		b.Add(time.Now().UnixMilli(), nil, []byte("v"), nil)
	}
	res := h.log.Append(context.Background(), []plog.AppendRequest{{Topic: topic, Partition: 0, Batch: b.Bytes()}})
	if len(res) != 1 || res[0].Err != nil {
		h.t.Fatalf("append: %+v", res)
	}
	return res[0].LastOffset
}

// TestDoorChecks: the door's answers for a partition this node leads, for
// hostile or stale requests, and once the partition is gone.
func TestDoorChecks(t *testing.T) {
	h := newHandNode(t, time.Minute, 2, nil)
	m := h.mgr
	v := h.create("door", meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 4})
	eventually(t, "leading", func() string { return noErr(m.CheckProduce("door", 0, 4, true)) })

	cases := []struct {
		name string
		err  error
		want error
	}{
		{"produce, older epoch", m.CheckProduce("door", 0, 3, false), kafka.ErrFencedLeaderEpoch},
		{"produce, newer epoch", m.CheckProduce("door", 0, 5, false), kafka.ErrUnknownLeaderEpoch},
		{"produce, unknown partition", m.CheckProduce("door", 9, -1, false), kafka.ErrNotLeader},
		{"produce, unknown topic", m.CheckProduce("nope", 0, -1, false), kafka.ErrNotLeader},
		{"fetch from a non-replica", m.CheckFetch("door", 0, 4, 7), kafka.ErrNotLeader},
		{"fetch, older epoch", m.CheckFetch("door", 0, 1, 2), kafka.ErrFencedLeaderEpoch},
		{"fetch from a replica", m.CheckFetch("door", 0, 4, 2), nil},
		{"consumer fetch", m.CheckFetch("door", 0, -1, -1), nil},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) || (c.want == nil) != (c.err == nil) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}

	// Hostile follower reports change nothing: unknown partitions and
	// replicas, offsets past the log end or negative.
	h.append("door", 3)
	for _, r := range []struct {
		topic   string
		part    int32
		replica int32
		off     int64
	}{{"nope", 0, 2, 1}, {"door", 5, 2, 1}, {"door", 0, 9, 3}, {"door", 0, 2, 1 << 40}, {"door", 0, 2, -5}, {"door", 0, 1, 3}} {
		m.FollowerFetched(r.topic, r.part, r.replica, r.off)
	}
	if _, hwm, _ := h.log.Offsets("door", 0); hwm != 0 {
		t.Fatalf("high watermark %d after hostile follower reports, want 0", hwm)
	}
	// Both followers at 3: the high watermark moves to 3.
	m.FollowerFetched("door", 0, 2, 3)
	m.FollowerFetched("door", 0, 3, 3)
	if _, hwm, _ := h.log.Offsets("door", 0); hwm != 3 {
		t.Fatalf("high watermark %d after both followers fetched at 3, want 3", hwm)
	}

	// An older state than the one held is ignored.
	m.Apply([]catalog.Change{{Topic: "door", TopicID: h.id, Partition: 0, Version: v - 1,
		State: meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 2, LeaderEpoch: 9}}})
	time.Sleep(100 * time.Millisecond)
	if pv, _ := m.Partition("door", 0); pv.Leader != 1 || pv.LeaderEpoch != 4 {
		t.Fatalf("an older state was taken: %+v", pv)
	}

	// Reassigned away from this node: no role, the data stays.
	m.Apply([]catalog.Change{{Topic: "door", TopicID: h.id, Partition: 0, Version: v + 1000,
		State: meta.PartitionState{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 5}}})
	eventually(t, "no role", func() string {
		if err := m.CheckFetch("door", 0, -1, -1); !errors.Is(err, kafka.ErrNotLeader) {
			return "consumer fetch: " + noErr(err)
		}
		return ""
	})
	if err := m.CheckProduce("door", 0, -1, false); !errors.Is(err, kafka.ErrNotLeader) {
		t.Fatalf("produce after reassignment away: %v", err)
	}
	if leo, _ := h.log.LogEndOffset("door", 0); leo != 3 {
		t.Fatalf("log end %d after reassignment away, want 3 (the data stays)", leo)
	}

	// The topic deleted: nothing is served.
	m.Apply([]catalog.Change{{Topic: "door", TopicID: h.id, Partition: 0, Deleted: true}})
	eventually(t, "partition gone", func() string {
		if _, ok := m.Partition("door", 0); ok {
			return "still known"
		}
		return ""
	})
	if err := m.CheckFetch("door", 0, -1, -1); !errors.Is(err, kafka.ErrNotLeader) {
		t.Fatalf("fetch of a deleted partition: %v", err)
	}
}

// noErr is "" for nil, as eventually wants, else the error's text.
func noErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAwaitReplicated: an acks=all wait ends with the high watermark,
// with NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
// min.insync.replicas to get there, with NOT_LEADER when leadership
// moves, and with the context.
func TestAwaitReplicated(t *testing.T) {
	h := newHandNode(t, time.Second, 2, nil)
	m := h.mgr
	v := h.create("aw", meta.PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	eventually(t, "leading", func() string { return noErr(m.CheckProduce("aw", 0, -1, true)) })

	last := h.append("aw", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := m.AwaitReplicated(ctx, "aw", 0, last)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with no follower fetch: %v, want the deadline", err)
	}
	// The follower has it: acknowledged.
	done := make(chan error, 1)
	go func() { done <- m.AwaitReplicated(testCtx(t, 5*time.Second), "aw", 0, last) }()
	time.Sleep(50 * time.Millisecond)
	m.FollowerFetched("aw", 0, 2, last+1)
	if err := <-done; err != nil {
		t.Fatalf("wait after the follower fetched: %v", err)
	}

	// The follower stops fetching: after the lag limit the ISR is [1]
	// (etcd says so), the write is committed by the leader alone, below
	// min.insync.replicas 2.
	last = h.append("aw", 1)
	start := time.Now()
	err = m.AwaitReplicated(testCtx(t, 10*time.Second), "aw", 0, last)
	if !errors.Is(err, kafka.ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("wait while the ISR shrank: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("ISR shrank %v after the last fetch, before the 1 s lag limit", took)
	}
	kv, err := h.store.Get(testCtx(t, 5*time.Second), meta.PartitionKey("aw", 0))
	if err != nil || kv.Version <= v {
		t.Fatalf("partition state in etcd: version %d (was %d), %v", kv.Version, v, err)
	}
	if pv, _ := m.Partition("aw", 0); !slices.Equal(pv.ISR, []int32{1}) {
		t.Fatalf("ISR %v, want [1]", pv.ISR)
	}
	if err := m.CheckProduce("aw", 0, -1, true); !errors.Is(err, kafka.ErrNotEnoughReplicas) {
		t.Fatalf("acks=all with ISR [1]: %v, want NOT_ENOUGH_REPLICAS", err)
	}

	// Leadership moves while a write waits: NOT_LEADER.
	h.mgr.Apply([]catalog.Change{{Topic: "aw", TopicID: h.id, Partition: 0, Version: kv.Version + 1000,
		State: meta.PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 0}}})
	eventually(t, "ISR [1 2] again", func() string { return noErr(m.CheckProduce("aw", 0, -1, true)) })
	last = h.append("aw", 1)
	go func() { done <- m.AwaitReplicated(testCtx(t, 10*time.Second), "aw", 0, last) }()
	time.Sleep(50 * time.Millisecond)
	h.mgr.Apply([]catalog.Change{{Topic: "aw", TopicID: h.id, Partition: 0, Version: kv.Version + 2000,
		State: meta.PartitionState{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1}}})
	select {
	case err := <-done:
		if !errors.Is(err, kafka.ErrNotLeader) {
			t.Fatalf("wait while leadership moved: %v, want NOT_LEADER", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not end 5 s after leadership moved")
	}
}

// TestLostISRWrite: the leader's ISR write loses its CAS to a newer state
// it has not seen (the controller moved the leader); it reloads the state,
// stops leading, and the store keeps the controller's state.
func TestLostISRWrite(t *testing.T) {
	h := newHandNode(t, 600*time.Millisecond, 1, nil)
	m := h.mgr
	st := meta.PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}
	v := h.create("lost", st)
	eventually(t, "leading", func() string { return noErr(m.CheckProduce("lost", 0, -1, false)) })

	// Behind the Manager's back (no catalog): node 2 leads in epoch 1.
	moved := meta.PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1}
	if _, err := meta.UpdatePartition(testCtx(t, 5*time.Second), h.store, "lost", 0, v, moved); err != nil {
		t.Fatalf("move the leader: %v", err)
	}
	// Follower 2 never fetches: the shrink's CAS fails, the Manager
	// reloads and follows node 2.
	eventually(t, "node 1 follows", func() string {
		if err := m.CheckProduce("lost", 0, -1, false); !errors.Is(err, kafka.ErrNotLeader) {
			return "CheckProduce: " + errString(err)
		}
		if pv, _ := m.Partition("lost", 0); pv.Leader != 2 || pv.LeaderEpoch != 1 {
			return fmt.Sprintf("view %+v", pv)
		}
		return ""
	})
	kv, err := h.store.Get(testCtx(t, 5*time.Second), meta.PartitionKey("lost", 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(kv.Value), `"leader":2`) || !strings.Contains(string(kv.Value), `"isr":[1,2]`) {
		t.Fatalf("store holds %s, want the controller's state", kv.Value)
	}
}

// TestPreferredReadReplica: KIP-392 picks the in-sync, caught-up replica
// in the client's rack; the leader (-1) when it is there or none is.
func TestPreferredReadReplica(t *testing.T) {
	h := newHandNode(t, time.Minute, 1, map[int32]string{1: "a", 2: "b", 3: "b", 4: "c"})
	m := h.mgr
	h.create("rack", meta.PartitionState{Replicas: []int32{1, 2, 3, 4}, ISR: []int32{1, 2, 3}, Leader: 1})
	eventually(t, "leading", func() string { return noErr(m.CheckProduce("rack", 0, -1, false)) })
	h.append("rack", 5)
	m.FollowerFetched("rack", 0, 2, 2)
	m.FollowerFetched("rack", 0, 3, 5)
	for rack, want := range map[string]int32{"b": 3, "a": -1, "": -1, "c": -1, "zz": -1} {
		if got := m.PreferredReadReplica("rack", 0, rack); got != want {
			t.Errorf("rack %q: %d, want %d", rack, got, want)
		}
	}
	if got := m.PreferredReadReplica("nope", 0, "b"); got != -1 {
		t.Errorf("unknown topic: %d, want -1", got)
	}
}

// TestCaughtUpRule: Kafka's rule for lastCaughtUpTime. A follower that is
// never at the leader's log end under steady writes, but whose every fetch
// asks for at least what the leader had at its previous fetch, stays in
// the ISR; one stuck at an old offset leaves it after the lag limit, and
// the high watermark then follows the first.
func TestCaughtUpRule(t *testing.T) {
	const lag = 800 * time.Millisecond
	h := newHandNode(t, lag, 1, nil)
	m := h.mgr
	h.create("rule", meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	eventually(t, "leading", func() string { return noErr(m.CheckProduce("rule", 0, -1, false)) })
	h.append("rule", 1)
	m.FollowerFetched("rule", 0, 2, 0)
	m.FollowerFetched("rule", 0, 3, 0)
	prev, _ := h.log.LogEndOffset("rule", 0) // what the leader had at 2's last fetch
	end := time.Now().Add(3 * lag)
	for time.Now().Before(end) {
		h.append("rule", 1)
		m.FollowerFetched("rule", 0, 2, prev) // behind the log end, never at it
		m.FollowerFetched("rule", 0, 3, 0)
		prev, _ = h.log.LogEndOffset("rule", 0)
		time.Sleep(50 * time.Millisecond)
	}
	if pv, _ := m.Partition("rule", 0); !slices.Equal(pv.ISR, []int32{1, 2}) {
		t.Fatalf("ISR after %v of steady writes: %v, want [1 2] (3 stuck, 2 keeping up)", 3*lag, pv.ISR)
	}
	if _, hwm, _ := h.log.Offsets("rule", 0); hwm == 0 {
		t.Fatal("high watermark still 0: the stuck follower holds it after leaving the ISR")
	}
}
