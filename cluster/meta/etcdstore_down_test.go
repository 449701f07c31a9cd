package meta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestEtcdStoreDurable: what was written survives an etcd stop and start,
// at the same versions, and a CAS on a version read before still works.
func TestEtcdStoreDurable(t *testing.T) {
	e := etcdtest.Start(t)
	s := meta.NewEtcdStore(etcdClient(t, e), "/durable/")
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, rev, err := s.Txn(ctx, nil, []meta.Op{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}, {Key: "gone", Value: []byte("x")}})
	if err != nil || !ok {
		t.Fatalf("Txn: %v %v", ok, err)
	}
	if ok, _, err := s.Txn(ctx, nil, []meta.Op{{Key: "gone", Delete: true}}); err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	e.Stop()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	var list []meta.KV
	waitOK(t, "List after restart", func() error { list, _, err = s.List(ctx, ""); return err })
	if len(list) != 2 || list[0].Key != "a" || string(list[0].Value) != "1" || list[0].Version != rev || list[1].Key != "b" || list[1].Version != rev {
		t.Fatalf("after restart: %+v, want a=1 and b=2 at version %d", list, rev)
	}
	if ok, _, err := s.Txn(ctx, []meta.Cmp{{Key: "a", Version: rev}}, []meta.Op{{Key: "a", Value: []byte("3")}}); err != nil || !ok {
		t.Fatalf("CAS on the version read before the restart: %v %v", ok, err)
	}
}

// waitOK retries f for up to 15 s (the client reconnects with back-off).
func waitOK(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 15 s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// within runs f and fails the test unless it returns ErrUnavailable in at
// most limit.
func within(t *testing.T, what string, limit time.Duration, f func() error) {
	t.Helper()
	start := time.Now()
	err := f()
	took := time.Since(start)
	if !errors.Is(err, meta.ErrUnavailable) {
		t.Fatalf("%s with etcd down: %v, want ErrUnavailable", what, err)
	}
	if took > limit {
		t.Fatalf("%s with etcd down took %v, want at most %v", what, took, limit)
	}
	t.Logf("%s: %v after %v", what, err, took.Round(time.Millisecond))
}

// TestEtcdStoreDown: with etcd stopped every call fails with ErrUnavailable
// within its deadline (the caller's, else DefaultTimeout); a running watch
// survives; after a start the store works again and the watch resumes
// without missing a change.
func TestEtcdStoreDown(t *testing.T) {
	e := etcdtest.Start(t)
	s := meta.NewEtcdStore(etcdClient(t, e), "/down/")
	defer s.Close()
	bg := context.Background()
	wctx, wcancel := context.WithTimeout(bg, time.Minute)
	defer wcancel()
	ok, rev, err := s.Txn(wctx, nil, []meta.Op{{Key: "k", Value: []byte("before")}})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	w := s.Watch(wctx, "", rev)
	e.Stop()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bg, time.Second) }
	within(t, "Get", 2*time.Second, func() error { c, cancel := short(); defer cancel(); _, err := s.Get(c, "k"); return err })
	within(t, "List", 2*time.Second, func() error { c, cancel := short(); defer cancel(); _, _, err := s.List(c, ""); return err })
	within(t, "Txn", 2*time.Second, func() error {
		c, cancel := short()
		defer cancel()
		_, _, err := s.Txn(c, []meta.Cmp{{Key: "k", Version: rev}}, []meta.Op{{Key: "k", Value: []byte("down")}})
		return err
	})
	within(t, "Get without a deadline", meta.DefaultTimeout+2*time.Second, func() error { _, err := s.Get(bg, "k"); return err })
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	var v2 int64
	waitOK(t, "Txn after start", func() error {
		ok, r, err := s.Txn(bg, []meta.Cmp{{Key: "k", Version: rev}}, []meta.Op{{Key: "k", Value: []byte("after")}})
		if err == nil && !ok {
			return fmt.Errorf("CAS failed: the Txn during the outage must not have applied")
		}
		v2 = r
		return err
	})
	select {
	case batch, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch closed across the restart: %v", w.Err())
		}
		if len(batch) != 1 || batch[0].KV.Key != "k" || string(batch[0].KV.Value) != "after" || batch[0].KV.Version != v2 {
			t.Fatalf("watch after the restart: %+v, want k=after @%d", batch, v2)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch sent nothing within 15 s of the change after the restart")
	}
}

// TestEtcdStorePaused: a stalled etcd (SIGSTOP: connections open, no
// answers) is ErrUnavailable within the deadline too.
func TestEtcdStorePaused(t *testing.T) {
	e := etcdtest.Start(t)
	s := meta.NewEtcdStore(etcdClient(t, e), "/paused/")
	defer s.Close()
	if _, err := s.Get(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if err := e.Pause(); err != nil {
		t.Fatal(err)
	}
	within(t, "Txn", 2*time.Second, func() error {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _, err := s.Txn(c, nil, []meta.Op{{Key: "k", Value: []byte("x")}})
		return err
	})
	if err := e.Resume(); err != nil {
		t.Fatal(err)
	}
	waitOK(t, "Get after resume", func() error { _, err := s.Get(context.Background(), "k"); return err })
}
