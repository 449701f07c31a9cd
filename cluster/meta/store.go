// Package meta is the cluster's metadata behind one small interface: a
// versioned key-value store with compare-and-swap transactions and watches.
// Two implementations share one conformance suite (metatest): RocksDB, in
// the data directory of a node alone (the log's metadata keys, so a data
// directory from before keeps its users, ACLs and tokens), and etcd, for a
// cluster (every change a revision-checked transaction, so a stale
// controller or leader changes nothing).
package meta

import (
	"context"
	"errors"
)

// KV is one entry. Version is the revision of its last change (etcd's
// ModRevision); 0 means absent.
type KV struct {
	Key     string
	Value   []byte
	Version int64
}

// Cmp is a condition of a transaction: Key's current Version equals
// Version (0: the key must not exist).
type Cmp struct {
	Key     string
	Version int64
}

// Op is a change of a transaction: put Value at Key, or delete Key.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Event is one change seen by Watch.
type Event struct {
	KV      KV // Value nil and Version the deleting revision when Deleted
	Deleted bool
}

// Store is the metadata store. Keys are relative to the store's prefix
// (etcd: /{cluster}/; RocksDB: the log's 'X' keys), any bytes but empty.
type Store interface {
	// Get returns Key's entry; Version 0 (and no error) when absent.
	Get(ctx context.Context, key string) (KV, error)
	// List returns the entries under prefix in key order, and the store
	// revision they were read at (for Watch).
	List(ctx context.Context, prefix string) ([]KV, int64, error)
	// Txn applies ops, all or none, if every cmp holds; ok false means a
	// cmp failed and nothing changed. rev is the store revision after it.
	Txn(ctx context.Context, cmps []Cmp, ops []Op) (ok bool, rev int64, err error)
	// Watch sends the changes under prefix made after revision after, in
	// order, in batches; the channel is closed when ctx ends or the watch
	// breaks (ErrWatchBroken from Err): the caller lists again.
	Watch(ctx context.Context, prefix string, after int64) Watcher
	// Close releases the store (not the log or etcd client it wraps).
	Close() error
}

// Watcher is a running watch.
type Watcher interface {
	Events() <-chan []Event
	// Err says why Events was closed: nil after the caller's ctx ended,
	// else ErrWatchBroken (wrapped).
	Err() error
}

// Errors.
var (
	// ErrWatchBroken: a watch ended before its context (compaction, a
	// lost etcd connection); list again and watch from there.
	ErrWatchBroken = errors.New("meta: watch broken")
	// ErrUnavailable: the store cannot be reached (etcd down); retriable.
	ErrUnavailable = errors.New("meta: store unavailable")
	// ErrExists: a create found the key present.
	ErrExists = errors.New("meta: already exists")
	// ErrConflict: a compare-and-swap lost to another change.
	ErrConflict = errors.New("meta: changed concurrently")
)
