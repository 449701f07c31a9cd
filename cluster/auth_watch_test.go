package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/syncbuf"
)

// authNodes are two nodes' auth services on one cluster's etcd: node 1
// writes, node 2 follows its writes by FollowAuth (on store, which a test
// may wrap).
func authNodes(t *testing.T, e *etcdtest.Etcd, wrap func(meta.Store) meta.Store) (n1, n2 *auth.Service, logs *syncbuf.Buffer) {
	t.Helper()
	cfg := testConfig(e, "authwatch", 1)
	st := meta.NewEtcdStore(connect(t, cfg), cfg.Prefix())
	t.Cleanup(func() { st.Close() })
	acfg := auth.Config{Authorization: true, Superusers: []string{"admin"}}
	var err error
	if n1, err = auth.Open(meta.AuthStore(st), acfg); err != nil {
		t.Fatal(err)
	}
	if n2, err = auth.Open(meta.AuthStore(st), acfg); err != nil {
		t.Fatal(err)
	}
	logs = &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		FollowAuth(ctx, wrap(st), n2, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return n1, n2, logs
}

func verifies(s *auth.Service, user, pw string) bool {
	_, err := s.VerifyPassword(context.Background(), user, pw)
	return err == nil
}

var (
	topicT = kmsg.ACLResourceTypeTopic
	readOp = kmsg.ACLOperationRead
)

func readACL(user, topic string) auth.ACL {
	return auth.ACL{ResourceType: topicT, ResourceName: topic, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:" + user, Host: "*", Operation: readOp, Permission: kmsg.ACLPermissionTypeAllow}
}

// TestFollowAuth: users, passwords, deletions, tokens and ACLs written by
// node 1 count on node 2 within a second, through a real etcd.
func TestFollowAuth(t *testing.T) {
	e := etcdtest.Start(t)
	n1, n2, logs := authNodes(t, e, func(s meta.Store) meta.Store { return s })
	if err := n1.SetPassword("alice", "first"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "alice authenticates on node 2", func() bool { return verifies(n2, "alice", "first") })
	if err := n1.SetPassword("alice", "second"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "alice's old password refused on node 2", func() bool { return !verifies(n2, "alice", "first") })
	if !verifies(n2, "alice", "second") {
		t.Fatal("node 2 refuses alice's new password")
	}
	if errs := n1.CreateACLs([]auth.ACL{readACL("alice", "orders")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	eventually(t, time.Second, "the ACL allows on node 2", func() bool {
		return n2.Authorize(auth.User("alice"), "127.0.0.1", readOp, topicT, "orders")
	})
	secret, info, err := n1.CreateToken(auth.User("alice"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the token works on node 2", func() bool {
		_, err := n2.VerifyToken(context.Background(), secret)
		return err == nil
	})
	if err := n1.RevokeToken(info.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the revoked token refused on node 2", func() bool {
		_, err := n2.VerifyToken(context.Background(), secret)
		return err != nil
	})
	if err := n1.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the deleted alice refused on node 2", func() bool { return !verifies(n2, "alice", "second") })
	if s := logs.String(); containsAny(s, "first", "second", secret) {
		t.Fatalf("the watch logged a secret:\n%s", s)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// breakableStore breaks its watches on demand and holds the next List
// until released, so changes are made while the follower watches nothing
// (as when etcd compacted past its revision).
type breakableStore struct {
	meta.Store
	mu      sync.Mutex
	gate    chan struct{}
	cancels []func()
	lists   atomic.Int32
}

type brokenAuthWatcher struct {
	meta.Watcher
	out    chan []meta.Event
	broken atomic.Bool
}

func (w *brokenAuthWatcher) Events() <-chan []meta.Event { return w.out }
func (w *brokenAuthWatcher) Err() error {
	if w.broken.Load() {
		return fmt.Errorf("%w: compacted (the test)", meta.ErrWatchBroken)
	}
	return w.Watcher.Err()
}

func (b *breakableStore) List(ctx context.Context, prefix string) ([]meta.KV, int64, error) {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	b.lists.Add(1)
	return b.Store.List(ctx, prefix)
}

func (b *breakableStore) Watch(ctx context.Context, prefix string, after int64) meta.Watcher {
	wctx, cancel := context.WithCancel(ctx)
	inner := b.Store.Watch(wctx, prefix, after)
	w := &brokenAuthWatcher{Watcher: inner, out: make(chan []meta.Event)}
	b.mu.Lock()
	b.cancels = append(b.cancels, func() { w.broken.Store(true); cancel() })
	b.mu.Unlock()
	go func() {
		defer close(w.out)
		for batch := range inner.Events() {
			select {
			case w.out <- batch:
			case <-wctx.Done():
				return
			}
		}
	}()
	return w
}

func (b *breakableStore) breakAll() (release func()) {
	b.mu.Lock()
	gate := make(chan struct{})
	b.gate = gate
	cancels := b.cancels
	b.cancels = nil
	b.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	return func() {
		b.mu.Lock()
		b.gate = nil
		b.mu.Unlock()
		close(gate)
	}
}

// TestFollowAuthReloadsAfterBrokenWatch: changes made while the watch was
// broken (a user deleted, an ACL deleted, a user and an ACL created) are
// all in memory after the reload.
func TestFollowAuthReloadsAfterBrokenWatch(t *testing.T) {
	e := etcdtest.Start(t)
	var bs *breakableStore
	n1, n2, logs := authNodes(t, e, func(s meta.Store) meta.Store { bs = &breakableStore{Store: s}; return bs })
	if err := n1.SetPassword("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if errs := n1.CreateACLs([]auth.ACL{readACL("bob", "t")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	eventually(t, time.Second, "bob and his ACL on node 2", func() bool {
		return verifies(n2, "bob", "pw") && n2.Authorize(auth.User("bob"), "127.0.0.1", readOp, topicT, "t")
	})
	lists := bs.lists.Load()
	release := bs.breakAll()
	if err := n1.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.DeleteACLs([]auth.ACLFilter{{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}}); err != nil {
		t.Fatal(err)
	}
	if err := n1.SetPassword("carl", "pw"); err != nil {
		t.Fatal(err)
	}
	if errs := n1.CreateACLs([]auth.ACL{readACL("carl", "u")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	time.Sleep(100 * time.Millisecond)
	if !verifies(n2, "bob", "pw") {
		t.Fatal("node 2 learnt of bob's deletion with its watch broken: the test breaks nothing")
	}
	release()
	eventually(t, 2*time.Second, "node 2 reloaded: bob gone, carl and his ACL there", func() bool {
		return !verifies(n2, "bob", "pw") && verifies(n2, "carl", "pw") &&
			!n2.Authorize(auth.User("bob"), "127.0.0.1", readOp, topicT, "t") &&
			n2.Authorize(auth.User("carl"), "127.0.0.1", readOp, topicT, "u")
	})
	if bs.lists.Load() <= lists {
		t.Fatal("node 2 caught up without listing again")
	}
	if s := logs.String(); !strings.Contains(s, "auth watch broken") {
		t.Fatalf("no warning about the broken watch:\n%s", s)
	}
}

// TestFollowAuthEtcdRestart: etcd stopped and started again; the watch
// resumes and a change made afterwards reaches node 2.
func TestFollowAuthEtcdRestart(t *testing.T) {
	e := etcdtest.Start(t)
	n1, n2, _ := authNodes(t, e, func(s meta.Store) meta.Store { return s })
	if err := n1.SetPassword("dora", "pw"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "dora on node 2", func() bool { return verifies(n2, "dora", "pw") })
	e.Stop()
	if err := n1.SetPassword("dora", "other"); !errors.Is(err, auth.ErrStorage) {
		t.Fatalf("a password change with etcd down: %v, want ErrStorage", err)
	}
	if !verifies(n2, "dora", "pw") {
		t.Fatal("node 2 forgot dora while etcd was down")
	}
	time.Sleep(time.Second)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := n1.SetPassword("dora", "other")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd back, a password change still fails: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	eventually(t, 10*time.Second, "dora's new password on node 2 after etcd came back", func() bool {
		return verifies(n2, "dora", "other") && !verifies(n2, "dora", "pw")
	})
}

// staleListStore answers the first List with a revision etcd has
// compacted since, as when a node lists, then stalls past a compaction
// before it watches.
type staleListStore struct {
	meta.Store
	compact func(rev int64) error
	lists   atomic.Int32
}

func (s *staleListStore) List(ctx context.Context, prefix string) ([]meta.KV, int64, error) {
	kvs, rev, err := s.Store.List(ctx, prefix)
	if err != nil || s.lists.Add(1) > 1 {
		return kvs, rev, err
	}
	if err := s.compact(rev); err != nil {
		return nil, 0, err
	}
	return kvs, 1, nil
}

// TestFollowAuthCompacted: a watch from a revision etcd compacted breaks,
// and the node lists and loads everything again, then follows changes.
func TestFollowAuthCompacted(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "authwatch", 1)
	cli := connect(t, cfg)
	// Some history to compact.
	for i := range 5 {
		if _, err := cli.Put(context.Background(), cfg.Prefix()+"x/other", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	var ss *staleListStore
	n1, n2, logs := authNodes(t, e, func(s meta.Store) meta.Store {
		ss = &staleListStore{Store: s, compact: func(rev int64) error {
			_, err := cli.Compact(context.Background(), rev)
			return err
		}}
		return ss
	})
	if err := n1.SetPassword("erin", "pw"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "erin on node 2 after the compacted watch", func() bool { return verifies(n2, "erin", "pw") })
	if ss.lists.Load() < 2 {
		t.Fatalf("node 2 listed %d times, want a second list after the compacted watch", ss.lists.Load())
	}
	if s := logs.String(); !strings.Contains(s, "auth watch broken") || !strings.Contains(s, "compacted") {
		t.Fatalf("no warning naming the compaction:\n%s", s)
	}
}
