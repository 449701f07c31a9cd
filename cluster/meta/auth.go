package meta

import (
	"context"
	"strings"

	"github.com/zombi-dev/zombi/auth"
)

// AuthStore adapts s to auth's Store: its keys live under OtherPrefix
// (x/auth/user/..., and on RocksDB the very keys auth.LogStore writes).
// auth's calls carry no context: each is bounded by DefaultTimeout. auth
// keeps one key per credential, ACL or token and writes it whole, so Put
// and Delete are last-writer-wins per key, as on one node.
func AuthStore(s Store) auth.Store { return authStore{s} }

type authStore struct{ s Store }

func (a authStore) Get(key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	kv, err := a.s.Get(ctx, OtherPrefix+key)
	if err != nil {
		return nil, err
	}
	return kv.Value, nil // nil when absent (Version 0)
}

func (a authStore) Put(key string, v []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if v == nil {
		v = []byte{}
	}
	_, _, err := a.s.Txn(ctx, nil, []Op{{Key: OtherPrefix + key, Value: v}})
	return err
}

func (a authStore) Delete(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	_, _, err := a.s.Txn(ctx, nil, []Op{{Key: OtherPrefix + key, Delete: true}})
	return err
}

func (a authStore) List(prefix string) ([]auth.KV, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	kvs, _, err := a.s.List(ctx, OtherPrefix+prefix)
	if err != nil {
		return nil, err
	}
	out := make([]auth.KV, len(kvs))
	for i, kv := range kvs {
		out[i] = auth.KV{Key: strings.TrimPrefix(kv.Key, OtherPrefix), Value: kv.Value}
	}
	return out, nil
}
