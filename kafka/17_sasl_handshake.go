package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake (key 17), v0-v1.
//
// Behavior:
//   - Picks the SASL mechanism of a connection on a SASL listener; the
//     state machine is in sasl.go. Always answered with the enabled
//     mechanisms. A mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM,
//     then the connection closes (as Kafka).
//   - On an authenticated connection (v1 only): starts a KIP-368
//     re-authentication, with the same mechanism.
//   - A second handshake before authentication completes, or any handshake
//     on a PLAINTEXT or SSL listener: ILLEGAL_SASL_STATE (then closed on
//     SASL listeners; Kafka keeps non-SASL connections open).
//
// Version notes:
//   - v0: the client then sends raw length-prefixed SASL tokens, no Kafka
//     header (kafka-python 2.0.2, old librdkafka), answered raw.
//   - v1: the tokens travel in SaslAuthenticate requests.
func init() { register(kmsg.SASLHandshake, 0, 1, (*Server).handleSASLHandshake) }

func (s *Server) handleSASLHandshake(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	ci := connInfoFrom(ctx)
	if ci == nil || ci.sasl == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	return resp, ci.sasl.handshake(req, resp)
}
