package log

import (
	"errors"
	"testing"
)

// TestApplyMeta: puts, an empty value and deletes land together, a nil
// Value deletes, an empty key changes nothing, and the result survives a
// reopen, with SyncWrites off too (ApplyMeta syncs on its own).
func TestApplyMeta(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta("gone", []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := l.ApplyMeta([]MetaKV{{Key: "a", Value: []byte("1")}, {Key: "empty", Value: []byte{}}, {Key: "gone"}}); err != nil {
		t.Fatalf("ApplyMeta: %v", err)
	}
	if err := l.ApplyMeta([]MetaKV{{Key: "b", Value: []byte("2")}, {Key: ""}}); err == nil {
		t.Fatal("ApplyMeta with an empty key: no error")
	}
	if err := l.ApplyMeta(nil); err != nil {
		t.Fatalf("ApplyMeta(nil): %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.ApplyMeta([]MetaKV{{Key: "a", Value: []byte("x")}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("ApplyMeta after Close: %v, want ErrClosed", err)
	}
	l2 := openTest(t, dir)
	check := func(k, want string, present bool) {
		t.Helper()
		v, err := l2.Meta(k)
		if err != nil {
			t.Fatal(err)
		}
		if (v != nil) != present || string(v) != want {
			t.Fatalf("after reopen %q = %q (present %v), want %q (present %v)", k, v, v != nil, want, present)
		}
	}
	check("a", "1", true)
	check("empty", "", true)
	check("gone", "", false)
	check("b", "", false) // the batch with an empty key wrote nothing
}
