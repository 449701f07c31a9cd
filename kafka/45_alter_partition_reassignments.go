package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// AlterPartitionReassignments (key 45), v0-v1.
//
// Behavior:
//   - Each partition's replicas become the target (KIP-455): the cluster
//     writes Replicas = target + (current - target), Adding and Removing,
//     the new replicas start fetching, and the controller completes the
//     reassignment once every added replica is in the ISR (a leader that
//     is not in the target hands over, epoch + 1). The answer comes once
//     the reassignment is written, not when it completes
//     (ListPartitionReassignments follows it). Null replicas cancel the
//     reassignment in progress (back to the replicas before it), else
//     NO_REASSIGNMENT_IN_PROGRESS.
//   - A target that is empty, names a node twice, or names a node that is
//     not live gets INVALID_REPLICA_ASSIGNMENT; an unknown topic or
//     partition UNKNOWN_TOPIC_OR_PARTITION; a partition named twice
//     INVALID_REQUEST (both entries).
//   - One node (no cluster): the one broker is node 1, so a target of [1]
//     is a success that changes nothing and any other target is
//     INVALID_REPLICA_ASSIGNMENT (Kafka's answer on a one-broker cluster).
//   - ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED at the top
//     and for every partition (as Kafka).
//
// Version notes:
//   - v1 (KIP-860): allow_replication_factor_change false refuses a target
//     whose size differs from the current replica count with
//     INVALID_REPLICATION_FACTOR; v0 always allows it.
func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, (*Server).handleAlterPartitionReassignments)
}

func (s *Server) handleAlterPartitionReassignments(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	authorized := s.allowedCluster(ctx, kmsg.ACLOperationAlter)
	if !authorized {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	seen := map[string]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			var err error
			switch {
			case !authorized:
				sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			case seen[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] > 1:
				sp.ErrorCode = errInvalidRequest
				err = fmt.Errorf("partition %s-%d named more than once", rt.Topic, rp.Partition)
			default:
				err = s.reassign(ctx, req, rt.Topic, rp.Partition, rp.Replicas)
			}
			if err != nil {
				if sp.ErrorCode == 0 {
					sp.ErrorCode = errorCode(err)
				}
				sp.ErrorMessage = errorMessage(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// reassign checks and starts (or cancels) one partition's reassignment.
func (s *Server) reassign(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest, topic string, p int32, replicas []int32) error {
	current, adding, ok := s.currentReplicas(topic, p)
	if !ok {
		return fmt.Errorf("%w: %s-%d", plog.ErrUnknownTopic, topic, p)
	}
	if replicas != nil && req.Version >= 1 && !req.AllowReplicationFactorChange {
		if origin := len(current) - len(adding); len(replicas) != origin {
			return fmt.Errorf("%w: it would change from %d to %d and allow_replication_factor_change is false", ErrInvalidReplicationFactor, origin, len(replicas))
		}
	}
	if s.cfg.Cluster == nil {
		switch {
		case replicas == nil:
			return fmt.Errorf("%w for %s-%d", ErrNoReassignmentInProgress, topic, p)
		case len(replicas) == 1 && replicas[0] == NodeID:
			return nil
		default:
			return fmt.Errorf("%w: %v: the only node is %d", ErrInvalidReplicaAssignment, replicas, NodeID)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, adminTimeout(req.TimeoutMillis))
	defer cancel()
	return s.cfg.Cluster.AlterReassignment(cctx, topic, p, replicas)
}

// currentReplicas are the partition's replicas and those being added
// (one node: [1]); ok false when the partition is unknown.
func (s *Server) currentReplicas(topic string, p int32) (replicas, adding []int32, ok bool) {
	if s.cfg.Cluster == nil {
		info, ok := s.lookupTopic(topic)
		if !ok || p < 0 || p >= info.Partitions {
			return nil, nil, false
		}
		return []int32{NodeID}, nil, true
	}
	v, ok := s.cfg.Cluster.Partition(topic, p)
	if !ok {
		return nil, nil, false
	}
	for _, ra := range s.cfg.Cluster.Reassignments([]string{topic}) {
		if ra.Partition == p {
			adding = ra.Adding
		}
	}
	return v.Replicas, adding, true
}
