package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// DeleteAcls (key 31), v0-v3.
//
// Behavior:
//   - Deletes the ACLs matching each filter (DescribeAcls' matching) and
//     returns them per filter; an ACL matched by two filters is listed under
//     both. A filter with an UNKNOWN value gets INVALID_REQUEST and deletes
//     nothing; the other filters still apply.
//   - ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for every
//     filter; SECURITY_DISABLED without an authorizer.
//
// Version notes:
//   - v0 has no pattern type: the filters are LITERAL (the field's default,
//     the ANY of a v0 client, as Kafka); the matches carry none either.
//   - v2+ flexible.
func init() { register(kmsg.DeleteACLs, 0, 3, (*Server).handleDeleteACLs) }

func (s *Server) handleDeleteACLs(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i].Default()
		resp.Results[i].MatchingACLs = []kmsg.DeleteACLsResponseResultMatchingACL{}
	}
	if code, msg := s.aclAdminRefusal(ctx, kmsg.ACLOperationAlter, msgNoAuthorizer); code != 0 {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return resp, nil
	}
	var (
		filters []auth.ACLFilter
		at      []int // result index of each valid filter
	)
	for i, f := range req.Filters {
		af := auth.ACLFilter{
			ResourceType: f.ResourceType,
			ResourceName: f.ResourceName,
			PatternType:  f.ResourcePatternType,
			Principal:    f.Principal,
			Host:         f.Host,
			Operation:    f.Operation,
			Permission:   f.PermissionType,
		}
		if err := af.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = aclErrorCode(err), errorMessage(err)
			continue
		}
		filters = append(filters, af)
		at = append(at, i)
	}
	if len(filters) == 0 {
		return resp, nil
	}
	deleted, err := s.cfg.Auth.DeleteACLs(filters)
	if err != nil {
		for _, i := range at {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = aclErrorCode(err), errorMessage(err)
		}
		return resp, nil
	}
	for j, acls := range deleted {
		r := &resp.Results[at[j]]
		for _, a := range acls {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
			r.MatchingACLs = append(r.MatchingACLs, m)
			s.logger.Info("ACL deleted", "acl", aclString(a))
		}
	}
	return resp, nil
}
