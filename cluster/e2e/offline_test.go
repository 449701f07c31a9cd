package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterOfflineNoUnclean: RF 3, min.insync.replicas=1, unclean
// leader election off (the default). Followers are killed one by one while
// writes go on, so the ISR ends as the leader alone; then the leader dies
// too: the partition is offline (leader -1). The first follower killed
// comes back: it is out of sync, so the partition stays offline and a
// write fails. The last leader comes back: it leads again, every
// acknowledged record is there, and the others catch up into the ISR.
func TestClusterOfflineNoUnclean(t *testing.T) {
	const topic = "offline"
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	one := "1"
	adm := c.Admin(t)
	if r, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &one}, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	pi := c.WaitISR(t, topic, 0, 3)
	leader := pi.Leader
	var followers []int32
	for _, r := range pi.Replicas {
		if r != leader {
			followers = append(followers, r)
		}
	}
	want := map[string]string{}
	seq := 0
	produce := func(n int) {
		t.Helper()
		cl := c.Client(t, kgo.DefaultProduceTopic(topic))
		var recs []*kgo.Record
		for range n {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "o-%d", seq)})
			seq++
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		cl.Close()
		for _, r := range recs {
			want[fmt.Sprintf("%s/%d/%d", topic, r.Partition, r.Offset)] = string(r.Value)
		}
	}
	produce(100)
	c.Kill(followers[0])
	c.WaitISR(t, topic, 0, 2)
	produce(100)
	c.Kill(followers[1])
	c.WaitISR(t, topic, 0, 1)
	produce(100) // acknowledged by the leader alone (min.insync.replicas=1)
	c.Kill(leader)
	time.Sleep(3 * time.Second) // the last leader's registration expires

	// The first follower back: out of sync, no unclean election.
	c.Restart(followers[0])
	time.Sleep(2 * time.Second)
	off := c.WaitPartition(t, topic, 0, 10*time.Second, "listed", func(clustertest.PartitionInfo) bool { return true })
	t.Logf("with node %d back: leader %d ISR %v epoch %d offline %v", followers[0], off.Leader, off.ISR, off.LeaderEpoch, off.Offline)
	if off.Leader >= 0 {
		t.Errorf("with only out-of-sync node %d back: leader %d, want the partition offline (unclean election is off)", followers[0], off.Leader)
	}
	if len(off.ISR) != 1 || off.ISR[0] != leader {
		t.Errorf("offline partition's ISR %v, want the last leader [%d] kept (as Kafka keeps the last ISR member)", off.ISR, leader)
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(2*time.Second))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("refused")}).FirstErr(); err == nil {
		t.Errorf("a write to the offline partition was acknowledged")
	}

	// The last leader back: it leads, nothing lost, the others catch up.
	c.Restart(leader)
	back := c.WaitPartition(t, topic, 0, 20*time.Second, "led by the last ISR member", func(pi clustertest.PartitionInfo) bool { return pi.Leader == leader })
	t.Logf("back: leader %d ISR %v epoch %d", back.Leader, back.ISR, back.LeaderEpoch)
	c.Restart(followers[1])
	c.WaitISR(t, topic, 0, 3)
	checkRecords(ctx, t, c.Seeds(), map[string]int32{topic: 1}, want)
	checkReplicasSame(ctx, t, c, topic, 1, int64(seq))
}

// TestClusterUncleanElection: the same with unclean.leader.election.enable
// =true: the out-of-sync replica that comes back first leads (what only
// the dead leader held is lost, as Kafka's unclean election loses it) and
// takes writes; the old leader returns as a follower, truncates its
// divergent tail, and every replica ends with the same batches.
func TestClusterUncleanElection(t *testing.T) {
	const topic = "unclean"
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	one, yes := "1", "true"
	adm := c.Admin(t)
	if r, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &one, "unclean.leader.election.enable": &yes}, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	pi := c.WaitISR(t, topic, 0, 3)
	leader := pi.Leader
	var followers []int32
	for _, r := range pi.Replicas {
		if r != leader {
			followers = append(followers, r)
		}
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	produce := func(tag string, n int) int64 {
		t.Helper()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", tag, i)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", tag, err)
		}
		return recs[n-1].Offset
	}
	produce("all", 100)
	c.Kill(followers[0])
	c.WaitISR(t, topic, 0, 2)
	kept := produce("two", 50) // on the leader and followers[1]
	c.Kill(followers[1])
	c.WaitISR(t, topic, 0, 1)
	produce("alone", 50) // on the leader only: lost to the unclean election
	c.Kill(leader)
	time.Sleep(3 * time.Second)

	c.Restart(followers[0]) // holds "all" only
	pi = c.WaitPartition(t, topic, 0, 20*time.Second, "led by the returning out-of-sync node", func(pi clustertest.PartitionInfo) bool { return pi.Leader == followers[0] })
	t.Logf("unclean leader %d epoch %d ISR %v (the last acknowledged offset it lacks: %d)", pi.Leader, pi.LeaderEpoch, pi.ISR, kept)
	produce("after", 20)
	c.Restart(leader)
	c.Restart(followers[1])
	c.WaitISR(t, topic, 0, 3)
	checkReplicasSame(ctx, t, c, topic, 1, 120)
}
