package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// DescribeAcls (key 29), v0-v3.
//
// Behavior:
//   - Lists the ACLs matching the filter (Kafka's ResourcePatternFilter and
//     AccessControlEntryFilter: ANY and null match everything; pattern type
//     MATCH selects the ACLs that apply to the named resource: literal,
//     "*" and prefixes), one resource entry per (type, name, pattern).
//   - DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED; without an
//     authorizer (no auth service, or ZOMBI_AUTHORIZATION off)
//     SECURITY_DISABLED, as a Kafka broker without authorizer.class.name.
//   - A filter with an UNKNOWN value gets INVALID_REQUEST.
//
// Version notes:
//   - v0 has no pattern type: the filter is LITERAL (the field's default,
//     the ANY of a v0 client, as Kafka), so prefixed ACLs are not shown.
//   - v2+ flexible.
func init() { register(kmsg.DescribeACLs, 0, 3, (*Server).handleDescribeACLs) }

func (s *Server) handleDescribeACLs(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.Resources = []kmsg.DescribeACLsResponseResource{}
	if code, msg := s.aclAdminRefusal(ctx, kmsg.ACLOperationDescribe, msgSecurityDisabled); code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp, nil
	}
	acls, err := s.cfg.Auth.DescribeACLs(auth.ACLFilter{
		ResourceType: req.ResourceType,
		ResourceName: req.ResourceName,
		PatternType:  req.ResourcePatternType,
		Principal:    req.Principal,
		Host:         req.Host,
		Operation:    req.Operation,
		Permission:   req.PermissionType,
	})
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = aclErrorCode(err), errorMessage(err)
		return resp, nil
	}
	type resource struct {
		rt      kmsg.ACLResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	index := map[resource]int{}
	for _, a := range acls {
		k := resource{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := index[k]
		if !ok {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = k.rt, k.name, k.pattern
			i = len(resp.Resources)
			index[k] = i
			resp.Resources = append(resp.Resources, r)
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	return resp, nil
}
