package catalog

import (
	"context"
	"fmt"

	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cluster/meta"
)

// adoptAuthBatch is how many keys one transaction writes (etcd takes at
// most 128 ops, and as many compares).
const adoptAuthBatch = 64

// adoptAuth copies the local log's users, ACLs and tokens (auth's keys,
// auth.LogStore) into the cluster's store under meta.OtherPrefix, where
// every node's auth service reads them (issue 19 point 7: node 1 keeps
// every user it had). A key already in the store is left as it is: a
// crash half-way is finished by the next start (Adopt runs at every start
// until the cluster has its id), and nothing written in the cluster since
// is overwritten. Each write is conditional on the key's absence, so two
// writers never mix. It returns how many keys it wrote.
func (c *Catalog) adoptAuth(ctx context.Context) (int, error) {
	local, err := c.cfg.Log.MetaList(auth.AuthPrefix)
	if err != nil {
		return 0, fmt.Errorf("adopt local users, ACLs and tokens: %w", err)
	}
	if len(local) == 0 {
		return 0, nil
	}
	have, _, err := c.cfg.Store.List(ctx, meta.OtherPrefix+auth.AuthPrefix)
	if err != nil {
		return 0, fmt.Errorf("adopt local users, ACLs and tokens: %w", err)
	}
	present := make(map[string]bool, len(have))
	for _, kv := range have {
		present[kv.Key] = true
	}
	var cmps []meta.Cmp
	var ops []meta.Op
	n := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		ok, _, err := c.cfg.Store.Txn(ctx, cmps, ops)
		if err != nil {
			return err
		}
		if ok {
			n += len(ops)
		} else {
			// One of them appeared meanwhile: one by one, each if absent.
			for i, op := range ops {
				ok, _, err := c.cfg.Store.Txn(ctx, cmps[i:i+1], []meta.Op{op})
				if err != nil {
					return err
				}
				if ok {
					n++
				}
			}
		}
		cmps, ops = cmps[:0], ops[:0]
		return nil
	}
	for _, kv := range local {
		key := meta.OtherPrefix + kv.Key
		if present[key] {
			continue
		}
		v := kv.Value
		if v == nil {
			v = []byte{}
		}
		cmps = append(cmps, meta.Cmp{Key: key, Version: 0})
		ops = append(ops, meta.Op{Key: key, Value: v})
		if len(ops) == adoptAuthBatch {
			if err := flush(); err != nil {
				return n, fmt.Errorf("adopt local users, ACLs and tokens: %d copied, then: %w", n, err)
			}
		}
	}
	if err := flush(); err != nil {
		return n, fmt.Errorf("adopt local users, ACLs and tokens: %d copied, then: %w", n, err)
	}
	return n, nil
}
