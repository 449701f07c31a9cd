package catalog

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// Back-offs of Run: after a failed list, and between retries of topics the
// local log failed to take.
const (
	relistBackoff    = 500 * time.Millisecond
	maxRelistBackoff = 5 * time.Second
	retryLocal       = time.Second
)

// Run follows the store until ctx ends: it checks the cluster's id
// against the data directory's, lists every topic and partition, makes
// the local log match, then watches from the revision of the list; a
// broken watch (etcd compacted, lost) or an incomplete state lists again.
// It returns nil when ctx ends, ErrWrongCluster (wrapped, one line to
// exit with) when the data directory belongs to another cluster: then it
// has changed nothing.
func (c *Catalog) Run(ctx context.Context) error {
	backoff := relistBackoff
	for ctx.Err() == nil {
		id, err := c.checkCluster(ctx)
		if errors.Is(err, ErrWrongCluster) {
			c.logger.Error("refusing to follow the topic catalog", "err", err)
			return err
		}
		if err == nil {
			c.clusterID.Store(&id)
			break
		}
		if ctx.Err() == nil {
			c.logger.Warn("cannot read the cluster id; trying again", "err", err, "in", backoff)
			sleep(ctx, jitter(backoff/2))
			backoff = min(2*backoff, maxRelistBackoff)
		}
	}
	dirty := map[string]bool{}
	backoff = relistBackoff
	for ctx.Err() == nil {
		rev, err := c.fullSync(ctx, dirty)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.logger.Warn("cannot read the topic catalog; trying again", "err", err, "in", backoff)
			sleep(ctx, jitter(backoff/2))
			backoff = min(2*backoff, maxRelistBackoff)
			continue
		}
		backoff = relistBackoff
		err = c.follow(ctx, rev, dirty)
		if ctx.Err() != nil {
			break
		}
		c.logger.Warn("topic catalog watch ended; listing again", "err", err)
		sleep(ctx, relistBackoff/5)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// fullSync reads the whole catalog and makes the local log match: every
// topic of the store, nothing else (internal topics aside).
func (c *Catalog) fullSync(ctx context.Context, dirty map[string]bool) (int64, error) {
	want, rev, err := meta.LoadTopics(ctx, c.cfg.Store)
	if err != nil {
		return 0, err
	}
	touched := map[string]bool{}
	for name := range *c.view.Load() {
		touched[name] = true
	}
	for name := range want {
		touched[name] = true
	}
	c.want = want
	clear(dirty)
	c.reconcile(touched, dirty)
	c.pruneLocal(dirty)
	c.finish(rev, touched, dirty)
	if len(dirty) == 0 {
		c.readyOnce.Do(func() {
			c.logger.Info("local log matches the topic catalog", "topics", len(want), "revision", rev)
			close(c.ready)
		})
	}
	return rev, nil
}

// errRelist: the watched state is incomplete; read it whole again.
var errRelist = errors.New("incomplete topic state")

// follow applies the store's changes after rev, and retries the topics the
// local log failed to take, until the watch ends.
func (c *Catalog) follow(ctx context.Context, rev int64, dirty map[string]bool) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One watch of the whole prefix, filtered here: topics/ and
	// partitions/ changes arrive in one stream in revision order, a
	// transaction's keys together, so a topic and its partitions are never
	// seen half made. The other keys (nodes/, x/, pid/) change rarely.
	w := c.cfg.Store.Watch(wctx, "", rev)
	retry := time.NewTicker(retryLocal)
	defer retry.Stop()
	for {
		localChanged := c.cfg.Log.WatchTopics()
		select {
		case batch, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					return err
				}
				return ctx.Err()
			}
			if err := c.apply(batch, dirty); err != nil {
				return err
			}
		case <-localChanged:
			// Something made or removed a topic in the local log: a topic
			// the store does not have goes.
			c.pruneLocal(dirty)
			c.finish(0, nil, dirty)
		case <-retry.C:
			if len(dirty) == 0 {
				continue
			}
			touched := maps.Clone(dirty)
			clear(dirty)
			c.reconcile(touched, dirty)
			c.pruneLocal(dirty)
			c.finish(0, touched, dirty)
			if len(dirty) == 0 {
				c.readyOnce.Do(func() { close(c.ready) })
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
