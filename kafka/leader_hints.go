package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-951: with NOT_LEADER_OR_FOLLOWER (Produce v10+) or also
// FENCED_LEADER_EPOCH (Fetch v16+), Kafka names the current leader of the
// partition and adds its node to the response, so the client moves at once.

// addProduceLeaderHints fills the hints of a Produce response.
func (s *Server) addProduceLeaderHints(ctx context.Context, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) {
	if s.cfg.Cluster == nil || req.Version < 10 {
		return
	}
	seen := map[int32]bool{}
	addBroker := func(n ClusterNode) {
		b := kmsg.NewProduceResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = n.ID, n.Host, n.Port, rackPtr(n.Rack)
		resp.Brokers = append(resp.Brokers, b)
	}
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		name := s.topicName(st.Topic, st.TopicID, req.Version >= 13)
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			if sp.ErrorCode == kerr.NotLeaderForPartition.Code {
				s.hintLeader(ctx, name, sp.Partition, &sp.CurrentLeader.LeaderID, &sp.CurrentLeader.LeaderEpoch, seen, addBroker)
			}
		}
	}
}

// addFetchLeaderHints fills the hints of a Fetch response.
func (s *Server) addFetchLeaderHints(ctx context.Context, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	if s.cfg.Cluster == nil || req.Version < 16 {
		return
	}
	seen := map[int32]bool{}
	addBroker := func(n ClusterNode) {
		b := kmsg.NewFetchResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = n.ID, n.Host, n.Port, rackPtr(n.Rack)
		resp.Brokers = append(resp.Brokers, b)
	}
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		name := s.topicName(st.Topic, st.TopicID, req.Version >= 13)
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			if sp.ErrorCode == kerr.NotLeaderForPartition.Code || sp.ErrorCode == kerr.FencedLeaderEpoch.Code {
				s.hintLeader(ctx, name, sp.Partition, &sp.CurrentLeader.LeaderID, &sp.CurrentLeader.LeaderEpoch, seen, addBroker)
			}
		}
	}
}

// hintLeader names the partition's current leader and epoch, and adds the
// leader's node to the response once (seen); a partition without a known
// live leader is left as it is.
func (s *Server) hintLeader(ctx context.Context, topic string, p int32, leaderID, leaderEpoch *int32, seen map[int32]bool, addBroker func(ClusterNode)) {
	leader, epoch, node, ok := s.leaderHint(ctx, topic, p)
	if !ok {
		return
	}
	*leaderID, *leaderEpoch = leader, epoch
	if !seen[leader] {
		seen[leader] = true
		addBroker(node)
	}
}

// rackPtr is a rack as the responses carry it: nil when there is none.
func rackPtr(rack string) *string {
	if rack == "" {
		return nil
	}
	return &rack
}
