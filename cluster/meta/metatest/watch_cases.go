package metatest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// collect reads events from w until it has n or 10 s pass.
func collect(t *testing.T, w meta.Watcher, n int) []meta.Event {
	t.Helper()
	var got []meta.Event
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case batch, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch closed after %d of %d events: %v", len(got), n, w.Err())
			}
			if len(batch) == 0 {
				t.Fatal("watch sent an empty batch")
			}
			got = append(got, batch...)
		case <-deadline:
			t.Fatalf("watch: %d of %d events within 10 s: %s", len(got), n, describe(got))
		}
	}
	return got
}

// quiet checks that w sends nothing more for a little while.
func quiet(t *testing.T, w meta.Watcher) {
	t.Helper()
	select {
	case batch, ok := <-w.Events():
		if ok {
			t.Fatalf("unexpected events: %s", describe(batch))
		}
	case <-time.After(300 * time.Millisecond):
	}
}

func describe(evs []meta.Event) string {
	var b strings.Builder
	for _, e := range evs {
		op := "put"
		if e.Deleted {
			op = "delete"
		}
		fmt.Fprintf(&b, "[%s %q=%q @%d] ", op, e.KV.Key, e.KV.Value, e.KV.Version)
	}
	return b.String()
}

func wantEvent(t *testing.T, e meta.Event, deleted bool, key, value string, version int64) {
	t.Helper()
	if e.Deleted != deleted || e.KV.Key != key || e.KV.Version != version || (!deleted && string(e.KV.Value) != value) || (deleted && e.KV.Value != nil) {
		t.Fatalf("event %s, want deleted=%v %q=%q @%d", describe([]meta.Event{e}), deleted, key, value, version)
	}
}

func testWatchFromRevision(t *testing.T, s meta.Store) {
	put(t, s, "w/a", "a1")
	put(t, s, "w/b", "b1")
	list, rev, err := s.List(ctx(t), "w/")
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %v %v", list, err)
	}
	// Changes made between the List and the Watch are still seen.
	vc := put(t, s, "w/c", "c1")
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	w := s.Watch(wctx, "w/", rev)
	ok, vdel := txn(t, s, nil, meta.Op{Key: "w/a", Delete: true})
	if !ok {
		t.Fatal("delete failed")
	}
	put(t, s, "other/x", "outside the prefix")
	ok, vmulti := txn(t, s, nil, meta.Op{Key: "w/b", Value: []byte("b2")}, meta.Op{Key: "w/d", Value: []byte("d1")})
	if !ok {
		t.Fatal("put failed")
	}
	got := collect(t, w, 4)
	wantEvent(t, got[0], false, "w/c", "c1", vc)
	wantEvent(t, got[1], true, "w/a", "", vdel)
	wantEvent(t, got[2], false, "w/b", "b2", vmulti)
	wantEvent(t, got[3], false, "w/d", "d1", vmulti)
	quiet(t, w)
	// A watch from the last revision sees only what follows.
	w2 := s.Watch(wctx, "w/", vmulti)
	quiet(t, w2)
	ve := put(t, s, "w/e", "e1")
	wantEvent(t, collect(t, w2, 1)[0], false, "w/e", "e1", ve)
}

func testWatchPrefixBounds(t *testing.T, s meta.Store) {
	_, rev, err := s.List(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	w := s.Watch(wctx, "a/", rev)
	for _, k := range []string{"a", "ab", "a0", "b/", "x/a/"} {
		put(t, s, k, "no")
	}
	v := put(t, s, "a/", "yes")
	v2 := put(t, s, "a/b", "yes")
	got := collect(t, w, 2)
	wantEvent(t, got[0], false, "a/", "yes", v)
	wantEvent(t, got[1], false, "a/b", "yes", v2)
	quiet(t, w)
}

func testWatchCancel(t *testing.T, s meta.Store) {
	_, rev, err := s.List(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx(t))
	w := s.Watch(wctx, "c/", rev)
	v := put(t, s, "c/1", "x")
	wantEvent(t, collect(t, w, 1)[0], false, "c/1", "x", v)
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if ok {
				continue // an event may race the cancel
			}
			if err := w.Err(); err != nil {
				t.Fatalf("Err after the caller's cancel: %v, want nil", err)
			}
			// Writes go on with a cancelled watch nobody reads.
			put(t, s, "c/2", "y")
			return
		case <-deadline:
			t.Fatal("watch not closed within 5 s of its cancel")
		}
	}
}

// testWatchFuture: a watch from a revision not reached yet sends only the
// changes after it.
func testWatchFuture(t *testing.T, s meta.Store) {
	rev := put(t, s, "f/0", "x")
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	w := s.Watch(wctx, "f/", rev+2)
	put(t, s, "f/1", "no")
	put(t, s, "f/2", "no")
	v := put(t, s, "f/3", "yes")
	got := collect(t, w, 1)
	wantEvent(t, got[0], false, "f/3", "yes", v)
	quiet(t, w)
}
