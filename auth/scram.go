package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"strings"

	"github.com/xdg-go/scram"
)

// scramSession is the server side of SCRAM-SHA-256/512 (RFC 5802, 7677)
// over xdg-go/scram, with Kafka's rules on top: the authzid must be empty or
// the user itself, and the tokenauth extension (delegation tokens) is
// refused. An unknown user gets a made-up credential, so the exchange looks
// the same and fails only at the proof.
type scramSession struct {
	s         *Service
	mechanism string
	conv      *scram.ServerConversation
	step      int
	known     bool // the user had a real credential at the first message
	principal Principal
}

func (s *Service) newSCRAM(mechanism string) *scramSession {
	ss := &scramSession{s: s, mechanism: mechanism}
	gen := scram.SHA256
	if mechanism == ScramSHA512 {
		gen = scram.SHA512
	}
	// NewServer only fails on a nil lookup.
	srv, _ := gen.NewServer(ss.lookup)
	ss.conv = srv.NewConversation()
	return ss
}

// lookup is the conversation's credential callback.
func (ss *scramSession) lookup(user string) (scram.StoredCredentials, error) {
	ss.s.mu.RLock()
	c, ok := ss.s.users[user].cred(ss.mechanism)
	ss.s.mu.RUnlock()
	if ok {
		ss.known = true
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
			StoredKey:  c.StoredKey,
			ServerKey:  c.ServerKey,
		}, nil
	}
	ss.known = false
	return ss.s.fakeCredential(ss.mechanism, user), nil
}

// fakeCredential is a credential no password matches: keys from the
// process's random key, which no client knows.
func (s *Service) fakeCredential(mechanism, user string) scram.StoredCredentials {
	h, _ := hashFor(mechanism)
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte("key\x00" + mechanism + "\x00" + user))
	stored, server := scramKeys(h, m.Sum(nil))
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(s.fakeSalt(mechanism, user)), Iters: DefaultIterations},
		StoredKey:  stored,
		ServerKey:  server,
	}
}

func (ss *scramSession) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	ss.step++
	switch ss.step {
	case 1:
		msg := string(in)
		if reason := checkClientFirst(msg); reason != "" {
			return nil, false, ss.fail(ctx, reason)
		}
		out, err := ss.conv.Step(msg)
		if err != nil {
			return nil, false, ss.fail(ctx, "malformed client-first message")
		}
		if a := ss.conv.AuthzID(); a != "" && a != ss.conv.Username() {
			return nil, false, ss.fail(ctx, "authorization id differs from user")
		}
		return []byte(out), false, nil
	case 2:
		if len(in) > maxSCRAMMessage {
			return nil, false, ss.fail(ctx, "client-final message too long")
		}
		out, err := ss.conv.Step(string(in))
		if err != nil || !ss.conv.Valid() {
			return nil, false, ss.fail(ctx, "bad proof or malformed client-final message")
		}
		if !ss.known {
			// Unreachable without the process key; refuse anyway.
			return nil, false, ss.fail(ctx, "unknown user")
		}
		ss.principal = User(ss.conv.Username())
		return []byte(out), true, nil
	}
	return nil, false, ss.fail(ctx, "step after the end of the exchange")
}

func (ss *scramSession) fail(ctx context.Context, reason string) error {
	ss.step = 3 // any further step fails too
	return ss.s.failed(ctx, ss.mechanism, reason)
}

func (ss *scramSession) Principal() Principal { return ss.principal }

// maxSCRAMMessage bounds a client message; real ones are < 300 bytes.
const maxSCRAMMessage = 4096

// checkClientFirst applies what xdg-go/scram does not: a size bound and
// Kafka's extensions after the nonce ("n,,n=user,r=nonce,tokenauth=true"),
// of which tokenauth=true asks for delegation tokens, unsupported here.
func checkClientFirst(msg string) string {
	if len(msg) > maxSCRAMMessage {
		return "client-first message too long"
	}
	fields := strings.Split(msg, ",")
	if len(fields) < 4 {
		return "malformed client-first message"
	}
	for _, f := range fields[4:] {
		k, v, _ := strings.Cut(f, "=")
		if k == "tokenauth" && strings.EqualFold(v, "true") {
			return "delegation token authentication is not supported"
		}
	}
	return ""
}
