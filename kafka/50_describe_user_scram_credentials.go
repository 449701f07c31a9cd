package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// DescribeUserScramCredentials (key 50), v0 (KIP-554).
//
// Behavior:
//   - Every user with a SCRAM credential for a null or empty user list,
//     else the named users; each with its mechanisms and iteration counts
//     only (never salts or keys).
//   - A user named twice gets DUPLICATE_RESOURCE, a user without
//     credentials RESOURCE_NOT_FOUND, with Kafka's messages.
//   - DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED (top
//     level); SECURITY_DISABLED when Zombi runs without the auth service.
func init() {
	register(kmsg.DescribeUserSCRAMCredentials, 0, 0, (*Server).handleDescribeUserSCRAMCredentials)
}

// SCRAM mechanism codes of the SCRAM credential APIs (Kafka's
// ScramMechanism types).
var scramMechanisms = map[int8]string{1: auth.ScramSHA256, 2: auth.ScramSHA512}

func scramMechanismCode(name string) int8 {
	for code, n := range scramMechanisms {
		if n == name {
			return code
		}
	}
	return 0
}

func (s *Server) handleDescribeUserSCRAMCredentials(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	resp.Results = []kmsg.DescribeUserSCRAMCredentialsResponseResult{}
	if s.cfg.Auth == nil {
		msg := msgSecurityDisabled
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, &msg
		return resp, nil
	}
	if !s.allowedCluster(ctx, kmsg.ACLOperationDescribe) {
		msg := msgClusterAuthz
		resp.ErrorCode, resp.ErrorMessage = errClusterAuthz, &msg
		return resp, nil
	}
	result := func(u auth.UserInfo) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u.Name
		for _, c := range u.Credentials {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = scramMechanismCode(c.Mechanism), int32(c.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		return r
	}
	users := s.cfg.Auth.Users()
	if len(req.Users) == 0 {
		for _, u := range users {
			resp.Results = append(resp.Results, result(u))
		}
		return resp, nil
	}
	byName := make(map[string]auth.UserInfo, len(users))
	for _, u := range users {
		byName[u.Name] = u
	}
	named := map[string]int{}
	for _, u := range req.Users {
		named[u.Name]++
	}
	for _, ru := range req.Users {
		n := named[ru.Name]
		if n == 0 {
			continue // answered already
		}
		named[ru.Name] = 0
		u, ok := byName[ru.Name]
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = ru.Name
		var msg string
		switch {
		case n > 1:
			r.ErrorCode = kerr.DuplicateResource.Code
			msg = "Cannot describe SCRAM credentials for the same user twice in a single request: " + ru.Name
		case !ok:
			r.ErrorCode = kerr.ResourceNotFound.Code
			msg = "Attempt to describe a user credential that does not exist: " + ru.Name
		default:
			r = result(u)
		}
		if msg != "" {
			r.ErrorMessage = &msg
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
