package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (key 42), v0-v3.
//
// Behavior:
//   - Deletes an empty group: its committed offsets (the ones the HTTP door
//     reads too) go. A group with members gets NON_EMPTY_GROUP, a group
//     that neither has members nor offsets GROUP_ID_NOT_FOUND, an empty id
//     INVALID_GROUP_ID.
//   - DELETE on the group, else GROUP_AUTHORIZATION_FAILED.
//   - Cluster mode (coord_groups.go): each group by its coordinator only,
//     else NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS. Its offsets go
//     as tombstones (one batch, replicated and applied before the answer);
//     the append errors map as OffsetCommit's.
//
// Version notes:
//   - v2 flexible; v3 error messages.
func init() { register(kmsg.DeleteGroups, 0, 3, (*Server).handleDeleteGroups) }

func (s *Server) handleDeleteGroups(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		if s.allowed(ctx, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, name) {
			rg.ErrorCode = s.deleteGroup(ctx, name)
		} else {
			rg.ErrorCode = errGroupAuthz
		}
		if rg.ErrorCode != 0 && req.Version >= 3 {
			msg := kerr.ErrorForCode(rg.ErrorCode).Error()
			rg.ErrorMessage = &msg
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

func (s *Server) deleteGroup(ctx context.Context, name string) int16 {
	if name == "" {
		return kerr.InvalidGroupID.Code
	}
	gc := s.coordinateGroup(name)
	if gc.code != 0 {
		return gc.code
	}
	found, gerr := s.groups.Delete(name, func() (bool, *kerr.Error) {
		offs, err := s.log.GroupOffsets(name)
		if err == nil && len(offs) > 0 {
			err = s.deleteOffsets(ctx, gc, name, "", nil, offs)
		}
		if err != nil {
			if gc.cluster() {
				return false, kerrCode(coordAppendCode(err))
			}
			return false, kerrFor(err)
		}
		return len(offs) > 0, nil
	})
	switch {
	case gerr != nil:
		return gerr.Code
	case !found:
		return kerr.GroupIDNotFound.Code
	}
	return 0
}
