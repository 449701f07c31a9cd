package cluster

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cluster/meta"
)

// Users, ACLs and tokens live in etcd (issue 19 point 2), under
// x/auth/ (meta.AuthStore): every node's auth.Service writes there and
// keeps its memory in step with the others' writes by a watch, as Kafka's
// brokers follow ZooKeeper's ACL change notifications and credential
// znodes. A change made on one node counts on every other as soon as the
// watch delivers it (milliseconds); a node cut off from etcd keeps what it
// knew until it reconnects, then resumes the watch, or reloads the whole
// state when etcd compacted the revisions it missed.

// AuthTarget is what the watch updates: *auth.Service.
type AuthTarget interface {
	Load(kvs []auth.KV) error
	Apply(changes []auth.Change) error
}

// authKeys is the store prefix of auth's keys.
const authKeys = meta.OtherPrefix + auth.AuthPrefix

// Backoff between failed reloads of the auth state (etcd unreachable).
const (
	authRelistBackoff    = 250 * time.Millisecond
	authMaxRelistBackoff = 5 * time.Second
)

// AuthStore is auth's Store in this cluster's etcd.
func (r *Runtime) AuthStore() auth.Store { return meta.AuthStore(r.store) }

// FollowAuth keeps svc in step with the cluster's users, ACLs and tokens
// until stop is called (before Close).
func (r *Runtime) FollowAuth(svc AuthTarget) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		FollowAuth(ctx, r.store, svc, r.logger)
	}()
	return func() { cancel(); <-done }
}

// FollowAuth loads the auth keys of store into t and applies every later
// change, until ctx ends. A broken watch (compaction, a lost member, the
// store closed) lists again and loads the whole state: what changed
// meanwhile, deletions included, is in it. Records that do not decode are
// logged by key, never by value, and keep what t had for them.
func FollowAuth(ctx context.Context, store meta.Store, t AuthTarget, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "auth-watch")
	backoff := authRelistBackoff
	for ctx.Err() == nil {
		kvs, rev, err := store.List(ctx, authKeys)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Warn("cannot read users, ACLs and tokens from etcd; this node keeps what it knew", "err", err, "retry_in", backoff)
			authSleep(ctx, backoff/2+rand.N(backoff/2))
			backoff = min(2*backoff, authMaxRelistBackoff)
			continue
		}
		backoff = authRelistBackoff
		entries := make([]auth.KV, len(kvs))
		for i, kv := range kvs {
			entries[i] = auth.KV{Key: strings.TrimPrefix(kv.Key, meta.OtherPrefix), Value: kv.Value}
		}
		if err := t.Load(entries); err != nil {
			logger.Error("auth state loaded from etcd with records skipped", "err", err)
		}
		w := store.Watch(ctx, authKeys, rev)
		for batch := range w.Events() {
			changes := make([]auth.Change, len(batch))
			for i, ev := range batch {
				changes[i] = auth.Change{Key: strings.TrimPrefix(ev.KV.Key, meta.OtherPrefix), Value: ev.KV.Value, Deleted: ev.Deleted}
			}
			if err := t.Apply(changes); err != nil {
				logger.Error("auth change from etcd with records skipped", "err", err)
			}
		}
		if ctx.Err() != nil {
			return
		}
		err = w.Err()
		if err == nil {
			err = errors.New("watch ended")
		}
		logger.Warn("auth watch broken; reloading users, ACLs and tokens", "err", err)
		authSleep(ctx, rand.N(authRelistBackoff))
	}
}

func authSleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
