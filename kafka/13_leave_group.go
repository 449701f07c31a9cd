package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
)

// LeaveGroup (key 13), v0-v5.
//
// Behavior:
//   - Removes members at once (no waiting for a session timeout) and starts
//     a rebalance of the others.
//   - A static member may leave by its instance id alone; with a member id
//     that is not the instance's current one it gets FENCED_INSTANCE_ID.
//   - READ on the group, else GROUP_AUTHORIZATION_FAILED (top level).
//   - Cluster mode: only the group's coordinator answers, else
//     NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS (coord_groups.go).
//
// Version notes:
//   - v0-v2: one member id, its error at the top level.
//   - v3+ (KIP-345): a batch of members, an error each; v5 reasons (logged).
func init() { register(kmsg.LeaveGroup, 0, 5, (*Server).handleLeaveGroup) }

func (s *Server) handleLeaveGroup(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = errGroupAuthz
		return resp, nil
	}
	if gc := s.coordinateGroup(req.Group); gc.code != 0 {
		resp.ErrorCode = gc.code
		return resp, nil
	}
	if req.Version < 3 {
		gerr, errs := s.groups.Leave(req.Group, []groups.LeaveMember{{MemberID: req.MemberID}})
		resp.ErrorCode = code(gerr)
		if gerr == nil {
			resp.ErrorCode = code(errs[0])
		}
		return resp, nil
	}
	ms := make([]groups.LeaveMember, len(req.Members))
	for i, m := range req.Members {
		ms[i] = groups.LeaveMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID), Reason: deref(m.Reason)}
	}
	gerr, errs := s.groups.Leave(req.Group, ms)
	resp.ErrorCode = code(gerr)
	if gerr != nil {
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, code(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
