package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/clustertest"
	"github.com/zombi-dev/zombi/log/batch"
)

// TestClusterEpochErrors: after a leader change (epoch 0 -> 1) the nodes
// answer with the errors clients need to refresh and retry (KIP-320):
// a Fetch with the old epoch gets FENCED_LEADER_EPOCH, one with a future
// epoch UNKNOWN_LEADER_EPOCH; a Produce sent to a follower gets
// NOT_LEADER_OR_FOLLOWER; and a consumer's OffsetForLeaderEpoch for epoch
// 0 answers where epoch 0 ended (the first offset of epoch 1).
func TestClusterEpochErrors(t *testing.T) {
	const topic = "epochs"
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	if r, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	old := c.WaitISR(t, topic, 0, 3)
	pcl := c.Client(t, kgo.DefaultProduceTopic(topic))
	produce := func(n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "e%d", i)})
		}
		if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(40)
	c.Kill(old.Leader)
	cur := c.WaitPartition(t, topic, 0, 20*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
		return pi.Leader >= 0 && pi.Leader != old.Leader
	})
	produce(10)
	c.Restart(old.Leader)
	cur = c.WaitISR(t, topic, 0, 3)
	if cur.LeaderEpoch <= old.LeaderEpoch {
		t.Fatalf("epoch %d after the leader change, want above %d", cur.LeaderEpoch, old.LeaderEpoch)
	}
	cl := c.Client(t)
	ids := topicIDs(ctx, t, c.Admin(t))

	fetch := func(node, epoch int32) error {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, ids[topic]
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 0, 1<<20, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err != nil {
			t.Fatalf("fetch from node %d: %v", node, err)
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	for _, tc := range []struct {
		epoch int32
		want  error
	}{{cur.LeaderEpoch, nil}, {-1, nil}, {old.LeaderEpoch, kerr.FencedLeaderEpoch}, {cur.LeaderEpoch + 5, kerr.UnknownLeaderEpoch}} {
		if err := fetch(cur.Leader, tc.epoch); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Errorf("Fetch from leader %d with epoch %d (current %d): %v, want %v", cur.Leader, tc.epoch, cur.LeaderEpoch, err, tc.want)
		}
	}

	// Produce to a follower.
	var follower int32 = -1
	for _, r := range cur.Replicas {
		if r != cur.Leader {
			follower = r
			break
		}
	}
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic, pt.TopicID = topic, ids[topic]
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition = 0
	pp.Records = oneBatch(t)
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp, err := preq.RequestWith(ctx, cl.Broker(int(follower)))
	if err != nil {
		t.Fatalf("produce to follower %d: %v", follower, err)
	}
	if err := kerr.ErrorForCode(presp.Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("Produce to follower %d: %v, want NOT_LEADER_OR_FOLLOWER", follower, err)
	}

	// Where epoch 0 ended, asked by a consumer (KIP-320).
	oreq := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oreq.ReplicaID = -1
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = topic
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.Partition, op.CurrentLeaderEpoch, op.LeaderEpoch = 0, cur.LeaderEpoch, old.LeaderEpoch
	ot.Partitions = append(ot.Partitions, op)
	oreq.Topics = append(oreq.Topics, ot)
	oresp, err := oreq.RequestWith(ctx, cl.Broker(int(cur.Leader)))
	if err != nil {
		t.Fatalf("OffsetForLeaderEpoch: %v", err)
	}
	or := oresp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(or.ErrorCode); err != nil || or.LeaderEpoch != old.LeaderEpoch || or.EndOffset != 40 {
		t.Errorf("OffsetForLeaderEpoch(epoch %d) on leader %d: epoch %d end %d err %v, want epoch %d ending at 40 (where the new leader's first record went)",
			old.LeaderEpoch, cur.Leader, or.LeaderEpoch, or.EndOffset, err, old.LeaderEpoch)
	}
}

// oneBatch is a valid record batch of one record.
func oneBatch(t *testing.T) []byte {
	t.Helper()
	b := batch.NewBuilder()
	b.Add(batch.NowMs(), nil, []byte("to a follower"), nil)
	return bytes.Clone(b.Bytes())
}
