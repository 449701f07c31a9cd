package replica_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/cluster/replica"
	plog "github.com/zombi-dev/zombi/log"
)

// Three nodes (real etcd, RocksDB logs, Kafka fetches) replicate the real
// __consumer_offsets-0 with the periodic cleaner on (every 50 ms): every
// replica compacts its own copy, followers fetch across the leader's gaps,
// and every view ends with the same offsets.
func TestCleanerOnReplicas(t *testing.T) {
	c := newClusterWith(t, 3, 5*time.Second, 1, nil, func(_ int32, cfg *replica.Config) {
		cfg.CleanerInterval = 50 * time.Millisecond
		cfg.CleanerMinInterval = time.Millisecond
	})
	// Node 3 is away while the others commit and compact: it comes back
	// as a new replica and fetches the compacted log from the start.
	c.node(3).stop()
	c.setDown(3, true)
	name := plog.OffsetsTopicName
	it, _ := plog.LookupInternalTopic(name)
	rec := meta.TopicRecord{Name: name, UUID: it.UUID, Partitions: 1, Configs: catalog.InternalConfigs(name), CreatedMs: time.Now().UnixMilli()}
	st := meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1}
	if err := meta.CreateTopic(testCtx(t, 10*time.Second), c.nodes[1].store, rec, []meta.PartitionState{st}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node 1 leads", func() string {
		if err := c.node(1).mgr.CheckProduce(name, 0, -1, false); err != nil {
			return err.Error()
		}
		return ""
	})
	var groups []string
	for i := 0; len(groups) < 2; i++ {
		if g := fmt.Sprint("g", i); plog.InternalPartition(g) == 0 {
			groups = append(groups, g)
		}
	}
	leader := c.node(1)
	const commits = 2000
	var last int64
	for i := 0; i < commits; i++ {
		o := plog.CommittedOffset{Group: groups[i%2], Topic: "orders", Partition: int32(i/2) % 5, Offset: int64(i), LeaderEpoch: -1}
		_, l, err := leader.log.AppendInternal(context.Background(), name, 0, coordlog.OffsetBatch([]plog.CommittedOffset{o}, nil, 1000))
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		last = l
	}
	ctx := testCtx(t, 15*time.Second)
	if err := leader.mgr.AwaitReplicated(ctx, name, 0, last); err != nil {
		t.Fatal(err)
	}
	batches := func(l *plog.Log) int {
		n := 0
		for off := int64(0); ; {
			rr, err := l.ReadReplica(name, 0, off, 1<<20)
			if err != nil || len(rr.Batches) == 0 {
				return n
			}
			n += len(rr.Batches)
			off = rr.Batches[len(rr.Batches)-1].LastOffset + 1
		}
	}
	check := func(id int32) {
		l := c.node(id).log
		eventually(t, fmt.Sprintf("node %d compacted and applied", id), func() string {
			if n := batches(l); n > 12 {
				return fmt.Sprintf("%d batches", n)
			}
			for i := 0; i < 10; i++ {
				g, p := groups[i%2], int32(i/2)%5
				want := int64(commits - 10 + i)
				if o, ok, err := l.FetchOffset(g, "orders", p); err != nil || !ok || o.Offset != want {
					return fmt.Sprintf("%s orders-%d at %d (%v %v), want %d", g, p, o.Offset, ok, err, want)
				}
			}
			return ""
		})
	}
	check(1)
	check(2)
	if n := batches(c.node(1).log); n > 12 {
		t.Fatalf("leader has %d batches", n)
	}
	c.setDown(3, false)
	c.node(3).start()
	check(3)
}
