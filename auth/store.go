package auth

import (
	"slices"
	"strings"
	"sync"

	plog "github.com/zombi-dev/zombi/log"
)

// LogStore keeps auth's state in the partition log's RocksDB, as metadata
// keys ('X' + key), so users, ACLs and tokens live and die with the data
// directory. Writes are durable as the log's SyncWrites says.
func LogStore(l *plog.Log) Store { return logStore{l} }

type logStore struct{ l *plog.Log }

func (s logStore) Get(key string) ([]byte, error) { return s.l.Meta(key) }
func (s logStore) Put(key string, v []byte) error { return s.l.SetMeta(key, v) }
func (s logStore) Delete(key string) error        { return s.l.DeleteMeta(key) }
func (s logStore) List(prefix string) ([]KV, error) {
	kvs, err := s.l.MetaList(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]KV, len(kvs))
	for i, kv := range kvs {
		out[i] = KV{Key: kv.Key, Value: kv.Value}
	}
	return out, nil
}

// NewMemStore returns an in-memory Store, for tests.
func NewMemStore() Store { return &memStore{m: make(map[string][]byte)} }

type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStore) Get(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.m[key]), nil
}

func (s *memStore) Put(key string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = slices.Clone(v)
	return nil
}

func (s *memStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *memStore) List(prefix string) ([]KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []KV
	for k, v := range s.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, KV{Key: k, Value: slices.Clone(v)})
		}
	}
	slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
