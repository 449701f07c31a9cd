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
			rg.ErrorCode = s.deleteGroup(name)
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

func (s *Server) deleteGroup(name string) int16 {
	if name == "" {
		return kerr.InvalidGroupID.Code
	}
	found, gerr := s.groups.Delete(name, func() (bool, *kerr.Error) {
		offs, err := s.log.GroupOffsets(name)
		if err == nil && len(offs) > 0 {
			err = s.log.DeleteOffsets(name, "", nil)
		}
		if err != nil {
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
