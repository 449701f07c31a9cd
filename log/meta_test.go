package log

import (
	"errors"
	"fmt"
	"testing"
)

func TestMetaListAndDelete(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for _, k := range []string{"auth/user/b", "auth/user/a", "auth/acl/1", "auth/userx", "other"} {
		if err := l.SetMeta(k, []byte("v:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.MetaList("auth/user/")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[{auth/user/a [118 58 97 117 116 104 47 117 115 101 114 47 97]} {auth/user/b [118 58 97 117 116 104 47 117 115 101 114 47 98]}]" {
		t.Fatalf("MetaList(auth/user/) = %v, want a then b only", got)
	}
	if string(got[0].Value) != "v:auth/user/a" {
		t.Fatalf("value %q", got[0].Value)
	}
	all, err := l.MetaList("")
	if err != nil || len(all) != 5 {
		t.Fatalf("MetaList(\"\") = %d entries, %v; want 5", len(all), err)
	}
	if err := l.DeleteMeta("auth/user/a"); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteMeta("absent"); err != nil {
		t.Fatalf("DeleteMeta of an absent key: %v", err)
	}
	if v, err := l.Meta("auth/user/a"); err != nil || v != nil {
		t.Fatalf("after DeleteMeta: %q, %v", v, err)
	}
	// Durable: reopen and find the same state.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.MetaList(""); !errors.Is(err, ErrClosed) {
		t.Fatalf("MetaList after Close: %v, want ErrClosed", err)
	}
	if err := l.DeleteMeta("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("DeleteMeta after Close: %v, want ErrClosed", err)
	}
	l2 := openTest(t, dir)
	got, err = l2.MetaList("auth/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != "auth/acl/1" || got[1].Key != "auth/user/b" || got[2].Key != "auth/userx" {
		t.Fatalf("after reopen: %v", got)
	}
}
