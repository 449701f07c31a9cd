package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
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
//     or partition gets UNKNOWN_TOPIC_OR_PARTITION. An internal topic's
//     partitions have no producers (they hold no record).
//   - Cluster mode: the partition's leader answers, others get
//     NOT_LEADER_OR_FOLLOWER (Kafka's admin then asks the leader).
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
			if it, ok := internalTopic(rt.Topic); ok {
				// Never a record, so never a producer (internal_topics.go).
				// An error here would make Kafka's admin retry it until
				// its timeout (kafka-transactions.sh find-hanging).
				if p < 0 || p >= it.Partitions {
					sp.ErrorCode = errUnknownTopic
				}
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			var prods []plog.ProducerInfo
			var err error
			if s.inCluster(rt.Topic) {
				// The leader's producer state is the one that counts
				// (Kafka's admin asks the leader and retries elsewhere).
				err = s.cfg.Cluster.CheckProduce(rt.Topic, p, -1, false)
			}
			if err == nil {
				prods, err = s.log.Producers(rt.Topic, p)
			}
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
