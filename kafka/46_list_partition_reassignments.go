package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListPartitionReassignments (key 46), v0.
//
// Behavior:
//   - Lists the partitions with a reassignment in progress (KIP-455):
//     their replicas, and those being added and removed. Null topics: every
//     topic; else the partitions named (a partition with no reassignment,
//     or unknown, is left out, as Kafka does).
//   - One node (no cluster): nothing is ever in progress, the list is empty.
//   - DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED.
func init() {
	register(kmsg.ListPartitionReassignments, 0, 0, (*Server).handleListPartitionReassignments)
}

func (s *Server) handleListPartitionReassignments(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !s.allowedCluster(ctx, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if s.cfg.Cluster == nil {
		return resp, nil
	}
	var names []string
	asked := map[string][]int32{}
	if req.Topics != nil {
		names = []string{}
		for _, rt := range req.Topics {
			if _, dup := asked[rt.Topic]; !dup {
				names = append(names, rt.Topic)
			}
			asked[rt.Topic] = append(asked[rt.Topic], rt.Partitions...)
		}
	}
	var cur *kmsg.ListPartitionReassignmentsResponseTopic
	for _, ra := range s.cfg.Cluster.Reassignments(names) {
		if req.Topics != nil && !slices.Contains(asked[ra.Topic], ra.Partition) {
			continue
		}
		if cur == nil || cur.Topic != ra.Topic {
			t := kmsg.NewListPartitionReassignmentsResponseTopic()
			t.Topic = ra.Topic
			resp.Topics = append(resp.Topics, t)
			cur = &resp.Topics[len(resp.Topics)-1]
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition = ra.Partition
		sp.Replicas = nonNilIDs(ra.Replicas)
		sp.AddingReplicas = nonNilIDs(ra.Adding)
		sp.RemovingReplicas = nonNilIDs(ra.Removing)
		cur.Partitions = append(cur.Partitions, sp)
	}
	return resp, nil
}

// nonNilIDs: an empty array on the wire, never a null one.
func nonNilIDs(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
