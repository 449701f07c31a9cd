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
	"github.com/zombi-dev/zombi/log/batch"
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
	// A committed transactional offset, superseded by a plain commit: its
	// batch goes, its marker only once every replica (node 3 too) is past it.
	txnOff := []plog.CommittedOffset{{Group: groups[0], Topic: "orders", Partition: 9, Offset: 5, LeaderEpoch: -1}}
	if _, _, err := leader.log.AppendInternal(context.Background(), name, 0, coordlog.TxnOffsetBatch(5, 0, txnOff, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.log.WriteMarker(context.Background(), name, 0, plog.MarkerRequest{ProducerID: 5, Commit: true}); err != nil {
		t.Fatal(err)
	}
	txnOff[0].Offset = 6
	if _, _, err := leader.log.AppendInternal(context.Background(), name, 0, coordlog.OffsetBatch(txnOff, nil, 1000)); err != nil {
		t.Fatal(err)
	}
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
		n, _ := batchesOf(l, name)
		return n
	}
	markers := func(l *plog.Log) int {
		_, m := batchesOf(l, name)
		return m
	}
	check := func(id int32) {
		l := c.node(id).log
		eventually(t, fmt.Sprintf("node %d compacted and applied", id), func() string {
			if n := batches(l); n > 12 {
				return fmt.Sprintf("%d batches", n)
			}
			if o, ok, _ := l.FetchOffset(groups[0], "orders", 9); !ok || o.Offset != 6 {
				return fmt.Sprintf("orders-9 at %d (%v), want 6", o.Offset, ok)
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
	if n := markers(c.node(1).log); n != 1 {
		t.Fatalf("leader has %d markers while node 3 is away, want 1", n)
	}
	c.setDown(3, false)
	c.node(3).start()
	check(3)
	// More churn: the next pass passes the dirty ratio again, and now
	// every replica is past the marker.
	for i := 0; i < 200; i++ {
		o := plog.CommittedOffset{Group: groups[0], Topic: "orders", Partition: 8, Offset: int64(i), LeaderEpoch: -1}
		if _, _, err := leader.log.AppendInternal(context.Background(), name, 0, coordlog.OffsetBatch([]plog.CommittedOffset{o}, nil, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the leader drops the marker once node 3 is past it", func() string {
		if n := markers(c.node(1).log); n != 0 {
			return fmt.Sprintf("%d markers", n)
		}
		return ""
	})
	for id := int32(2); id <= 3; id++ { // followers keep markers
		if n := markers(c.node(id).log); n != 1 {
			t.Fatalf("node %d has %d markers, want 1", id, n)
		}
	}
}

// batchesOf counts the stored batches of partition 0 and the control ones.
func batchesOf(l *plog.Log, topic string) (n, control int) {
	for off := int64(0); ; {
		rr, err := l.ReadReplica(topic, 0, off, 1<<20)
		if err != nil || len(rr.Batches) == 0 {
			return n, control
		}
		for _, b := range rr.Batches {
			if h, err := batch.ReadHeader(b.Raw); err == nil && h.IsControl() {
				control++
			}
		}
		n += len(rr.Batches)
		off = rr.Batches[len(rr.Batches)-1].LastOffset + 1
	}
}
