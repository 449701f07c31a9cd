package cluster

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// mirror keeps a copy of every key under one etcd prefix: a list, then a
// watch from the revision after it; a broken watch (compaction, a lost
// member) lists again. Readers take a snapshot and wait on Changed.
type mirror struct {
	cli    *clientv3.Client
	prefix string
	log    *slog.Logger

	mu      sync.Mutex
	kvs     map[string]*mvccpb.KeyValue
	loaded  bool
	changed chan struct{} // closed at the next change, then replaced

	// With track, the keys changed since the last takeDirty (all: a new
	// list replaced everything).
	track    bool
	dirty    map[string]bool
	allDirty bool
}

func newMirror(cli *clientv3.Client, prefix string, log *slog.Logger) *mirror {
	return &mirror{cli: cli, prefix: prefix, log: log, kvs: map[string]*mvccpb.KeyValue{}, changed: make(chan struct{})}
}

// newTrackingMirror is a mirror that also remembers which keys changed.
func newTrackingMirror(cli *clientv3.Client, prefix string, log *slog.Logger) *mirror {
	m := newMirror(cli, prefix, log)
	m.track, m.dirty = true, map[string]bool{}
	return m
}

// run keeps the mirror until ctx ends.
func (m *mirror) run(ctx context.Context) {
	wait := backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	for ctx.Err() == nil {
		kvs, rev, err := listPrefix(ctx, m.cli, m.prefix)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Debug("cluster: list failed, retrying", "prefix", m.prefix, "err", err)
			}
			wait.sleep(ctx)
			continue
		}
		wait.reset()
		m.replace(kvs)
		m.follow(ctx, rev+1)
	}
}

// follow applies the watch's events until it breaks or ctx ends.
func (m *mirror) follow(ctx context.Context, from int64) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range watchPrefix(wctx, m.cli, m.prefix, from) {
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				m.log.Debug("cluster: watch broken, listing again", "prefix", m.prefix, "err", err)
			}
			return
		}
		if len(resp.Events) == 0 {
			continue
		}
		m.mu.Lock()
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			if ev.Type == clientv3.EventTypeDelete {
				delete(m.kvs, key)
			} else {
				m.kvs[key] = ev.Kv
			}
			if m.track {
				m.dirty[key] = true
			}
		}
		m.notifyLocked()
		m.mu.Unlock()
	}
}

func (m *mirror) replace(kvs []*mvccpb.KeyValue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kvs = make(map[string]*mvccpb.KeyValue, len(kvs))
	for _, kv := range kvs {
		m.kvs[string(kv.Key)] = kv
	}
	m.loaded = true
	if m.track {
		m.allDirty, m.dirty = true, map[string]bool{}
	}
	m.notifyLocked()
}

// takeDirty returns the keys present now that changed since the last call
// (in key order), or all true when a list replaced the mirror meanwhile.
func (m *mirror) takeDirty() (kvs []*mvccpb.KeyValue, all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	all, m.allDirty = m.allDirty, false
	for key := range m.dirty {
		if kv, ok := m.kvs[key]; ok {
			kvs = append(kvs, kv)
		}
	}
	clear(m.dirty)
	sort.Slice(kvs, func(i, j int) bool { return string(kvs[i].Key) < string(kvs[j].Key) })
	return kvs, all
}

func (m *mirror) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// snapshot is the keys in key order, and whether the first list is done.
func (m *mirror) snapshot() ([]*mvccpb.KeyValue, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*mvccpb.KeyValue, 0, len(m.kvs))
	for _, kv := range m.kvs {
		out = append(out, kv)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Key) < string(out[j].Key) })
	return out, m.loaded
}

// Changed is closed at the next change of the mirror.
func (m *mirror) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *mirror) isLoaded() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loaded
}

// backoff is a doubling wait between retries.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) sleep(ctx context.Context) {
	if b.cur < b.min {
		b.cur = b.min
	}
	t := time.NewTimer(b.cur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
}

func (b *backoff) reset() { b.cur = 0 }
