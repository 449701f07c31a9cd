package auth

import (
	"context"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

func newTestService(t testing.TB, cfg Config) *Service {
	t.Helper()
	s, err := Open(NewMemStore(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runSCRAM runs a whole exchange with xdg-go/scram's client against a
// session of s; it returns the session's principal or the server's error.
func runSCRAM(t testing.TB, s *Service, mech, user, pass, authz string) (Principal, error) {
	t.Helper()
	gen := scram.SHA256
	if mech == ScramSHA512 {
		gen = scram.SHA512
	}
	cl, err := gen.NewClientUnprepped(user, pass, authz)
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	sess, err := s.NewSASL(mech)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c1, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	s1, done, err := sess.Step(ctx, []byte(c1))
	if err != nil {
		return Principal{}, err
	}
	if done {
		t.Fatal("SCRAM done after the first message")
	}
	c2, err := conv.Step(string(s1))
	if err != nil {
		t.Fatalf("client rejected server-first %q: %v", s1, err)
	}
	s2, done, err := sess.Step(ctx, []byte(c2))
	if err != nil {
		return Principal{}, err
	}
	if !done {
		t.Fatal("SCRAM not done after the final message")
	}
	if _, err := conv.Step(string(s2)); err != nil || !conv.Valid() {
		t.Fatalf("client rejected the server signature: %v", err)
	}
	return sess.Principal(), nil
}

func timeNow() time.Time { return time.Now() }
