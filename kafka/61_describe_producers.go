package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers (key 61), v0.
//
// Behavior:
//   - Per partition, the producers the log knows (idempotent and
//     transactional; log.Producers): producer id, epoch, the last sequence
//     of its last batch, that batch's max timestamp (-1 when unknown), and
//     the first offset of its open transaction (-1 when none). The
//     coordinator epoch is 0 for a producer with an open transaction (one
//     node: the coordinator's epoch never changes), -1 otherwise.
//   - READ on the topic, else TOPIC_AUTHORIZATION_FAILED; an unknown topic
//     or partition gets UNKNOWN_TOPIC_OR_PARTITION.
func init() { register(kmsg.DescribeProducers, 0, 0, (*Server).handleDescribeProducers) }

func (s *Server) handleDescribeProducers(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		allowed := s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			if !allowed {
				sp.ErrorCode = errTopicAuthz
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			prods, err := s.log.Producers(rt.Topic, p)
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, pi := range prods {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pi.ProducerID, int32(pi.ProducerEpoch), pi.LastSequence
				ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, -1, pi.TxnStartOffset
				if pi.TxnStartOffset >= 0 {
					ap.CoordinatorEpoch = 0
				}
				if pi.LastOffset >= 0 {
					if rr, err := s.log.Read(rt.Topic, p, pi.LastOffset, 1); err == nil && len(rr.Batches) > 0 {
						ap.LastTimestamp = rr.Batches[0].MaxTimestamp
					}
				}
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
