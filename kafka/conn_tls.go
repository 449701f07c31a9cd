package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/zombi-dev/zombi/auth"
)

// tlsHandshake runs the TLS handshake of a connection on an SSL or SASL_SSL
// listener, before any Kafka framing, under TLSHandshakeTimeout: a client
// that connects and sends nothing is closed at the deadline (and counted).
// The listener's tls.Config is used as is, so certificate reloads through
// its GetCertificate apply to new connections without dropping others.
func (s *Server) tlsHandshake(nc net.Conn, li *listenerInfo) (*tls.Conn, error) {
	tc := tls.Server(nc, li.tls)
	_ = nc.SetDeadline(time.Now().Add(s.cfg.TLSHandshakeTimeout))
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		var ne net.Error
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			s.sec.tlsHandshakeTimeouts.Add(1)
			return nil, fmt.Errorf("tls handshake: no handshake within %v: %w", s.cfg.TLSHandshakeTimeout, err)
		}
		if s.ctx.Err() == nil {
			s.sec.tlsHandshakeFailure.Add(1)
		}
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return tc, nil
}

// certPrincipal is the principal of an SSL connection: User:<subject CN> of
// a client certificate the server verified, else ANONYMOUS (as Kafka). A
// certificate that was only requested, not verified, proves nothing.
func certPrincipal(cs tls.ConnectionState) auth.Principal {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return auth.Anonymous
	}
	cn := cs.VerifiedChains[0][0].Subject.CommonName
	if cn == "" {
		return auth.Anonymous
	}
	return auth.User(cn)
}
