package clustertest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is a franz-go client on every node (closed when the test ends).
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, c.opts.KgoOpts...), opts...)...)
	if err != nil {
		t.Fatalf("clustertest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin is a kadm client on every node (closed when the test ends).
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t))
}

// PartitionInfo is one partition as Metadata shows it.
type PartitionInfo struct {
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Offline     []int32
	Err         error
}

// Partition asks Metadata for one partition through a fresh client on the
// live, unpaused nodes (so that no cached metadata answers and no frozen
// node delays the answer); ok is false when Metadata could not be had or
// does not list it.
func (c *Cluster) Partition(topic string, p int32) (PartitionInfo, bool) {
	seeds := c.LiveSeeds()
	if len(seeds) == 0 {
		return PartitionInfo{}, false
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTimeout(time.Second)}, c.opts.KgoOpts...)...)
	if err != nil {
		return PartitionInfo{}, false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return PartitionInfo{}, false
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return PartitionInfo{}, false
	}
	pd, ok := td.Partitions[p]
	if !ok {
		return PartitionInfo{}, false
	}
	return PartitionInfo{Leader: pd.Leader, LeaderEpoch: pd.LeaderEpoch, Replicas: pd.Replicas, ISR: pd.ISR, Offline: pd.OfflineReplicas, Err: pd.Err}, true
}

// Leader waits (up to 30 s) until partition p of topic has a live leader
// and returns it.
func (c *Cluster) Leader(t testing.TB, topic string, p int32) int32 {
	t.Helper()
	var last PartitionInfo
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if pi, ok := c.Partition(topic, p); ok {
			last = pi
			if pi.Leader >= 0 && pi.Err == nil && c.alive(pi.Leader) {
				return pi.Leader
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("clustertest: %s/%d has no live leader after 30 s (last metadata %+v)", topic, p, last)
	return -1
}

// alive reports whether node id's process runs.
func (c *Cluster) alive(id int32) bool {
	p := c.Node(id)
	if p == nil {
		return false
	}
	select {
	case <-p.Done():
		return false
	default:
		return true
	}
}

// WaitISR waits (up to 30 s) until partition p of topic has exactly n
// in-sync replicas and a leader, and returns the partition.
func (c *Cluster) WaitISR(t testing.TB, topic string, p int32, n int) PartitionInfo {
	t.Helper()
	return c.WaitPartition(t, topic, p, 30*time.Second, fmt.Sprintf("%d in-sync replicas", n), func(pi PartitionInfo) bool {
		return len(pi.ISR) == n && pi.Leader >= 0
	})
}

// WaitPartition waits until cond holds for partition p of topic, failing
// the test with the last metadata seen after d.
func (c *Cluster) WaitPartition(t testing.TB, topic string, p int32, d time.Duration, what string, cond func(PartitionInfo) bool) PartitionInfo {
	t.Helper()
	var last PartitionInfo
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if pi, ok := c.Partition(topic, p); ok {
			last = pi
			if cond(pi) {
				return pi
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("clustertest: %s/%d: not %s after %s (last metadata %+v)", topic, p, what, d, last)
	return last
}

// Has reports whether ids holds id.
func Has(ids []int32, id int32) bool { return slices.Contains(ids, id) }

// WaitBrokers waits (up to 20 s) until every running node's own Metadata
// lists the running nodes: readiness is per node, and each node learns of
// the others through its own watch.
func (c *Cluster) WaitBrokers(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var want []int32
		for _, id := range c.IDs() {
			if c.alive(id) {
				want = append(want, id)
			}
		}
		bad := ""
		for _, id := range want {
			got, err := c.brokersSeenBy(id)
			if err != nil || !slices.Equal(got, want) {
				bad = fmt.Sprintf("node %d lists brokers %v (err %v), want %v", id, got, err, want)
				break
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clustertest: after 20 s %s", bad)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// brokersSeenBy is the sorted broker ids of node id's own Metadata answer.
func (c *Cluster) brokersSeenBy(id int32) ([]int32, error) {
	resp, err := c.metadataSeenBy(id) // no topic: brokers only
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

// PartitionSeenBy is partition p of topic as node id itself answers
// Metadata (no other node asked, nothing cached): e.g. whether a node
// resumed after SIGSTOP has learned it was replaced.
func (c *Cluster) PartitionSeenBy(id int32, topic string, p int32) (PartitionInfo, error) {
	resp, err := c.metadataSeenBy(id, topic)
	if err != nil {
		return PartitionInfo{}, err
	}
	for _, td := range resp.Topics {
		for _, pd := range td.Partitions {
			if pd.Partition == p {
				return PartitionInfo{Leader: pd.Leader, LeaderEpoch: pd.LeaderEpoch, Replicas: pd.Replicas, ISR: pd.ISR, Offline: pd.OfflineReplicas, Err: kerr.ErrorForCode(pd.ErrorCode)}, nil
			}
		}
	}
	return PartitionInfo{}, fmt.Errorf("clustertest: %s-%d not in node %d's Metadata", topic, p, id)
}

// metadataSeenBy is node id's own answer to Metadata for topics (none:
// brokers only).
func (c *Cluster) metadataSeenBy(id int32, topics ...string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Node(id).KafkaAddr), kgo.DialTimeout(time.Second)}, c.opts.KgoOpts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	return req.RequestWith(ctx, cl.SeedBrokers()[0])
}
