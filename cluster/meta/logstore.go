package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	plog "github.com/zombi-dev/zombi/log"
)

// The RocksDB store keeps its keys among the log's metadata keys ('X' +
// key). Keys under OtherPrefix (x/) are the log's metadata keys exactly as
// other packages write them today (x/auth/user/... is 'X' auth/user/...),
// so a data directory from before keeps its users, ACLs and tokens and
// auth.LogStore and AuthStore(NewLogStore(l)) see the same entries. Every
// other key (topics/, partitions/, pid/next, ...) lives under ownPrefix,
// which no package's key starts with (a NUL byte), so the two never meet.
const ownPrefix = "\x00meta/"

// loadedRev is the version of a key found on disk but not written by this
// store: versions live in memory (one node owns the data directory), and
// whatever was there at open counts as written at revision 1.
const loadedRev = 1

// diskKey maps a store key to its metadata key in the log.
func diskKey(k string) (string, error) {
	if k == "" {
		return "", fmt.Errorf("%w: empty key", errInvalid)
	}
	rest, other := strings.CutPrefix(k, OtherPrefix)
	if !other {
		return ownPrefix + k, nil
	}
	if rest == "" || rest[0] == 0 {
		return "", fmt.Errorf("%w: key %q (x/ needs a name, not starting with NUL)", errInvalid, k)
	}
	return rest, nil
}

// storeKey maps a metadata key of the log back to its store key; ok false
// for keys of the reserved NUL range that are not the store's.
func storeKey(d string) (string, bool) {
	if rest, own := strings.CutPrefix(d, ownPrefix); own {
		return rest, true
	}
	if d == "" || d[0] == 0 {
		return "", false
	}
	return OtherPrefix + d, true
}

// logStore is the RocksDB Store. Txn is serialised under mu and written
// with one ApplyMeta; Get and List read under mu's read lock, so a value
// and its version always agree.
type logStore struct {
	l *plog.Log

	mu       sync.RWMutex
	rev      int64            // store revision: loadedRev at open, +1 per changing Txn
	versions map[string]int64 // keys this store wrote (deleted ones removed)
	closed   bool
	hub      hub // watches
}

// NewLogStore returns the metadata store of a node alone, over the log's
// metadata keys. It must be the only writer of its keys (other packages
// keep writing theirs, outside x/ of a cluster, through the log as before;
// their changes are not seen by Watch). Versions are valid for the life of
// this Store: a new one (a restart) starts again at loadedRev.
func NewLogStore(l *plog.Log) Store {
	s := &logStore{l: l, rev: loadedRev, versions: make(map[string]int64)}
	s.hub.init(loadedRev)
	return s
}

func (s *logStore) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("meta: %w", err)
	}
	if s.closed {
		return errors.New("meta: store closed")
	}
	return nil
}

// version is key's current version; s.mu held. A value read from disk is
// returned too (nil when absent) for callers that need it.
func (s *logStore) version(dk, key string) (int64, []byte, error) {
	v, err := s.l.Meta(dk)
	if err != nil {
		return 0, nil, fmt.Errorf("meta: read %q: %w", key, err)
	}
	if v == nil {
		return 0, nil, nil
	}
	if ver, ok := s.versions[key]; ok {
		return ver, v, nil
	}
	return loadedRev, v, nil
}

func (s *logStore) Get(ctx context.Context, key string) (KV, error) {
	dk, err := diskKey(key)
	if err != nil {
		return KV{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return KV{}, err
	}
	ver, v, err := s.version(dk, key)
	if err != nil {
		return KV{}, err
	}
	return KV{Key: key, Value: v, Version: ver}, nil
}

func (s *logStore) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	var scan string
	var merge bool // the prefix spans both ranges: map every key, then sort
	switch {
	case strings.HasPrefix(prefix, OtherPrefix):
		scan = prefix[len(OtherPrefix):]
	case strings.HasPrefix(OtherPrefix, prefix): // "" or "x"
		scan, merge = "", true
	default:
		scan = ownPrefix + prefix
	}
	kvs, err := s.l.MetaList(scan)
	if err != nil {
		return nil, 0, fmt.Errorf("meta: list %q: %w", prefix, err)
	}
	out := make([]KV, 0, len(kvs))
	for _, kv := range kvs {
		k, ok := storeKey(kv.Key)
		if !ok || !strings.HasPrefix(k, prefix) {
			continue
		}
		ver, written := s.versions[k]
		if !written {
			ver = loadedRev
		}
		out = append(out, KV{Key: k, Value: kv.Value, Version: ver})
	}
	if merge {
		slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	}
	return out, s.rev, nil
}

func (s *logStore) Txn(ctx context.Context, cmps []Cmp, ops []Op) (bool, int64, error) {
	if err := checkTxn(cmps, ops); err != nil {
		return false, 0, err
	}
	dks := make([]string, len(ops))
	for i, op := range ops {
		dk, err := diskKey(op.Key)
		if err != nil {
			return false, 0, err
		}
		dks[i] = dk
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return false, 0, err
	}
	for _, c := range cmps {
		dk, err := diskKey(c.Key)
		if err != nil {
			return false, 0, err
		}
		ver, _, err := s.version(dk, c.Key)
		if err != nil {
			return false, 0, err
		}
		if ver != c.Version {
			return false, s.rev, nil
		}
	}
	// Like etcd, deleting an absent key is no change: no event, and a
	// transaction that changes nothing keeps the revision.
	rev := s.rev + 1
	writes := make([]plog.MetaKV, 0, len(ops))
	events := make([]Event, 0, len(ops))
	for i, op := range ops {
		if op.Delete {
			ver, _, err := s.version(dks[i], op.Key)
			if err != nil {
				return false, 0, err
			}
			if ver == 0 {
				continue
			}
			writes = append(writes, plog.MetaKV{Key: dks[i]})
			events = append(events, Event{KV: KV{Key: op.Key, Version: rev}, Deleted: true})
			continue
		}
		v := bytes.Clone(op.Value)
		if v == nil {
			v = []byte{} // a nil Value would delete
		}
		writes = append(writes, plog.MetaKV{Key: dks[i], Value: v})
		events = append(events, Event{KV: KV{Key: op.Key, Value: v, Version: rev}})
	}
	if len(writes) == 0 {
		return true, s.rev, nil
	}
	if err := s.l.ApplyMeta(writes); err != nil {
		return false, s.rev, fmt.Errorf("meta: write: %w", err)
	}
	s.rev = rev
	for _, e := range events {
		if e.Deleted {
			delete(s.versions, e.KV.Key)
		} else {
			s.versions[e.KV.Key] = rev
		}
	}
	s.hub.publish(rev, events)
	return true, rev, nil
}

func (s *logStore) Watch(ctx context.Context, prefix string, after int64) Watcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return brokenWatcher(errors.New("store closed"))
	}
	return s.hub.watch(ctx, prefix, after)
}

func (s *logStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.hub.close()
	}
	return nil
}
