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
//   - Cluster mode (not the internal topics): only the partition's leader
//     answers, to consumers and to followers (replica_id, v3+), else
//     NOT_LEADER_OR_FOLLOWER; a current leader epoch older than the
//     leader's gets FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
//     The end offset of an epoch comes from the log's epoch cache: the
//     largest epoch at or below the one asked for, and where it ends (the
//     log end for the current epoch), so that a follower truncates to it
//     after a leader change. CLUSTER_ACTION on the cluster (followers)
//     stands for DESCRIBE on every topic, as in Kafka.
func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, (*Server).handleOffsetForLeaderEpoch) }

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		denied := !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic) &&
			!(s.cfg.Cluster != nil && s.allowedCluster(ctx, kmsg.ACLOperationClusterAction))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			if denied {
				sp.ErrorCode = errTopicAuthz
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if s.inCluster(rt.Topic) {
				s.offsetForEpochInCluster(req, rt.Topic, rp, &sp)
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

// epochLog is the log's leader-epoch cache.
//
// TODO(issue 19, merge of 19logrep): call s.log.EndOffsetForEpoch
// directly once (*plog.Log).EndOffsetForEpoch is on this branch, and drop
// this interface and the fallback in offsetForEpochInCluster.
type epochLog interface {
	EndOffsetForEpoch(topic string, part int32, epoch int32) (int32, int64, error)
}

// offsetForEpochInCluster answers one partition in cluster mode: the
// leader checks, then the epoch's end offset from the log's epoch cache.
func (s *Server) offsetForEpochInCluster(req *kmsg.OffsetForLeaderEpochRequest, topic string, rp kmsg.OffsetForLeaderEpochRequestTopicPartition, sp *kmsg.OffsetForLeaderEpochResponseTopicPartition) {
	current, replica := int32(-1), int32(-1)
	if req.Version >= 2 {
		current = rp.CurrentLeaderEpoch
	}
	if req.Version >= 3 {
		replica = req.ReplicaID
	}
	if err := s.cfg.Cluster.CheckFetch(topic, rp.Partition, current, replica); err != nil {
		sp.ErrorCode = errorCode(err)
		return
	}
	if el, ok := any(s.log).(epochLog); ok {
		epoch, end, err := el.EndOffsetForEpoch(topic, rp.Partition, rp.LeaderEpoch)
		if err != nil {
			sp.ErrorCode = errorCode(err)
			return
		}
		sp.LeaderEpoch, sp.EndOffset = epoch, end
		return
	}
	// TODO(issue 19): until the epoch cache lands the log stamps every
	// batch with epoch 0: epoch 0 ends at the high watermark, as on one node.
	_, hwm, err := s.partitionOffsets(topic, rp.Partition)
	switch {
	case err != nil:
		sp.ErrorCode = errorCode(err)
	case rp.LeaderEpoch == 0:
		sp.LeaderEpoch, sp.EndOffset = 0, hwm
	}
}
