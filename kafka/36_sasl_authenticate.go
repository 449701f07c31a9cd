package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate (key 36), v0-v2.
//
// Behavior:
//   - Carries one SASL token of the exchange a SaslHandshake v1 started
//     (PLAIN: one step; SCRAM: two), answered with the server's token. The
//     state machine is in sasl.go; the mechanisms are package auth's.
//   - Failure (unknown user, wrong password, malformed message, another
//     principal on re-authentication): SASL_AUTHENTICATION_FAILED with one
//     generic message, after auth's failed-auth delay; the connection
//     closes once the response is written, as Kafka does.
//   - Without a preceding handshake, or on a PLAINTEXT or SSL listener:
//     ILLEGAL_SASL_STATE (then closed on SASL listeners).
//
// Version notes:
//   - v1+: session_lifetime_ms is Config.ReauthMax when set (KIP-368); the
//     session expires then on every version, and a client that does not
//     re-authenticate is closed at its next request.
//   - v2: flexible.
func init() { register(kmsg.SASLAuthenticate, 0, 2, (*Server).handleSASLAuthenticate) }

func (s *Server) handleSASLAuthenticate(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	ci := connInfoFrom(ctx)
	if ci == nil || ci.sasl == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	return resp, ci.sasl.authenticateStep(ctx, req, resp)
}
