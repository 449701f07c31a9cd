package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// feedStore is a shared Store that records every change, as a watch of a
// cluster's etcd would deliver it to the other nodes.
type feedStore struct {
	Store
	mu      sync.Mutex
	changes []Change
}

func (f *feedStore) Put(key string, v []byte) error {
	if err := f.Store.Put(key, v); err != nil {
		return err
	}
	f.mu.Lock()
	f.changes = append(f.changes, Change{Key: key, Value: slices.Clone(v)})
	f.mu.Unlock()
	return nil
}

func (f *feedStore) Delete(key string) error {
	if err := f.Store.Delete(key); err != nil {
		return err
	}
	f.mu.Lock()
	f.changes = append(f.changes, Change{Key: key, Deleted: true})
	f.mu.Unlock()
	return nil
}

// take returns the changes recorded since the last take.
func (f *feedStore) take() []Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.changes
	f.changes = nil
	return c
}

// twoNodes are two Services on one store: what node 1 writes, node 2
// learns by Apply (or Reload).
func twoNodes(t *testing.T) (*feedStore, *Service, *Service) {
	t.Helper()
	st := &feedStore{Store: NewMemStore()}
	cfg := Config{Authorization: true, Superusers: []string{"admin"}}
	n1, err := Open(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := Open(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st, n1, n2
}

func apply(t *testing.T, st *feedStore, s *Service) {
	t.Helper()
	if err := s.Apply(st.take()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func verifies(s *Service, user, pw string) bool {
	_, err := s.VerifyPassword(context.Background(), user, pw)
	return err == nil
}

func TestApplyUsersAcrossNodes(t *testing.T) {
	st, n1, n2 := twoNodes(t)
	if err := n1.SetPassword("alice", "first"); err != nil {
		t.Fatal(err)
	}
	if verifies(n2, "alice", "first") {
		t.Fatal("node 2 knows alice before any change reached it")
	}
	apply(t, st, n2)
	if !verifies(n2, "alice", "first") {
		t.Fatal("node 2 refuses alice after her creation was applied")
	}
	if p, err := runSCRAM(t, n2, ScramSHA512, "alice", "first", ""); err != nil || p != User("alice") {
		t.Fatalf("SCRAM-SHA-512 on node 2: %v %v", p, err)
	}
	// The old password was cached as a success on node 2: a change made on
	// node 1 must count at once.
	if err := n1.SetPassword("alice", "second"); err != nil {
		t.Fatal(err)
	}
	apply(t, st, n2)
	if verifies(n2, "alice", "first") {
		t.Fatal("node 2 accepts alice's old (cached) password after the change")
	}
	if !verifies(n2, "alice", "second") {
		t.Fatal("node 2 refuses alice's new password")
	}
	if _, err := runSCRAM(t, n2, ScramSHA256, "alice", "first", ""); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("SCRAM with the old password on node 2: %v, want ErrAuthFailed", err)
	}
	// A deleted user is refused, cached success or not.
	if err := n1.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	apply(t, st, n2)
	if verifies(n2, "alice", "second") || n2.HasUsers() {
		t.Fatal("node 2 still knows alice after her deletion")
	}
	// Recreated with the password she had: accepted again.
	if err := n1.SetPassword("alice", "second"); err != nil {
		t.Fatal(err)
	}
	apply(t, st, n2)
	if !verifies(n2, "alice", "second") {
		t.Fatal("node 2 refuses the recreated alice")
	}
}

func TestApplyOwnWriteKeepsCache(t *testing.T) {
	st, n1, _ := twoNodes(t)
	if err := n1.SetPassword("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if !verifies(n1, "bob", "pw") {
		t.Fatal("bob refused")
	}
	gen := n1.users["bob"].gen
	apply(t, st, n1) // node 1's own writes come back through the watch
	if got := n1.users["bob"].gen; got != gen {
		t.Fatalf("applying node 1's own write changed bob's generation %d -> %d (its cached checks lost)", gen, got)
	}
	if n1.pwCache.len() != 1 {
		t.Fatalf("password cache has %d entries, want 1", n1.pwCache.len())
	}
}

func TestApplyTokensAndACLsAcrossNodes(t *testing.T) {
	st, n1, n2 := twoNodes(t)
	if err := n1.SetPassword("carol", "pw"); err != nil {
		t.Fatal(err)
	}
	secret, info, err := n1.CreateToken(User("carol"), "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, n1, acl(topic, "orders", literal, "User:carol", "*", opWrite, allow))
	gen := n2.Generation()
	if n2.Authorize(User("carol"), "127.0.0.1", opWrite, topic, "orders") {
		t.Fatal("node 2 allows before the ACL reached it")
	}
	apply(t, st, n2)
	if p, err := n2.VerifyToken(context.Background(), secret); err != nil || p != User("carol") {
		t.Fatalf("token on node 2: %v %v", p, err)
	}
	if !n2.Authorize(User("carol"), "127.0.0.1", opWrite, topic, "orders") {
		t.Fatal("node 2 denies carol's WRITE after the ACL was applied")
	}
	if n2.Generation() == gen {
		t.Fatal("node 2's ACL generation did not change")
	}
	if err := n1.RevokeToken(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.DeleteACLs([]ACLFilter{anyFilter()}); err != nil {
		t.Fatal(err)
	}
	apply(t, st, n2)
	if _, err := n2.VerifyToken(context.Background(), secret); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("revoked token on node 2: %v, want ErrAuthFailed", err)
	}
	if n2.Authorize(User("carol"), "127.0.0.1", opWrite, topic, "orders") {
		t.Fatal("node 2 allows after the ACL was deleted")
	}
	if len(n2.Tokens()) != 0 {
		t.Fatalf("node 2 lists tokens %v after the revocation", n2.Tokens())
	}
}

// Reload (after a watch broke: changes were missed) makes memory equal to
// the store, including deletions no event told of.
func TestReloadCatchesUp(t *testing.T) {
	st, n1, n2 := twoNodes(t)
	if err := n1.SetPassword("dave", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := n1.SetPassword("erin", "pw"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, n1, acl(topic, "t", literal, "User:dave", "*", opRead, allow))
	secret, _, err := n1.CreateToken(User("dave"), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, st, n2)
	if !verifies(n2, "dave", "pw") || !verifies(n2, "erin", "pw") {
		t.Fatal("node 2 refuses dave or erin")
	}
	erinGen := n2.users["erin"].gen
	// Missed: dave deleted, the ACL deleted, a new user and ACL.
	if err := n1.DeleteUser("dave"); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.DeleteACLs([]ACLFilter{anyFilter()}); err != nil {
		t.Fatal(err)
	}
	if err := n1.SetPassword("frank", "pw"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, n1, acl(group, "g", literal, "User:frank", "*", opRead, allow))
	st.take()
	if err := n2.Reload(); err != nil {
		t.Fatal(err)
	}
	if verifies(n2, "dave", "pw") {
		t.Fatal("node 2 accepts the deleted dave after a reload")
	}
	if _, err := n2.VerifyToken(context.Background(), secret); err == nil {
		t.Fatal("node 2 accepts a token of the deleted dave")
	}
	if !verifies(n2, "frank", "pw") {
		t.Fatal("node 2 refuses frank after a reload")
	}
	if n2.Authorize(User("dave"), "127.0.0.1", opRead, topic, "t") || !n2.Authorize(User("frank"), "127.0.0.1", opRead, group, "g") {
		t.Fatal("node 2's ACLs after a reload differ from the store's")
	}
	if n2.users["erin"].gen != erinGen {
		t.Fatal("a reload changed the generation of erin, whose credentials did not change")
	}
	got, _ := n2.DescribeACLs(anyFilter())
	want, _ := n1.DescribeACLs(anyFilter())
	if !sameACLs(got, want) {
		t.Fatalf("node 2's ACLs %v, node 1's %v", got, want)
	}
}

// A record that does not decode changes nothing for its key (a DENY stays,
// a good credential stays), the rest is applied, and the error names the
// key and never the value.
func TestApplyAndLoadCorruptRecords(t *testing.T) {
	st, n1, n2 := twoNodes(t)
	if err := n1.SetPassword("gina", "pw"); err != nil {
		t.Fatal(err)
	}
	deny1 := acl(topic, "secret", literal, "User:*", "*", opRead, deny)
	mustCreate(t, n1, deny1, acl(topic, "secret", literal, "User:gina", "*", opRead, allow))
	apply(t, st, n2)
	if n2.Authorize(User("gina"), "127.0.0.1", opRead, topic, "secret") {
		t.Fatal("DENY not enforced on node 2")
	}
	const garbage = "not-json-SECRETVALUE"
	denyKey := aclPrefix + aclID(deny1)
	err := n2.Apply([]Change{
		{Key: denyKey, Value: []byte(garbage)},
		{Key: userKey("gina", ScramSHA256), Value: []byte(garbage)},
		{Key: tokenPrefix + "0123456789abcdef", Value: []byte(garbage)},
		{Key: "other/key", Value: []byte("ignored")},
	})
	if !errors.Is(err, ErrStorage) || !strings.Contains(err.Error(), denyKey) || strings.Contains(err.Error(), "SECRETVALUE") {
		t.Fatalf("Apply of corrupt records: %v, want ErrStorage naming %s and no value", err, denyKey)
	}
	if n2.Authorize(User("gina"), "127.0.0.1", opRead, topic, "secret") {
		t.Fatal("a corrupt record removed the DENY on node 2")
	}
	if !verifies(n2, "gina", "pw") {
		t.Fatal("a corrupt record replaced gina's good credential")
	}
	// Load (a reload) does the same.
	if err := st.Store.Put(denyKey, []byte(garbage)); err != nil {
		t.Fatal(err)
	}
	if err := n2.Reload(); !errors.Is(err, ErrStorage) {
		t.Fatalf("Reload with a corrupt ACL: %v, want ErrStorage", err)
	}
	if n2.Authorize(User("gina"), "127.0.0.1", opRead, topic, "secret") {
		t.Fatal("a corrupt record removed the DENY on node 2 in a reload")
	}
	// Open still refuses a corrupt store.
	if _, err := Open(st, Config{}); !errors.Is(err, ErrStorage) {
		t.Fatalf("Open of a store with a corrupt ACL: %v, want ErrStorage", err)
	}
}

// Apply runs beside readers and local writers without a race.
func TestApplyConcurrent(t *testing.T) {
	st, n1, n2 := twoNodes(t)
	if err := n1.SetPassword("hank", "pw"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil && i < 200; i++ {
			mustCreate(t, n1, acl(topic, "t", prefix, "User:hank", "*", opRead, allow))
			_ = n1.SetPassword("hank", "pw")
			_ = n2.Apply(st.take())
		}
	})
	wg.Go(func() {
		for i := 0; ctx.Err() == nil && i < 200; i++ {
			n2.Authorize(User("hank"), "127.0.0.1", opRead, topic, "tx")
			verifies(n2, "hank", "pw")
			_ = n2.Reload()
			n2.Users()
		}
	})
	wg.Wait()
	apply(t, st, n2)
	if !verifies(n2, "hank", "pw") || !n2.Authorize(User("hank"), "127.0.0.1", opRead, topic, "tx") {
		t.Fatal("node 2 does not end in step with node 1")
	}
}
