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
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		name := s.topicName(st.Topic, st.TopicID, req.Version >= 13)
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			leader, epoch, node, ok := s.leaderHint(ctx, name, sp.Partition)
			if !ok {
				continue
			}
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
			if !seen[leader] {
				seen[leader] = true
				b := kmsg.NewProduceResponseBroker()
				b.NodeID, b.Host, b.Port = node.ID, node.Host, node.Port
				if node.Rack != "" {
					b.Rack = &node.Rack
				}
				resp.Brokers = append(resp.Brokers, b)
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
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		name := s.topicName(st.Topic, st.TopicID, req.Version >= 13)
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code && sp.ErrorCode != kerr.FencedLeaderEpoch.Code {
				continue
			}
			leader, epoch, node, ok := s.leaderHint(ctx, name, sp.Partition)
			if !ok {
				continue
			}
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
			if !seen[leader] {
				seen[leader] = true
				b := kmsg.NewFetchResponseBroker()
				b.NodeID, b.Host, b.Port = node.ID, node.Host, node.Port
				if node.Rack != "" {
					b.Rack = &node.Rack
				}
				resp.Brokers = append(resp.Brokers, b)
			}
		}
	}
}
