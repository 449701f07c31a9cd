package e2e_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/clustertest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestClusterSingleNodeUpgrade (issue 19 point 7): a single node without
// etcd, with two topics, records and a group's committed offsets, is
// stopped and restarted with ZOMBI_ETCD_ENDPOINTS on an empty cluster
// prefix: it is node 1 of a cluster with every topic (same topic ids,
// replication factor 1, led by node 1) and every record at its offset. A
// second node joins; a new topic gets RF 2 (min(3, live nodes)). The group's
// committed offsets are only logged: coordinators on internal partitions
// are the next session's work.
func TestClusterSingleNodeUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	data := filepath.Join(t.TempDir(), "single", "data")
	topics := map[string]int32{"up-a": 3, "up-b": 1}
	const perPartition = 200

	// The single node, alone.
	single := zombitest.StartT(t, data)
	cl, err := kgo.NewClient(kgo.SeedBrokers(single.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	written := map[string]string{} // topic/partition/offset -> value
	for topic, parts := range topics {
		if r, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
		var recs []*kgo.Record
		for p := range parts {
			for i := range perPartition {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", topic, p, i)})
			}
		}
		pcl, err := kgo.NewClient(kgo.SeedBrokers(single.KafkaAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		pcl.Close()
		for _, r := range recs {
			written[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] = string(r.Value)
		}
	}
	ids := topicIDs(ctx, t, adm)
	const group = "up-group"
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "up-a", Partition: 0, At: 120, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "up-b", Partition: 0, At: 50, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, group, offs); err != nil || r.Error() != nil {
		t.Fatalf("commit offsets: %v %v", err, r.Error())
	}
	cl.Close()
	if err := single.Stop(); err != nil {
		t.Fatalf("stop the single node: %v", err)
	}

	// The same data directory, now node 1 of a cluster on an empty prefix.
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DataDirs: map[int32]string{1: data}})
	cadm := c.Admin(t)
	after := topicIDs(ctx, t, cadm)
	for topic, parts := range topics {
		if after[topic] != ids[topic] {
			t.Errorf("%s: topic id %x in the cluster, %x before", topic, after[topic], ids[topic])
		}
		for p := range parts {
			pi := c.WaitISR(t, topic, p, 1)
			if pi.Leader != 1 || len(pi.Replicas) != 1 {
				t.Errorf("%s/%d: leader %d replicas %v, want node 1 alone", topic, p, pi.Leader, pi.Replicas)
			}
		}
	}
	checkRecords(ctx, t, c.Seeds(), topics, written)
	fetched, err := cadm.FetchOffsets(ctx, group)
	if err != nil {
		t.Logf("group %s after the upgrade: FetchOffsets: %v (coordinators are the next session's work)", group, err)
	} else {
		for _, o := range []struct {
			topic string
			want  int64
		}{{"up-a", 120}, {"up-b", 50}} {
			got, ok := fetched.Lookup(o.topic, 0)
			t.Logf("group %s after the upgrade: %s/0 committed %+v (found %v), was %d (coordinators are the next session's work)", group, o.topic, got.At, ok, o.want)
		}
	}

	// A second node joins; a new topic gets RF 2.
	c.AddNode(2)
	cadm = c.Admin(t)
	c.WaitPartition(t, "up-a", 0, 10*time.Second, "readable", func(clustertest.PartitionInfo) bool { return true })
	if r, err := cadm.CreateTopic(ctx, 2, -1, nil, "up-new"); err != nil || r.Err != nil {
		t.Fatalf("create up-new with the default replication factor: %v %v", err, r.Err)
	}
	for p := range int32(2) {
		pi := c.WaitISR(t, "up-new", p, 2)
		if len(pi.Replicas) != 2 {
			t.Errorf("up-new/%d replicas %v, want RF 2 (min(3, live nodes))", p, pi.Replicas)
		}
	}
	// The adopted topics keep RF 1 and read the same through either node.
	for _, seed := range c.Seeds() {
		checkRecords(ctx, t, []string{seed}, topics, written)
	}
	// Where the group's offsets are asked from each node (logged only).
	for _, id := range c.IDs() {
		ncl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(id).KafkaAddr))
		if err != nil {
			t.Fatal(err)
		}
		f, err := kadm.NewClient(ncl).FetchOffsets(ctx, group)
		var at any = err
		if err == nil {
			o, ok := f.Lookup("up-a", 0)
			at = fmt.Sprintf("up-a/0 at %d (found %v)", o.At, ok)
		}
		t.Logf("group %s with two nodes, through node %d: %v", group, id, at)
		ncl.Close()
	}
}

func topicIDs(ctx context.Context, t *testing.T, adm *kadm.Client) map[string][16]byte {
	t.Helper()
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	ids := map[string][16]byte{}
	for name, td := range md.Topics {
		ids[name] = td.ID
	}
	return ids
}

// checkRecords reads every partition of topics from the start and checks
// that each written record is at its offset, and nothing else is there.
func checkRecords(ctx context.Context, t *testing.T, seeds []string, topics map[string]int32, written map[string]string) {
	t.Helper()
	var names []string
	for n := range topics {
		names = append(names, n)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(names...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got := map[string]string{}
	for len(got) < len(written) {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("seeds %v: read %d of %d records within 30 s", seeds, len(got), len(written))
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] = string(r.Value)
		})
	}
	for k, v := range written {
		if got[k] != v {
			t.Fatalf("seeds %v: %s holds %q, want %q", seeds, k, got[k], v)
		}
	}
	if len(got) != len(written) {
		t.Fatalf("seeds %v: %d records read, %d written", seeds, len(got), len(written))
	}
}
