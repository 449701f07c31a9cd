package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeClientQuotas (key 48), v0-v1 (KIP-546).
//
// Behavior:
//   - Zombi has no client quotas, so a valid filter matches no entity: an
//     empty list, as a Kafka broker with none configured answers.
//     kafka-configs --describe --entity-type users asks this before it
//     lists SCRAM credentials.
//   - Filters are checked as Kafka does: entity types user, client-id and
//     ip, each at most once; match type 0 (exact) needs a name, 1 (default)
//     and 2 (any) take none; anything else is INVALID_REQUEST.
//   - DESCRIBE_CONFIGS on the cluster, else CLUSTER_AUTHORIZATION_FAILED.
//
// AlterClientQuotas (49) is not served: ApiVersions does not list it and
// a client that sends it is told the version is unsupported.
func init() {
	register(kmsg.DescribeClientQuotas, 0, 1, (*Server).handleDescribeClientQuotas)
}

func (s *Server) handleDescribeClientQuotas(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(code int16, msg string) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp, nil
	}
	if !s.allowedCluster(ctx, kmsg.ACLOperationDescribeConfigs) {
		return fail(errClusterAuthz, msgClusterAuthz)
	}
	seen := map[string]bool{}
	for _, c := range req.Components {
		switch c.EntityType {
		case "user", "client-id", "ip":
		default:
			return fail(kerr.InvalidRequest.Code, "Custom entity type '"+c.EntityType+"' not supported")
		}
		if seen[c.EntityType] {
			return fail(kerr.InvalidRequest.Code, "Duplicate filter component entity type "+c.EntityType)
		}
		seen[c.EntityType] = true
		switch {
		case c.MatchType == 0 && c.Match == nil:
			return fail(kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null")
		case (c.MatchType == 1 || c.MatchType == 2) && c.Match != nil:
			return fail(kerr.InvalidRequest.Code, "Request specified a match type other than MATCH_TYPE_EXACT, but also set a match string")
		case c.MatchType < 0 || c.MatchType > 2:
			return fail(kerr.InvalidRequest.Code, "Unexpected match type")
		}
	}
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	return resp, nil
}
