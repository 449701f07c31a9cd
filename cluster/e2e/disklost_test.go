package e2e_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterFollowerDiskLost: a follower loses its data directory (killed,
// directory removed, started again with the same id): it copies every
// partition back from the leaders and rejoins their ISRs with the same
// batches byte for byte; then the leaders are killed one after the other so
// that the rebuilt node leads, and every record is still read at its
// offset.
func TestClusterFollowerDiskLost(t *testing.T) {
	const (
		topic = "disk-lost"
		parts = 2
		n     = 400
	)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := c.Admin(t)
	if r, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	leaders := map[int32]bool{}
	for p := range int32(parts) {
		leaders[c.WaitISR(t, topic, p, 3).Leader] = true
	}
	var victim int32 = -1
	for _, id := range c.IDs() {
		if !leaders[id] {
			victim = id
		}
	}
	if victim < 0 {
		t.Fatalf("every node leads a partition of %d: %v", parts, leaders)
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[string]string{}
	var recs []*kgo.Record
	for p := range int32(parts) {
		for i := range n {
			recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "d-%d-%d", p, i)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		want[fmt.Sprintf("%s/%d/%d", topic, r.Partition, r.Offset)] = string(r.Value)
	}

	c.Kill(victim)
	if err := os.RemoveAll(c.DataDir(victim)); err != nil {
		t.Fatal(err)
	}
	c.Restart(victim)
	checkReplicasSame(ctx, t, c, topic, parts, n)

	// The rebuilt node leads once the others are gone in turn.
	for id := range leaders {
		c.Kill(id)
		for p := range int32(parts) {
			c.WaitPartition(t, topic, p, 20*time.Second, fmt.Sprintf("led by a node other than %d", id), func(pi clustertest.PartitionInfo) bool {
				return pi.Leader >= 0 && pi.Leader != id
			})
		}
		checkRecords(ctx, t, c.Seeds(), map[string]int32{topic: parts}, want)
		c.Restart(id)
		for p := range int32(parts) {
			c.WaitISR(t, topic, p, 3)
		}
	}
	for p := range int32(parts) {
		pi := c.WaitISR(t, topic, p, 3)
		t.Logf("%s/%d at the end: leader %d epoch %d ISR %v", topic, p, pi.Leader, pi.LeaderEpoch, pi.ISR)
	}
	checkRecords(ctx, t, c.Seeds(), map[string]int32{topic: parts}, want)
}
