package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestAdoptAuth: a node alone with users, ACLs and tokens adopts them into
// an empty cluster: an auth service on etcd then authenticates the users,
// enforces the ACLs and accepts the token. A crash half-way (some keys
// copied, one changed in the cluster since) is finished by the next Adopt
// without overwriting; a third Adopt copies nothing.
func TestAdoptAuth(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	l := openLog(t, t.TempDir())
	local, err := auth.Open(auth.LogStore(l), auth.Config{Authorization: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 { // more than one transaction's worth of keys
		if err := local.SetPassword(fmt.Sprintf("user-%02d", i), "pw"); err != nil {
			t.Fatal(err)
		}
	}
	orders := auth.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:user-01", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	if errs := local.CreateACLs([]auth.ACL{orders}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	secret, _, err := local.CreateToken(auth.User("user-02"), "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := l.MetaList(auth.AuthPrefix)
	if err != nil || len(kvs) != 40*2+2 {
		t.Fatalf("local auth keys: %d %v, want 82", len(kvs), err)
	}

	// A crash half-way: the first ten keys copied; and user-00 changed its
	// password in the cluster since (it must keep the cluster's).
	st := newStore(t, e, "/adoptauth/")
	clusterAuth := meta.AuthStore(st)
	for _, kv := range kvs[:10] {
		if err := clusterAuth.Put(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := auth.Open(clusterAuth, auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPassword("user-00", "changed"); err != nil {
		t.Fatal(err)
	}

	cat := catalog.New(catalog.Config{Store: st, Log: l, NodeID: 1, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
	if _, err := cat.Adopt(ctx); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	got, _, err := st.List(ctx, meta.OtherPrefix+auth.AuthPrefix)
	if err != nil || len(got) != len(kvs) {
		t.Fatalf("cluster auth keys after Adopt: %d %v, want %d", len(got), err, len(kvs))
	}
	svc, err = auth.Open(clusterAuth, auth.Config{Authorization: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 40; i++ {
		if _, err := svc.VerifyPassword(ctx, fmt.Sprintf("user-%02d", i), "pw"); err != nil {
			t.Fatalf("user-%02d after the upgrade: %v", i, err)
		}
	}
	if _, err := svc.VerifyPassword(ctx, "user-00", "changed"); err != nil {
		t.Fatalf("user-00's password changed in the cluster was overwritten by the adoption: %v", err)
	}
	if !svc.Authorize(auth.User("user-01"), "127.0.0.1", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "orders") ||
		svc.Authorize(auth.User("user-03"), "127.0.0.1", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "orders") {
		t.Fatal("the adopted ACL is not enforced as it was")
	}
	if p, err := svc.VerifyToken(ctx, secret); err != nil || p != auth.User("user-02") {
		t.Fatalf("the adopted token: %v %v", p, err)
	}
	// Again (the next start before the cluster has its id): nothing to copy.
	revBefore := rev(ctx, t, st)
	if _, err := cat.Adopt(ctx); err != nil {
		t.Fatalf("Adopt again: %v", err)
	}
	if r := rev(ctx, t, st); r != revBefore {
		t.Fatalf("a second Adopt wrote (revision %d -> %d)", revBefore, r)
	}
}

// TestAdoptAuthStartedCluster: once a node follows the cluster, a node
// with its own users joining it copies none of them.
func TestAdoptAuthStartedCluster(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	st := newStore(t, e, "/adoptstarted/")
	startNode(t, 1, st, openLog(t, t.TempDir()))
	l := openLog(t, t.TempDir())
	local, err := auth.Open(auth.LogStore(l), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := local.SetPassword("intruder", "pw"); err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(catalog.Config{Store: newStore(t, e, "/adoptstarted/"), Log: l, NodeID: 2, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
	if _, err := cat.Adopt(ctx); !errors.Is(err, catalog.ErrClusterStarted) {
		t.Fatalf("Adopt into a started cluster: %v, want ErrClusterStarted", err)
	}
	if kvs, _, err := st.List(ctx, meta.OtherPrefix+auth.AuthPrefix); err != nil || len(kvs) != 0 {
		t.Fatalf("the started cluster got %d auth keys (%v), want none", len(kvs), err)
	}
}

// rev is the store's current revision (a List of a key nobody has).
func rev(ctx context.Context, t *testing.T, st meta.Store) int64 {
	t.Helper()
	_, r, err := st.List(ctx, "no-such-key/")
	if err != nil {
		t.Fatal(err)
	}
	return r
}
