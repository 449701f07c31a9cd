package auth

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	st := NewMemStore()
	s, err := Open(st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.SetPassword("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	secret, info, err := s.CreateToken(User("alice"), "ci job", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^zombi_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("token format %q", secret)
	}
	if info.Owner != "User:alice" || info.Description != "ci job" || !info.Expires.IsZero() || info.Created.IsZero() || !strings.Contains(secret, info.ID) {
		t.Fatalf("info %+v", info)
	}
	kvs, _ := st.List(tokenPrefix)
	if len(kvs) != 1 || strings.Contains(string(kvs[0].Value), secret[len(secret)-43:]) {
		t.Fatalf("the stored token holds its secret: %s", kvs)
	}
	var rec tokenRec
	if err := json.Unmarshal(kvs[0].Value, &rec); err != nil || len(rec.Hash) != 32 {
		t.Fatalf("stored token %s: %v", kvs[0].Value, err)
	}
	if p, err := s.VerifyToken(ctx, secret); err != nil || p != User("alice") {
		t.Fatalf("VerifyToken: %v %v", p, err)
	}

	// Tampered, malformed and unknown tokens fail alike.
	flip := func(i int) string {
		b := []byte(secret)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"last char":    flip(len(secret) - 1),
		"id char":      strings.Replace(secret, info.ID, "0000000000000000", 1),
		"truncated":    secret[:len(secret)-1],
		"extended":     secret + "A",
		"no prefix":    strings.TrimPrefix(secret, "zombi_"),
		"empty":        "",
		"upper id":     strings.Replace(secret, info.ID, strings.ToUpper(info.ID), 1),
		"only prefix":  "zombi_",
		"no separator": "zombi_" + info.ID,
	} {
		if _, err := s.VerifyToken(ctx, bad); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s token %q: %v, want ErrAuthFailed", name, bad, err)
		}
	}

	// Expiry, on a clock the test moves.
	now := time.Now()
	s.now = func() time.Time { return now }
	short, sinfo, err := s.CreateToken(User("alice"), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !sinfo.Expires.Equal(sinfo.Created.Add(time.Hour)) {
		t.Fatalf("expiry %v", sinfo)
	}
	now = now.Add(time.Hour - time.Second)
	if _, err := s.VerifyToken(ctx, short); err != nil {
		t.Fatalf("token a second before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := s.VerifyToken(ctx, short); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := s.VerifyToken(ctx, secret); err != nil {
		t.Fatalf("a token without expiry an hour later: %v", err)
	}

	// List, oldest first; revoke.
	toks := s.Tokens()
	if len(toks) != 2 || toks[0].ID != info.ID || toks[1].ID != sinfo.ID {
		t.Fatalf("Tokens() = %+v", toks)
	}
	if err := s.RevokeToken(info.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(info.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := s.VerifyToken(ctx, secret); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("revoked token: %v", err)
	}
	if len(s.Tokens()) != 1 {
		t.Fatal("revoked token listed")
	}
}

func TestTokenOwner(t *testing.T) {
	s := newTestService(t, Config{})
	ctx := context.Background()
	for name, owner := range map[string]Principal{
		"no such user": User("ghost"),
		"not a user":   {Type: "Group", Name: "x"},
		"empty":        {},
	} {
		if _, _, err := s.CreateToken(owner, "", 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := s.SetPassword("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateToken(User("bob"), "", -time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative ttl: %v", err)
	}
	if _, _, err := s.CreateToken(User("bob"), strings.Repeat("d", 2000), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("long description: %v", err)
	}
	secret, _, err := s.CreateToken(User("bob"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Deleting the owner refuses its tokens; recreating the user brings
	// them back (documented in README.md).
	if err := s.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyToken(ctx, secret); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("token of a deleted user: %v", err)
	}
	if len(s.Tokens()) != 1 {
		t.Fatal("deleting a user removed its token from the list")
	}
	if err := s.SetPassword("bob", "pw2"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.VerifyToken(ctx, secret); err != nil || p != User("bob") {
		t.Fatalf("token after the owner is recreated: %v %v", p, err)
	}
}
