package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15), v0-v6.
//
// Behavior:
//   - A group with members: its state, protocol type, and members with
//     client id and host; the selected protocol, member metadata and
//     assignments only when Stable (as Kafka).
//   - A group known only by committed offsets (members gone, a restart,
//     HTTP or simple commits): Empty, protocol type "".
//   - Any other group: Dead with no error, or GROUP_ID_NOT_FOUND from v6.
//   - DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED and nothing
//     else about it.
//   - Cluster mode: each group is answered by its coordinator only, else
//     NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS for that group
//     (coord_groups.go); committed offsets are the coordinator's view.
//   - Authorized operations (v3+) when asked for: a bit per operation the
//     principal may do on the group (INT32_MIN when not asked for).
//
// Version notes:
//   - v3+ authorized operations; v4+ instance ids; v5 flexible; v6 error
//     messages and GROUP_ID_NOT_FOUND.
func init() { register(kmsg.DescribeGroups, 0, 6, (*Server).handleDescribeGroups) }

func (s *Server) handleDescribeGroups(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		if !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, name) {
			// Kafka's groupError: no state, no message, nothing about the
			// group.
			rg.ErrorCode = errGroupAuthz
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if gc := s.coordinateGroup(name); gc.code != 0 {
			// Kafka's GroupSummary for an error: no state, nothing else.
			rg.ErrorCode = gc.code
			if req.Version >= 6 {
				msg := kerr.ErrorForCode(gc.code).Error()
				rg.ErrorMessage = &msg
			}
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if info, ok := s.groups.Describe(name); ok {
			rg.State, rg.ProtocolType, rg.Protocol = info.State.String(), info.ProtocolType, info.Protocol
			for _, m := range info.Members {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID, rm.ClientID, rm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
				rm.ProtocolMetadata, rm.MemberAssignment = nonNil(m.Metadata), nonNil(m.Assignment)
				if m.InstanceID != "" {
					id := m.InstanceID
					rm.InstanceID = &id
				}
				rg.Members = append(rg.Members, rm)
			}
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		offs, err := s.log.GroupOffsets(name)
		switch {
		case err != nil && name != "":
			rg.ErrorCode = errorCode(err)
			rg.ErrorMessage = errorMessage(err)
		case len(offs) > 0:
			rg.State = "Empty"
		case req.Version >= 6:
			rg.State = "Dead"
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "group " + name + " not found"
			rg.ErrorMessage = &msg
		default:
			rg.State = "Dead"
		}
		resp.Groups = append(resp.Groups, rg)
	}
	if req.Version >= 3 && req.IncludeAuthorizedOperations {
		for i := range resp.Groups {
			if g := &resp.Groups[i]; g.ErrorCode == 0 {
				g.AuthorizedOperations = s.authorizedOps(ctx, kmsg.ACLResourceTypeGroup, g.Group)
			}
		}
	}
	return resp, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
