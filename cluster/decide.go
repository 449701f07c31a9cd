package cluster

import (
	"slices"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// decidePartition is the controller's reaction for one partition to the
// set of live nodes (Kafka's OfflinePartitionLeaderElectionStrategy and
// ReplicaStateMachine's removal from the ISR), as a pure function:
//
//   - the leader is live: dead members leave the ISR (partition epoch + 1,
//     the leader epoch stays, as KRaft does: only leadership bumps it);
//   - the leader is dead or none (-1): the new leader is the first replica,
//     in assignment order, that is in the ISR and live; dead members leave
//     the ISR; leader epoch and partition epoch + 1;
//   - no live ISR member: with unclean election the first live replica
//     leads with an ISR of itself; without, the partition is offline
//     (Leader -1, epochs + 1) and its ISR stays as it was: every member of
//     it holds every acknowledged record, so whichever returns first leads
//     it again (Kafka keeps the last member; with several dead at once it
//     keeps one by event order, we keep them all).
//
// changed is false when nothing is to be written.
func decidePartition(st meta.PartitionState, live func(int32) bool, unclean bool) (next meta.PartitionState, changed bool) {
	next = clonePartition(st)
	liveISR := make([]int32, 0, len(st.ISR))
	for _, r := range st.ISR {
		if live(r) {
			liveISR = append(liveISR, r)
		}
	}
	if st.Leader >= 0 && live(st.Leader) {
		if len(liveISR) == len(st.ISR) || len(liveISR) == 0 {
			return st, false // nothing dead in it, or nothing live to keep
		}
		next.ISR = liveISR
		next.PartitionEpoch++
		return next, true
	}
	leader := int32(-1)
	for _, r := range st.Replicas {
		if slices.Contains(liveISR, r) {
			leader = r
			break
		}
	}
	switch {
	case leader >= 0:
		next.Leader = leader
		next.ISR = liveISR
	case unclean:
		for _, r := range st.Replicas {
			if live(r) {
				leader = r
				break
			}
		}
		if leader < 0 {
			if st.Leader == -1 {
				return st, false
			}
			next.Leader = -1
			break
		}
		next.Leader = leader
		next.ISR = []int32{leader}
	default:
		if st.Leader == -1 {
			return st, false // offline already
		}
		next.Leader = -1
	}
	next.LeaderEpoch++
	next.PartitionEpoch++
	return next, true
}

func clonePartition(st meta.PartitionState) meta.PartitionState {
	st.Replicas = slices.Clone(st.Replicas)
	st.ISR = slices.Clone(st.ISR)
	st.Adding = slices.Clone(st.Adding)
	st.Removing = slices.Clone(st.Removing)
	return st
}
