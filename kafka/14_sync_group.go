package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
)

// SyncGroup (key 14), v0-v5.
//
// Behavior:
//   - The leader's request carries every member's assignment (opaque
//     bytes); it moves the group to Stable and answers every member waiting
//     in its own SyncGroup. A follower's request waits for the leader's.
//   - Assignments for ids that are not members are ignored; a member the
//     leader left out gets an empty assignment.
//   - A new rebalance before the leader's assignment arrives answers
//     waiting members with REBALANCE_IN_PROGRESS.
//   - READ on the group, else GROUP_AUTHORIZATION_FAILED.
//   - Cluster mode: only the group's coordinator answers, else
//     NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS (coord_groups.go). A
//     member waiting here when the partition moves away gets
//     NOT_COORDINATOR.
//
// Version notes:
//   - v3+ group.instance.id; v4 flexible; v5 protocol type and name, checked
//     against the group's (INCONSISTENT_GROUP_PROTOCOL) and echoed back.
func init() { register(kmsg.SyncGroup, 0, 5, (*Server).handleSyncGroup) }

func (s *Server) handleSyncGroup(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode, resp.MemberAssignment = errGroupAuthz, []byte{}
		return resp, nil
	}
	if gc := s.coordinateGroup(req.Group); gc.code != 0 {
		resp.ErrorCode, resp.MemberAssignment = gc.code, []byte{}
		return resp, nil
	}
	sr := groups.SyncRequest{
		Group:      req.Group,
		MemberID:   req.MemberID,
		InstanceID: deref(req.InstanceID),
		Generation: req.Generation,
	}
	if req.Version >= 5 {
		sr.ProtocolType, sr.Protocol = req.ProtocolType, req.Protocol
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	r := s.groups.Sync(ctx, sr)
	resp.ErrorCode = code(r.Err)
	resp.MemberAssignment = r.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	if r.Err == nil {
		pt, p := r.ProtocolType, r.Protocol
		resp.ProtocolType, resp.Protocol = &pt, &p
	}
	return resp, nil
}
