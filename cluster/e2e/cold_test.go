package e2e_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/chaos"
	"github.com/zombi-dev/zombi/internal/clustertest"
	"github.com/zombi-dev/zombi/internal/s3test"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// The shared cold tier (issue 19 point 4): three nodes on one bucket
// (versitygw), flushing every second.

// TestClusterColdKillLeader: a partition is flushed by its leader, and
// every replica (followers too) drops its hot copy below the cold end; more
// records stay hot; the leader is killed with SIGKILL. Every record reads
// back, at its offset, from each surviving node alone (cold from S3, hot
// from its log), and from the victim once it is back.
func TestClusterColdKillLeader(t *testing.T) {
	const topic = "cold"
	c := clustertest.Start(t, clustertest.Options{S3: true})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	coldTopic(ctx, t, c, topic)
	cl := coldClient(t, c)
	produceValues(ctx, t, cl, topic, 0, 2000)
	waitColdEverywhere(t, c, topic, 2000)

	produceValues(ctx, t, cl, topic, 2000, 500) // a hot tail
	victim := c.Leader(t, topic, 0)
	c.Kill(victim)
	after := c.WaitPartition(t, topic, 0, 20*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
		return pi.Leader >= 0 && pi.Leader != victim
	})
	t.Logf("leader %d killed; node %d leads in epoch %d", victim, after.Leader, after.LeaderEpoch)
	produceValues(ctx, t, cl, topic, 2500, 200) // writes go on

	for _, n := range c.IDs() {
		if n != victim {
			checkNodeValues(ctx, t, c, n, topic, 2700)
		}
	}
	if o := nodeOffsets(t, c, after.Leader, topic); o.HotStart < 2000 {
		t.Errorf("new leader %d holds hot data from %d: as a follower it should have dropped it below the cold end 2000", after.Leader, o.HotStart)
	}
	c.Restart(victim)
	c.WaitISR(t, topic, 0, 3)
	checkNodeValues(ctx, t, c, victim, topic, 2700)
}

// TestClusterColdNewReplica: a partition with 2000 records flushed and 300
// hot (S3 stopped meanwhile, so that they stay unflushed) is reassigned to a
// fresh fourth node: the new replica starts at the cold end
// (OFFSET_MOVED_TO_TIERED_STORAGE, then the leader's earliest local offset)
// and copies only the hot tail, and once S3 is back serves every record (the
// cold ones from S3).
func TestClusterColdNewReplica(t *testing.T) {
	const topic = "cold-move"
	c := clustertest.Start(t, clustertest.Options{S3: true})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	coldTopic(ctx, t, c, topic)
	cl := coldClient(t, c)
	produceValues(ctx, t, cl, topic, 0, 2000)
	waitColdEverywhere(t, c, topic, 2000)
	c.AddNode(4)
	c.S3().Stop()
	produceValues(ctx, t, cl, topic, 2000, 300) // hot only while S3 is down

	pi, _ := c.Partition(topic, 0)
	target := []int32{pi.Leader}
	for _, r := range pi.Replicas {
		if r != pi.Leader && len(target) < 2 {
			target = append(target, r)
		}
	}
	target = append(target, 4)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, target)
	res, err := c.Admin(t).AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("reassign to %v: %v", target, err)
	}
	for _, r := range res[topic] {
		if r.Err != nil {
			t.Fatalf("reassign to %v: %v %s", target, r.Err, r.ErrMessage)
		}
	}
	c.WaitPartition(t, topic, 0, 30*time.Second, fmt.Sprintf("replicas %v, all in sync", target), func(pi clustertest.PartitionInfo) bool {
		return slices.Equal(slices.Sorted(slices.Values(pi.Replicas)), slices.Sorted(slices.Values(target))) && len(pi.ISR) == 3 && clustertest.Has(pi.ISR, 4)
	})
	// Its high watermark comes with its next fetch.
	deadline := time.Now().Add(10 * time.Second)
	o := nodeOffsets(t, c, 4, topic)
	for o.HighWatermark < 2300 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		o = nodeOffsets(t, c, 4, topic)
	}
	t.Logf("node 4: log start %d, hot start %d, high watermark %d, cold [%v, %v), %d bytes appended", o.LogStart, o.HotStart, o.HighWatermark, deref(o.ColdStart), deref(o.ColdEnd), o.Bytes)
	if o.HotStart != 2000 || o.HighWatermark != 2300 {
		t.Errorf("node 4 holds [%d, %d) itself, want the hot tail [2000, 2300) (the cold tier ends at 2000)", o.HotStart, o.HighWatermark)
	}
	if o.Bytes <= 0 || o.Bytes > 300*200 {
		t.Errorf("node 4 appended %d bytes, want those of the 300 hot records only", o.Bytes)
	}
	c.S3().Restart()
	produceValues(ctx, t, cl, topic, 2300, 200) // node 4 copies these from the leader
	checkNodeValues(ctx, t, c, 4, topic, 2500)
}

// TestClusterColdS3Down: S3 stops for 10 s under the chaos workload (RF 3,
// min.insync.replicas=2, idempotent acks=all producers, a group): writes
// go on as on one node (the hot tier takes them), flushes resume when S3 is
// back, and the checker finds nothing lost, duplicated or reused; the final
// pass reads every partition from offset 0, across both tiers.
func TestClusterColdS3Down(t *testing.T) {
	const (
		topic      = "cold-s3down"
		partitions = 3
	)
	c := clustertest.Start(t, clustertest.Options{S3: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, partitions, workloadOptions{NoLibrdkfa: true})
	time.Sleep(3 * time.Second)
	healed := w.l.StartFault("S3 down 10 s", 0, 1, 2)
	c.S3().Stop()
	from := w.l.Acked()
	w.ackedOnAll(from, partitions, 8*time.Second, "acks on every partition while S3 is down")
	time.Sleep(10 * time.Second)
	c.S3().Restart()
	back := time.Now()
	healed()
	// Flushes resume: every partition's cold end passes what was written
	// while S3 was down.
	ends := map[int32]int64{}
	for p := range int32(partitions) {
		leader := c.Leader(t, topic, p)
		ends[p] = nodeOffsetsP(t, c, leader, topic, p).HighWatermark
	}
	// The tier retries with backoff (up to 30 s between attempts).
	deadline := time.Now().Add(75 * time.Second)
	for p := range int32(partitions) {
		for {
			leader := c.Leader(t, topic, p)
			if ce := nodeOffsetsP(t, c, leader, topic, p).ColdEnd; ce != nil && *ce >= ends[p] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d not flushed past %d within 75 s of S3's return", p, ends[p])
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("every partition flushed past its end at S3's return %s after it", time.Since(back).Round(time.Millisecond))
	w.ackedOnAll(w.l.Acked(), partitions, 20*time.Second, "acks on every partition after S3 is back")
	r := w.finish()
	if r.Acked < 1000 {
		t.Errorf("acked %d, want at least 1000", r.Acked)
	}
}

// coldTopic creates a one-partition topic, RF 3, min.insync.replicas=2.
func coldTopic(ctx context.Context, t *testing.T, c *clustertest.Cluster, topic string) {
	t.Helper()
	two := "2"
	if err := chaos.EnsureTopic(ctx, c.Seeds(), topic, 1, 3, map[string]*string{"min.insync.replicas": &two}); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	c.WaitISR(t, topic, 0, 3)
}

// coldClient produces uncompressed batches (read back raw) to partition 0.
func coldClient(t *testing.T, c *clustertest.Cluster) *kgo.Client {
	return c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
}

func coldValue(i int) string { return fmt.Sprintf("v%06d", i) }

// produceValues writes records from..from+n-1 (acks=all) in batches of 50
// and checks each lands at its offset.
func produceValues(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i += 50 {
		var rs []*kgo.Record
		for k := i; k < min(i+50, from+n); k++ {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(coldValue(k))})
		}
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		res := cl.ProduceSync(pctx, rs...)
		cancel()
		for k, r := range res {
			if r.Err != nil {
				t.Fatalf("produce record %d: %v", i+k, r.Err)
			}
			if r.Record.Offset != int64(i+k) {
				t.Fatalf("record %d acknowledged at offset %d", i+k, r.Record.Offset)
			}
		}
	}
}

// partitionOffsets is one node's own view of a partition (GET
// /tables/{t}/info, not forwarded to the leader).
type partitionOffsets struct {
	LogStart      int64  `json:"log_start"`
	HighWatermark int64  `json:"high_watermark"`
	HotStart      int64  `json:"hot_start"`
	ColdStart     *int64 `json:"cold_start"`
	ColdEnd       *int64 `json:"cold_end"`
	Bytes         int64  `json:"bytes"`
}

func nodeOffsets(t *testing.T, c *clustertest.Cluster, id int32, topic string) partitionOffsets {
	return nodeOffsetsP(t, c, id, topic, 0)
}

func nodeOffsetsP(t *testing.T, c *clustertest.Cluster, id int32, topic string, p int32) partitionOffsets {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.Node(id).HTTPBase+"/tables/"+topic+"/info", nil)
	req.Header.Set("X-Zombi-Forwarded-By", "test") // this node's own offsets
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("node %d: table info: %v", id, err)
	}
	defer resp.Body.Close()
	var info struct {
		Offsets []partitionOffsets `json:"partition_offsets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK || int(p) >= len(info.Offsets) {
		t.Fatalf("node %d: table info: status %d, %v", id, resp.StatusCode, err)
	}
	return info.Offsets[p]
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// waitColdEverywhere waits until the leader flushed partition 0 up to end
// and every node holds its hot copy only from there (followers drop what
// the leader flushed).
func waitColdEverywhere(t *testing.T, c *clustertest.Cluster, topic string, end int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range c.IDs() {
		for {
			o := nodeOffsets(t, c, id, topic)
			if o.ColdEnd != nil && *o.ColdEnd == end && o.HotStart == end && o.LogStart == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: cold [%v, %v), hot start %d, log start %d; want the cold tier to end at %d and the hot log to start there", id, deref(o.ColdStart), deref(o.ColdEnd), o.HotStart, o.LogStart, end)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// checkNodeValues reads partition 0 from node id alone (consumer fetches:
// a follower serves up to its high watermark, KIP-392), once it holds n
// records, and checks every record's value at its offset.
func checkNodeValues(ctx context.Context, t *testing.T, c *clustertest.Cluster, id int32, topic string, n int64) {
	t.Helper()
	cl := c.Client(t) // knows every node now (a node added since included)
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	topicID := md.Topics[topic].ID
	deadline := time.Now().Add(20 * time.Second)
	for nodeOffsets(t, c, id, topic).HighWatermark < n {
		if time.Now().After(deadline) {
			t.Fatalf("node %d: high watermark %d, want %d", id, nodeOffsets(t, c, id, topic).HighWatermark, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rl := readReplica(ctx, t, cl, id, topic, topicID, 0)
	next := int64(0)
	for _, b := range rl.batches {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b.bytes); err != nil {
			t.Fatalf("node %d: batch at %d: %v", id, b.base, err)
		}
		raw := rb.Records
		for i := range int(rb.NumRecords) {
			l, k := binary.Varint(raw)
			if k <= 0 || int(l) > len(raw)-k {
				t.Fatalf("node %d: batch at %d: record %d cut short", id, b.base, i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(raw[:k+int(l)]); err != nil {
				t.Fatalf("node %d: batch at %d: record %d: %v", id, b.base, i, err)
			}
			raw = raw[k+int(l):]
			off := rb.FirstOffset + int64(r.OffsetDelta)
			if off != next {
				t.Fatalf("node %d: offset %d where %d was expected", id, off, next)
			}
			if got, want := string(r.Value), coldValue(int(off)); got != want {
				t.Fatalf("node %d: offset %d holds %q, want %q", id, off, got, want)
			}
			next++
		}
	}
	if next != n {
		t.Fatalf("node %d: read %d records, want %d", id, next, n)
	}
}

// TestClusterColdUpgrade: a single node with a cold tier (1500 records
// flushed to S3, keys without a topic id) becomes node 1 of a cluster on
// the same bucket; the topic grows to RF 3 on two new nodes, which start at
// the cold end and copy only the hot tail; every record reads back from
// each node, the flushed ones from the single node's segments, and the
// partition's new leader-written segments go on after them.
func TestClusterColdUpgrade(t *testing.T) {
	const topic = "cold-up"
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s3 := s3test.Start(t)
	data := filepath.Join(t.TempDir(), "single", "data")
	single := zombitest.StartT(t, data, clustertest.S3Env(s3, clustertest.S3Bucket)...)
	scl, err := kgo.NewClient(kgo.SeedBrokers(single.KafkaAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := kadm.NewClient(scl).CreateTopic(ctx, 1, 1, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	produceValues(ctx, t, scl, topic, 0, 1500)
	scl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := singleOffsets(t, single.HTTPBase, topic)
		if o.ColdEnd != nil && *o.ColdEnd == 1500 && o.HotStart == 1500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the single node did not flush to 1500: %+v", o)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := single.Stop(); err != nil {
		t.Fatalf("stop the single node: %v", err)
	}

	c := clustertest.Start(t, clustertest.Options{Nodes: 1, S3Server: s3, DataDirs: map[int32]string{1: data}})
	c.AddNode(2)
	c.AddNode(3)
	cl := coldClient(t, c)
	produceValues(ctx, t, cl, topic, 1500, 100)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{1, 2, 3})
	res, err := c.Admin(t).AlterPartitionAssignments(ctx, req)
	if err != nil || res[topic][0].Err != nil {
		t.Fatalf("reassign to [1 2 3]: %v %v", err, res)
	}
	c.WaitISR(t, topic, 0, 3)
	produceValues(ctx, t, cl, topic, 1600, 100)
	for _, id := range []int32{2, 3} {
		if o := nodeOffsets(t, c, id, topic); o.HotStart < 1500 {
			t.Errorf("node %d holds hot data from %d: it copied what the single node flushed (cold end 1500)", id, o.HotStart)
		}
	}
	for _, id := range c.IDs() {
		checkNodeValues(ctx, t, c, id, topic, 1700)
	}
}

// singleOffsets is partition 0 of topic on a node alone.
func singleOffsets(t *testing.T, httpBase, topic string) partitionOffsets {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(httpBase + "/tables/" + topic + "/info")
	if err != nil {
		t.Fatalf("table info: %v", err)
	}
	defer resp.Body.Close()
	var info struct {
		Offsets []partitionOffsets `json:"partition_offsets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || len(info.Offsets) == 0 {
		t.Fatalf("table info: status %d, %v", resp.StatusCode, err)
	}
	return info.Offsets[0]
}
