package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords (key 21), v0-v2.
//
// Behavior:
//   - Moves a partition's log start offset up to the given offset (-1: the
//     high watermark) and drops the batches wholly below it; the new log
//     start is the low watermark in the response.
//   - Offsets above the high watermark get OFFSET_OUT_OF_RANGE.
//   - DELETE on the topic, else TOPIC_AUTHORIZATION_FAILED.
//   - The internal topics: INVALID_TOPIC_EXCEPTION, as Kafka.
//   - Cluster mode: only the partition's leader deletes, others answer
//     NOT_LEADER_OR_FOLLOWER. The answer does not wait for the followers'
//     log start (Kafka's low watermark over all replicas): not yet.
func init() { register(kmsg.DeleteRecords, 0, 2, (*Server).handleDeleteRecords) }

func (s *Server) handleDeleteRecords(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		denied := !s.allowed(ctx, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			if denied {
				sp.ErrorCode = errTopicAuthz
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if err := s.refuseInternal("delete records", rt.Topic); err != nil {
				sp.ErrorCode = errorCode(err) // Kafka's answer
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if s.inCluster(rt.Topic) {
				// On the leader only, as Kafka (a write's check: no
				// epoch, not acks=all). Followers learn the new log start
				// from their fetches.
				if err := s.cfg.Cluster.CheckProduce(rt.Topic, rp.Partition, -1, false); err != nil {
					sp.ErrorCode = errorCode(err)
					st.Partitions = append(st.Partitions, sp)
					continue
				}
			}
			off := rp.Offset
			if off == -1 {
				_, hwm, err := s.log.Offsets(rt.Topic, rp.Partition)
				if err != nil {
					sp.ErrorCode = errorCode(err)
					st.Partitions = append(st.Partitions, sp)
					continue
				}
				off = hwm
			}
			low, err := s.log.TrimBefore(ctx, rt.Topic, rp.Partition, off)
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
