package replica

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// earliestLocal is ListOffsets' EARLIEST_LOCAL_TIMESTAMP (KIP-405).
const earliestLocal = -4

// movedToTiered handles OFFSET_MOVED_TO_TIERED_STORAGE (KIP-405): the
// follower's log end is in the shared cold tier only, which every replica
// reads from S3 itself. As Kafka's follower (ReplicaFetcherTierStateMachine)
// it asks the leader its earliest local offset and starts over empty there,
// copying only the leader's hot tail; its leader-epoch cache then starts at
// that offset (ResetEmpty keeps the entry covering it).
func (f *fetcher) movedToTiered(b *kgo.Broker, fs *fetchState, offset int64) {
	p := fs.p
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1 // the leader answers it as a consumer's, from its log
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = p.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = p.part, fs.epoch, earliestLocal
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(f.ctx, requestTimeout)
	defer cancel()
	kresp, err := b.Request(ctx, req)
	if err != nil {
		f.m.logger.Debug("ListOffsets earliest local", "leader", f.leader, "err", err)
		f.backoff([]*fetchState{fs})
		return
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	for _, t := range resp.Topics {
		for _, sp := range t.Partitions {
			if t.Topic != p.topic || sp.Partition != p.part {
				continue
			}
			if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
				f.partitionError(fs, err)
				return
			}
			if sp.Offset <= offset {
				// Moved meanwhile (a leader change, hot data back): ask
				// again from the top.
				fs.truncating = true
				return
			}
			f.m.logger.Info("log end in the shared cold tier: starting at the leader's earliest local offset", "topic", p.topic, "partition", p.part, "from", offset, "to", sp.Offset)
			f.outOfRange(fs, offset, sp.Offset)
			return
		}
	}
	f.backoff([]*fetchState{fs})
}

// LeaderEpoch reports whether this node plays the partition's leader now
// (its log open for writes), and in which leader epoch: the shared cold
// tier flushes only what this node leads (tiering.Leadership).
func (m *Manager) LeaderEpoch(topic string, part int32) (int32, bool) {
	p := m.part(topic, part)
	if p == nil {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.role == roleLeader
}
