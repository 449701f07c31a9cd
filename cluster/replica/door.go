package replica

import (
	"context"
	"fmt"
	"slices"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/kafka"
)

// The Kafka door's questions (kafka.Cluster's replication half), answered
// from the roles this node plays. Errors are kafka's sentinels, wrapped.

// checkEpoch is Kafka's checkCurrentLeaderEpoch: -1 asks nothing.
func checkEpoch(asked, current int32) error {
	switch {
	case asked < 0 || asked == current:
		return nil
	case asked < current:
		return fmt.Errorf("%w: %d, current %d", kafka.ErrFencedLeaderEpoch, asked, current)
	default:
		return fmt.Errorf("%w: %d, current %d", kafka.ErrUnknownLeaderEpoch, asked, current)
	}
}

// CheckProduce says whether this node may take a write to the partition:
// it leads it in the epoch asked (-1: any), and for acks=all the ISR has
// at least min.insync.replicas members (Kafka checks before appending).
func (m *Manager) CheckProduce(topic string, part int32, epoch int32, acksAll bool) error {
	p := m.part(topic, part)
	if p == nil {
		return fmt.Errorf("%w: %s-%d is not known here", kafka.ErrNotLeader, topic, part)
	}
	p.mu.Lock()
	r, cur, isr, origin := p.role, p.epoch, len(p.state.ISR), len(p.state.Replicas)-len(p.state.Adding)
	p.mu.Unlock()
	if err := checkEpoch(epoch, cur); err != nil {
		return err
	}
	if r != roleLeader {
		return fmt.Errorf("%w: %s-%d", kafka.ErrNotLeader, topic, part)
	}
	if min := m.minInsyncOf(topic, origin); acksAll && isr < min {
		return fmt.Errorf("%w: %s-%d has %d in-sync replicas, min.insync.replicas is %d", kafka.ErrNotEnoughReplicas, topic, part, isr, min)
	}
	return nil
}

// AwaitReplicated returns once the high watermark is past lastOffset
// (every ISR member has the write), as Kafka's acks=all: then
// ErrNotEnoughReplicasAfterAppend if the ISR that acknowledged it is
// smaller than min.insync.replicas; ErrNotLeader as soon as this node
// stops leading in the epoch it had; or ctx's error.
func (m *Manager) AwaitReplicated(ctx context.Context, topic string, part int32, lastOffset int64) error {
	p := m.part(topic, part)
	if p == nil {
		return fmt.Errorf("%w: %s-%d is not known here", kafka.ErrNotLeader, topic, part)
	}
	p.mu.Lock()
	r, epoch := p.role, p.epoch
	p.mu.Unlock()
	if r != roleLeader {
		return fmt.Errorf("%w: %s-%d", kafka.ErrNotLeader, topic, part)
	}
	for {
		ch, hwm, err := m.cfg.Log.Watch(topic, part)
		if err != nil {
			return err
		}
		p.mu.Lock()
		r, e, isr, changed := p.role, p.epoch, len(p.state.ISR), p.changed
		origin := len(p.state.Replicas) - len(p.state.Adding)
		p.mu.Unlock()
		if r != roleLeader || e != epoch {
			return fmt.Errorf("%w: %s-%d: leadership moved while waiting for replicas", kafka.ErrNotLeader, topic, part)
		}
		if hwm > lastOffset {
			if min := m.minInsyncOf(topic, origin); isr < min {
				return fmt.Errorf("%w: %s-%d has %d in-sync replicas, min.insync.replicas is %d", kafka.ErrNotEnoughReplicasAfterAppend, topic, part, isr, min)
			}
			return nil
		}
		select {
		case <-ch:
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CheckFetch says whether this node may serve a fetch of the partition.
// A follower's (replica >= 0): only the leader, and only to a replica of
// the partition. A consumer's (-1): the leader, or a follower (KIP-392: a
// consumer fetches from a follower only when told to, and the follower
// serves it up to its own high watermark).
func (m *Manager) CheckFetch(topic string, part int32, epoch int32, replica int32) error {
	p := m.part(topic, part)
	if p == nil {
		return fmt.Errorf("%w: %s-%d is not known here", kafka.ErrNotLeader, topic, part)
	}
	p.mu.Lock()
	r, cur, replicas := p.role, p.epoch, p.state.Replicas
	p.mu.Unlock()
	if err := checkEpoch(epoch, cur); err != nil {
		return err
	}
	switch {
	case replica >= 0 && r != roleLeader:
		return fmt.Errorf("%w: %s-%d (replica %d fetching)", kafka.ErrNotLeader, topic, part, replica)
	case replica >= 0 && !slices.Contains(replicas, replica):
		return fmt.Errorf("%w: node %d is not a replica of %s-%d", kafka.ErrNotLeader, replica, topic, part)
	case r == roleNone:
		return fmt.Errorf("%w: %s-%d", kafka.ErrNotLeader, topic, part)
	}
	return nil
}

// PreferredReadReplica is KIP-392's rack-aware choice: the leader when it
// is in the client's rack, else the in-sync, live replica in that rack
// that has the most; -1 when none is (or racks are unknown).
func (m *Manager) PreferredReadReplica(topic string, part int32, clientRack string) int32 {
	if clientRack == "" || m.cfg.Rack == nil {
		return -1
	}
	p := m.part(topic, part)
	if p == nil {
		return -1
	}
	if m.cfg.Rack(m.cfg.NodeID) == clientRack {
		return -1 // the leader itself
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleLeader {
		return -1
	}
	best, bestLEO := int32(-1), int64(-1)
	for _, r := range p.state.ISR {
		f := p.followers[r]
		if r == m.cfg.NodeID || f == nil || f.leo <= bestLEO || m.cfg.Rack(r) != clientRack || !m.live(r) {
			continue
		}
		best, bestLEO = r, f.leo
	}
	return best
}

// Partition is the partition's state as this node knows it, with the
// replicas whose node is not live as Offline.
func (m *Manager) Partition(topic string, part int32) (kafka.PartitionView, bool) {
	p := m.part(topic, part)
	if p == nil {
		return kafka.PartitionView{}, false
	}
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	return View(st, m.live), true
}

// View is a partition state as the Kafka door shows it: the replicas whose
// node is not live (live(id) false) are Offline.
func View(st meta.PartitionState, live func(node int32) bool) kafka.PartitionView {
	v := kafka.PartitionView{
		Leader:      st.Leader,
		LeaderEpoch: st.LeaderEpoch,
		Replicas:    slices.Clone(st.Replicas),
		ISR:         slices.Clone(st.ISR),
		Offline:     []int32{},
	}
	for _, r := range st.Replicas {
		if !live(r) {
			v.Offline = append(v.Offline, r)
		}
	}
	return v
}
