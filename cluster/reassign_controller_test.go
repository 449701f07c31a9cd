package cluster

import (
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestControllerCompletesReassignment: the controller (node 1, real etcd)
// leaves a reassignment alone while an adding replica is out of the ISR,
// completes it once the leader's ISR write takes the replica in (the
// leader, removed, hands over to the first in-sync target replica), and
// completes a pure removal at once.
func TestControllerCompletesReassignment(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	admin := connect(t, cfg)
	pfx := cfg.Prefix()
	n := join(t, connect(t, cfg), cfg, record(1, 19092))
	eventually(t, 5*time.Second, "node 1 controller", n.IsController)
	fakeNode(t, admin, cfg, 2)
	fakeNode(t, admin, cfg, 3)
	fakeNode(t, admin, cfg, 4)
	eventually(t, 5*time.Second, "the controller sees nodes 1-4", func() bool { return sameIDs(ids(n.Nodes()), 1, 2, 3, 4) })
	putJSON(t, admin, pfx+topicsPrefix+"t", meta.TopicRecord{Name: "t", Partitions: 2})
	k := func(p int32) string { return partitionKey(pfx, "t", p) }

	// Leader 1 moves off: target [2 3 4], node 4 being added.
	moving := startReassignment(ps(r(1, 2, 3), r(1, 2, 3), 1, 3, 5), r(2, 3, 4))
	putJSON(t, admin, k(0), moving)
	time.Sleep(300 * time.Millisecond)
	waitPartition(t, admin, k(0), moving) // 4 not in the ISR: nothing yet
	caughtUp := clonePartition(moving)
	caughtUp.ISR = r(1, 2, 3, 4)
	caughtUp.PartitionEpoch++
	putJSON(t, admin, k(0), caughtUp) // the leader's ISR expansion
	waitPartition(t, admin, k(0), ps(r(2, 3, 4), r(2, 3, 4), 2, 4, 8))

	// RF 3 -> 2: nothing to add, done at once.
	putJSON(t, admin, k(1), startReassignment(ps(r(3, 1, 2), r(3, 1, 2), 3, 1, 1), r(3, 1)))
	waitPartition(t, admin, k(1), ps(r(3, 1), r(3, 1), 3, 1, 3))
}
