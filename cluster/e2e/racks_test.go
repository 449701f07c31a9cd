package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterRacksAndRefusals: three nodes in racks a, b and c.
//   - KIP-392: a consumer Fetch sent to a partition's leader with the rack
//     of a follower is told to read from that follower; one with the
//     leader's rack, or none, is not; a kgo consumer with client.rack reads
//     every record.
//   - Hostile CreateTopics: a replication factor above the live nodes, or
//     0, is refused with INVALID_REPLICATION_FACTOR and creates nothing;
//     the cluster stays up.
func TestClusterRacksAndRefusals(t *testing.T) {
	racks := []string{"a", "b", "c"}
	c := clustertest.Start(t, clustertest.Options{Racks: racks})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	const topic = "racks"
	if r, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	pi := c.WaitISR(t, topic, 0, 3)
	const n = 300
	pcl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "r%d", i)}
	}
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	topicID := md.Topics[topic].ID
	rackOf := func(id int32) string { return racks[id-1] }
	var follower int32 = -1
	for _, r := range pi.Replicas {
		if r != pi.Leader {
			follower = r
			break
		}
	}
	for _, tc := range []struct {
		rack string
		want int32
	}{{rackOf(follower), follower}, {rackOf(pi.Leader), -1}, {"", -1}} {
		// Every replica's high watermark reaches the end first: a follower
		// behind is not preferred.
		var got int32
		deadline := time.Now().Add(10 * time.Second)
		for {
			got = preferredReplica(ctx, t, c.Client(t), pi.Leader, topic, topicID, tc.rack)
			if got == tc.want || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got != tc.want {
			t.Errorf("Fetch to leader %d with rack %q: preferred read replica %d, want %d", pi.Leader, tc.rack, got, tc.want)
		}
	}

	// A consumer in the follower's rack reads every record.
	ccl := c.Client(t, kgo.Rack(rackOf(follower)), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	seen := 0
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	for seen < n {
		fs := ccl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("consumer in rack %s: %d of %d records in 20 s", rackOf(follower), seen, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("r%d", r.Offset); string(r.Value) != want {
				t.Fatalf("consumer in rack %s: offset %d holds %q, want %q", rackOf(follower), r.Offset, r.Value, want)
			}
			seen++
		})
	}

	// The follower served them: its zombi_records_out_total counts them.
	if got := recordsOut(t, c.Node(follower).HTTPBase, topic); got < n {
		t.Errorf("follower %d (rack %s) served %v records of %s, want at least %d: the consumer did not read from its rack", follower, rackOf(follower), got, topic, n)
	}

	// Refused replication factors.
	for _, rf := range []int16{4, 0} {
		name := fmt.Sprintf("bad-rf-%d", rf)
		r, err := adm.CreateTopic(ctx, 1, rf, nil, name)
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, kerr.InvalidReplicationFactor) {
			t.Errorf("CreateTopics RF %d on 3 nodes: %v, want INVALID_REPLICATION_FACTOR", rf, err)
		}
		if _, ok := c.Partition(name, 0); ok {
			t.Errorf("CreateTopics RF %d was refused but %s exists", rf, name)
		}
	}
	for _, id := range c.IDs() {
		if !c.Ready(id) {
			t.Errorf("node %d not ready after the refusals", id)
		}
	}
}

// preferredReplica sends a consumer Fetch (v11, with rack) of partition 0
// to node id and returns the preferred read replica it answers.
func preferredReplica(ctx context.Context, t *testing.T, cl *kgo.Client, id int32, topic string, topicID [16]byte, rack string) int32 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.Rack = -1, 0, 1, 1<<20, rack
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 0, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, cl.Broker(int(id)))
	if err != nil {
		t.Fatalf("fetch from node %d with rack %q: %v", id, rack, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch from node %d: %d topics in the response", id, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("fetch from node %d with rack %q: %v", id, rack, err)
	}
	return p.PreferredReadReplica
}

// recordsOut is zombi_records_out_total{topic} on a node's /metrics.
func recordsOut(t *testing.T, httpBase, topic string) float64 {
	t.Helper()
	resp, err := http.Get(httpBase + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("zombi_records_out_total{topic=%q} ", topic)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
