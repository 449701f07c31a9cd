package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/syncbuf"
)

func record(id int32, port int32) meta.NodeRecord {
	return meta.NodeRecord{
		ID:        id,
		Listeners: []meta.Listener{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: port}},
		HTTP:      "http://127.0.0.1:8080",
		Version:   "test",
	}
}

func join(t *testing.T, cli *clientv3.Client, cfg Config, rec meta.NodeRecord) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	n, err := Join(ctx, cli, cfg, rec)
	if err != nil {
		t.Fatalf("Join node %d: %v", rec.ID, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(recs []meta.NodeRecord) []int32 {
	out := make([]int32, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func sameIDs(got []int32, want ...int32) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func leaseOf(t *testing.T, cli *clientv3.Client, key string) int64 {
	t.Helper()
	kv, err := getKey(context.Background(), cli, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if kv == nil {
		return 0
	}
	return kv.Lease
}

// TestJoinTwoNodes: two nodes with distinct ids both register, both see
// both, one of them is controller and both agree which.
func TestJoinTwoNodes(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	a := join(t, connect(t, cfg), cfg, record(2, 19092))
	b := join(t, connect(t, cfg), cfg, record(1, 19093))
	for _, n := range []*Node{a, b} {
		eventually(t, 5*time.Second, "both nodes in the view", func() bool { return sameIDs(ids(n.Nodes()), 1, 2) })
		if !n.Ready() || n.State() != StateRegistered {
			t.Fatalf("node %d: Ready %v, State %s", n.ID(), n.Ready(), n.State())
		}
	}
	eventually(t, 5*time.Second, "node 2, first to join, is controller and both know it", func() bool {
		return a.IsController() && !b.IsController() && a.ControllerID() == 2 && b.ControllerID() == 2
	})
	if got := b.Nodes()[1]; got.Listeners[0].Port != 19092 || got.StartedMs == 0 || got.Version != "test" {
		t.Fatalf("node 2 as seen by node 1: %+v", got)
	}
}

// TestJoinDuplicateID: a live id is refused with one line naming the id,
// the cluster, the other node's address and start; closing the first frees
// the id at once.
func TestJoinDuplicateID(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 3)
	first := join(t, connect(t, cfg), cfg, record(3, 19092))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := connect(t, cfg)
	n, err := Join(ctx, cli, cfg, record(3, 29092))
	if err == nil {
		n.Close()
		t.Fatal("a second node with live id 3 joined")
	}
	re := regexp.MustCompile(`^node id 3 is already live in cluster "zombi" \(127\.0\.0\.1:19092, started 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ\): stop it or choose another ZOMBI_NODE_ID`)
	if !re.MatchString(err.Error()) || strings.Contains(err.Error(), "\n") || !errors.Is(err, ErrNodeIDLive) {
		t.Fatalf("error %q: want one line matching %s, errors.Is ErrNodeIDLive", err, re)
	}
	// The refused node left nothing behind: the key is still the first's.
	if l := leaseOf(t, cli, nodeKey(cfg.Prefix(), 3)); l != int64(first.sess.Lease()) {
		t.Fatalf("nodes/3 under lease %x, want the first node's %x", l, first.sess.Lease())
	}
	start := time.Now()
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := join(t, cli, cfg, record(3, 29092))
	if took := time.Since(start); took > time.Second {
		t.Fatalf("id free %s after Close, want at once", took)
	}
	eventually(t, 5*time.Second, "the second node sees itself", func() bool { return sameIDs(ids(second.Nodes()), 3) })
}

// TestSessionLostRevoked: the lease revoked from outside (as etcd does when
// it expires) is noticed: the node stops being controller, registers again
// under a new lease and is controller again.
func TestSessionLostRevoked(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "controller", n.IsController)
	admin := connect(t, cfg)
	key := nodeKey(cfg.Prefix(), 1)
	old := leaseOf(t, admin, key)
	if err := revoke(admin, clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "registered again under a new lease", func() bool {
		l := leaseOf(t, admin, key)
		return l != 0 && l != old && n.State() == StateRegistered
	})
	eventually(t, 5*time.Second, "controller again", func() bool { return n.IsController() && n.ControllerID() == 1 })
}

// TestSessionLostIDTaken: while the node's session is lost another holder
// takes its id; the node is refused (stays unregistered, not controller)
// until that holder goes, then registers.
func TestSessionLostIDTaken(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "controller", n.IsController)
	admin := connect(t, cfg)
	key := nodeKey(cfg.Prefix(), 1)
	old := leaseOf(t, admin, key)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other, err := admin.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	val, _ := json.Marshal(record(1, 39092))
	// In one step: the impostor's registration replaces the node's.
	if _, err := admin.Txn(ctx).Then(clientv3.OpPut(key, string(val), clientv3.WithLease(other.ID))).Commit(); err != nil {
		t.Fatal(err)
	}
	if err := revoke(admin, clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "session lost noticed", func() bool { return n.State() == StateSessionLost && !n.IsController() })
	time.Sleep(time.Second)
	if n.State() != StateSessionLost || leaseOf(t, admin, key) != int64(other.ID) {
		t.Fatalf("state %s, lease %x: the node took an id held by a live node", n.State(), leaseOf(t, admin, key))
	}
	if err := revoke(admin, other.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "registered once the id is free", func() bool {
		l := leaseOf(t, admin, key)
		return n.State() == StateRegistered && l != 0 && l != int64(other.ID)
	})
}

// TestSessionLostEtcdPaused: etcd paused past the TTL (clients time out)
// ends the session on the client side; when etcd is back the node
// registers again by itself.
func TestSessionLostEtcdPaused(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "controller", n.IsController)
	if err := e.Pause(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 6*time.Second, "session lost while etcd is paused", func() bool { return n.State() == StateSessionLost && !n.IsController() })
	if err := e.Resume(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "registered and controller again", func() bool { return n.Ready() && n.IsController() })
}

// TestSessionLostLogged: the loss is a Warn naming it, the return an Info.
func TestSessionLostLogged(t *testing.T) {
	var logs syncbuf.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "controller", n.IsController)
	admin := connect(t, cfg)
	if err := revoke(admin, clientv3.LeaseID(leaseOf(t, admin, nodeKey(cfg.Prefix(), 1)))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the loss and the return logged", func() bool {
		s := logs.String()
		return strings.Contains(s, `level=WARN msg="cluster: session lost: not controller, registering again"`) &&
			strings.Contains(s, `level=INFO msg="cluster: registered again"`)
	})
}

// TestElectionKeyDeleted: the controller's election key deleted under it
// (its session alive) fences its writes; it campaigns again and leads
// with a new key.
func TestElectionKeyDeleted(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "controller", n.IsController)
	old := currentFence(t, n)
	admin := connect(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := admin.Delete(ctx, old.key); err != nil {
		t.Fatal(err)
	}
	// A partition change makes the controller write, and find its fence gone.
	key := partitionKey(cfg.Prefix(), "t", 0)
	putJSON(t, admin, key, ps(r(9, 1), r(9, 1), 9, 0, 0))
	eventually(t, 10*time.Second, "controller again under a new election key", func() bool {
		return n.IsController() && n.ControllerID() == 1 && currentFence(t, n).rev != old.rev
	})
	waitPartition(t, admin, key, ps(r(9, 1), r(1), 1, 1, 1))
}

// TestSessionTTL: whole seconds, rounded up, at least one.
func TestSessionTTL(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		2000 * time.Millisecond: 2, 2500 * time.Millisecond: 3, 6 * time.Second: 6,
		1001 * time.Millisecond: 2, 300 * time.Millisecond: 1, 0: 1,
	} {
		if got := SessionTTL(d); got != want {
			t.Errorf("SessionTTL(%s) = %d, want %d", d, got, want)
		}
	}
}
