package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// runFranz drives franz-go's own client mechanisms (what kgo sends)
// against a session.
func runFranz(t *testing.T, s *Service, m sasl.Mechanism) (Principal, error) {
	t.Helper()
	ctx := context.Background()
	sess, err := s.NewSASL(m.Name())
	if err != nil {
		t.Fatal(err)
	}
	cs, msg, err := m.Authenticate(ctx, "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		out, done, err := sess.Step(ctx, msg)
		if err != nil {
			return Principal{}, err
		}
		cdone, next, err := cs.Challenge(out)
		if err != nil {
			t.Fatalf("franz-go client refused the server's message %q: %v", out, err)
		}
		if done {
			if !cdone {
				t.Fatal("server done, client not")
			}
			return sess.Principal(), nil
		}
		msg = next
	}
	t.Fatal("exchange did not end")
	return Principal{}, nil
}

func TestFranzGoClients(t *testing.T) {
	s := newTestService(t, Config{})
	if err := s.SetPassword("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		m    sasl.Mechanism
		ok   bool
	}{
		{"scram-256", scram.Auth{User: "alice", Pass: "pw"}.AsSha256Mechanism(), true},
		{"scram-512", scram.Auth{User: "alice", Pass: "pw"}.AsSha512Mechanism(), true},
		{"plain", plain.Auth{User: "alice", Pass: "pw"}.AsMechanism(), true},
		{"plain zid", plain.Auth{Zid: "alice", User: "alice", Pass: "pw"}.AsMechanism(), true},
		{"scram-256 wrong", scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism(), false},
		{"scram-512 unknown", scram.Auth{User: "bob", Pass: "pw"}.AsSha512Mechanism(), false},
		{"scram zid other", scram.Auth{Zid: "bob", User: "alice", Pass: "pw"}.AsSha256Mechanism(), false},
		{"scram delegation token", scram.Auth{User: "alice", Pass: "pw", IsToken: true}.AsSha256Mechanism(), false},
		{"plain wrong", plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(), false},
		{"plain zid other", plain.Auth{Zid: "bob", User: "alice", Pass: "pw"}.AsMechanism(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := runFranz(t, s, tc.m)
			if tc.ok && (err != nil || p != User("alice")) {
				t.Fatalf("%v %v", p, err)
			}
			if !tc.ok && !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("%v %v, want ErrAuthFailed", p, err)
			}
		})
	}
}
