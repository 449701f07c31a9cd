package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterTopicLifecycle: on three nodes, a topic with RF 3 and
// records is deleted (gone from every node's Metadata) and created again
// under the same name: the new topic has a new id and holds only its own
// records, on every replica byte for byte (no follower keeps the old
// data). CreatePartitions then adds partitions that get RF 3, leaders and
// whole ISRs, and take writes.
func TestClusterTopicLifecycle(t *testing.T) {
	const topic = "lifecycle"
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := c.Admin(t)
	produce := func(tag string, parts int32, n int) {
		t.Helper()
		cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for p := range parts {
			for i := range n {
				recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", tag, p, i)})
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", tag, err)
		}
		cl.Close()
	}

	if r, err := adm.CreateTopic(ctx, 2, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	for p := range int32(2) {
		c.WaitISR(t, topic, p, 3)
	}
	produce("old", 2, 100)
	firstID := topicIDs(ctx, t, adm)[topic]

	if r, err := adm.DeleteTopic(ctx, topic); err != nil || r.Err != nil {
		t.Fatalf("delete: %v %v", err, r.Err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		gone := true
		for _, id := range c.IDs() {
			if hasTopic(ctx, t, c, id, topic) {
				gone = false
			}
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still listed 20 s after DeleteTopics", topic)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if r, err := adm.CreateTopic(ctx, 2, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create again: %v %v", err, r.Err)
	}
	for p := range int32(2) {
		c.WaitISR(t, topic, p, 3)
	}
	// A fresh client: kgo answers Metadata from its cache for a while.
	if id := topicIDs(ctx, t, c.Admin(t))[topic]; id == firstID {
		t.Errorf("the topic created again has the old id %x; each node says:\n%v", id, metadataViews(ctx, t, c, topic))
	}
	produce("new", 2, 30)
	checkReplicasSame(ctx, t, c, topic, 2, 30)
	want := map[string]string{}
	for p := range 2 {
		for i := range 30 {
			want[fmt.Sprintf("%s/%d/%d", topic, p, i)] = fmt.Sprintf("new-%d-%d", p, i)
		}
	}
	checkRecords(ctx, t, c.Seeds(), map[string]int32{topic: 2}, want)

	// More partitions: RF 3, led, in sync, writable.
	if r, err := adm.CreatePartitions(ctx, 4, topic); err != nil || r[topic].Err != nil {
		t.Fatalf("CreatePartitions to 4: %v %v", err, r[topic].Err)
	}
	for p := range int32(4) {
		pi := c.WaitISR(t, topic, p, 3)
		if len(pi.Replicas) != 3 {
			t.Errorf("%s/%d replicas %v, want 3", topic, p, pi.Replicas)
		}
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(2); p < 4; p++ {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("added")}).First()
		if err != nil || r.Offset != 0 {
			t.Errorf("produce to added partition %d: offset %v err %v, want offset 0", p, r, err)
		}
	}
}

// hasTopic reports whether node id's own Metadata lists topic.
func hasTopic(ctx context.Context, t *testing.T, c *clustertest.Cluster, id int32, topic string) bool {
	t.Helper()
	v := metadataViews(ctx, t, c, topic)[id]
	return strings.Contains(v, "\n"+topic+" id ") && strings.Contains(v, " err 0\n")
}

// checkReplicasSame waits until every replica of each partition serves the
// same batches up to the same high watermark (at least min records).
func checkReplicasSame(ctx context.Context, t *testing.T, c *clustertest.Cluster, topic string, parts int32, minRecords int64) {
	t.Helper()
	cl := c.Client(t)
	ids := topicIDs(ctx, t, c.Admin(t))
	for p := range parts {
		pi := c.WaitISR(t, topic, p, 3)
		var logs map[int32]replicaLog
		deadline := time.Now().Add(15 * time.Second)
		for {
			logs = map[int32]replicaLog{}
			for _, r := range pi.Replicas {
				logs[r] = readReplica(ctx, t, cl, r, topic, ids[topic], p)
			}
			if sameHWM(logs) && logs[pi.Leader].hwm >= minRecords || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		lead := logs[pi.Leader]
		for _, r := range pi.Replicas {
			if logs[r].hwm != lead.hwm {
				t.Errorf("%s/%d: replica %d high watermark %d, leader's %d", topic, p, r, logs[r].hwm, lead.hwm)
			} else if err := sameBatches(lead.batches, logs[r].batches); err != nil {
				t.Errorf("%s/%d: replica %d differs from leader %d: %v", topic, p, r, pi.Leader, err)
			}
		}
	}
}
