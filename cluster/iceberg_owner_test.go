package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// ownersTest is three nodes' IcebergOwners on one etcd; candidacy can be
// switched per node and topic.
type ownersTest struct {
	mu     sync.Mutex
	cannot map[string]bool // "id/topic"
	owners map[int32]*IcebergOwners
}

func (ot *ownersTest) candidate(id int32) func(string) bool {
	return func(topic string) bool {
		ot.mu.Lock()
		defer ot.mu.Unlock()
		return !ot.cannot[fmt.Sprintf("%d/%s", id, topic)]
	}
}

func (ot *ownersTest) set(id int32, topic string, can bool) {
	ot.mu.Lock()
	defer ot.mu.Unlock()
	ot.cannot[fmt.Sprintf("%d/%s", id, topic)] = !can
}

// holders are the nodes that believe they own topic.
func (ot *ownersTest) holders(topic string) []int32 {
	var out []int32
	for id := int32(1); id <= 3; id++ {
		if o := ot.owners[id]; o != nil && o.Owns(topic) {
			out = append(out, id)
		}
	}
	return out
}

// one waits until exactly one node owns topic and etcd names it; it
// returns that node.
func (ot *ownersTest) one(t *testing.T, topic string, within time.Duration, not ...int32) int32 {
	t.Helper()
	var got int32
	eventually(t, within, "one owner of "+topic, func() bool {
		h := ot.holders(topic)
		if len(h) != 1 {
			return false
		}
		for _, n := range not {
			if h[0] == n {
				return false
			}
		}
		for _, o := range ot.owners {
			if o == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			id, ok, err := o.Owner(ctx, topic)
			cancel()
			if err != nil || !ok || id != h[0] {
				return false
			}
			break
		}
		got = h[0]
		return true
	})
	return got
}

// TestIcebergOwners: each topic gets one owner among its candidates; the
// owner closing hands it over at once (resign), its lease revoked (a dead
// or paused node) hands it over, a node that can no longer materialize it
// steps down, and a non-candidate never owns it.
func TestIcebergOwners(t *testing.T) {
	e := etcdtest.Start(t)
	ot := &ownersTest{cannot: map[string]bool{}, owners: map[int32]*IcebergOwners{}}
	topics := func() []string { return []string{"t1", "t2"} }
	ot.set(3, "t2", false)
	for id := int32(1); id <= 3; id++ {
		cfg := testConfig(e, "owners", id)
		ot.owners[id] = NewIcebergOwners(connect(t, cfg), cfg, topics, ot.candidate(id), nil)
	}
	t.Cleanup(func() {
		for _, o := range ot.owners {
			if o != nil {
				o.Close()
			}
		}
	})
	first := ot.one(t, "t1", 5*time.Second)
	t2 := ot.one(t, "t2", 5*time.Second)
	if t2 == 3 {
		t.Fatal("node 3, not a candidate for t2, owns it")
	}
	// Stable: still one and the same owner a while later.
	time.Sleep(time.Second)
	if h := ot.holders("t1"); len(h) != 1 || h[0] != first {
		t.Fatalf("t1 holders %v, want [%d]", h, first)
	}

	// The owner closes: another owns it within a reconcile round.
	start := time.Now()
	ot.owners[first].Close()
	ot.owners[first] = nil
	second := ot.one(t, "t1", 2*time.Second, first)
	t.Logf("t1: node %d closed, node %d owns after %s", first, second, time.Since(start).Round(time.Millisecond))

	// The owner's lease ends (a crashed or paused node): the next owns it
	// once etcd notices, and the old one no longer believes it owns it.
	o := ot.owners[second]
	o.sessMu.Lock()
	lease := o.sess.Lease()
	o.sessMu.Unlock()
	start = time.Now()
	if _, err := o.cli.Revoke(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	third := ot.one(t, "t1", 5*time.Second, second)
	t.Logf("t1: node %d's lease revoked, node %d owns after %s", second, third, time.Since(start).Round(time.Millisecond))

	// The owner of t1 can no longer materialize it: it steps down.
	ot.set(third, "t1", false)
	fourth := ot.one(t, "t1", 3*time.Second, third)
	t.Logf("t1: node %d stepped down, node %d owns", third, fourth)
	if fourth == first {
		t.Fatalf("t1 owned by the closed node %d", first)
	}
}
