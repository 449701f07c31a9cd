package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch (key 23), v0-v4.
//
// Behavior:
//   - Zombi has one leader epoch per partition, 0, for its whole life (one
//     broker, no truncation). Epoch 0 ends at the high watermark; a later
//     epoch is unknown (-1/-1, as Kafka answers for epochs it has not seen).
//   - A current leader epoch above 0 (v2+) gets UNKNOWN_LEADER_EPOCH.
//   - Consumers (Java's KIP-320 position validation, franz-go) use it to
//     detect log truncation; here it never finds any.
//   - DESCRIBE on the topic, else TOPIC_AUTHORIZATION_FAILED.
func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, (*Server).handleOffsetForLeaderEpoch) }

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		denied := !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			if denied {
				sp.ErrorCode = errTopicAuthz
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			_, hwm, err := s.partitionOffsets(rt.Topic, rp.Partition) // the internal topics' too
			switch {
			case err != nil:
				sp.ErrorCode = errorCode(err)
			case req.Version >= 2 && rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch == 0:
				sp.LeaderEpoch, sp.EndOffset = 0, hwm
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
