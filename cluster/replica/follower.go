package replica

import "github.com/zombi-dev/zombi/cluster/meta"

// makeFollower makes this node follow st's leader in st's epoch (Kafka's
// Partition.makeFollower): it stops leading (the log stays replicated: its
// high watermark is the leader's), and a fetcher for the leader takes the
// partition, truncating first. The same leader and epoch again (an ISR
// change) changes nothing, unless the fetcher was fenced and waits for it.
func (m *Manager) makeFollower(p *partition, st meta.PartitionState) {
	p.mu.Lock()
	same := p.role == roleFollower && p.leader == st.Leader && p.epoch == st.LeaderEpoch &&
		p.fetch != nil && !p.fetch.parked.Load()
	p.mu.Unlock()
	if same {
		return
	}
	m.stopFetching(p)
	p.logMu.Lock()
	// Fenced first: from here on the log takes the leader's batches only
	// (a produce that passed CheckProduce just before is refused by the
	// log, or lands before the truncation that follows).
	if err := m.cfg.Log.BecomeFollower(p.topic, p.part); err != nil {
		p.logMu.Unlock()
		m.logger.Warn("become follower", "topic", p.topic, "partition", p.part, "err", err)
		return
	}
	if err := m.cfg.Log.SetReplicated(p.topic, p.part, true); err != nil {
		p.logMu.Unlock()
		m.logger.Warn("become follower", "topic", p.topic, "partition", p.part, "err", err)
		return
	}
	p.mu.Lock()
	wasLeader := p.role == roleLeader
	p.role, p.leader, p.epoch = roleFollower, st.Leader, st.LeaderEpoch
	p.leaderHWM.Store(-1)
	p.followers, p.isrBusy, p.pendingISR = nil, false, nil
	p.mu.Unlock()
	p.logMu.Unlock()
	if wasLeader {
		m.logger.Info("following", "topic", p.topic, "partition", p.part, "leader", st.Leader, "epoch", st.LeaderEpoch)
	}
	p.notify()
	m.startFetching(p, st.Leader, st.LeaderEpoch)
}
