package e2e_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/internal/clustertest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestClusterSingleNodeUpgrade (issue 19 point 7): a single node without
// etcd, with two topics, records and a group's committed offsets, is
// stopped and restarted with ZOMBI_ETCD_ENDPOINTS on an empty cluster
// prefix: it is node 1 of a cluster with every topic (same topic ids,
// replication factor 1, led by node 1) and every record at its offset. A
// second node joins; a new topic gets RF 2 (min(3, live nodes)). Its
// coordinators' state comes along: a group's offsets committed over Kafka
// and another's over REST are read through every node, the internal topics
// grow to RF 3 when a third node joins, and a transaction left open on the
// single node is aborted by its new coordinator (a committed one stays).
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
	// A group committed over REST, a completed and an open transaction.
	restUntil(ctx, t, "POST", single.HTTPBase+"/consumers/"+restGroup+"/commit", `{"topic":"up-b","partition":0,"offset":33}`, 200, `"offset":33`)
	open := singleTxns(ctx, t, adm, single.KafkaAddr)
	cl.Close()
	if err := single.Stop(); err != nil {
		t.Fatalf("stop the single node: %v", err)
	}
	open.Close() // after the stop: it can end nothing

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
	checkUpgradedOffsets(ctx, t, c, group)

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
	// A third node: the internal topics grow to RF 3 (the controller's
	// raise), and every node finds the coordinators and reads the same.
	c.AddNode(3)
	for _, tp := range []struct {
		topic string
		key   string
	}{{coordlog.OffsetsTopic, group}, {coordlog.OffsetsTopic, restGroup}, {coordlog.TxnTopic, "up-txn-open"}, {coordlog.TxnTopic, "up-txn-done"}} {
		c.WaitPartition(t, tp.topic, coordlog.Partition(tp.key), 60*time.Second, "3 replicas in sync", func(pi clustertest.PartitionInfo) bool {
			return len(pi.Replicas) == 3 && len(pi.ISR) == 3
		})
	}
	checkUpgradedOffsets(ctx, t, c, group)
	checkOpenTxnAborted(ctx, t, c)
}

// restGroup is the group the single node had commits for over REST.
const restGroup = "up-rest-group"

// singleTxns runs, on the single node, a committed transaction of three
// records and an open one of two (left open: its client is returned) on
// the topic up-txn.
func singleTxns(ctx context.Context, t *testing.T, adm *kadm.Client, addr string) *kgo.Client {
	t.Helper()
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "up-txn"); err != nil || r.Err != nil {
		t.Fatalf("create up-txn: %v %v", err, r.Err)
	}
	txn := func(id string, n int, commit bool) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic("up-txn"),
			kgo.TransactionTimeout(60*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("%s: begin: %v", id, err)
		}
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", id, i)}).FirstErr(); err != nil {
				t.Fatalf("%s: produce: %v", id, err)
			}
		}
		if commit {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatalf("%s: commit: %v", id, err)
			}
			cl.Close()
			return nil
		}
		return cl
	}
	txn("up-txn-done", 3, true)
	return txn("up-txn-open", 2, false)
}

// checkUpgradedOffsets: through every node (FindCoordinator, then
// OffsetFetch on the coordinator it names) the group's offsets are those
// committed on the single node, and the REST-committed group's too, over
// Kafka and over REST.
func checkUpgradedOffsets(ctx context.Context, t *testing.T, c *clustertest.Cluster, group string) {
	t.Helper()
	want := []struct {
		group, topic string
		at           int64
	}{{group, "up-a", 120}, {group, "up-b", 50}, {restGroup, "up-b", 33}}
	for _, id := range c.IDs() {
		ncl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(id).KafkaAddr))
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(ncl)
		for _, w := range want {
			var last string
			for {
				f, err := adm.FetchOffsets(ctx, w.group)
				if err == nil {
					o, ok := f.Lookup(w.topic, 0)
					if ok && o.Err == nil && o.At == w.at {
						break
					}
					last = fmt.Sprintf("%+v (found %v)", o, ok)
				} else {
					last = err.Error()
				}
				if ctx.Err() != nil {
					t.Fatalf("through node %d: group %s %s/0: %s, want offset %d", id, w.group, w.topic, last, w.at)
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
		ncl.Close()
		restUntil(ctx, t, "GET", c.Node(id).HTTPBase+"/consumers/"+restGroup+"/offset?topic=up-b&partition=0", "", 200, `"offset":33`)
	}
}

// checkOpenTxnAborted: the single node's open transaction was aborted by
// its new coordinator: the last stable offset of up-txn reaches its end
// (an abort marker after the open records) and read_committed sees the
// committed transaction's three records only.
func checkOpenTxnAborted(ctx context.Context, t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	adm := c.Admin(t)
	var last string
	for {
		ends, err1 := adm.ListEndOffsets(ctx, "up-txn")
		stable, err2 := adm.ListCommittedOffsets(ctx, "up-txn")
		e, _ := ends.Lookup("up-txn", 0)
		s, _ := stable.Lookup("up-txn", 0)
		// 3 records, a commit marker, 2 records, an abort marker.
		if err1 == nil && err2 == nil && e.Err == nil && s.Err == nil && e.Offset == 7 && s.Offset == 7 {
			break
		}
		last = fmt.Sprintf("end %+v %v, stable %+v %v", e, err1, s, err2)
		if ctx.Err() != nil {
			t.Fatalf("up-txn: %s; want end and last stable offset 7 (the open transaction aborted)", last)
		}
		time.Sleep(300 * time.Millisecond)
	}
	cl := c.Client(t, kgo.ConsumeTopics("up-txn"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var got []string
	for rctx.Err() == nil {
		cl.PollFetches(rctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if fmt.Sprint(got) != "[up-txn-done-0 up-txn-done-1 up-txn-done-2]" {
		t.Fatalf("read_committed on up-txn: %v, want the committed transaction's 3 records only", got)
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
