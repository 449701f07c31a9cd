package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat (key 12), v0-v4.
//
// Behavior:
//   - Keeps a member's session alive. REBALANCE_IN_PROGRESS tells a member
//     of the current generation to rejoin; UNKNOWN_MEMBER_ID,
//     ILLEGAL_GENERATION and FENCED_INSTANCE_ID that it is no longer one.
//   - READ on the group, else GROUP_AUTHORIZATION_FAILED.
//   - Cluster mode: only the group's coordinator answers, else
//     NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS (coord_groups.go);
//     after a move the new one does not know the member:
//     UNKNOWN_MEMBER_ID, and it rejoins.
//
// Version notes:
//   - v3+ group.instance.id; v4 flexible.
func init() { register(kmsg.Heartbeat, 0, 4, (*Server).handleHeartbeat) }

func (s *Server) handleHeartbeat(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = errGroupAuthz
		return resp, nil
	}
	if gc := s.coordinateGroup(req.Group); gc.code != 0 {
		resp.ErrorCode = gc.code
		return resp, nil
	}
	resp.ErrorCode = code(s.groups.Heartbeat(req.Group, req.MemberID, deref(req.InstanceID), req.Generation))
	return resp, nil
}
