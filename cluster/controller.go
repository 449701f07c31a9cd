package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// uncleanConfig is the topic config that allows an out-of-sync replica to
// lead (Kafka's unclean.leader.election.enable, false by default).
const uncleanConfig = "unclean.leader.election.enable"

// casAttempts bounds the re-read-and-retry of one partition per round; a
// partition still contended is taken again at the next change.
const casAttempts = 5

// runController reacts, while ctx lives (the election is held), to the
// live nodes and the partition states: it mirrors partitions/ and topics/
// and reconciles every partition when the live nodes or the topics change
// (level-triggered, like Kafka's controller at failover, so nothing missed
// while another node was controller is lost), and the partitions that
// changed when only partitions did (their leaders' ISR updates).
func (n *Node) runController(ctx context.Context, f fence) {
	parts := newTrackingMirror(n.cli, n.cfg.Prefix()+partitionsPrefix, n.log)
	topics := newMirror(n.cli, n.cfg.Prefix()+topicsPrefix, n.log)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: nothing of this controller outlives it
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); parts.run(ctx) }()
	go func() { defer wg.Done(); topics.run(ctx) }()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	full := true
	var unclean map[string]bool // topics with unclean election, read at each full round
	for {
		nodesCh, partsCh, topicsCh := n.nodes.Changed(), parts.Changed(), topics.Changed()
		changed, all := parts.takeDirty()
		var err error
		switch {
		case !n.nodes.isLoaded() || !parts.isLoaded() || !topics.isLoaded():
			full = true // the load is a change: we come back
		case full || all:
			unclean = uncleanTopics(topics)
			kvs, _ := parts.snapshot()
			err = n.reconcile(ctx, f, unclean, kvs)
			full = false
		case len(changed) > 0:
			err = n.reconcile(ctx, f, unclean, changed)
		}
		if errors.Is(err, errNotController) {
			n.log.Warn("cluster: controller writes fenced: another node was elected")
			return
		}
		retry.Reset(time.Hour)
		if err != nil && ctx.Err() == nil {
			n.log.Warn("cluster: controller round failed, retrying", "err", err)
			retry.Reset(500 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-nodesCh:
			full = true
		case <-topicsCh:
			full = true
		case <-retry.C:
			full = true
		case <-partsCh:
		}
	}
}

// reconcile applies decidePartition to the partitions kvs, each write a
// CAS on the version read and the controller's fence.
func (n *Node) reconcile(ctx context.Context, f fence, unclean map[string]bool, kvs []*mvccpb.KeyValue) error {
	nodeKVs, _ := n.nodes.snapshot()
	liveSet := map[int32]bool{}
	for _, r := range decodeNodes(nodeKVs) {
		liveSet[r.ID] = true
	}
	live := func(id int32) bool { return liveSet[id] }
	var firstErr error
	for _, kv := range kvs {
		if err := n.reconcileOne(ctx, f, kv, live, unclean); err != nil {
			if errors.Is(err, errNotController) || ctx.Err() != nil {
				return err
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// uncleanTopics is the topics whose unclean.leader.election.enable is true.
func uncleanTopics(topics *mirror) map[string]bool {
	kvs, _ := topics.snapshot()
	out := map[string]bool{}
	for _, kv := range kvs {
		var t meta.TopicRecord
		if json.Unmarshal(kv.Value, &t) == nil && strings.EqualFold(t.Configs[uncleanConfig], "true") {
			out[t.Name] = true
		}
	}
	return out
}

// reconcileOne decides and writes one partition, re-reading it when the
// CAS loses to another writer (its leader changing the ISR).
func (n *Node) reconcileOne(ctx context.Context, f fence, kv *mvccpb.KeyValue, live func(int32) bool, unclean map[string]bool) error {
	key := string(kv.Key)
	topic, p, ok := parsePartitionKey(n.cfg.Prefix(), key)
	if !ok {
		return nil // not a partition key: not ours to judge
	}
	for attempt := 0; attempt < casAttempts && kv != nil; attempt++ {
		var st meta.PartitionState
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			// Once per version: every reconcile meets it again.
			if prev, seen := n.unreadable.Swap(key, kv.ModRevision); !seen || prev != kv.ModRevision {
				n.log.Warn("cluster: unreadable partition state, left alone", "key", key, "err", err)
			}
			return nil
		}
		next, changed := decidePartition(st, live, unclean[topic])
		next, completed := completeReassignment(next, live)
		grown := false
		if plog.IsInternalTopic(topic) {
			nodeKVs, _ := n.nodes.snapshot()
			next, grown = growInternal(topic, p, next, decodeNodes(nodeKVs), live)
		}
		if !changed && !completed && !grown {
			return nil
		}
		done, cur, err := casPartition(ctx, n.cli, f, key, kv.ModRevision, next)
		if err != nil {
			return err
		}
		if done {
			if completed {
				n.log.Info("cluster: partition reassignment completed", "topic", topic, "partition", p,
					"replicas", next.Replicas, "leader", next.Leader, "leader_epoch", next.LeaderEpoch, "isr", next.ISR)
			}
			if grown {
				n.log.Info("cluster: internal partition growing to more replicas", "topic", topic, "partition", p,
					"replicas", next.Replicas, "adding", next.Adding)
			}
			switch {
			case next.Leader != st.Leader:
				if next.Leader >= 0 {
					n.elections.Add(1)
				}
				n.log.Info("cluster: partition leader elected", "topic", topic, "partition", p,
					"leader", next.Leader, "previous", st.Leader, "leader_epoch", next.LeaderEpoch, "isr", next.ISR)
			case changed:
				n.log.Info("cluster: dead nodes left the ISR", "topic", topic, "partition", p, "isr", next.ISR, "partition_epoch", next.PartitionEpoch)
			}
			return nil
		}
		kv = cur // lost the CAS: decide again on what is there now
	}
	return nil
}
