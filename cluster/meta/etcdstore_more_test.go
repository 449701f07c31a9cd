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

// closedWith waits for w to close and returns its Err.
func closedWith(t *testing.T, w meta.Watcher) error {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return w.Err()
			}
		case <-deadline:
			t.Fatal("watch not closed within 10 s")
		}
	}
}

// TestEtcdStoreWatchCompacted: a watch from a compacted revision breaks
// (the caller lists again), and Close breaks running watches.
func TestEtcdStoreWatchCompacted(t *testing.T) {
	e := etcdtest.Start(t)
	cli := etcdClient(t, e)
	s := meta.NewEtcdStore(cli, "/compact/")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rev int64
	for i := range 3 {
		_, r, err := s.Txn(ctx, nil, []meta.Op{{Key: "k", Value: []byte(fmt.Sprint(i))}})
		if err != nil {
			t.Fatal(err)
		}
		rev = r
	}
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	err := closedWith(t, s.Watch(ctx, "", rev-2))
	if !errors.Is(err, meta.ErrWatchBroken) {
		t.Fatalf("watch from a compacted revision: %v, want ErrWatchBroken", err)
	}
	w := s.Watch(ctx, "", rev)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closedWith(t, w); !errors.Is(err, meta.ErrWatchBroken) {
		t.Fatalf("watch after Close: %v, want ErrWatchBroken", err)
	}
	if _, err := s.Get(ctx, "k"); err == nil {
		t.Fatal("Get after Close: no error")
	}
}

// TestEtcdStoreListPages: a prefix larger than one List page is read whole,
// in order, at one revision.
func TestEtcdStoreListPages(t *testing.T) {
	e := etcdtest.Start(t)
	s := meta.NewEtcdStore(etcdClient(t, e), "/pages/")
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 2500
	for i := 0; i < n; i += 100 { // etcd takes at most 128 ops a Txn
		var ops []meta.Op
		for j := i; j < i+100; j++ {
			ops = append(ops, meta.Op{Key: fmt.Sprintf("p/%05d", j), Value: []byte(fmt.Sprint(j))})
		}
		if ok, _, err := s.Txn(ctx, nil, ops); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if _, _, err := s.Txn(ctx, nil, []meta.Op{{Key: "q", Value: []byte("after the prefix")}}); err != nil {
		t.Fatal(err)
	}
	list, rev, err := s.List(ctx, "p/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("List: %d entries, want %d", len(list), n)
	}
	for i, kv := range list {
		if kv.Key != fmt.Sprintf("p/%05d", i) || string(kv.Value) != fmt.Sprint(i) || kv.Version > rev {
			t.Fatalf("entry %d: %q=%q @%d (list revision %d)", i, kv.Key, kv.Value, kv.Version, rev)
		}
	}
}
