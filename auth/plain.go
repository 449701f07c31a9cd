package auth

import (
	"bytes"
	"context"
)

// maxPlainMessage bounds a PLAIN message (the frame cap is the door's; this
// keeps the key derivation's input sane).
const maxPlainMessage = 4096

// plainSession is SASL PLAIN (RFC 4616): one client message
// "authzid NUL authcid NUL passwd", verified against the user's SCRAM
// credential. The authzid must be empty or the user itself.
type plainSession struct {
	s         *Service
	used      bool
	principal Principal
}

func (p *plainSession) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	if p.used {
		return nil, false, p.s.failed(ctx, Plain, "step after the end of the exchange")
	}
	p.used = true
	authz, user, pass, ok := parsePlain(in)
	if !ok {
		return nil, false, p.s.failed(ctx, Plain, "malformed message")
	}
	if authz != "" && authz != user {
		return nil, false, p.s.failed(ctx, Plain, "authorization id differs from user")
	}
	pr, err := p.s.VerifyPassword(ctx, user, pass)
	if err != nil {
		return nil, false, err
	}
	p.principal = pr
	return nil, true, nil
}

func (p *plainSession) Principal() Principal { return p.principal }

// parsePlain splits a PLAIN message into exactly three fields; user and
// password must not be empty.
func parsePlain(in []byte) (authz, user, pass string, ok bool) {
	if len(in) > maxPlainMessage {
		return "", "", "", false
	}
	f := bytes.Split(in, []byte{0})
	if len(f) != 3 || len(f[1]) == 0 || len(f[2]) == 0 {
		return "", "", "", false
	}
	return string(f[0]), string(f[1]), string(f[2]), true
}
