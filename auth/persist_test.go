package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// Users, ACLs and tokens survive a restart on a real RocksDB log.
func TestPersistOnLogStore(t *testing.T) {
	dir := t.TempDir()
	open := func() (*plog.Log, *Service) {
		l, err := plog.Open(plog.Options{Dir: dir, SyncWrites: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(LogStore(l), Config{Authorization: true})
		if err != nil {
			t.Fatal(err)
		}
		return l, s
	}
	l, s := open()
	if err := s.SetPassword("alice", "pw-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword("bob/with/slashes", "pw-b"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCredential("bob/with/slashes", ScramSHA512); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword("gone", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser("gone"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s,
		acl(topic, "orders", literal, "User:alice", "*", opWrite, allow),
		acl(topic, "tmp-", prefix, "User:*", "*", opAll, deny),
	)
	if _, err := s.DeleteACLs([]ACLFilter{{ResourceType: topic, ResourceName: ptr("tmp-"), PatternType: prefix, Operation: opAll, Permission: deny}}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, acl(group, "g", literal, "User:alice", "*", opRead, allow))
	secret, info, err := s.CreateToken(User("alice"), "ci", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, info2, err := s.CreateToken(User("alice"), "revoked", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(info2.ID); err != nil {
		t.Fatal(err)
	}
	wantUsers := s.Users()
	wantACLs, _ := s.DescribeACLs(anyFilter())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, s = open()
	defer l.Close()
	if got := s.Users(); len(got) != 2 || got[0].Name != "alice" || got[1].Name != "bob/with/slashes" ||
		len(got[0].Credentials) != 2 || len(got[1].Credentials) != 1 || len(wantUsers) != 2 {
		t.Fatalf("users after reopen: %+v (before %+v)", got, wantUsers)
	}
	if p, err := runSCRAM(t, s, ScramSHA512, "alice", "pw-a", ""); err != nil || p != User("alice") {
		t.Fatalf("SCRAM after reopen: %v %v", p, err)
	}
	if _, err := s.VerifyPassword(context.Background(), "bob/with/slashes", "pw-b"); err != nil {
		t.Fatalf("PLAIN after reopen: %v", err)
	}
	if _, err := s.VerifyPassword(context.Background(), "gone", "x"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("deleted user back after reopen: %v", err)
	}
	if got, _ := s.DescribeACLs(anyFilter()); !sameACLs(got, wantACLs) || len(got) != 2 {
		t.Fatalf("ACLs after reopen: %v, want %v", got, wantACLs)
	}
	if !s.Authorize(User("alice"), "h", opWrite, topic, "orders") || s.Authorize(User("bob"), "h", opWrite, topic, "orders") {
		t.Fatal("ACLs not enforced after reopen")
	}
	if p, err := s.VerifyToken(context.Background(), secret); err != nil || p != User("alice") {
		t.Fatalf("token after reopen: %v %v", p, err)
	}
	if toks := s.Tokens(); len(toks) != 1 || toks[0].ID != info.ID || !toks[0].Expires.Equal(info.Expires) || toks[0].Description != "ci" {
		t.Fatalf("tokens after reopen: %+v, want %+v", toks, info)
	}
}

// failStore fails every write after the first n, to check that memory
// follows the store.
type failStore struct {
	Store
	n int
}

var errDisk = errors.New("disk on fire")

func (f *failStore) Put(k string, v []byte) error {
	if f.n <= 0 {
		return errDisk
	}
	f.n--
	return f.Store.Put(k, v)
}

func (f *failStore) Delete(k string) error {
	if f.n <= 0 {
		return errDisk
	}
	f.n--
	return f.Store.Delete(k)
}

func TestStorageErrorsChangeNothing(t *testing.T) {
	fs := &failStore{Store: NewMemStore(), n: 2}
	s, err := Open(fs, Config{Authorization: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword("alice", "pw"); err != nil { // 2 writes
		t.Fatal(err)
	}
	if err := s.SetPassword("alice", "new"); !errors.Is(err, ErrStorage) {
		t.Fatalf("SetPassword on a failing store: %v", err)
	}
	if _, err := s.VerifyPassword(context.Background(), "alice", "pw"); err != nil {
		t.Fatalf("the old password must still work: %v", err)
	}
	if err := s.SetPassword("bob", "pw"); !errors.Is(err, ErrStorage) || s.hasUser("bob") {
		t.Fatalf("bob: %v", err)
	}
	if errs := s.CreateACLs([]ACL{acl(topic, "t", literal, "User:a", "*", opRead, allow)}); !errors.Is(errs[0], ErrStorage) {
		t.Fatalf("CreateACLs: %v", errs)
	}
	if got, _ := s.DescribeACLs(anyFilter()); len(got) != 0 {
		t.Fatal("an ACL that failed to store is in memory")
	}
	if _, _, err := s.CreateToken(User("alice"), "", 0); !errors.Is(err, ErrStorage) || len(s.Tokens()) != 0 {
		t.Fatalf("CreateToken: %v", err)
	}
	if err := s.DeleteUser("alice"); !errors.Is(err, ErrStorage) || !s.hasUser("alice") {
		t.Fatalf("DeleteUser: %v", err)
	}
}

func TestOpenRejectsCorruptState(t *testing.T) {
	for _, kv := range []KV{
		{"auth/user/alice/SCRAM-SHA-256", []byte("{not json")},
		{"auth/user/alice/SCRAM-SHA-1", []byte(`{"mechanism":"SCRAM-SHA-1","iterations":4096,"stored_key":"AA==","server_key":"AA=="}`)},
		{"auth/acl/x", []byte(`{"resource_type":2,"resource_name":"","pattern_type":3,"principal":"User:a","host":"*","operation":3,"permission":2}`)},
		{"auth/token/abc", []byte(`{"id":"other","hash":"AA=="}`)},
	} {
		st := NewMemStore()
		st.Put(kv.Key, kv.Value)
		if _, err := Open(st, Config{}); !errors.Is(err, ErrStorage) {
			t.Errorf("Open with %s = %s: %v, want ErrStorage", kv.Key, kv.Value, err)
		}
	}
	if _, err := Open(nil, Config{}); err == nil {
		t.Error("Open(nil store) succeeded")
	}
}
