package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// CreateAcls (key 30), v0-v3.
//
// Behavior:
//   - Stores each ACL durably (auth, in the log's RocksDB); creating an ACL
//     that exists succeeds and changes nothing. Each creation is answered on
//     its own: INVALID_REQUEST for an ANY/UNKNOWN/MATCH value, an empty
//     resource name, a Cluster resource not named kafka-cluster, a principal
//     that is not User:name or a host that is neither "*" nor an IP address.
//   - ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for every
//     creation; SECURITY_DISABLED without an authorizer.
//   - A new ACL takes effect on the next request of every connection.
//
// Version notes:
//   - v0 has no pattern type: LITERAL (the field's default), as Kafka.
//   - v2+ flexible.
func init() { register(kmsg.CreateACLs, 0, 3, (*Server).handleCreateACLs) }

func (s *Server) handleCreateACLs(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i].Default()
	}
	if code, msg := s.aclAdminRefusal(ctx, kmsg.ACLOperationAlter, msgNoAuthorizer); code != 0 {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return resp, nil
	}
	acls := make([]auth.ACL, len(req.Creations))
	for i, c := range req.Creations {
		acls[i] = auth.ACL{
			ResourceType: c.ResourceType,
			ResourceName: c.ResourceName,
			PatternType:  c.ResourcePatternType,
			Principal:    c.Principal,
			Host:         c.Host,
			Operation:    c.Operation,
			Permission:   c.PermissionType,
		}
	}
	for i, err := range s.cfg.Auth.CreateACLs(acls) {
		if err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = aclErrorCode(err), errorMessage(err)
			continue
		}
		s.logger.Info("ACL created", "acl", aclString(acls[i]))
	}
	return resp, nil
}

// aclString describes an ACL for the log, in kafka-acls' words.
func aclString(a auth.ACL) string {
	return a.Permission.String() + " " + a.Principal + " from " + a.Host + " " + a.Operation.String() +
		" on " + a.ResourceType.String() + ":" + a.PatternType.String() + ":" + a.ResourceName
}
