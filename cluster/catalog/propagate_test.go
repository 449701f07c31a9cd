package catalog_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestTopicChangesPropagate: two nodes on one etcd, each with its own
// RocksDB log. A topic created on node 1 is in node 1's log when the call
// returns and appears on node 2 with the same id, partitions and configs;
// config changes, growth, partition-state changes and deletion made on
// either node reach the other; Partition answers from memory, read
// concurrently with the changes (-race); OnChange sees each state.
func TestTopicChangesPropagate(t *testing.T) {
	e := etcdtest.Start(t)
	n1 := startNode(t, 1, newStore(t, e, "/prop/"), openLog(t, t.TempDir()))
	n2 := startNode(t, 2, newStore(t, e, "/prop/"), openLog(t, t.TempDir()))
	ctx := testCtx(t, 60*time.Second)

	// Readers on the request path while everything changes.
	var stop atomic.Bool
	var readers sync.WaitGroup
	for _, n := range []*node{n1, n2} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for !stop.Load() {
				for p := int32(0); p < 6; p++ {
					if st, _, ok := n.cat.Partition("orders", p); ok && len(st.Replicas) == 0 {
						t.Errorf("node %d: orders-%d known with no replicas", n.id, p)
					}
				}
				n.cat.Topic("orders")
			}
		}()
	}
	defer func() { stop.Store(true); readers.Wait() }()

	cfgs := map[string]string{"retention.ms": "3600000"}
	if err := n1.cat.CreateTopic(ctx, "orders", 3, 2, cfgs); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	info, ok := n1.log.Topic("orders")
	if !ok || info.Partitions != 3 || !maps.Equal(info.Configs, cfgs) {
		t.Fatalf("node 1's log right after CreateTopic: %+v %v, want 3 partitions and %v", info, ok, cfgs)
	}
	id := info.UUID
	if msg := n1.synced("orders", id, 3); msg != "" {
		t.Fatalf("node 1 right after CreateTopic: %s", msg)
	}
	eventually(t, "orders on node 2", func() string {
		if msg := n2.synced("orders", id, 3); msg != "" {
			return msg
		}
		if got, _ := n2.log.Topic("orders"); !maps.Equal(got.Configs, cfgs) {
			return fmt.Sprintf("configs %v, want %v", got.Configs, cfgs)
		}
		return ""
	})
	for _, n := range []*node{n1, n2} {
		for p := int32(0); p < 3; p++ {
			st, v, ok := n.cat.Partition("orders", p)
			if !ok || v == 0 || len(st.Replicas) != 2 || st.Leader != st.Replicas[0] || !slices.Equal(st.ISR, st.Replicas) || st.LeaderEpoch != 0 {
				t.Fatalf("node %d: orders-%d = %+v v%d %v, want 2 replicas, the first leading, all in sync, epoch 0", n.id, p, st, v, ok)
			}
		}
		if _, _, ok := n.cat.Partition("orders", 3); ok {
			t.Fatalf("node %d: orders-3 known before it exists", n.id)
		}
	}
	if cs := n2.waitChanges(t, 3); len(cs) != 3 || cs[0].Topic != "orders" || cs[0].TopicID != id || cs[0].Deleted {
		t.Fatalf("node 2 changes after create: %+v, want the 3 partitions of orders", cs)
	}

	// A leader change as the controller makes it: node 2 sees it from memory.
	st, v, _ := n1.cat.Partition("orders", 1)
	st.Leader, st.LeaderEpoch, st.PartitionEpoch = st.Replicas[1], 1, 1
	nv, err := meta.UpdatePartition(ctx, n1.store, "orders", 1, v, st)
	if err != nil {
		t.Fatalf("UpdatePartition: %v", err)
	}
	eventually(t, "leader change on node 2", func() string {
		if got, gv, _ := n2.cat.Partition("orders", 1); gv != nv || got.Leader != st.Leader || got.LeaderEpoch != 1 {
			return fmt.Sprintf("orders-1 = %+v at %d, want leader %d epoch 1 at %d", got, gv, st.Leader, nv)
		}
		return ""
	})
	if cs := n2.waitChanges(t, 1); len(cs) != 1 || cs[0].Partition != 1 || cs[0].Version != nv || cs[0].State.Leader != st.Leader {
		t.Fatalf("node 2 changes after the leader change: %+v, want orders-1 led by %d at %d", cs, st.Leader, nv)
	}

	// Configs changed on node 2 reach node 1.
	cfgs2 := map[string]string{"retention.ms": "60000", "max.message.bytes": "2000000"}
	if err := n2.cat.SetTopicConfigs(ctx, "orders", cfgs2); err != nil {
		t.Fatalf("SetTopicConfigs: %v", err)
	}
	if got, _ := n2.log.Topic("orders"); !maps.Equal(got.Configs, cfgs2) {
		t.Fatalf("node 2's log right after SetTopicConfigs: %v, want %v", got.Configs, cfgs2)
	}
	eventually(t, "configs on node 1", func() string {
		if got, _ := n1.log.Topic("orders"); !maps.Equal(got.Configs, cfgs2) || got.UUID != id {
			return fmt.Sprintf("configs %v id %x", got.Configs, got.UUID)
		}
		return ""
	})

	// Growth on node 1 reaches node 2; the new partitions keep RF 2.
	if err := n1.cat.AddPartitions(ctx, "orders", 6); err != nil {
		t.Fatalf("AddPartitions: %v", err)
	}
	if msg := n1.synced("orders", id, 6); msg != "" {
		t.Fatalf("node 1's log right after AddPartitions: %s", msg)
	}
	eventually(t, "6 partitions on node 2", func() string { return n2.synced("orders", id, 6) })
	for p := int32(3); p < 6; p++ {
		if st, _, ok := n2.cat.Partition("orders", p); !ok || len(st.Replicas) != 2 || st.Leader != st.Replicas[0] {
			t.Fatalf("node 2: new partition orders-%d = %+v %v, want 2 replicas", p, st, ok)
		}
	}
	if st, v, _ := n2.cat.Partition("orders", 1); v != nv || st.LeaderEpoch != 1 {
		t.Fatalf("node 2: orders-1 after growth = %+v at %d, want its leader change kept at %d", st, v, nv)
	}
	if cs := n2.waitChanges(t, 3); len(cs) != 3 || cs[0].Partition != 3 {
		t.Fatalf("node 2 changes after growth: %+v, want partitions 3..5", cs)
	}
	// Data written on node 2 stays through the changes (same topic).
	if _, err := n2.log.CreateTopic("x", 1, nil); err != nil {
		t.Fatalf("local create: %v", err)
	}

	// Deleted on node 2: gone from node 1.
	if err := n2.cat.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if _, ok := n2.log.Topic("orders"); ok {
		t.Fatal("node 2's log still has orders after DeleteTopic returned")
	}
	eventually(t, "orders gone from node 1", func() string {
		if _, ok := n1.log.Topic("orders"); ok {
			return "still there"
		}
		if _, _, ok := n1.cat.Partition("orders", 0); ok {
			return "still in the view"
		}
		return ""
	})
	eventually(t, "node 2's deleted changes", func() string {
		n2.mu.Lock()
		defer n2.mu.Unlock()
		deleted := 0
		for _, c := range n2.changes {
			if c.Deleted && c.Topic == "orders" && c.TopicID == id {
				deleted++
			}
		}
		if deleted != 6 {
			return fmt.Sprintf("%d deleted changes, want 6: %+v", deleted, n2.changes)
		}
		return ""
	})
	// The topic made only in node 2's log, around the catalog, went too.
	eventually(t, "local-only topic gone from node 2", func() string {
		if _, ok := n2.log.Topic("x"); ok {
			return "x still in node 2's log"
		}
		return ""
	})
	if kvs, _ := catalogKeys(t, n1.store); len(kvs) != 0 {
		t.Fatalf("etcd after delete: %v, want no catalog key", kvs)
	}
}
