package auth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSetPasswordStoresOnlyCredentials(t *testing.T) {
	st := NewMemStore()
	s, err := Open(st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	if err := s.SetPassword("alice", pw); err != nil {
		t.Fatal(err)
	}
	kvs, _ := st.List("")
	if len(kvs) != 2 || kvs[0].Key != "auth/user/alice/SCRAM-SHA-256" || kvs[1].Key != "auth/user/alice/SCRAM-SHA-512" {
		t.Fatalf("stored keys %v", kvs)
	}
	for _, kv := range kvs {
		if strings.Contains(string(kv.Value), pw) || strings.Contains(strings.ToLower(string(kv.Value)), "password") {
			t.Fatalf("%s holds the password: %s", kv.Key, kv.Value)
		}
		var c credential
		if err := json.Unmarshal(kv.Value, &c); err != nil {
			t.Fatal(err)
		}
		if c.Iterations != DefaultIterations || len(c.Salt) != 32 {
			t.Fatalf("%s: %d iterations, %d-byte salt", kv.Key, c.Iterations, len(c.Salt))
		}
		// RFC 5802 / 7677 values, derived independently.
		h := sha256.New
		if c.Mechanism == ScramSHA512 {
			h = sha512.New
		}
		salted, _ := pbkdf2.Key(h, pw, c.Salt, c.Iterations, h().Size())
		stored, server := scramKeys(h, salted)
		if string(stored) != string(c.StoredKey) || string(server) != string(c.ServerKey) || len(stored) != h().Size() {
			t.Fatalf("%s: keys do not follow RFC 5802", kv.Key)
		}
	}
	got := s.Users()
	if len(got) != 1 || got[0].Name != "alice" || len(got[0].Credentials) != 2 ||
		got[0].Credentials[0] != (CredentialInfo{ScramSHA256, 4096}) || got[0].Credentials[1] != (CredentialInfo{ScramSHA512, 4096}) {
		t.Fatalf("Users() = %+v", got)
	}
	if !s.HasUsers() {
		t.Fatal("HasUsers false")
	}
}

func TestUserValidation(t *testing.T) {
	s := newTestService(t, Config{})
	salt, salted := []byte("salt"), []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"empty user", ErrInvalid, func() error { return s.SetPassword("", "pw") }},
		{"empty password", ErrInvalid, func() error { return s.SetPassword("u", "") }},
		{"NUL in user", ErrInvalid, func() error { return s.SetPassword("a\x00b", "pw") }},
		{"invalid UTF-8", ErrInvalid, func() error { return s.SetPassword("\xff", "pw") }},
		{"upsert empty user", ErrInvalid, func() error { return s.UpsertCredential("", ScramSHA256, 4096, salt, salted) }},
		{"upsert mechanism", ErrUnsupportedMechanism, func() error { return s.UpsertCredential("u", "SCRAM-SHA-1", 4096, salt, salted) }},
		{"upsert mechanism invalid", ErrInvalid, func() error { return s.UpsertCredential("u", Plain, 4096, salt, salted) }},
		{"upsert 4095 iterations", ErrInvalid, func() error { return s.UpsertCredential("u", ScramSHA256, 4095, salt, salted) }},
		{"upsert 16385 iterations", ErrInvalid, func() error { return s.UpsertCredential("u", ScramSHA256, 16385, salt, salted) }},
		{"upsert empty salt", ErrInvalid, func() error { return s.UpsertCredential("u", ScramSHA256, 4096, nil, salted) }},
		{"upsert empty salted", ErrInvalid, func() error { return s.UpsertCredential("u", ScramSHA256, 4096, salt, nil) }},
		{"delete absent credential", ErrNoCredential, func() error { return s.DeleteCredential("u", ScramSHA256) }},
		{"delete absent user", ErrNoCredential, func() error { return s.DeleteUser("u") }},
		{"upsert 4096", nil, func() error { return s.UpsertCredential("u", ScramSHA256, 4096, salt, salted) }},
		{"upsert 16384", nil, func() error { return s.UpsertCredential("u", ScramSHA512, 16384, salt, salted) }},
	} {
		if err := tc.fn(); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	if got := s.Users(); len(got) != 1 || got[0].Name != "u" {
		t.Fatalf("only the valid upserts stored: %+v", got)
	}
}

// A credential from AlterUserScramCredentials (the client salted the
// password) authenticates SCRAM and PLAIN like one made by SetPassword.
func TestUpsertCredentialAuthenticates(t *testing.T) {
	s := newTestService(t, Config{})
	for _, tc := range []struct {
		mech  string
		iters int
	}{{ScramSHA256, 8192}, {ScramSHA512, 4096}} {
		h := sha256.New
		if tc.mech == ScramSHA512 {
			h = sha512.New
		}
		salt := []byte("client-chosen-salt-" + tc.mech)
		salted, _ := pbkdf2.Key(h, "pw-"+tc.mech, salt, tc.iters, h().Size())
		if err := s.UpsertCredential("bob", tc.mech, tc.iters, salt, salted); err != nil {
			t.Fatal(err)
		}
		if p, err := runSCRAM(t, s, tc.mech, "bob", "pw-"+tc.mech, ""); err != nil || p != User("bob") {
			t.Fatalf("%s: %v %v", tc.mech, p, err)
		}
	}
	// Only SHA-256 answers PLAIN when both exist; each password works
	// against its own mechanism's credential.
	if _, err := s.VerifyPassword(context.Background(), "bob", "pw-"+ScramSHA256); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCredential("bob", ScramSHA256); err != nil {
		t.Fatal(err)
	}
	if _, err := runSCRAM(t, s, ScramSHA256, "bob", "pw-"+ScramSHA256, ""); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("deleted credential still accepted: %v", err)
	}
	if _, err := s.VerifyPassword(context.Background(), "bob", "pw-"+ScramSHA512); err != nil {
		t.Fatalf("PLAIN against the remaining SHA-512 credential: %v", err)
	}
	if err := s.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if s.HasUsers() || len(s.Users()) != 0 {
		t.Fatal("user still listed after DeleteUser")
	}
	if _, err := runSCRAM(t, s, ScramSHA512, "bob", "pw-"+ScramSHA512, ""); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("deleted user still accepted: %v", err)
	}
}

func TestVerifyPasswordCache(t *testing.T) {
	s := newTestService(t, Config{})
	ctx := context.Background()
	if err := s.SetPassword("alice", "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "alice", "old"); err != nil {
		t.Fatal(err)
	}
	if n := s.pwCache.len(); n != 1 {
		t.Fatalf("cache holds %d entries after a success, want 1", n)
	}
	if _, err := s.VerifyPassword(ctx, "alice", "bad"); !errors.Is(err, ErrAuthFailed) {
		t.Fatal(err)
	}
	if n := s.pwCache.len(); n != 1 {
		t.Fatalf("failures are cached: %d entries", n)
	}
	if p, err := s.VerifyPassword(ctx, "alice", "old"); err != nil || p != User("alice") {
		t.Fatalf("cached success: %v %v", p, err)
	}
	// Changing the password invalidates the cached success at once.
	if err := s.SetPassword("alice", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "alice", "old"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("old password accepted from the cache after a change: %v", err)
	}
	if _, err := s.VerifyPassword(ctx, "alice", "new"); err != nil {
		t.Fatal(err)
	}
	// Deleting and recreating the user with the old password: new
	// generation, so only a fresh derivation can accept it.
	if err := s.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "alice", "new"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("deleted user accepted from the cache: %v", err)
	}
	// Another user with the same password is a different cache key.
	if err := s.SetPassword("bob", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPassword(ctx, "bob", "new"); !errors.Is(err, ErrAuthFailed) {
		t.Fatal(err)
	}
}

func TestPasswordCacheBounded(t *testing.T) {
	var c pwCache
	c.init()
	now := timeNow()
	for i := range pwCacheSize + 100 {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		c.put(k, 1, now)
	}
	if n := c.len(); n > pwCacheSize {
		t.Fatalf("cache grew to %d entries, bound %d", n, pwCacheSize)
	}
	var k [32]byte
	c.put(k, 1, now)
	if !c.get(k, 1, now) || c.get(k, 2, now) {
		t.Fatal("generation check")
	}
	c.put(k, 1, now)
	if c.get(k, 1, now.Add(pwCacheTTL+1)) {
		t.Fatal("expired entry still counts")
	}
}

// Password changes race with PLAIN, SCRAM and listing (go test -race).
func TestUsersConcurrent(t *testing.T) {
	s := newTestService(t, Config{})
	if err := s.SetPassword("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 3)
	go func() {
		defer close(done)
		for i := range 5 {
			if err := s.SetPassword("alice", "pw"); err != nil {
				errs <- err
				return
			}
			if err := s.SetPassword(fmt.Sprintf("u%d", i), "x"); err != nil {
				errs <- err
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if len(s.Users()) != 6 {
				t.Fatalf("%d users, want 6", len(s.Users()))
			}
			return
		default:
		}
		if _, err := s.VerifyPassword(context.Background(), "alice", "pw"); err != nil {
			t.Fatalf("VerifyPassword during changes: %v", err)
		}
		if _, err := runSCRAM(t, s, ScramSHA256, "alice", "pw", ""); err != nil {
			t.Fatalf("SCRAM during changes: %v", err)
		}
		s.Users()
		s.HasUsers()
	}
}

func TestHasPassword(t *testing.T) {
	s := newTestService(t, Config{})
	if s.HasPassword("nobody", "pw") {
		t.Fatal("an unknown user has a password")
	}
	if err := s.SetPassword("ann", "pw"); err != nil {
		t.Fatal(err)
	}
	if !s.HasPassword("ann", "pw") || s.HasPassword("ann", "other") {
		t.Fatal("HasPassword does not tell ann's password from another")
	}
	// One mechanism's credential made from another password: not the
	// same password everywhere.
	salt := []byte("0123456789abcdef")
	salted, err := saltPassword(sha512.New, "other", salt, DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertCredential("ann", ScramSHA512, DefaultIterations, salt, salted); err != nil {
		t.Fatal(err)
	}
	if s.HasPassword("ann", "pw") {
		t.Fatal("HasPassword true while ann's SCRAM-SHA-512 credential holds another password")
	}
}
