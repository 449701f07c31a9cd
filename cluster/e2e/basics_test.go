package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterBasics: three real nodes on one etcd look like one Kafka
// cluster: Metadata lists the three brokers and a controller; a topic
// created with RF 3 spreads its six leaders over the three nodes; 10 000
// records produced idempotently with acks=all read back in order from any
// seed; DescribeCluster agrees; a topic auto-created by a produce gets
// RF min(3, nodes).
func TestClusterBasics(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := c.Admin(t)

	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("Metadata lists %d brokers %v, want 3", len(md.Brokers), md.Brokers)
	}
	if md.Controller < 1 || md.Controller > 3 {
		t.Fatalf("Metadata controller %d, want one of 1..3", md.Controller)
	}

	const topic = "basics"
	resp, err := adm.CreateTopic(ctx, 6, 3, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic RF 3: %v %v", err, resp.Err)
	}
	leaders := map[int32]int{}
	for p := int32(0); p < 6; p++ {
		pi := c.WaitISR(t, topic, p, 3)
		if len(pi.Replicas) != 3 {
			t.Fatalf("%s/%d replicas %v, want 3", topic, p, pi.Replicas)
		}
		leaders[pi.Leader]++
	}
	for id := int32(1); id <= 3; id++ {
		if leaders[id] != 2 {
			t.Errorf("node %d leads %d of 6 partitions (%v), want 2: leaders not spread", id, leaders[id], leaders)
		}
	}

	// 10 000 records, idempotent acks=all (kgo's defaults).
	const n = 10000
	pcl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	start := time.Now()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
	}
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records acks=all: %v", n, err)
	}
	t.Logf("produced %d records acks=all RF 3 in %s", n, time.Since(start).Round(time.Millisecond))
	acked := map[string]int64{}
	for _, r := range recs {
		acked[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]++
	}
	if len(acked) != n {
		t.Fatalf("%d distinct acknowledged positions for %d records", len(acked), n)
	}

	// Read everything back from each seed alone.
	for _, seed := range c.Seeds() {
		got := consumeAll(ctx, t, seed, topic, n)
		for i, r := range recs {
			k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
			if v, ok := got[k]; !ok || v != string(r.Value) {
				t.Fatalf("seed %s: record %d acked at %s reads %q (present %v), want %q", seed, i, k, v, ok, r.Value)
			}
		}
	}

	dreq := kmsg.NewPtrDescribeClusterRequest()
	dc, err := dreq.RequestWith(ctx, c.Client(t))
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	if dc.ErrorCode != 0 || len(dc.Brokers) != 3 || dc.ControllerID != md.Controller {
		t.Errorf("DescribeCluster: error %d, brokers %+v, controller %d; want 3 brokers and controller %d", dc.ErrorCode, dc.Brokers, dc.ControllerID, md.Controller)
	}

	// Auto-created on produce: RF min(3, nodes) = 3.
	const auto = "basics-auto"
	acl := c.Client(t, kgo.DefaultProduceTopic(auto), kgo.AllowAutoTopicCreation())
	if err := acl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to an auto-created topic: %v", err)
	}
	tds, err := adm.ListTopics(ctx, auto)
	if err != nil {
		t.Fatal(err)
	}
	td := tds[auto]
	if td.Err != nil || len(td.Partitions) == 0 {
		t.Fatalf("auto-created topic: %+v", td)
	}
	for _, p := range td.Partitions.Sorted() {
		if len(p.Replicas) != 3 {
			t.Errorf("auto-created %s/%d replicas %v, want RF 3", auto, p.Partition, p.Replicas)
		}
	}
}

// consumeAll reads topic from its start through one seed until it has n
// records, and returns partition/offset -> value.
func consumeAll(ctx context.Context, t *testing.T, seed, topic string, n int) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got := map[string]string{}
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("seed %s: read %d of %d records within 30 s", seed, len(got), n)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("seed %s: fetch %s/%d: %v", seed, tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
			if _, dup := got[k]; dup {
				t.Errorf("seed %s: %s read twice", seed, k)
			}
			got[k] = string(r.Value)
		})
	}
	return got
}
