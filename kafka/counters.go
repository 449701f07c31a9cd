package kafka

import "sync/atomic"

// SecurityCounters counts connections the Kafka door refused or closed for
// security reasons since start, by reason (for /stats and /metrics).
type SecurityCounters struct {
	RefusedMaxConnections  uint64 `json:"refused_max_connections"`   // MaxConnections reached
	RefusedPerIP           uint64 `json:"refused_per_ip"`            // MaxConnectionsPerIP reached
	TLSHandshakeTimeouts   uint64 `json:"tls_handshake_timeouts"`    // no TLS handshake within TLSHandshakeTimeout
	TLSHandshakeFailures   uint64 `json:"tls_handshake_failures"`    // TLS handshake failed (bad certificate, not TLS, ...)
	AuthTimeouts           uint64 `json:"auth_timeouts"`             // not authenticated within AuthTimeout
	OversizedPreAuthFrames uint64 `json:"oversized_pre_auth_frames"` // frame over SASLMaxReceiveBytes before authentication
	AuthFailures           uint64 `json:"auth_failures"`             // SASL exchange failed (bad credentials, malformed message, principal change on re-auth)
	UnauthenticatedReqs    uint64 `json:"unauthenticated_requests"`  // a request other than ApiVersions/SaslHandshake before authentication, or out of SASL order
	ReauthExpired          uint64 `json:"reauth_expired"`            // a request after the SASL session expired (KIP-368)
}

type securityCounters struct {
	refusedMaxConnections, refusedPerIP       atomic.Uint64
	tlsHandshakeTimeouts, tlsHandshakeFailure atomic.Uint64
	authTimeouts, oversizedPreAuth            atomic.Uint64
	authFailures, unauthenticated             atomic.Uint64
	reauthExpired                             atomic.Uint64
}

// SecurityCounters returns the security counters.
func (s *Server) SecurityCounters() SecurityCounters {
	c := &s.sec
	return SecurityCounters{
		RefusedMaxConnections:  c.refusedMaxConnections.Load(),
		RefusedPerIP:           c.refusedPerIP.Load(),
		TLSHandshakeTimeouts:   c.tlsHandshakeTimeouts.Load(),
		TLSHandshakeFailures:   c.tlsHandshakeFailure.Load(),
		AuthTimeouts:           c.authTimeouts.Load(),
		OversizedPreAuthFrames: c.oversizedPreAuth.Load(),
		AuthFailures:           c.authFailures.Load(),
		UnauthenticatedReqs:    c.unauthenticated.Load(),
		ReauthExpired:          c.reauthExpired.Load(),
	}
}

// Map returns the counters by reason, named as their JSON fields.
func (c SecurityCounters) Map() map[string]uint64 {
	return map[string]uint64{
		"refused_max_connections":   c.RefusedMaxConnections,
		"refused_per_ip":            c.RefusedPerIP,
		"tls_handshake_timeouts":    c.TLSHandshakeTimeouts,
		"tls_handshake_failures":    c.TLSHandshakeFailures,
		"auth_timeouts":             c.AuthTimeouts,
		"oversized_pre_auth_frames": c.OversizedPreAuthFrames,
		"auth_failures":             c.AuthFailures,
		"unauthenticated_requests":  c.UnauthenticatedReqs,
		"reauth_expired":            c.ReauthExpired,
	}
}
