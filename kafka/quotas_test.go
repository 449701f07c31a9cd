package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeClientQuotas: no quotas, so valid filters match nothing (what
// kafka-configs --describe --entity-type users needs); bad filters are
// INVALID_REQUEST; DESCRIBE_CONFIGS on the cluster is required.
func TestDescribeClientQuotas(t *testing.T) {
	e := startAuthServer(t)
	c := e.dial(t)
	name := "alice"
	for _, tc := range []struct {
		name  string
		comps []kmsg.DescribeClientQuotasRequestComponent
		want  int16
	}{
		{"all", nil, 0},
		{"one user", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0, Match: &name}}, 0},
		{"any user, default client", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 2}, {EntityType: "client-id", MatchType: 1}}, 0},
		{"unknown entity", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "tenant", MatchType: 2}}, kerr.InvalidRequest.Code},
		{"twice", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 2}, {EntityType: "user", MatchType: 1}}, kerr.InvalidRequest.Code},
		{"exact without a name", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0}}, kerr.InvalidRequest.Code},
		{"any with a name", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 2, Match: &name}}, kerr.InvalidRequest.Code},
		{"bad match type", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 7}}, kerr.InvalidRequest.Code},
	} {
		for _, v := range []int16{0, 1} {
			req := kmsg.NewPtrDescribeClientQuotasRequest()
			req.Components = tc.comps
			r := c.do(req, v).(*kmsg.DescribeClientQuotasResponse)
			if r.ErrorCode != tc.want || len(r.Entries) != 0 {
				t.Errorf("%s v%d: error %d entries %d, want error %d and none", tc.name, v, r.ErrorCode, len(r.Entries), tc.want)
			}
		}
	}
	r := c.doAs("nobody", kmsg.NewPtrDescribeClientQuotasRequest(), 1).(*kmsg.DescribeClientQuotasResponse)
	wantCode(t, "DescribeClientQuotas without DESCRIBE_CONFIGS", r.ErrorCode, kerr.ClusterAuthorizationFailed)
}
