package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterMetadataAgrees: every node answers the same Metadata for the
// user topics: brokers, controller, and per partition leader, epoch,
// replicas and ISR (a client may ask any node).
func TestClusterMetadataAgrees(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	for _, tc := range []struct {
		name  string
		parts int32
		rf    int16
	}{{"agree-a", 6, 3}, {"agree-b", 3, 2}, {"agree-c", 2, 1}} {
		if r, err := adm.CreateTopic(ctx, tc.parts, tc.rf, nil, tc.name); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", tc.name, err, r.Err)
		}
		for p := range tc.parts {
			c.WaitISR(t, tc.name, p, int(tc.rf))
		}
	}
	views := metadataViews(ctx, t, c, "agree-a", "agree-b", "agree-c")
	for id, v := range views {
		if v != views[1] {
			t.Errorf("node %d's Metadata differs from node 1's:\n%s\nnode 1:\n%s", id, v, views[1])
		}
	}
}

// TestClusterInternalTopicsAgree: the same for __consumer_offsets and
// __transaction_state, real replicated topics once the first
// FindCoordinator of each kind has created them (RF 3, leaders spread);
// and FindCoordinator through any node names the same coordinator.
func TestClusterInternalTopicsAgree(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	internal := []string{"__consumer_offsets", "__transaction_state"}
	findCoordinatorOf(ctx, t, c, 0, "agree-group", -1)
	findCoordinatorOf(ctx, t, c, 1, "agree-txn", -1)
	adm := c.Admin(t)
	var last string
	for {
		md, err := adm.Metadata(ctx, internal...)
		if err == nil {
			last = internalComplete(md.Topics, internal)
			if last == "" {
				break
			}
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			t.Fatalf("the internal topics are not led with a full ISR: %s", last)
		}
		time.Sleep(300 * time.Millisecond)
	}
	views := metadataViews(ctx, t, c, internal...)
	for id, v := range views {
		if v != views[1] {
			t.Errorf("node %d's Metadata differs from node 1's:\n%s\nnode 1:\n%s", id, v, views[1])
		}
	}
	leaders := map[int32]int{}
	md, err := adm.Metadata(ctx, internal...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics["__consumer_offsets"].Partitions {
		leaders[p.Leader]++
	}
	for _, id := range c.IDs() {
		if leaders[id] < 10 {
			t.Errorf("node %d leads %d of the 50 __consumer_offsets partitions (%v): leaders not spread", id, leaders[id], leaders)
		}
	}
	for _, key := range []string{"agree-group", "g2", "another group"} {
		var first int32 = -1
		for _, id := range c.IDs() {
			got := findCoordinatorVia(ctx, t, c.Node(id).KafkaAddr, key)
			if first == -1 {
				first = got
			} else if got != first {
				t.Errorf("FindCoordinator %q: node %d names %d, node 1 names %d", key, id, got, first)
			}
		}
	}
}

// internalComplete is "" when every partition of topics has a leader and
// a full ISR, else what is missing.
func internalComplete(topics kadm.TopicDetails, names []string) string {
	for _, name := range names {
		td, ok := topics[name]
		switch {
		case !ok || td.Err != nil:
			return fmt.Sprintf("%s: %v", name, td.Err)
		case len(td.Partitions) != 50:
			return fmt.Sprintf("%s: %d partitions", name, len(td.Partitions))
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 || len(p.Replicas) != 3 || len(p.ISR) != 3 {
				return fmt.Sprintf("%s/%d: leader %d replicas %v isr %v err %v", name, p.Partition, p.Leader, p.Replicas, p.ISR, p.Err)
			}
		}
	}
	return ""
}

// findCoordinatorVia asks one node for key's group coordinator.
func findCoordinatorVia(ctx context.Context, t *testing.T, addr, key string) int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = key
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("FindCoordinator %q via %s: %v %v", key, addr, err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.NodeID
}

// metadataViews is each node's Metadata for topics, asked of that node
// alone (its seed connection), as text.
func metadataViews(ctx context.Context, t *testing.T, c *clustertest.Cluster, topics ...string) map[int32]string {
	t.Helper()
	views := map[int32]string{}
	for _, id := range c.IDs() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(id).KafkaAddr))
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = false
		for _, name := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		cl.Close()
		if err != nil {
			t.Fatalf("Metadata via node %d: %v", id, err)
		}
		var brokers []int32
		for _, b := range resp.Brokers {
			brokers = append(brokers, b.NodeID)
		}
		slices.Sort(brokers)
		var b strings.Builder
		fmt.Fprintf(&b, "brokers %v controller %d\n", brokers, resp.ControllerID)
		slices.SortFunc(resp.Topics, func(x, y kmsg.MetadataResponseTopic) int { return strings.Compare(*x.Topic, *y.Topic) })
		for _, td := range resp.Topics {
			fmt.Fprintf(&b, "%s id %x err %d\n", *td.Topic, td.TopicID, td.ErrorCode)
			slices.SortFunc(td.Partitions, func(x, y kmsg.MetadataResponseTopicPartition) int { return int(x.Partition - y.Partition) })
			for _, p := range td.Partitions {
				fmt.Fprintf(&b, "  %d leader %d epoch %d replicas %v isr %v offline %v err %d\n", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.OfflineReplicas, p.ErrorCode)
			}
		}
		views[id] = b.String()
	}
	return views
}
