package replica

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// The materialized view of the internal partitions (__consumer_offsets,
// __transaction_state; docs: the coordinators' design, section 4): every
// replica, whatever its role, applies its internal partitions' records up
// to its high watermark, so a new leader has its view complete below the
// watermark and is loaded once the tail it had when it became leader is
// applied. Only committed records are applied (applied <= HWM), and no
// unclean election runs on internal topics, so nothing applied is ever
// truncated; the truncation guard below resets the view if it happens.

// ViewStore keeps the view (plog.Log; tests may fake it).
type ViewStore interface {
	ViewApplied(topic string, part int32) (int64, error)
	ApplyView(topic string, part int32, applied int64, ch plog.ViewChange) error
	ResetView(topic string, part int32) error
}

// DecodeFunc turns stored batches of internal partition p into one view
// change (coordlog.Decode).
type DecodeFunc func(kind coordlog.Kind, p int32, batches []plog.Batch, pending func(pid int64) []plog.CommittedOffset) (plog.ViewChange, error)

// viewReadBytes bounds one read of the apply loop.
const viewReadBytes = 1 << 20

// viewRetry is the apply loop's pause after a failed step.
const viewRetry = 200 * time.Millisecond

type coordHooks struct {
	onLoad   func(kind coordlog.Kind, part, epoch int32)
	onUnload func(kind coordlog.Kind, part int32)
}

// viewer is the apply loop of one internal partition this node holds.
type viewer struct {
	m    *Manager
	p    *partition
	kind coordlog.Kind

	applied atomic.Int64 // next offset to apply, -1 before the first read
	mu      sync.Mutex
	moved   chan struct{} // closed and replaced when applied moves

	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	lastErr string // owned by run
}

// internalKind says whether topic holds a coordinator's records.
func (m *Manager) internalKind(topic string) (coordlog.Kind, bool) {
	if m.cfg.Internal != nil {
		return m.cfg.Internal(topic)
	}
	switch topic {
	case coordlog.OffsetsTopic:
		return coordlog.Group, true
	case coordlog.TxnTopic:
		return coordlog.Transaction, true
	}
	return 0, false
}

func (m *Manager) viewStore() ViewStore {
	if m.cfg.View != nil {
		return m.cfg.View
	}
	return m.cfg.Log
}

func (m *Manager) decode() DecodeFunc {
	if m.cfg.Decode != nil {
		return m.cfg.Decode
	}
	return coordlog.Decode
}

// SetCoordinatorHooks installs what runs when this node becomes the
// loaded leader of an internal partition and before it stops leading one
// (kafka.Cluster's). Partitions loaded before it is called are announced
// now. onLoad runs with the partition's role changes held off: it must
// not wait for replication (AppendInternal) itself.
func (m *Manager) SetCoordinatorHooks(onLoad func(kind coordlog.Kind, part, epoch int32), onUnload func(kind coordlog.Kind, part int32)) {
	m.hooks.Store(&coordHooks{onLoad: onLoad, onUnload: onUnload})
	for _, p := range m.internalParts() {
		if v := p.viewerOf(); v != nil {
			v.wake()
		}
	}
}

func (m *Manager) internalParts() []*partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*partition
	for _, p := range m.parts {
		if _, ok := m.internalKind(p.topic); ok {
			out = append(out, p)
		}
	}
	return out
}

func (p *partition) viewerOf() *viewer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.view
}

// CoordinatorState is this node's leadership of an internal partition as
// the coordinators see it: the epoch it leads in (-1: it does not lead)
// and whether its view is loaded for that epoch (onLoad has returned).
func (m *Manager) CoordinatorState(topic string, part int32) (epoch int32, loaded bool) {
	p := m.part(topic, part)
	if p == nil {
		return -1, false
	}
	p.mu.Lock()
	r, e := p.role, p.epoch
	p.mu.Unlock()
	if r != roleLeader {
		return -1, false
	}
	return e, p.loadedEpoch.Load() == e
}

// Applied is the offset below which the partition's records are in the
// view (-1: not known here).
func (m *Manager) Applied(topic string, part int32) int64 {
	p := m.part(topic, part)
	if p == nil {
		return -1
	}
	v := p.viewerOf()
	if v == nil {
		return -1
	}
	return v.applied.Load()
}

// AwaitApplied returns once the view of the internal partition holds
// every record up to lastOffset (applied > lastOffset): kafka.ErrNotLeader
// when this node stops leading in the epoch it had, or ctx's error.
func (m *Manager) AwaitApplied(ctx context.Context, topic string, part int32, lastOffset int64) error {
	p := m.part(topic, part)
	if p == nil {
		return fmt.Errorf("%w: %s-%d is not known here", kafka.ErrNotLeader, topic, part)
	}
	p.mu.Lock()
	r, epoch, v := p.role, p.epoch, p.view
	p.mu.Unlock()
	if r != roleLeader || v == nil {
		return fmt.Errorf("%w: %s-%d", kafka.ErrNotLeader, topic, part)
	}
	for {
		v.mu.Lock()
		moved := v.moved
		v.mu.Unlock()
		p.mu.Lock()
		r, e, changed := p.role, p.epoch, p.changed
		p.mu.Unlock()
		if r != roleLeader || e != epoch {
			return fmt.Errorf("%w: %s-%d: leadership moved while applying", kafka.ErrNotLeader, topic, part)
		}
		if v.applied.Load() > lastOffset {
			return nil
		}
		select {
		case <-moved:
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// roleChanging runs in decide, before the role of an internal partition
// changes (p.hookMu held): a leadership that ends, or moves to another
// epoch, is unloaded first (onUnload before the role changes).
func (m *Manager) roleChanging(p *partition, leader, epoch int32) {
	if leader == m.cfg.NodeID && p.loadedEpoch.Load() == epoch {
		return // the same leadership (an ISR change)
	}
	m.unloadLocked(p)
}

// unloadLocked ends the loaded leadership, if any (p.hookMu held).
func (m *Manager) unloadLocked(p *partition) {
	if p.loadedEpoch.Load() < 0 && !p.announced {
		return
	}
	kind, _ := m.internalKind(p.topic)
	if h := m.hooks.Load(); p.announced && h != nil && h.onUnload != nil {
		h.onUnload(kind, p.part)
	}
	p.announced = false
	p.loadedEpoch.Store(-1)
	m.logger.Info("coordinator partition unloaded", "topic", p.topic, "partition", p.part)
}

// roleChanged runs in decide after the role changed (p.hookMu held): the
// apply loop runs while this node is a replica. One that stops being one
// detaches its loop, returned for dropView.
func (m *Manager) roleChanged(p *partition, replicas []int32) *viewer {
	kind, _ := m.internalKind(p.topic)
	p.mu.Lock()
	v := p.view
	p.mu.Unlock()
	switch {
	case contains(replicas, m.cfg.NodeID) && v == nil:
		m.startViewer(p, kind)
	case contains(replicas, m.cfg.NodeID):
		v.wake() // a leadership may be loaded now
	case v != nil:
		return p.detachViewer()
	}
	return nil
}

// dropView stops a detached apply loop and forgets the partition's view
// (it is rebuilt from the log if this node holds a replica again).
func (m *Manager) dropView(p *partition, v *viewer) {
	if v == nil {
		return
	}
	v.stop()
	p.logMu.Lock()
	m.resetView(p, "not a replica any more")
	p.logMu.Unlock()
}

func (m *Manager) startViewer(p *partition, kind coordlog.Kind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	v := &viewer{m: m, p: p, kind: kind, moved: make(chan struct{}), kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	v.applied.Store(-1)
	p.mu.Lock()
	p.view = v
	p.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		v.run(ctx)
	}()
}

// detachViewer takes p's apply loop away (nil: none); stop ends it.
func (p *partition) detachViewer() *viewer {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.view
	p.view = nil
	return v
}

// stop ends the apply loop and waits for it (nil: nothing). Never under
// p.hookMu: the loop takes it to load.
func (v *viewer) stop() {
	if v != nil {
		v.cancel()
		<-v.done
	}
}

// resetView forgets what p's records put in the view (p.logMu held).
func (m *Manager) resetView(p *partition, why string) {
	if _, ok := m.internalKind(p.topic); !ok {
		return
	}
	if err := m.viewStore().ResetView(p.topic, p.part); err != nil {
		m.logger.Warn("reset the coordinator view", "topic", p.topic, "partition", p.part, "why", why, "err", err)
		return
	}
	if v := p.viewerOf(); v != nil {
		v.setApplied(0)
		v.wake()
	}
	m.logger.Info("coordinator view reset; applying again from the log start", "topic", p.topic, "partition", p.part, "why", why)
}

// truncated is the truncation guard, after the log of an internal
// partition was cut to leo (p.logMu held): a view holding records above
// it is reset.
func (m *Manager) truncated(p *partition, leo int64) {
	if _, ok := m.internalKind(p.topic); !ok {
		return
	}
	applied, err := m.viewStore().ViewApplied(p.topic, p.part)
	if err != nil || applied <= leo {
		return
	}
	m.logger.Error("an internal partition was truncated below its applied offset", "topic", p.topic, "partition", p.part,
		"applied", applied, "log_end", leo)
	m.resetView(p, "truncated below the applied offset")
}

// unloadAll runs at Close: every loaded leadership ends first.
func (m *Manager) unloadAll() {
	for _, p := range m.internalParts() {
		p.hookMu.Lock()
		m.unloadLocked(p)
		p.hookMu.Unlock()
	}
}

func (v *viewer) wake() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

func (v *viewer) setApplied(off int64) {
	v.mu.Lock()
	if v.applied.Load() != off {
		v.applied.Store(off)
		close(v.moved)
		v.moved = make(chan struct{})
	}
	v.mu.Unlock()
}

// run applies up to the high watermark at every change of it, and loads
// a leadership once its tail is applied, until ctx ends.
func (v *viewer) run(ctx context.Context) {
	defer close(v.done)
	p, m := v.p, v.m
	for ctx.Err() == nil {
		logCh, _, err := m.cfg.Log.Watch(p.topic, p.part) // before reading: a change meanwhile wakes us
		if err != nil {
			v.failed(ctx, err)
			continue
		}
		p.mu.Lock()
		roleCh := p.changed
		p.mu.Unlock()
		more, err := v.step()
		if err != nil {
			v.failed(ctx, err)
			continue
		}
		if v.lastErr != "" {
			m.logger.Info("coordinator view applies again", "topic", p.topic, "partition", p.part)
			v.lastErr = ""
		}
		v.maybeLoad()
		if more {
			continue
		}
		select {
		case <-ctx.Done():
		case <-logCh:
		case <-roleCh:
		case <-v.kick:
		}
	}
}

// failed logs a step's error once per kind of error and pauses.
func (v *viewer) failed(ctx context.Context, err error) {
	if msg := err.Error(); msg != v.lastErr {
		v.m.logger.Warn("coordinator view: cannot apply; retrying", "topic", v.p.topic, "partition", v.p.part, "err", err)
		v.lastErr = msg
	}
	t := time.NewTimer(viewRetry)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// step applies the next records below the high watermark, in one write
// with the new applied offset; more says there may be others.
func (v *viewer) step() (more bool, err error) {
	m, p := v.m, v.p
	l, vs := m.cfg.Log, m.viewStore()
	// Under logMu: no truncation or reset of the log runs meanwhile, so
	// what is applied is what the log holds.
	p.logMu.Lock()
	defer p.logMu.Unlock()
	applied, err := vs.ViewApplied(p.topic, p.part)
	if err != nil {
		return false, fmt.Errorf("applied offset: %w", err)
	}
	logStart, hwm, err := l.Offsets(p.topic, p.part)
	if err != nil {
		return false, fmt.Errorf("offsets: %w", err)
	}
	leo, err := l.LogEndOffset(p.topic, p.part)
	if err != nil {
		return false, fmt.Errorf("log end: %w", err)
	}
	if applied > leo || (applied > 0 && applied < logStart) {
		// The log lost what the view holds, or starts above it (a reset
		// that the guard missed, e.g. across a crash): rebuild.
		m.logger.Error("coordinator view does not match its log", "topic", p.topic, "partition", p.part,
			"applied", applied, "log_start", logStart, "log_end", leo)
		if err := vs.ResetView(p.topic, p.part); err != nil {
			return false, fmt.Errorf("reset: %w", err)
		}
		applied = 0
	}
	p.mu.Lock()
	r := p.role
	p.mu.Unlock()
	hwm = committedEnd(p, r, hwm) // -1 with no role: wait
	from := max(applied, logStart)
	v.setApplied(applied)
	if from >= hwm {
		return false, nil
	}
	res, err := l.ReadReplica(p.topic, p.part, from, viewReadBytes)
	if err != nil {
		return false, fmt.Errorf("read from %d: %w", from, err)
	}
	var batches []plog.Batch
	for _, b := range res.Batches {
		if b.LastOffset >= hwm {
			break // not committed: never applied
		}
		if b.BaseOffset >= from {
			batches = append(batches, b)
		}
	}
	if len(batches) == 0 {
		return false, nil
	}
	ch, err := m.decode()(v.kind, p.part, batches, v.pending)
	if err != nil {
		return false, fmt.Errorf("decode [%d, %d]: %w", batches[0].BaseOffset, batches[len(batches)-1].LastOffset, err)
	}
	next := batches[len(batches)-1].LastOffset + 1
	if err := vs.ApplyView(p.topic, p.part, next, ch); err != nil {
		return false, fmt.Errorf("apply up to %d: %w", next, err)
	}
	v.setApplied(next)
	return next < hwm, nil
}

// pending is what the view holds of pid's open transactional offsets.
func (v *viewer) pending(pid int64) []plog.CommittedOffset {
	raw, err := v.m.cfg.Log.Meta(coordlog.PendingKey(v.p.part, pid))
	if err != nil || raw == nil {
		return nil
	}
	offs, err := coordlog.DecodePending(raw)
	if err != nil {
		v.m.logger.Warn("coordinator view: unreadable pending offsets", "topic", v.p.topic, "partition", v.p.part, "pid", pid, "err", err)
		return nil
	}
	return offs
}

// maybeLoad loads the leadership this node holds once the view has the
// log end it had when it became leader (Kafka's loading of a coordinator
// partition), then calls onLoad, once per leadership.
func (v *viewer) maybeLoad() {
	m, p := v.m, v.p
	p.hookMu.Lock()
	defer p.hookMu.Unlock()
	p.mu.Lock()
	r, epoch, start := p.role, p.epoch, p.epochStart
	p.mu.Unlock()
	if r != roleLeader || m.closing.Load() {
		return
	}
	h := m.hooks.Load()
	if p.loadedEpoch.Load() == epoch {
		if !p.announced && h != nil && h.onLoad != nil { // hooks set after the load
			h.onLoad(v.kind, p.part, epoch)
			p.announced = true
		}
		return
	}
	if v.applied.Load() < start {
		return
	}
	if h != nil && h.onLoad != nil {
		h.onLoad(v.kind, p.part, epoch)
		p.announced = true
	}
	p.loadedEpoch.Store(epoch)
	m.logger.Info("coordinator partition loaded", "topic", p.topic, "partition", p.part, "epoch", epoch, "applied", v.applied.Load())
}

// committedEnd is how far a replica in role r may treat its log as
// committed, given the log's own high watermark: a leader's own; a
// follower's clamped to what its leader last sent (after a restart the
// log's own watermark may be its log end); -1 with no role (no leader to
// say).
func committedEnd(p *partition, r role, hwm int64) int64 {
	switch r {
	case roleLeader:
		return hwm
	case roleFollower:
		return min(hwm, p.leaderHWM.Load())
	}
	return -1
}
