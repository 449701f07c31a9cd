package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
)

// JoinGroup (key 11), v0-v9.
//
// Behavior:
//   - The classic group protocol, run by the coordinator in kafka/groups:
//     the request waits until every known member has joined (or the
//     rebalance timeout passes); the leader gets every member's metadata for
//     the selected protocol, the others an empty list.
//   - Protocols and their metadata are carried as opaque bytes: eager and
//     cooperative assignors are the clients' business.
//   - READ on the group, else GROUP_AUTHORIZATION_FAILED.
//   - Cluster mode: only the group's coordinator answers (the leader of its
//     __consumer_offsets partition, loaded), else NOT_COORDINATOR or
//     COORDINATOR_LOAD_IN_PROGRESS (coord_groups.go). A member waiting
//     here when the partition moves away gets NOT_COORDINATOR; the new
//     coordinator starts the group over (generation 1, new member ids).
//   - Session timeouts outside [1 s, 30 min] get INVALID_SESSION_TIMEOUT;
//     a protocol type or protocol set that does not fit the group's,
//     INCONSISTENT_GROUP_PROTOCOL; an empty group id, INVALID_GROUP_ID.
//
// Version notes:
//   - v0: the rebalance timeout is the session timeout.
//   - v4+ (KIP-394): a dynamic member joining without an id gets one back
//     with MEMBER_ID_REQUIRED and joins again with it.
//   - v5+ (KIP-345): group.instance.id, static members; a restarted static
//     member of a stable group gets its assignment back without a rebalance.
//   - v7+ protocol type in the response; v8+ reason (logged); v9 never asks
//     the leader to skip the assignment.
func init() { register(kmsg.JoinGroup, 0, 9, (*Server).handleJoinGroup) }

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

func (s *Server) handleJoinGroup(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	errResp := func(code int16, member string) (kmsg.Response, error) {
		// Kafka's JoinGroup error response.
		resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, member
		if req.Version < 7 {
			p := ""
			resp.Protocol = &p
		}
		return resp, nil
	}
	if !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		return errResp(errGroupAuthz, "")
	}
	if gc := s.coordinateGroup(req.Group); gc.code != 0 {
		return errResp(gc.code, req.MemberID)
	}
	ci := clientInfoFrom(ctx)
	jr := groups.JoinRequest{
		Group:          req.Group,
		MemberID:       req.MemberID,
		InstanceID:     deref(req.InstanceID),
		ClientID:       ci.clientID,
		ClientHost:     ci.host,
		ProtocolType:   req.ProtocolType,
		SessionTimeout: millis(req.SessionTimeoutMillis),
		Reason:         deref(req.Reason),
	}
	if req.Version >= 1 {
		jr.RebalanceTimeout = millis(req.RebalanceTimeoutMillis)
	}
	jr.RequireKnownMemberID = req.Version >= 4 && jr.InstanceID == ""
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, groups.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	r := s.groups.Join(ctx, jr)
	resp.ErrorCode = code(r.Err)
	resp.Generation = r.Generation
	resp.MemberID = r.MemberID
	resp.LeaderID = r.LeaderID
	if r.Err == nil || req.Version < 7 {
		pt, p := r.ProtocolType, r.Protocol
		resp.ProtocolType, resp.Protocol = &pt, &p
	}
	for _, m := range r.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.ProtocolMetadata = m.MemberID, m.Metadata
		if m.InstanceID != "" {
			id := m.InstanceID
			rm.InstanceID = &id
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}

// code is the Kafka error code of a coordinator error (nil: 0).
func code(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
