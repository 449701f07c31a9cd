package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// fakeNode registers id under a lease of its own, as a node would, and
// returns the lease; revoking it is that node dying.
func fakeNode(t *testing.T, cli *clientv3.Client, cfg Config, id int32) clientv3.LeaseID {
	t.Helper()
	lease, err := grant(context.Background(), cli, 30)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := registerNode(context.Background(), cli, nodeKey(cfg.Prefix(), id), record(id, 9000+id), lease)
	if err != nil || !ok {
		t.Fatalf("register fake node %d: ok %v, %v", id, ok, err)
	}
	return lease
}

func putJSON(t *testing.T, cli *clientv3.Client, key string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, key, string(b)); err != nil {
		t.Fatal(err)
	}
}

func readPartition(t *testing.T, cli *clientv3.Client, key string) (meta.PartitionState, int64) {
	t.Helper()
	kv, err := getKey(context.Background(), cli, key)
	if err != nil || kv == nil {
		t.Fatalf("get %s: %v (present %v)", key, err, kv != nil)
	}
	var st meta.PartitionState
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		t.Fatal(err)
	}
	return st, kv.ModRevision
}

func waitPartition(t *testing.T, cli *clientv3.Client, key string, want meta.PartitionState) {
	t.Helper()
	var got meta.PartitionState
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ = readPartition(t, cli, key)
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v, want %+v", key, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestControllerReacts: the controller (node 1) over fake nodes 2 and 3:
// node 2's registration goes, its leaderships move to the first live ISR
// member, it leaves every ISR, its replication-factor-1 partition goes
// offline, a topic with unclean election takes an out-of-sync replica;
// node 2 comes back and leads its offline partition again.
func TestControllerReacts(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	admin := connect(t, cfg)
	pfx := cfg.Prefix()
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "node 1 controller", n.IsController)
	lease2 := fakeNode(t, admin, cfg, 2)
	fakeNode(t, admin, cfg, 3)
	eventually(t, 5*time.Second, "the controller sees nodes 1-3", func() bool { return sameIDs(ids(n.Nodes()), 1, 2, 3) })
	putJSON(t, admin, pfx+topicsPrefix+"t", meta.TopicRecord{Name: "t", Partitions: 3})
	putJSON(t, admin, pfx+topicsPrefix+"u", meta.TopicRecord{Name: "u", Partitions: 1, Configs: map[string]string{uncleanConfig: "true"}})
	k := func(topic string, p int32) string { return partitionKey(pfx, topic, p) }
	initial := map[string]meta.PartitionState{
		k("t", 0): ps(r(2, 1, 3), r(2, 1, 3), 2, 7, 7),
		k("t", 1): ps(r(3, 2, 1), r(3, 2), 3, 2, 5),
		k("t", 2): ps(r(2), r(2), 2, 0, 0),
		k("u", 0): ps(r(2, 3), r(2), 2, 1, 1),
	}
	for key, st := range initial {
		putJSON(t, admin, key, st)
	}
	time.Sleep(200 * time.Millisecond)
	for key, st := range initial { // every node live: nothing to do
		waitPartition(t, admin, key, st)
	}

	if err := revoke(admin, lease2); err != nil {
		t.Fatal(err)
	}
	waitPartition(t, admin, k("t", 0), ps(r(2, 1, 3), r(1, 3), 1, 8, 8))
	waitPartition(t, admin, k("t", 1), ps(r(3, 2, 1), r(3), 3, 2, 6))
	waitPartition(t, admin, k("t", 2), ps(r(2), r(2), -1, 1, 1))
	waitPartition(t, admin, k("u", 0), ps(r(2, 3), r(3), 3, 2, 2))

	fakeNode(t, admin, cfg, 2)
	waitPartition(t, admin, k("t", 2), ps(r(2), r(2), 2, 2, 2))
	// The others are led by live nodes: node 2 rejoins their ISRs by
	// catching up (its leaders' business), not by the controller.
	waitPartition(t, admin, k("t", 0), ps(r(2, 1, 3), r(1, 3), 1, 8, 8))
}

// TestControllerStaleFence: a controller deposed (its session lost, so its
// election key gone) writes nothing: its fence fails, whatever it read.
func TestControllerStaleFence(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	admin := connect(t, cfg)
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "node 1 controller", n.IsController)
	stale := currentFence(t, n)
	old := leaseOf(t, admin, nodeKey(cfg.Prefix(), 1))
	if err := revoke(admin, clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "controller again, elected anew", func() bool {
		return n.IsController() && n.ControllerID() == 1 && currentFence(t, n) != stale
	})
	key := partitionKey(cfg.Prefix(), "t", 0)
	putJSON(t, admin, key, ps(r(7, 1), r(7, 1), 7, 3, 3)) // node 7 is not live
	// The live controller moves it to node 1.
	waitPartition(t, admin, key, ps(r(7, 1), r(1), 1, 4, 4))
	putJSON(t, admin, key, ps(r(7, 1), r(7), 7, 5, 5))
	st, rev := readPartition(t, admin, key)
	// The stale controller decides on what it read and writes: refused.
	next, changed := decidePartition(st, func(id int32) bool { return id == 1 }, true)
	if !changed {
		t.Fatal("no decision to write")
	}
	ok, _, err := casPartition(context.Background(), n.cli, stale, key, rev, next)
	if ok || !errors.Is(err, errNotController) {
		t.Fatalf("stale controller write: ok %v, err %v; want refused with errNotController", ok, err)
	}
	if got, _ := readPartition(t, admin, key); got.Leader == 1 && got.LeaderEpoch == 6 {
		t.Fatalf("the stale write landed: %+v", got)
	}
}

// TestControllerCASRetry: a write based on a stale read loses the CAS,
// re-reads and decides on the state as it is now. No elected controller
// runs here (it would react too): the fence is a key of the test's own.
func TestControllerCASRetry(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	admin := connect(t, cfg)
	n := &Node{cli: admin, cfg: cfg, log: slog.Default()}
	fkey := cfg.Prefix() + controllerPrefix + "test"
	putJSON(t, admin, fkey, 1)
	fkv, err := getKey(context.Background(), admin, fkey)
	if err != nil {
		t.Fatal(err)
	}
	f := fence{key: fkey, rev: fkv.CreateRevision}
	key := partitionKey(cfg.Prefix(), "t", 0)
	putJSON(t, admin, key, ps(r(3, 1), r(3, 1), 3, 1, 1))
	staleKV, err := getKey(context.Background(), admin, key)
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile the leader shrank the ISR (its own CAS).
	putJSON(t, admin, key, ps(r(3, 1), r(3), 3, 1, 2))
	live := func(id int32) bool { return id == 1 } // node 3 died
	if err := n.reconcileOne(context.Background(), f, staleKV, live, nil); err != nil {
		t.Fatalf("reconcileOne: %v", err)
	}
	// Decided on the stale read, node 1 would lead; on the fresh one it is
	// out of the ISR: offline, ISR kept.
	got, _ := readPartition(t, admin, key)
	if want := ps(r(3, 1), r(3), -1, 2, 3); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a lost CAS: %+v, want %+v", got, want)
	}
}

// currentFence is the fence of the election's current leader, once the
// node's view of the election shows one.
func currentFence(t *testing.T, n *Node) fence {
	t.Helper()
	eventually(t, 5*time.Second, "an election key in the view", func() bool { return n.ControllerID() >= 0 })
	kvs, _ := n.ctrl.snapshot()
	var first fence
	for _, kv := range kvs {
		if first.key == "" || kv.CreateRevision < first.rev {
			first = fence{key: string(kv.Key), rev: kv.CreateRevision}
		}
	}
	if first.key == "" {
		t.Fatal("no election key")
	}
	return first
}

// TestControllerHostileKeys: an unreadable partition state is left alone,
// a record under nodes/9 claiming id 2 does not make node 2 live, and the
// controller goes on with the rest.
func TestControllerHostileKeys(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	admin := connect(t, cfg)
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "node 1 controller", n.IsController)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bad := partitionKey(cfg.Prefix(), "t", 0)
	if _, err := admin.Put(ctx, bad, "{not json"); err != nil {
		t.Fatal(err)
	}
	putJSON(t, admin, nodeKey(cfg.Prefix(), 9), record(2, 9002))
	good := partitionKey(cfg.Prefix(), "t", 1)
	putJSON(t, admin, good, ps(r(2, 1), r(2, 1), 2, 0, 0))
	waitPartition(t, admin, good, ps(r(2, 1), r(1), 1, 1, 1))
	if kv, err := getKey(ctx, admin, bad); err != nil || kv == nil || string(kv.Value) != "{not json" {
		t.Fatalf("the unreadable state was changed: %v, %v", kv, err)
	}
	if got := ids(n.Nodes()); !sameIDs(got, 1) || !n.IsController() {
		t.Fatalf("live nodes %v, controller %v: want [1], true", got, n.IsController())
	}
}

// TestControllerFailover: the controller's session is lost; the other node
// is elected, both agree, and the new controller reacts to a node dying.
func TestControllerFailover(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	admin := connect(t, cfg)
	a := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "node 1 controller", a.IsController)
	b := join(t, connect(t, cfg), cfg, record(2, 19093))
	lease3 := fakeNode(t, admin, cfg, 3)
	eventually(t, 5*time.Second, "both see nodes 1-3", func() bool {
		return sameIDs(ids(a.Nodes()), 1, 2, 3) && sameIDs(ids(b.Nodes()), 1, 2, 3)
	})
	key := partitionKey(cfg.Prefix(), "t", 0)
	putJSON(t, admin, key, ps(r(3, 2, 1), r(3, 2, 1), 3, 0, 0))
	if err := revoke(admin, clientv3.LeaseID(leaseOf(t, admin, nodeKey(cfg.Prefix(), 1)))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "node 2 controller, node 1 back as a member", func() bool {
		return b.IsController() && !a.IsController() && a.ControllerID() == 2 && b.ControllerID() == 2 && a.State() == StateRegistered
	})
	if err := revoke(admin, lease3); err != nil {
		t.Fatal(err)
	}
	// Node 1 left the ISR too if the new controller saw its registration
	// gone before it came back (a race of the test, both are right).
	eventually(t, 5*time.Second, "node 2 leads, epoch 1", func() bool {
		got, _ := readPartition(t, admin, key)
		return reflect.DeepEqual(got, ps(r(3, 2, 1), r(2, 1), 2, 1, 1)) || reflect.DeepEqual(got, ps(r(3, 2, 1), r(2), 2, 1, 2))
	})
}
