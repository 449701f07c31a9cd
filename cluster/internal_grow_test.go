package cluster

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestGrowInternal: the pure rule. An internal partition below min(3,
// live) gets a reassignment adding live nodes, new racks first, current
// replicas kept first; a user topic, a partition in reassignment or
// without a live leader, or one already at the target, does not.
func TestGrowInternal(t *testing.T) {
	nodes := []meta.NodeRecord{{ID: 1, Rack: "a"}, {ID: 2, Rack: "a"}, {ID: 3, Rack: "b"}, {ID: 4, Rack: "c"}}
	all := func(int32) bool { return true }
	cases := []struct {
		name  string
		topic string
		st    meta.PartitionState
		live  func(int32) bool
		want  *meta.PartitionState
	}{
		{"rf1 to 3, two new racks", "__consumer_offsets", ps(r(1), r(1), 1, 0, 0), all,
			&meta.PartitionState{Replicas: r(1, 3, 4), ISR: r(1), Leader: 1, PartitionEpoch: 1, Adding: r(3, 4)}},
		{"rf2 to 3", "__transaction_state", ps(r(3, 1), r(3, 1), 3, 4, 6), all,
			&meta.PartitionState{Replicas: r(3, 1, 4), ISR: r(3, 1), Leader: 3, LeaderEpoch: 4, PartitionEpoch: 7, Adding: r(4)}},
		{"only two live", "__consumer_offsets", ps(r(1), r(1), 1, 0, 0), func(id int32) bool { return id <= 2 },
			&meta.PartitionState{Replicas: r(1, 2), ISR: r(1), Leader: 1, PartitionEpoch: 1, Adding: r(2)}},
		{"at 3 already", "__consumer_offsets", ps(r(1, 2, 3), r(1, 2, 3), 1, 0, 0), all, nil},
		{"user topic", "orders", ps(r(1), r(1), 1, 0, 0), all, nil},
		{"offline", "__consumer_offsets", ps(r(1), r(1), -1, 1, 1), all, nil},
		{"leader not live", "__consumer_offsets", ps(r(1), r(1), 1, 0, 0), func(id int32) bool { return id != 1 }, nil},
		{"in reassignment", "__consumer_offsets", meta.PartitionState{Replicas: r(1, 2), ISR: r(1), Leader: 1, Adding: r(2)}, all, nil},
	}
	for _, c := range cases {
		got, grown := growInternal(c.topic, 0, c.st, nodes, c.live)
		switch {
		case c.want == nil && grown:
			t.Errorf("%s: grown to %+v, want unchanged", c.name, got)
		case c.want != nil && (!grown || !reflect.DeepEqual(got, *c.want)):
			t.Errorf("%s: %+v (grown %v), want %+v", c.name, got, grown, *c.want)
		}
	}
	// Spread: over 50 partitions at RF 1 on node 1, with 4 new nodes in
	// one rack, every new node is picked.
	more := []meta.NodeRecord{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5}}
	picked := map[int32]int{}
	for p := int32(0); p < 50; p++ {
		got, _ := growInternal("__consumer_offsets", p, ps(r(1), r(1), 1, 0, 0), more, all)
		for _, a := range got.Adding {
			picked[a]++
		}
	}
	for id := int32(2); id <= 5; id++ {
		if picked[id] < 24 || picked[id] > 26 {
			t.Fatalf("added replicas per node %v, want about 25 each on 2-5", picked)
		}
	}
}

// TestControllerGrowsInternal: the controller (node 1, with real etcd)
// raises an RF 1 internal partition to 2 when a node joins and to 3 when
// another does, each step a reassignment it completes once the added
// replica is in the ISR (written here as its leader would); a user topic
// at RF 1 stays so.
func TestControllerGrowsInternal(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	admin := connect(t, cfg)
	pfx := cfg.Prefix()
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "node 1 controller", n.IsController)
	putJSON(t, admin, pfx+topicsPrefix+"__consumer_offsets", meta.TopicRecord{Name: "__consumer_offsets", Partitions: 1})
	putJSON(t, admin, pfx+topicsPrefix+"user", meta.TopicRecord{Name: "user", Partitions: 1})
	off, user := partitionKey(pfx, "__consumer_offsets", 0), partitionKey(pfx, "user", 0)
	putJSON(t, admin, off, ps(r(1), r(1), 1, 0, 0))
	putJSON(t, admin, user, ps(r(1), r(1), 1, 0, 0))
	time.Sleep(200 * time.Millisecond)
	waitPartition(t, admin, off, ps(r(1), r(1), 1, 0, 0)) // alone: RF 1 is min(3, 1)

	fakeNode(t, admin, cfg, 2)
	waitPartition(t, admin, off, meta.PartitionState{Replicas: r(1, 2), ISR: r(1), Leader: 1, PartitionEpoch: 1, Adding: r(2)})
	putJSON(t, admin, off, meta.PartitionState{Replicas: r(1, 2), ISR: r(1, 2), Leader: 1, PartitionEpoch: 2, Adding: r(2)}) // node 2 caught up
	waitPartition(t, admin, off, ps(r(1, 2), r(1, 2), 1, 0, 3))

	fakeNode(t, admin, cfg, 3)
	waitPartition(t, admin, off, meta.PartitionState{Replicas: r(1, 2, 3), ISR: r(1, 2), Leader: 1, PartitionEpoch: 4, Adding: r(3)})
	putJSON(t, admin, off, meta.PartitionState{Replicas: r(1, 2, 3), ISR: r(1, 2, 3), Leader: 1, PartitionEpoch: 5, Adding: r(3)})
	waitPartition(t, admin, off, ps(r(1, 2, 3), r(1, 2, 3), 1, 0, 6))

	fakeNode(t, admin, cfg, 4)
	eventually(t, 5*time.Second, "the controller sees node 4", func() bool { return sameIDs(ids(n.Nodes()), 1, 2, 3, 4) })
	time.Sleep(300 * time.Millisecond)
	if got, _ := readPartition(t, admin, off); len(got.Replicas) != 3 {
		t.Fatalf("grew past 3: %+v", got)
	}
	if got, _ := readPartition(t, admin, user); fmt.Sprint(got.Replicas) != "[1]" {
		t.Fatalf("user topic changed: %+v", got)
	}
}
