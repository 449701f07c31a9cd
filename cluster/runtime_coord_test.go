package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
)

// coordNode is a whole cluster node in this process: its membership, a
// Runtime over a real RocksDB log, and a Kafka listener (the followers
// fetch from it).
type coordNode struct {
	id   int32
	log  *plog.Log
	node *Node
	rt   *Runtime
	srv  *kafka.Server

	mu     sync.Mutex
	loads  []string
	closed bool
}

func startCoordNode(t *testing.T, e *etcdtest.Etcd, id int32) *coordNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(e, "coord", id)
	cfg.ReplicaLagTimeMax = 3 * time.Second
	cn := &coordNode{id: id, log: l}
	cn.node = join(t, connect(t, cfg), cfg, record(id, int32(ln.Addr().(*net.TCPAddr).Port)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cn.rt, err = Start(ctx, connect(t, cfg), cn.node, cfg, RuntimeOptions{Log: l, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("start node %d: %v", id, err)
	}
	cn.srv = kafka.NewServer(l, stats.New(), kafka.Config{Cluster: cn.rt}, slog.New(slog.DiscardHandler))
	// After the door's own (kafka.NewServer sets them): these record.
	cn.rt.SetCoordinatorHooks(func(kind int8, part, epoch int32) {
		cn.mu.Lock()
		cn.loads = append(cn.loads, fmt.Sprintf("load %d/%d@%d", kind, part, epoch))
		cn.mu.Unlock()
	}, func(kind int8, part int32) {
		cn.mu.Lock()
		cn.loads = append(cn.loads, fmt.Sprintf("unload %d/%d", kind, part))
		cn.mu.Unlock()
	})
	go func() { _ = cn.srv.Serve(ln) }()
	t.Cleanup(cn.stop)
	return cn
}

// stop is the node going away: its coordinators resign, its listener
// closes, its registration goes (the controller moves its leaderships).
func (cn *coordNode) stop() {
	if cn.closed {
		return
	}
	cn.closed = true
	cn.rt.Close()
	_ = cn.srv.Close()
	_ = cn.node.Close()
	_ = cn.log.Close()
}

// coordinator waits until every running node names the same live,
// loaded coordinator of key and returns its view.
func coordinator(t *testing.T, nodes []*coordNode, kind int8, key string) kafka.CoordinatorView {
	t.Helper()
	var v kafka.CoordinatorView
	var last string
	// 30 s: a stopped node's lease (and perhaps the controller's) must
	// expire first; a loaded machine has taken more than 20 s.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		var leader *coordNode
		for _, cn := range nodes {
			got, err := cn.rt.CoordinatorOf(kind, key)
			if err != nil {
				last, ok = fmt.Sprintf("node %d: %v", cn.id, err), false
				break
			}
			if got.Local {
				leader = cn
			}
			v = got
		}
		if ok && leader != nil {
			lv, _ := leader.rt.CoordinatorOf(kind, key)
			if lv.Loaded && lv.Leader == leader.id {
				return lv
			}
			last = fmt.Sprintf("leader %d not loaded: %+v", leader.id, lv)
		} else if ok {
			last = fmt.Sprintf("no running node leads it: %+v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no loaded coordinator for %q within 30 s: %s", key, last)
	return v
}

// TestCoordinatorsFailover: three nodes; the first FindCoordinator-like
// call finds no internal topic (COORDINATOR_NOT_AVAILABLE) and creates
// it at RF 3; the coordinator's AppendInternal is acknowledged once
// replicated and applied (its view answers FetchOffset at once); an
// epoch not led and a non-leader are refused; the coordinator's node goes
// and the new coordinator, loaded once, has every acknowledged commit, as
// the other follower's view does, and fences the old epoch.
func TestCoordinatorsFailover(t *testing.T) {
	e := etcdtest.Start(t)
	var nodes []*coordNode
	for id := int32(1); id <= 3; id++ {
		nodes = append(nodes, startCoordNode(t, e, id))
	}
	// Every node sees all three live before the topic is made: its RF is
	// min(3, live nodes) as the creating node sees them (CI caught a node
	// whose watch had not yet delivered the other two registrations).
	for deadline := time.Now().Add(10 * time.Second); ; {
		all := true
		for _, cn := range nodes {
			for id := int32(1); id <= 3; id++ {
				all = all && cn.rt.live(id)
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the three nodes do not all see each other live within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	const group = "payments"
	if _, err := nodes[0].rt.CoordinatorOf(0, group); !errors.Is(err, kafka.ErrCoordinatorNotAvailable) {
		t.Fatalf("first lookup: %v, want ErrCoordinatorNotAvailable (topic being created)", err)
	}
	v := coordinator(t, nodes, 0, group)
	if v.Partition != coordlog.Partition(group) {
		t.Fatalf("coordinator partition %d, want %d", v.Partition, coordlog.Partition(group))
	}
	if st, _, _ := nodes[0].rt.cat.Partition(coordlog.OffsetsTopic, v.Partition); len(st.Replicas) != 3 {
		t.Fatalf("%s-%d on %v, want RF 3", coordlog.OffsetsTopic, v.Partition, st.Replicas)
	}
	byID := map[int32]*coordNode{}
	for _, cn := range nodes {
		byID[cn.id] = cn
	}
	lead := byID[v.Leader]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acked := map[int32]int64{}
	for i := range 30 {
		part, off := int32(i%5), int64(100+i)
		raw := coordlog.OffsetBatch([]plog.CommittedOffset{{Group: group, Topic: "orders", Partition: part, Offset: off, LeaderEpoch: -1}}, nil, time.Now().UnixMilli())
		if _, err := lead.rt.AppendInternal(ctx, 0, v.Partition, v.Epoch, raw); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		acked[part] = off
		got, ok, err := lead.log.FetchOffset(group, "orders", part)
		if err != nil || !ok || got.Offset != off {
			t.Fatalf("acknowledged commit %d not in the leader's view: %+v %v %v", i, got, ok, err)
		}
	}
	raw := coordlog.OffsetBatch([]plog.CommittedOffset{{Group: group, Topic: "orders", Partition: 0, Offset: 1, LeaderEpoch: -1}}, nil, 1)
	if _, err := lead.rt.AppendInternal(ctx, 0, v.Partition, v.Epoch+1, raw); !errors.Is(err, kafka.ErrNotLeader) {
		t.Fatalf("an epoch not led yet: %v, want ErrNotLeader", err)
	}
	var survivors []*coordNode
	for _, cn := range nodes {
		if cn != lead {
			survivors = append(survivors, cn)
		}
	}
	if _, err := survivors[0].rt.AppendInternal(ctx, 0, v.Partition, v.Epoch, raw); !errors.Is(err, kafka.ErrNotLeader) {
		t.Fatalf("append on a follower: %v, want ErrNotLeader", err)
	}

	lead.stop()
	nv := coordinator(t, survivors, 0, group)
	if nv.Leader == lead.id || nv.Epoch <= v.Epoch {
		t.Fatalf("new coordinator %+v, old %+v", nv, v)
	}
	for _, cn := range survivors {
		for part, off := range acked {
			var got plog.CommittedOffset
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, _, _ = cn.log.FetchOffset(group, "orders", part)
				if got.Offset == off || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got.Offset != off {
				t.Fatalf("node %d's view: orders-%d at %d, acknowledged %d", cn.id, part, got.Offset, off)
			}
		}
	}
	newLead := byID[nv.Leader]
	if _, err := newLead.rt.AppendInternal(ctx, 0, nv.Partition, v.Epoch, raw); !errors.Is(err, kafka.ErrFencedLeaderEpoch) {
		t.Fatalf("the old coordinator's epoch on the new one: %v, want ErrFencedLeaderEpoch", err)
	}
	raw = coordlog.OffsetBatch([]plog.CommittedOffset{{Group: group, Topic: "orders", Partition: 0, Offset: 999, LeaderEpoch: -1}}, nil, 1)
	if _, err := newLead.rt.AppendInternal(ctx, 0, nv.Partition, nv.Epoch, raw); err != nil {
		t.Fatalf("commit on the new coordinator: %v", err)
	}
	newLead.mu.Lock()
	defer newLead.mu.Unlock()
	want := fmt.Sprintf("load 0/%d@%d", nv.Partition, nv.Epoch)
	n := 0
	for _, ev := range newLead.loads {
		if ev == want {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("new coordinator's hooks %v: %q %d times, want once", newLead.loads, want, n)
	}
}

// TestInternalRFGrowsAsNodesJoin: a node alone creates __consumer_offsets
// at RF 1 and takes a commit; two nodes join and the controller grows
// every partition to RF 3 (the new replicas catch up and enter the ISR,
// the reassignments complete), the preferred leader stays, and the new
// replicas' views hold the commit.
func TestInternalRFGrowsAsNodesJoin(t *testing.T) {
	e := etcdtest.Start(t)
	n1 := startCoordNode(t, e, 1)
	if _, err := n1.rt.CoordinatorOf(0, "g"); !errors.Is(err, kafka.ErrCoordinatorNotAvailable) {
		t.Fatalf("first lookup: %v", err)
	}
	v := coordinator(t, []*coordNode{n1}, 0, "g")
	for p := int32(0); p < coordlog.Partitions; p++ {
		if st, _, _ := n1.rt.cat.Partition(coordlog.OffsetsTopic, p); len(st.Replicas) != 1 {
			t.Fatalf("alone: %s-%d on %v, want RF 1", coordlog.OffsetsTopic, p, st.Replicas)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw := coordlog.OffsetBatch([]plog.CommittedOffset{{Group: "g", Topic: "orders", Partition: 0, Offset: 42, LeaderEpoch: -1}}, nil, 1)
	if _, err := n1.rt.AppendInternal(ctx, 0, v.Partition, v.Epoch, raw); err != nil {
		t.Fatalf("commit at RF 1 (min.insync.replicas clamped): %v", err)
	}
	n2, n3 := startCoordNode(t, e, 2), startCoordNode(t, e, 3)
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		last = ""
		for p := int32(0); p < coordlog.Partitions && last == ""; p++ {
			st, _, _ := n1.rt.cat.Partition(coordlog.OffsetsTopic, p)
			if len(st.Replicas) != 3 || len(st.ISR) != 3 || len(st.Adding) > 0 || st.Leader != 1 {
				last = fmt.Sprintf("%s-%d: %+v", coordlog.OffsetsTopic, p, st)
			}
		}
		if last == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not grown to RF 3 within 30 s: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, cn := range []*coordNode{n2, n3} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, ok, _ := cn.log.FetchOffset("g", "orders", 0)
			if ok && got.Offset == 42 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d's view: orders-0 at %+v (%v), want 42", cn.id, got, ok)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if nv, err := n3.rt.CoordinatorOf(0, "g"); err != nil || nv.Leader != 1 || nv.Local {
		t.Fatalf("node 3's coordinator of g: %+v, %v; want node 1", nv, err)
	}
}
