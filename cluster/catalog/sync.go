package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// Back-offs of Run: after a failed list, and between retries of topics the
// local log failed to take.
const (
	relistBackoff    = 500 * time.Millisecond
	maxRelistBackoff = 5 * time.Second
	retryLocal       = time.Second
)

// Run follows the store until ctx ends: it lists every topic and
// partition, makes the local log match, then watches from the revision of
// the list; a broken watch (etcd compacted, lost) or an incomplete state
// lists again. It returns nil when ctx ends.
func (c *Catalog) Run(ctx context.Context) error {
	dirty := map[string]bool{}
	backoff := relistBackoff
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

// apply takes one batch of watched events into want, then the local log
// and the view.
func (c *Catalog) apply(batch []meta.Event, dirty map[string]bool) error {
	// A revision's topic key before its partitions (a topic made or grown
	// comes with its partition keys at the same revision).
	evs := make([]meta.Event, 0, len(batch))
	for _, ev := range batch {
		if strings.HasPrefix(ev.KV.Key, meta.TopicsPrefix) || strings.HasPrefix(ev.KV.Key, meta.PartitionsPrefix) {
			evs = append(evs, ev)
		}
	}
	var last int64
	for _, ev := range batch {
		last = max(last, ev.KV.Version)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].KV.Version != evs[j].KV.Version {
			return evs[i].KV.Version < evs[j].KV.Version
		}
		return strings.HasPrefix(evs[i].KV.Key, meta.TopicsPrefix) && !strings.HasPrefix(evs[j].KV.Key, meta.TopicsPrefix)
	})
	touched := map[string]bool{}
	for _, ev := range evs {
		if name, ok := strings.CutPrefix(ev.KV.Key, meta.TopicsPrefix); ok {
			c.applyTopic(name, ev, touched)
		} else {
			c.applyPartition(ev, touched)
		}
	}
	for name := range touched {
		if t, ok := c.want[name]; ok {
			for p, part := range t.Partitions {
				if part.Version == 0 {
					return fmt.Errorf("%w: %s partition %d has no state after revision %d", errRelist, name, p, last)
				}
			}
		}
	}
	if len(touched) > 0 {
		c.reconcile(touched, dirty)
	}
	c.finish(last, touched, dirty)
	return nil
}

func (c *Catalog) applyTopic(name string, ev meta.Event, touched map[string]bool) {
	if ev.Deleted {
		if _, ok := c.want[name]; ok {
			delete(c.want, name)
			touched[name] = true
		}
		return
	}
	var rec meta.TopicRecord
	if err := json.Unmarshal(ev.KV.Value, &rec); err != nil || rec.Name != name || rec.Partitions < 0 || rec.Partitions > plog.MaxPartitions {
		// Not written by CreateTopic: keep what we had, say so.
		c.logger.Error("ignoring a corrupt topic record", "key", ev.KV.Key, "version", ev.KV.Version, "err", err)
		return
	}
	old, ok := c.want[name]
	t := meta.Topic{Record: rec, Version: ev.KV.Version, Partitions: make([]meta.Partition, rec.Partitions)}
	if ok && old.Record.UUID == rec.UUID {
		copy(t.Partitions, old.Partitions) // grown or configs changed: the partitions stay
	}
	c.want[name] = t
	touched[name] = true
}

func (c *Catalog) applyPartition(ev meta.Event, touched map[string]bool) {
	name, num, ok := strings.Cut(strings.TrimPrefix(ev.KV.Key, meta.PartitionsPrefix), "/")
	p, err := strconv.ParseInt(num, 10, 32)
	t, known := c.want[name]
	if !ok || err != nil || !known || p < 0 || p >= int64(len(t.Partitions)) {
		return // a partition of no topic we know (a deleted one's keys going)
	}
	if ev.Deleted {
		c.logger.Warn("the state of a partition of a live topic was deleted", "key", ev.KV.Key)
		t.Partitions[p] = meta.Partition{}
		touched[name] = true
		return
	}
	var st meta.PartitionState
	if err := json.Unmarshal(ev.KV.Value, &st); err != nil {
		c.logger.Error("ignoring a corrupt partition state", "key", ev.KV.Key, "version", ev.KV.Version, "err", err)
		return
	}
	t.Partitions[p] = meta.Partition{State: st, Version: ev.KV.Version}
	touched[name] = true
}

// reconcile makes the local log match want for the named topics; a topic
// the log fails to take is put in dirty (retried by Run).
func (c *Catalog) reconcile(names map[string]bool, dirty map[string]bool) {
	for _, name := range slices.Sorted(maps.Keys(names)) {
		var err error
		if t, ok := c.want[name]; ok {
			err = c.syncLocal(t.Record)
		} else {
			err = c.dropLocal(name, "deleted from the catalog")
		}
		c.failed(name, err, dirty)
	}
}

// failed records how a topic's local change went: a refusal the log will
// repeat (a name or count it cannot take, in a catalog written by another
// program) is logged and left; another failure (storage) makes the topic
// dirty, retried by Run. Each failure is logged when it starts or changes,
// not at every retry.
func (c *Catalog) failed(name string, err error, dirty map[string]bool) {
	if err == nil {
		if _, ok := c.failing[name]; ok {
			c.logger.Info("local log matches the topic catalog again", "topic", name)
			delete(c.failing, name)
		}
		return
	}
	permanent := errors.Is(err, plog.ErrInvalidTopic) || errors.Is(err, plog.ErrInvalidPartitions) ||
		errors.Is(err, plog.ErrTooManyPartitions) || errors.Is(err, plog.ErrInternalTopic)
	if !permanent {
		dirty[name] = true
	}
	if c.failing[name] == err.Error() {
		return
	}
	c.failing[name] = err.Error()
	if permanent {
		c.logger.Error("the local log cannot take a topic of the catalog; left out", "topic", name, "err", err)
	} else {
		c.logger.Error("local log does not match the topic catalog; retrying", "topic", name, "err", err)
	}
}

// syncLocal makes the local topic rec's: same id (a local topic of another
// id is an older one, deleted and recreated while this node was away: it
// goes), partitions and configs.
func (c *Catalog) syncLocal(rec meta.TopicRecord) error {
	if plog.IsInternalTopic(rec.Name) {
		return nil // not a log topic (yet): the doors present it
	}
	l := c.cfg.Log
	info, ok := l.Topic(rec.Name)
	if ok && info.UUID != rec.UUID {
		if err := c.dropLocal(rec.Name, "another topic of that name is in the catalog"); err != nil {
			return err
		}
		ok = false
	}
	if !ok {
		var err error
		if info, _, err = l.EnsureTopicWithID(rec.Name, rec.Partitions, rec.UUID); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if info.UUID != rec.UUID {
			return fmt.Errorf("created meanwhile with id %x, catalog has %x", info.UUID, rec.UUID)
		}
		c.logger.Info("topic created from the catalog", "topic", rec.Name, "partitions", rec.Partitions)
	}
	if info.Partitions < rec.Partitions {
		var err error
		if info, err = l.AddPartitions(rec.Name, rec.Partitions); err != nil {
			return fmt.Errorf("add partitions: %w", err)
		}
	} else if info.Partitions > rec.Partitions {
		// Partitions never shrink; a catalog with fewer is a topic whose
		// creation stopped half-way in steps (meta.CreateTopic): the
		// extra local partitions stay, unused.
		c.logger.Warn("local topic has more partitions than the catalog", "topic", rec.Name, "local", info.Partitions, "catalog", rec.Partitions)
	}
	if !sameConfigs(info.Configs, rec.Configs) {
		if _, err := l.SetTopicConfigs(rec.Name, rec.UUID, rec.Configs); err != nil {
			return fmt.Errorf("set configs: %w", err)
		}
	}
	return nil
}

func sameConfigs(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

// dropLocal deletes a local topic (none: nothing to do).
func (c *Catalog) dropLocal(name, why string) error {
	if plog.IsInternalTopic(name) {
		return nil
	}
	if _, ok := c.cfg.Log.Topic(name); !ok {
		return nil
	}
	if err := c.cfg.Log.DeleteTopic(name); err != nil && !errors.Is(err, plog.ErrUnknownTopic) {
		return fmt.Errorf("delete: %w", err)
	}
	c.logger.Warn("local topic deleted", "topic", name, "why", why)
	return nil
}

// pruneLocal deletes the local topics the catalog does not have.
func (c *Catalog) pruneLocal(dirty map[string]bool) {
	for _, name := range c.cfg.Log.TopicNames() {
		if _, ok := c.want[name]; ok || dirty[name] {
			continue
		}
		c.failed(name, c.dropLocal(name, "not in the topic catalog"), dirty)
	}
}

// finish publishes want's touched topics to the view, hands their
// partition changes to OnChange and wakes the waiters.
//
// OnChange is called before the view shows the changes, as ZooKeeper-era
// Kafka's controller sent LeaderAndIsr before UpdateMetadata: the replica
// manager has taken a leadership before Partition announces it.
func (c *Catalog) finish(rev int64, touched map[string]bool, dirty map[string]bool) {
	changes, show := c.publish(touched)
	if len(changes) > 0 && c.cfg.OnChange != nil {
		c.cfg.OnChange(changes)
	}
	show()
	c.roundDone(rev, maps.Clone(dirty))
}

// publish computes the view for the touched topics and the partition
// changes; show puts the view in place.
func (c *Catalog) publish(touched map[string]bool) (changes []Change, show func()) {
	old := *c.view.Load()
	var next topics // a copy of old, made at the first topic-level change
	set := func(name string, tv *topicView) {
		if next == nil {
			next = maps.Clone(old)
		}
		if tv == nil {
			delete(next, name)
		} else {
			next[name] = tv
		}
	}
	type store struct {
		slot *atomic.Pointer[meta.Partition]
		part *meta.Partition
	}
	var inPlace []store
	gone := func(tv *topicView) {
		for p := range tv.parts {
			changes = append(changes, Change{Topic: tv.rec.Name, TopicID: tv.rec.UUID, Partition: int32(p), Deleted: true})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(touched)) {
		t, inWant := c.want[name]
		tv, inView := old[name]
		switch {
		case !inWant && !inView:
		case !inWant:
			gone(tv)
			set(name, nil)
		case !inView || tv.rec.UUID != t.Record.UUID:
			if inView {
				gone(tv)
			}
			set(name, newTopicView(t))
			for p, part := range t.Partitions {
				if part.Version != 0 {
					changes = append(changes, change(t.Record, int32(p), part))
				}
			}
		default:
			if tv.version != t.Version || len(tv.parts) != len(t.Partitions) {
				set(name, newTopicView(t))
			}
			for p, part := range t.Partitions {
				var was int64
				if p < len(tv.parts) {
					if e := tv.parts[p].Load(); e != nil {
						was = e.Version
					}
				}
				if part.Version == was {
					continue
				}
				if next == nil || next[name] == tv { // leader or ISR change: in place
					st := store{slot: &tv.parts[p]}
					if part.Version != 0 {
						part := part
						st.part = &part
					}
					inPlace = append(inPlace, st)
				}
				if part.Version != 0 {
					changes = append(changes, change(t.Record, int32(p), part))
				}
			}
		}
	}
	return changes, func() {
		for _, st := range inPlace {
			st.slot.Store(st.part)
		}
		if next != nil {
			c.view.Store(&next)
		}
	}
}

func change(rec meta.TopicRecord, p int32, part meta.Partition) Change {
	return Change{Topic: rec.Name, TopicID: rec.UUID, Partition: p, State: part.State, Version: part.Version}
}
