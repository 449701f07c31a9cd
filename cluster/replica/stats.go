package replica

import "slices"

// What the metrics read at scrape time (cluster/metrics.go): nothing here
// runs on the write path.

func (m *Manager) countISRChange(why string) {
	switch why {
	case "shrink":
		m.isrShrinks.Add(1)
	case "expand":
		m.isrExpands.Add(1)
	}
}

// ISRChanges are the ISR shrinks and expands this node wrote as a leader
// since it started.
func (m *Manager) ISRChanges() (shrinks, expands int64) {
	return m.isrShrinks.Load(), m.isrExpands.Load()
}

// LeaderStat is a partition this node leads, as its leader sees it.
type LeaderStat struct {
	Topic     string
	Partition int32
	Replicas  int
	ISR       int
	// Lag is each follower's distance from the leader's log end offset, in
	// records (Kafka's leader-side replica lag); a follower that has not
	// fetched in this leader epoch yet is left out.
	Lag map[int32]int64
}

// LeaderStats lists the partitions this node leads.
func (m *Manager) LeaderStats() []LeaderStat {
	m.mu.Lock()
	ps := make([]*partition, 0, len(m.parts))
	for _, p := range m.parts {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	var out []LeaderStat
	for _, p := range ps {
		p.mu.Lock()
		if p.role != roleLeader {
			p.mu.Unlock()
			continue
		}
		st := LeaderStat{Topic: p.topic, Partition: p.part, Replicas: len(p.state.Replicas), ISR: len(p.state.ISR), Lag: map[int32]int64{}}
		leos := make(map[int32]int64, len(p.followers))
		for id, f := range p.followers {
			if f.leo >= 0 {
				leos[id] = f.leo
			}
		}
		replicas := slices.Clone(p.state.Replicas)
		p.mu.Unlock()
		leo, err := m.cfg.Log.LogEndOffset(st.Topic, st.Partition)
		if err != nil {
			continue
		}
		for _, id := range replicas {
			if f, ok := leos[id]; ok && id != m.cfg.NodeID {
				st.Lag[id] = max(0, leo-f)
			}
		}
		out = append(out, st)
	}
	return out
}
