// Package metatest is the conformance suite of meta.Store: every
// implementation (RocksDB, etcd) runs the same cases, so the cluster code
// above them cannot tell which one it talks to.
package metatest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// Open returns a fresh, empty store for one case; the case closes it.
type Open func(t *testing.T) meta.Store

// Run runs every case against stores from open: the Store contract, then
// the typed helpers (topics, producer ids, auth) on top of it.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"GetAbsentPresent", testGetAbsentPresent},
		{"PutOverwriteDelete", testPutOverwriteDelete},
		{"EmptyValueIsNotAbsent", testEmptyValue},
		{"ListOrderAndPrefixBounds", testListPrefixes},
		{"CASSuccessAndFailure", testCAS},
		{"CASMultiKeyAtomic", testCASMultiKey},
		{"CreateIfAbsent", testCreateIfAbsent},
		{"VersionMonotonic", testVersionMonotonic},
		{"InvalidTxn", testInvalidTxn},
		{"ConcurrentCASIncrements", testConcurrentIncrements},
		{"LargeValues", testLargeValues},
		{"WatchFromRevision", testWatchFromRevision},
		{"WatchPrefixBounds", testWatchPrefixBounds},
		{"WatchFromFutureRevision", testWatchFuture},
		{"WatchCancel", testWatchCancel},
		{"TopicsCreateLoad", testTopicsCreateLoad},
		{"TopicsUpdatePartition", testTopicsUpdatePartition},
		{"TopicsConfigsAddDelete", testTopicsConfigsAddDelete},
		{"TopicsManyPartitions", testTopicsManyPartitions},
		{"TopicsCorruptRecord", testTopicsCorrupt},
		{"ProducerIDBlocks", testProducerIDs},
		{"ProducerIDBlocksConcurrent", testProducerIDsConcurrent},
		{"AuthServiceOnStore", testAuthService},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			c.fn(t, s)
		})
	}
}

// ctx is a context every store call of a case is bounded by.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func get(t *testing.T, s meta.Store, key string) meta.KV {
	t.Helper()
	kv, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if kv.Key != key {
		t.Fatalf("Get(%q) returned key %q", key, kv.Key)
	}
	return kv
}

// txn runs a transaction that must not fail with an error.
func txn(t *testing.T, s meta.Store, cmps []meta.Cmp, ops ...meta.Op) (bool, int64) {
	t.Helper()
	ok, rev, err := s.Txn(ctx(t), cmps, ops)
	if err != nil {
		t.Fatalf("Txn(%v, %v): %v", cmps, ops, err)
	}
	return ok, rev
}

// put writes key unconditionally and returns its new version.
func put(t *testing.T, s meta.Store, key, value string) int64 {
	t.Helper()
	ok, rev := txn(t, s, nil, meta.Op{Key: key, Value: []byte(value)})
	if !ok {
		t.Fatalf("unconditional put of %q failed", key)
	}
	return rev
}

func wantValue(t *testing.T, s meta.Store, key, want string) meta.KV {
	t.Helper()
	kv := get(t, s, key)
	if kv.Version == 0 || !bytes.Equal(kv.Value, []byte(want)) {
		t.Fatalf("Get(%q) = %q version %d, want %q present", key, kv.Value, kv.Version, want)
	}
	return kv
}

func wantAbsent(t *testing.T, s meta.Store, key string) {
	t.Helper()
	if kv := get(t, s, key); kv.Version != 0 || kv.Value != nil {
		t.Fatalf("Get(%q) = %q version %d, want absent (version 0, nil value)", key, kv.Value, kv.Version)
	}
}

func keys(kvs []meta.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}
