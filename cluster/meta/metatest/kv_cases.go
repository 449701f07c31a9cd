package metatest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zombi-dev/zombi/cluster/meta"
)

func testGetAbsentPresent(t *testing.T, s meta.Store) {
	wantAbsent(t, s, "topics/none")
	v := put(t, s, "topics/a", "A")
	kv := wantValue(t, s, "topics/a", "A")
	if kv.Version != v {
		t.Fatalf("Get version %d, want the put's revision %d", kv.Version, v)
	}
}

func testPutOverwriteDelete(t *testing.T, s meta.Store) {
	v1 := put(t, s, "k", "one")
	v2 := put(t, s, "k", "two")
	if v2 <= v1 {
		t.Fatalf("overwrite version %d not after %d", v2, v1)
	}
	wantValue(t, s, "k", "two")
	ok, _ := txn(t, s, nil, meta.Op{Key: "k", Delete: true})
	if !ok {
		t.Fatal("delete failed")
	}
	wantAbsent(t, s, "k")
	// Deleting an absent key is no error.
	if ok, _ := txn(t, s, nil, meta.Op{Key: "k", Delete: true}); !ok {
		t.Fatal("delete of an absent key failed")
	}
	put(t, s, "k", "three") // recreated after a delete
	wantValue(t, s, "k", "three")
}

func testEmptyValue(t *testing.T, s meta.Store) {
	put(t, s, "empty", "")
	kv := get(t, s, "empty")
	if kv.Version == 0 || kv.Value == nil || len(kv.Value) != 0 {
		t.Fatalf("empty value read back as %q (nil %v) version %d: want present, empty, non-nil", kv.Value, kv.Value == nil, kv.Version)
	}
	ok, _ := txn(t, s, nil, meta.Op{Key: "nilvalue", Value: nil})
	if !ok {
		t.Fatal("put with a nil Value failed")
	}
	if kv := get(t, s, "nilvalue"); kv.Version == 0 {
		t.Fatal("a put with a nil Value must store an empty value, not delete")
	}
	list, _, err := s.List(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "empty" || list[0].Value == nil || list[0].Version == 0 {
		t.Fatalf("List: %+v, want empty and nilvalue present", list)
	}
	// Create-if-absent must fail on an empty value.
	if ok, _ := txn(t, s, []meta.Cmp{{Key: "empty"}}, meta.Op{Key: "empty", Value: []byte("x")}); ok {
		t.Fatal("create-if-absent succeeded over an empty value")
	}
}

// testListPrefixes: tricky prefixes, including keys that straddle the x/
// range the RocksDB store maps onto the log's legacy metadata keys.
func testListPrefixes(t *testing.T, s meta.Store) {
	all := []string{"a", "a/", "a/b", "a/b/c", "a0", "a.b", "ab", "a\xff", "a\xff\xff", "b", "w", "x", "x/1", "x/a/b", "x0", "xy", "y", "\xff"}
	shuffled := slices.Clone(all)
	for i := range shuffled { // insert out of order
		j := (i * 7) % len(shuffled)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	for _, k := range shuffled {
		put(t, s, k, "v:"+k)
	}
	var lastRev int64
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a/", []string{"a/", "a/b", "a/b/c"}},
		{"a/b", []string{"a/b", "a/b/c"}},
		{"a", []string{"a", "a/", "a/b", "a/b/c", "a0", "a.b", "ab", "a\xff", "a\xff\xff"}},
		{"a\xff", []string{"a\xff", "a\xff\xff"}},
		{"ab", []string{"ab"}},
		{"abc", nil},
		{"x", []string{"x", "x/1", "x/a/b", "x0", "xy"}},
		{"x/", []string{"x/1", "x/a/b"}},
		{"x/a", []string{"x/a/b"}},
		{"\xff", []string{"\xff"}},
		{"c", nil},
	} {
		want := slices.Clone(c.want)
		slices.Sort(want)
		got, rev, err := s.List(ctx(t), c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		if !slices.Equal(keys(got), want) {
			t.Fatalf("List(%q) = %q, want %q", c.prefix, keys(got), want)
		}
		for _, kv := range got {
			if string(kv.Value) != "v:"+kv.Key || kv.Version == 0 || kv.Version > rev {
				t.Fatalf("List(%q): %q = %q version %d (list revision %d)", c.prefix, kv.Key, kv.Value, kv.Version, rev)
			}
		}
		if rev < lastRev {
			t.Fatalf("List revision went back: %d after %d", rev, lastRev)
		}
		lastRev = rev
	}
}

func testCAS(t *testing.T, s meta.Store) {
	v1 := put(t, s, "cas", "1")
	ok, v2 := txn(t, s, []meta.Cmp{{Key: "cas", Version: v1}}, meta.Op{Key: "cas", Value: []byte("2")})
	if !ok || v2 <= v1 {
		t.Fatalf("CAS on the current version: ok %v rev %d (was %d)", ok, v2, v1)
	}
	// The old version no longer holds: nothing changes.
	ok, rev := txn(t, s, []meta.Cmp{{Key: "cas", Version: v1}}, meta.Op{Key: "cas", Value: []byte("stale")}, meta.Op{Key: "other", Value: []byte("x")})
	if ok {
		t.Fatal("CAS on a stale version succeeded")
	}
	if rev < v2 {
		t.Fatalf("failed Txn revision %d before the last change %d", rev, v2)
	}
	wantValue(t, s, "cas", "2")
	wantAbsent(t, s, "other")
	// A cmp on an absent key with a non-zero version fails.
	if ok, _ := txn(t, s, []meta.Cmp{{Key: "absent", Version: v2}}, meta.Op{Key: "cas", Value: []byte("x")}); ok {
		t.Fatal("CAS with a version on an absent key succeeded")
	}
	// A deleted key's version is 0 again.
	txn(t, s, nil, meta.Op{Key: "cas", Delete: true})
	if ok, _ := txn(t, s, []meta.Cmp{{Key: "cas", Version: v2}}, meta.Op{Key: "cas", Value: []byte("x")}); ok {
		t.Fatal("CAS on a deleted key's old version succeeded")
	}
	// A Txn with cmps only checks.
	if ok, _ := txn(t, s, []meta.Cmp{{Key: "cas", Version: 0}}); !ok {
		t.Fatal("a cmp-only Txn on an absent key failed")
	}
}

func testCASMultiKey(t *testing.T, s meta.Store) {
	va := put(t, s, "m/a", "a1")
	vb := put(t, s, "m/b", "b1")
	put(t, s, "m/gone", "g")
	// One cmp fails: no op lands.
	ok, _ := txn(t, s, []meta.Cmp{{Key: "m/a", Version: va}, {Key: "m/b", Version: va}},
		meta.Op{Key: "m/a", Value: []byte("a2")}, meta.Op{Key: "m/c", Value: []byte("c")}, meta.Op{Key: "m/gone", Delete: true})
	if ok {
		t.Fatal("Txn with one failing cmp succeeded")
	}
	wantValue(t, s, "m/a", "a1")
	wantAbsent(t, s, "m/c")
	wantValue(t, s, "m/gone", "g")
	// All hold: every op lands at one revision.
	ok, rev := txn(t, s, []meta.Cmp{{Key: "m/a", Version: va}, {Key: "m/b", Version: vb}, {Key: "m/c"}},
		meta.Op{Key: "m/a", Value: []byte("a2")}, meta.Op{Key: "m/c", Value: []byte("c")}, meta.Op{Key: "m/gone", Delete: true})
	if !ok {
		t.Fatal("Txn with holding cmps failed")
	}
	if a, c := wantValue(t, s, "m/a", "a2"), wantValue(t, s, "m/c", "c"); a.Version != rev || c.Version != rev {
		t.Fatalf("versions %d and %d, want both the Txn's revision %d", a.Version, c.Version, rev)
	}
	wantAbsent(t, s, "m/gone")
	wantValue(t, s, "m/b", "b1")
}

func testCreateIfAbsent(t *testing.T, s meta.Store) {
	ok, rev := txn(t, s, []meta.Cmp{{Key: "once"}}, meta.Op{Key: "once", Value: []byte("first")})
	if !ok {
		t.Fatal("create of an absent key failed")
	}
	if ok, _ := txn(t, s, []meta.Cmp{{Key: "once"}}, meta.Op{Key: "once", Value: []byte("second")}); ok {
		t.Fatal("create of a present key succeeded")
	}
	if kv := wantValue(t, s, "once", "first"); kv.Version != rev {
		t.Fatalf("version %d, want %d", kv.Version, rev)
	}
}

func testVersionMonotonic(t *testing.T, s meta.Store) {
	var last int64
	for i := range 20 {
		k := fmt.Sprintf("mono/%d", i%3)
		v := put(t, s, k, fmt.Sprint(i))
		if v <= last {
			t.Fatalf("revision %d after %d", v, last)
		}
		if kv := get(t, s, k); kv.Version != v {
			t.Fatalf("Get version %d, want %d", kv.Version, v)
		}
		last = v
	}
	_, rev, err := s.List(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if rev < last {
		t.Fatalf("List revision %d before the last change %d", rev, last)
	}
}

func testInvalidTxn(t *testing.T, s meta.Store) {
	put(t, s, "ok", "v")
	for name, c := range map[string]struct {
		cmps []meta.Cmp
		ops  []meta.Op
	}{
		"empty key":     {nil, []meta.Op{{Key: "", Value: []byte("x")}, {Key: "ok", Delete: true}}},
		"duplicate key": {nil, []meta.Op{{Key: "ok", Delete: true}, {Key: "ok", Value: []byte("x")}}},
		"empty cmp key": {[]meta.Cmp{{Key: ""}}, []meta.Op{{Key: "ok", Delete: true}}},
	} {
		if ok, _, err := s.Txn(ctx(t), c.cmps, c.ops); err == nil || ok {
			t.Fatalf("%s: ok %v err %v, want an error", name, ok, err)
		}
	}
	if _, err := s.Get(ctx(t), ""); err == nil {
		t.Fatal("Get of an empty key: no error")
	}
	wantValue(t, s, "ok", "v")
}

// testConcurrentIncrements: workers increment one counter by CAS; exactly
// as many CAS succeed as increments wanted, and the value is that count.
func testConcurrentIncrements(t *testing.T, s meta.Store) {
	const workers, each = 8, 15
	var wins, losses atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				kv, err := s.Get(ctx(t), "counter")
				if err != nil {
					errs <- err
					return
				}
				n := 0
				if kv.Version != 0 {
					if _, err := fmt.Sscan(string(kv.Value), &n); err != nil {
						errs <- fmt.Errorf("counter %q: %w", kv.Value, err)
						return
					}
				}
				ok, _, err := s.Txn(ctx(t), []meta.Cmp{{Key: "counter", Version: kv.Version}}, []meta.Op{{Key: "counter", Value: []byte(fmt.Sprint(n + 1))}})
				if err != nil {
					errs <- err
					return
				}
				if ok {
					wins.Add(1)
					done++
				} else {
					losses.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if wins.Load() != workers*each {
		t.Fatalf("%d CAS succeeded, want %d", wins.Load(), workers*each)
	}
	wantValue(t, s, "counter", fmt.Sprint(workers*each))
	t.Logf("%d increments, %d lost CAS", wins.Load(), losses.Load())
}

func testLargeValues(t *testing.T, s meta.Store) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>8)
	}
	put(t, s, "big/1", string(big))
	big2 := slices.Clone(big)
	big2[len(big2)-1] ^= 0xff
	put(t, s, "big/2", string(big2))
	if kv := get(t, s, "big/1"); !bytes.Equal(kv.Value, big) {
		t.Fatalf("1 MiB value read back as %d bytes, different", len(kv.Value))
	}
	list, _, err := s.List(ctx(t), "big/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !bytes.Equal(list[0].Value, big) || !bytes.Equal(list[1].Value, big2) {
		t.Fatalf("List of two 1 MiB values: %d entries or different bytes", len(list))
	}
}

// errorIs is errors.Is with a clear failure.
func errorIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: %v, want %v", what, err, target)
	}
}
