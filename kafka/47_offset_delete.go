package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (key 47), v0.
//
// Behavior:
//   - Deletes committed offsets of some partitions of a group, unless the
//     group has members subscribed to the topic (GROUP_SUBSCRIBED_TO_TOPIC
//     per partition). A group with members of another protocol type than
//     "consumer" gets NON_EMPTY_GROUP; an unknown group GROUP_ID_NOT_FOUND;
//     a topic or partition that does not exist UNKNOWN_TOPIC_OR_PARTITION.
//   - DELETE on the group, else GROUP_AUTHORIZATION_FAILED; READ on each
//     topic, else TOPIC_AUTHORIZATION_FAILED for its partitions.
//   - Cluster mode (coord_groups.go): the group's coordinator only, else
//     NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS (top level). The
//     offsets go as tombstones, one replicated batch per topic; the append
//     errors map as OffsetCommit's, on the topic's partitions.
func init() { register(kmsg.OffsetDelete, 0, 0, (*Server).handleOffsetDelete) }

func (s *Server) handleOffsetDelete(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !s.allowed(ctx, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = errGroupAuthz
		return resp, nil
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	gc := s.coordinateGroup(req.Group)
	if gc.code != 0 {
		resp.ErrorCode = gc.code
		return resp, nil
	}
	protocolType, metadata, active := s.groups.Subscriptions(req.Group)
	if active && protocolType != "consumer" {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp, nil
	}
	subscribed := map[string]bool{}
	for _, md := range metadata {
		var cm kmsg.ConsumerMemberMetadata
		if cm.ReadFrom(md) == nil {
			for _, t := range cm.Topics {
				subscribed[t] = true
			}
		}
	}
	if !active {
		offs, err := s.log.GroupOffsets(req.Group)
		if err != nil {
			resp.ErrorCode = errorCode(err)
			return resp, nil
		}
		if len(offs) == 0 {
			resp.ErrorCode = kerr.GroupIDNotFound.Code
			return resp, nil
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		info, exists := s.lookupTopic(rt.Topic) // the internal topics too: their offsets can be committed
		readable := s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
		var del []int32
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case !readable:
				sp.ErrorCode = errTopicAuthz
			case !exists || rp.Partition < 0 || rp.Partition >= info.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribed[rt.Topic]:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				del = append(del, rp.Partition)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(del) > 0 {
			if err := s.deleteOffsets(ctx, gc, req.Group, rt.Topic, del, nil); err != nil {
				c := errorCode(err)
				if gc.cluster() {
					c = coordAppendCode(err)
				}
				for i := range st.Partitions {
					if st.Partitions[i].ErrorCode == 0 {
						st.Partitions[i].ErrorCode = c
					}
				}
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
