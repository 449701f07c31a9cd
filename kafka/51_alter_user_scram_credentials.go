package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// AlterUserScramCredentials (key 51), v0 (KIP-554).
//
// Behavior:
//   - Deletions remove one mechanism's credential of a user; upsertions
//     store a credential from the client's salt and salted password (the
//     stored and server keys are derived here; the salted password is not
//     kept). kadm, kafka-configs.sh --alter --add-config
//     'SCRAM-SHA-256=[password=...]' and the Java AdminClient send these.
//   - One result per user, validated as Kafka 4.4's controller does: a user
//     named more than once in the request (deletions and upsertions
//     together) gets DUPLICATE_RESOURCE and nothing of it changes; an empty
//     name or a bad salt UNACCEPTABLE_CREDENTIAL; an unknown mechanism
//     UNSUPPORTED_SASL_MECHANISM; iterations outside 4096..16384
//     UNACCEPTABLE_CREDENTIAL; deleting a credential that does not exist
//     RESOURCE_NOT_FOUND.
//   - ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for every
//     user; SECURITY_DISABLED when Zombi runs without the auth service.
//   - Secrets are never logged; a change is logged with user and mechanism.
func init() {
	register(kmsg.AlterUserSCRAMCredentials, 0, 0, (*Server).handleAlterUserSCRAMCredentials)
}

// Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations,
// ScramControlManager's maximum).
const (
	scramMinIterations = auth.DefaultIterations
	scramMaxIterations = 16384
)

func (s *Server) handleAlterUserSCRAMCredentials(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)

	// The users in request order, each once, and how often each is named.
	var users []string
	count := map[string]int{}
	for _, d := range req.Deletions {
		if count[d.Name]++; count[d.Name] == 1 {
			users = append(users, d.Name)
		}
	}
	for _, u := range req.Upsertions {
		if count[u.Name]++; count[u.Name] == 1 {
			users = append(users, u.Name)
		}
	}
	results := make(map[string]*kmsg.AlterUserSCRAMCredentialsResponseResult, len(users))
	for _, name := range users {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = name
		resp.Results = append(resp.Results, r)
	}
	for i := range resp.Results {
		results[resp.Results[i].User] = &resp.Results[i]
	}
	fail := func(r *kmsg.AlterUserSCRAMCredentialsResponseResult, code int16, msg string) {
		r.ErrorCode, r.ErrorMessage = code, &msg
	}
	var refusal int16
	var refusalMsg string
	switch {
	case s.cfg.Auth == nil:
		refusal, refusalMsg = kerr.SecurityDisabled.Code, msgSecurityDisabled
	case !s.allowedCluster(ctx, kmsg.ACLOperationAlter):
		refusal, refusalMsg = errClusterAuthz, msgClusterAuthz
	}
	if refusal != 0 {
		for i := range resp.Results {
			fail(&resp.Results[i], refusal, refusalMsg)
		}
		return resp, nil
	}
	for name, n := range count {
		if n > 1 {
			fail(results[name], kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		}
	}
	// check applies Kafka's name and mechanism checks; ok false when the
	// result already carries an error.
	check := func(name string, mech int8) (string, bool) {
		r := results[name]
		switch {
		case r.ErrorCode != 0:
			return "", false
		case name == "":
			fail(r, kerr.UnacceptableCredential.Code, "Username must not be empty")
			return "", false
		case scramMechanisms[mech] == "":
			fail(r, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism")
			return "", false
		}
		return scramMechanisms[mech], true
	}
	for _, d := range req.Deletions {
		mech, ok := check(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		err := s.cfg.Auth.DeleteCredential(d.Name, mech)
		switch {
		case errors.Is(err, auth.ErrNoCredential):
			fail(results[d.Name], kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
		case err != nil:
			fail(results[d.Name], kerr.UnknownServerError.Code, err.Error())
		default:
			s.logger.Info("SCRAM credential deleted", "user", d.Name, "mechanism", mech)
		}
	}
	for _, u := range req.Upsertions {
		mech, ok := check(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		r := results[u.Name]
		switch {
		case u.Iterations < scramMinIterations:
			fail(r, kerr.UnacceptableCredential.Code, "Too few iterations")
			continue
		case u.Iterations > scramMaxIterations:
			fail(r, kerr.UnacceptableCredential.Code, "Too many iterations")
			continue
		}
		err := s.cfg.Auth.UpsertCredential(u.Name, mech, int(u.Iterations), u.Salt, u.SaltedPassword)
		switch {
		case errors.Is(err, auth.ErrInvalid):
			fail(r, kerr.UnacceptableCredential.Code, err.Error())
		case err != nil:
			fail(r, kerr.UnknownServerError.Code, err.Error())
		default:
			s.logger.Info("SCRAM credential stored", "user", u.Name, "mechanism", mech, "iterations", u.Iterations)
		}
	}
	return resp, nil
}
