package replica

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
)

// isrWriteTimeout bounds one ISR write to the store.
const isrWriteTimeout = 10 * time.Second

// makeLeader makes this node the partition's leader in st's epoch
// (Kafka's Partition.makeLeader): the log stamps the epoch from now on,
// the followers' states start over (ISR members count as caught up now),
// and the high watermark waits for the ISR.
func (m *Manager) makeLeader(p *partition, st meta.PartitionState, version int64) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	l := m.cfg.Log
	// Replicated before the new epoch: writes in it must not be visible
	// until the ISR has them.
	if err := l.SetReplicated(p.topic, p.part, true); err != nil {
		m.logger.Warn("become leader", "topic", p.topic, "partition", p.part, "err", err)
		return
	}
	if err := l.BecomeLeader(p.topic, p.part, st.LeaderEpoch); err != nil {
		m.logger.Warn("become leader", "topic", p.topic, "partition", p.part, "epoch", st.LeaderEpoch, "err", err)
		return
	}
	leo, err := l.LogEndOffset(p.topic, p.part)
	if err != nil {
		m.logger.Warn("become leader", "topic", p.topic, "partition", p.part, "err", err)
		return
	}
	now := time.Now()
	p.mu.Lock()
	newEpoch := p.role != roleLeader || p.epoch != st.LeaderEpoch
	if newEpoch {
		p.followers = map[int32]*follower{}
		p.epochStart = leo
		p.isrBusy, p.pendingISR = false, nil
		m.logger.Info("leading", "topic", p.topic, "partition", p.part, "epoch", st.LeaderEpoch, "isr", st.ISR, "log_end", leo)
	}
	for _, r := range st.Replicas {
		if r == m.cfg.NodeID || p.followers[r] != nil {
			continue
		}
		f := &follower{leo: -1}
		if slices.Contains(st.ISR, r) {
			f.lastCaughtUp = now // Kafka: an ISR member gets a full lag period
		}
		p.followers[r] = f
	}
	p.role, p.epoch, p.leader, p.fetch = roleLeader, st.LeaderEpoch, m.cfg.NodeID, nil
	p.mu.Unlock()
	p.notify()
	m.syncReplicated(p)
	m.maybeAdvanceHWM(p)
}

// syncReplicated holds the high watermark below the log end only while
// another replica is in the (maximal) ISR: a leader alone in its ISR
// commits what it appends at once, as Kafka's maybeIncrementLeaderHW after
// each append does (a single-replica partition behaves as one node).
func (m *Manager) syncReplicated(p *partition) {
	p.mu.Lock()
	if p.role != roleLeader {
		p.mu.Unlock()
		return
	}
	on := slices.ContainsFunc(p.maximalISR(), func(r int32) bool { return r != m.cfg.NodeID })
	p.mu.Unlock()
	if err := m.cfg.Log.SetReplicated(p.topic, p.part, on); err != nil {
		m.logger.Warn("set replicated", "topic", p.topic, "partition", p.part, "err", err)
	}
}

// maybeAdvanceHWM moves the high watermark to the smallest log end offset
// of the maximal ISR (Kafka's maybeIncrementLeaderHW).
func (m *Manager) maybeAdvanceHWM(p *partition) {
	leo, err := m.cfg.Log.LogEndOffset(p.topic, p.part)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.role != roleLeader {
		p.mu.Unlock()
		return
	}
	hwm := p.hwmCandidate(m.cfg.NodeID, leo)
	p.mu.Unlock()
	if hwm < 0 {
		return
	}
	if err := m.cfg.Log.AdvanceHighWatermark(p.topic, p.part, hwm); err != nil {
		m.logger.Debug("advance high watermark", "topic", p.topic, "partition", p.part, "hwm", hwm, "err", err)
	}
}

// FollowerFetched records a follower's fetch at fetchOffset, its log end
// offset (Kafka's updateFollowerFetchState): its caught-up time by Kafka's
// rule, then the high watermark, then an ISR expansion when it qualifies.
// Cheap: the ISR write runs in its own goroutine.
func (m *Manager) FollowerFetched(topic string, part int32, replica int32, fetchOffset int64) {
	p := m.part(topic, part)
	if p == nil {
		return
	}
	l := m.cfg.Log
	leo, err := l.LogEndOffset(topic, part)
	if err != nil {
		return
	}
	_, curHWM, err := l.Offsets(topic, part)
	if err != nil {
		return
	}
	now := time.Now()
	p.mu.Lock()
	f := p.followers[replica]
	if p.role != roleLeader || f == nil || fetchOffset < 0 || fetchOffset > leo {
		// Not a follower of ours, or an offset the log does not have
		// (the door reads before reporting: not from a real follower).
		p.mu.Unlock()
		return
	}
	f.leo = fetchOffset
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = maxTime(f.lastCaughtUp, now)
	case fetchOffset >= f.lastFetchLeaderLEO:
		// It has what the leader had when it last answered it.
		f.lastCaughtUp = maxTime(f.lastCaughtUp, f.lastFetch)
	}
	f.lastFetchLeaderLEO, f.lastFetch = leo, now
	expand := !p.isrBusy && !slices.Contains(p.state.ISR, replica) &&
		fetchOffset >= curHWM && fetchOffset >= p.epochStart
	hwm := p.hwmCandidate(m.cfg.NodeID, leo)
	p.mu.Unlock()
	if hwm > curHWM {
		if err := l.AdvanceHighWatermark(topic, part, hwm); err != nil {
			m.logger.Debug("advance high watermark", "topic", topic, "partition", part, "hwm", hwm, "err", err)
		}
	}
	if expand && m.live(replica) {
		m.expandISR(p, replica)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// expandISR adds a caught-up follower to the ISR (Kafka's maybeExpandIsr).
// The replica counts in the high watermark from now on (the maximal ISR),
// so the watermark cannot pass it while the write is in flight.
func (m *Manager) expandISR(p *partition, replica int32) {
	p.mu.Lock()
	if p.role != roleLeader || p.isrBusy || slices.Contains(p.state.ISR, replica) {
		p.mu.Unlock()
		return
	}
	isr := inReplicaOrder(p.state.Replicas, append(slices.Clone(p.state.ISR), replica))
	p.isrBusy, p.pendingISR = true, isr
	p.mu.Unlock()
	m.syncReplicated(p)
	// Replicated now (the watermark holds still): check again that the
	// follower has everything below it.
	_, hwm, err := m.cfg.Log.Offsets(p.topic, p.part)
	p.mu.Lock()
	f := p.followers[replica]
	if err != nil || p.role != roleLeader || f == nil || f.leo < hwm {
		p.isrBusy, p.pendingISR = false, nil
		p.mu.Unlock()
		m.syncReplicated(p)
		return
	}
	m.startISRWrite(p, isr, "expand")
}

// shrinkISRs removes from the ISRs this node leads the followers that were
// not caught up within LagTimeMax or whose node is gone (Kafka's
// maybeShrinkIsr, run every LagTimeMax/2).
func (m *Manager) shrinkISRs() {
	m.mu.Lock()
	ps := make([]*partition, 0, len(m.parts))
	for _, p := range m.parts {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	now := time.Now()
	for _, p := range ps {
		p.mu.Lock()
		if p.role != roleLeader || p.isrBusy {
			p.mu.Unlock()
			continue
		}
		var out []int32
		for _, r := range p.state.ISR {
			if r == m.cfg.NodeID {
				continue
			}
			f := p.followers[r]
			if f == nil || now.Sub(f.lastCaughtUp) > m.cfg.LagTimeMax || !m.live(r) {
				out = append(out, r)
			}
		}
		if len(out) == 0 {
			p.mu.Unlock()
			continue
		}
		isr := slices.DeleteFunc(slices.Clone(p.state.ISR), func(r int32) bool { return slices.Contains(out, r) })
		p.isrBusy = true // the maximal ISR stays the old one until written
		m.logger.Info("shrinking ISR", "topic", p.topic, "partition", p.part, "out", out, "isr", isr)
		m.startISRWrite(p, isr, "shrink")
	}
}

// startISRWrite writes isr as the partition's ISR, a CAS on the version
// held, in its own goroutine (p.mu held, p.isrBusy set; it unlocks).
func (m *Manager) startISRWrite(p *partition, isr []int32, why string) {
	st := p.state
	st.ISR = isr
	st.PartitionEpoch++
	version, epoch := p.version, p.epoch
	p.mu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		p.mu.Lock()
		p.isrBusy, p.pendingISR = false, nil
		p.mu.Unlock()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		m.writeISR(p, st, version, epoch, why)
	}()
}

func (m *Manager) writeISR(p *partition, st meta.PartitionState, version int64, epoch int32, why string) {
	ctx, cancel := context.WithTimeout(m.ctx, isrWriteTimeout)
	defer cancel()
	rev, err := meta.UpdatePartition(ctx, m.cfg.Store, p.topic, p.part, version, st)
	p.mu.Lock()
	p.isrBusy, p.pendingISR = false, nil
	if err == nil && p.version == version && p.role == roleLeader && p.epoch == epoch {
		p.state, p.version = st, rev
	}
	p.mu.Unlock()
	switch {
	case err == nil:
		m.logger.Info("ISR changed", "why", why, "topic", p.topic, "partition", p.part, "isr", st.ISR, "version", rev)
	case errors.Is(err, meta.ErrConflict):
		// Someone (the controller) wrote first: take the newer state and
		// decide again (it may say another node leads).
		m.logger.Info("ISR change lost a race; reloading", "topic", p.topic, "partition", p.part)
		m.reload(ctx, p)
	default:
		m.logger.Warn("ISR change failed", "why", why, "topic", p.topic, "partition", p.part, "err", err)
	}
	p.notify()
	m.syncReplicated(p)
	m.maybeAdvanceHWM(p)
}

// reload reads the partition's state from the store and hands it to Run.
func (m *Manager) reload(ctx context.Context, p *partition) {
	kv, err := m.cfg.Store.Get(ctx, meta.PartitionKey(p.topic, p.part))
	if err != nil || kv.Version == 0 {
		if err != nil {
			m.logger.Warn("reload partition state", "topic", p.topic, "partition", p.part, "err", err)
		}
		return
	}
	var st meta.PartitionState
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		m.logger.Warn("reload partition state", "topic", p.topic, "partition", p.part, "err", err)
		return
	}
	m.Apply([]catalog.Change{{Topic: p.topic, TopicID: p.topicID, Partition: p.part, State: st, Version: kv.Version}})
}
