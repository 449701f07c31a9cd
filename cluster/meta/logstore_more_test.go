package meta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cluster/meta"
)

// TestLogStoreDurable: the RocksDB store's data survives closing and
// reopening the log; keys found at open have the loaded version 1, a CAS
// on it works, a CAS on a version from before the reopen fails.
func TestLogStoreDurable(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	s := meta.NewLogStore(l)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		if ok, _, err := s.Txn(ctx, nil, []meta.Op{{Key: "topics/t", Value: []byte(fmt.Sprint(i))}, {Key: "x/other", Value: []byte("o")}, {Key: "gone", Value: []byte("g")}}); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if ok, _, err := s.Txn(ctx, nil, []meta.Op{{Key: "gone", Delete: true}}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	before, err := s.Get(ctx, "topics/t")
	if err != nil || before.Version <= 1 {
		t.Fatalf("version before reopen %d, %v: want above the loaded revision", before.Version, err)
	}
	_ = s.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir)
	defer l.Close()
	s = meta.NewLogStore(l)
	defer s.Close()
	list, rev, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "topics/t" || string(list[0].Value) != "2" || list[1].Key != "x/other" || list[0].Version != 1 || list[1].Version != 1 || rev != 1 {
		t.Fatalf("after reopen: %+v at %d, want topics/t=2 and x/other at the loaded version 1", list, rev)
	}
	if ok, _, err := s.Txn(ctx, []meta.Cmp{{Key: "topics/t", Version: before.Version}}, []meta.Op{{Key: "topics/t", Value: []byte("stale")}}); err != nil || ok {
		t.Fatalf("CAS on a version from before the reopen: ok %v, %v; want a failed compare", ok, err)
	}
	if ok, _, err := s.Txn(ctx, []meta.Cmp{{Key: "topics/t", Version: 1}}, []meta.Op{{Key: "topics/t", Value: []byte("3")}}); err != nil || !ok {
		t.Fatalf("CAS on the loaded version: ok %v, %v", ok, err)
	}
}

// TestLogStoreLegacyAuth: a data directory from before keeps its users:
// auth.LogStore's keys are the store's x/ keys, both ways, and the
// store's own keys stay out of auth's and the log's other metadata.
func TestLogStoreLegacyAuth(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	old, err := auth.Open(auth.LogStore(l), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.SetPassword("old-user", "pw-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta("txn/1", []byte("another package's key")); err != nil {
		t.Fatal(err)
	}
	s := meta.NewLogStore(l)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ok, _, err := s.Txn(ctx, nil, []meta.Op{{Key: "topics/t", Value: []byte("{}")}, {Key: "pid/next", Value: []byte("1000")}}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	svc, err := auth.Open(meta.AuthStore(s), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if u := svc.Users(); len(u) != 1 || u[0].Name != "old-user" {
		t.Fatalf("AuthStore over an old data directory lists %+v, want old-user", u)
	}
	if err := svc.SetPassword("new-user", "pw-2"); err != nil {
		t.Fatal(err)
	}
	again, err := auth.Open(auth.LogStore(l), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if u := again.Users(); len(u) != 2 || u[0].Name != "new-user" || u[1].Name != "old-user" {
		t.Fatalf("auth.LogStore after AuthStore wrote: %+v, want old-user and new-user", u)
	}
	other, err := s.Get(ctx, "x/txn/1")
	if err != nil || string(other.Value) != "another package's key" || other.Version != 1 {
		t.Fatalf("x/txn/1 = %q @%d, %v", other.Value, other.Version, err)
	}
	kvs, err := l.MetaList("")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if kv.Key == "topics/t" || kv.Key == "pid/next" {
			t.Fatalf("the store's own key %q landed among the log's plain metadata keys", kv.Key)
		}
	}
	for _, bad := range []string{"x/", "x/\x00meta/topics/t"} {
		if _, err := s.Get(ctx, bad); err == nil {
			t.Fatalf("Get(%q): no error", bad)
		}
		if ok, _, err := s.Txn(ctx, nil, []meta.Op{{Key: bad, Value: []byte("x")}}); err == nil || ok {
			t.Fatalf("Txn put %q: ok %v err %v, want an error", bad, ok, err)
		}
	}
}

// TestLogStoreWatchBounds: a watch from before the store's history, or
// one whose reader falls far behind, breaks instead of holding writers;
// Close breaks the rest and later calls fail.
func TestLogStoreWatchBounds(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	s := meta.NewLogStore(l)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := closedWith(t, s.Watch(ctx, "", 0)); !errors.Is(err, meta.ErrWatchBroken) {
		t.Fatalf("watch from revision 0 (before the loaded state): %v, want ErrWatchBroken", err)
	}
	slow := s.Watch(ctx, "", 1) // never read
	live := s.Watch(ctx, "live/", 1)
	start := time.Now()
	const writes = 1100 // more batches than a watch queues (1024)
	for i := range writes {
		if ok, _, err := s.Txn(ctx, nil, []meta.Op{{Key: "k", Value: []byte(fmt.Sprint(i))}}); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	t.Logf("%d writes with a stuck watcher in %v", writes, time.Since(start).Round(time.Millisecond))
	if err := closedWith(t, slow); !errors.Is(err, meta.ErrWatchBroken) {
		t.Fatalf("a watch never read: %v, want ErrWatchBroken", err)
	}
	// A watch of another prefix got nothing queued and still works.
	_, rev, err := s.Txn(ctx, nil, []meta.Op{{Key: "live/1", Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case b, ok := <-live.Events():
		if !ok || len(b) != 1 || b[0].KV.Key != "live/1" || b[0].KV.Version != rev {
			t.Fatalf("live watch: %+v %v (%v)", b, ok, live.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("live watch: nothing within 10 s")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closedWith(t, live); !errors.Is(err, meta.ErrWatchBroken) {
		t.Fatalf("watch after Close: %v, want ErrWatchBroken", err)
	}
	if _, err := s.Get(ctx, "k"); err == nil {
		t.Fatal("Get after Close: no error")
	}
	if _, _, err := s.Txn(ctx, nil, []meta.Op{{Key: "k", Value: []byte("x")}}); err == nil {
		t.Fatal("Txn after Close: no error")
	}
}
