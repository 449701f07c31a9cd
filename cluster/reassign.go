package cluster

import (
	"fmt"
	"slices"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/kafka"
)

// The partition-state transitions of Kafka's operations (KIP-455
// reassignment, KIP-460 leader election, controlled shutdown), as pure
// functions: a state (and the live nodes) in, the state to write out.
// The callers write it with a CAS on the version they read.

// startReassignment moves st towards the target replicas (KIP-455): with
// R the current replicas (the origin, when a reassignment is already in
// progress: the replicas minus those being added), Replicas = T + (R - T),
// Adding = T - R, Removing = R - T. A target that is R in another order
// (nothing to add or remove) is written at once as the new order.
func startReassignment(st meta.PartitionState, target []int32) meta.PartitionState {
	next := clonePartition(st)
	origin := originReplicas(st)
	next.Adding = minus(target, origin)
	next.Removing = minus(origin, target)
	next.Replicas = append(slices.Clone(target), next.Removing...)
	if len(next.Adding) == 0 && len(next.Removing) == 0 {
		next.Adding, next.Removing = nil, nil
	}
	// Replicas that an overridden reassignment was adding leave the ISR.
	next.ISR = intersect(st.ISR, next.Replicas)
	next.PartitionEpoch++
	return next
}

// inReassignment: a reassignment is in progress.
func inReassignment(st meta.PartitionState) bool {
	return len(st.Adding) > 0 || len(st.Removing) > 0
}

// originReplicas is the assignment before the reassignment in progress
// (Kafka's ReplicaAssignment.originReplicas).
func originReplicas(st meta.PartitionState) []int32 {
	return minus(st.Replicas, st.Adding)
}

// targetReplicas is where the reassignment in progress goes.
func targetReplicas(st meta.PartitionState) []int32 {
	return minus(st.Replicas, st.Removing)
}

// cancelReassignment reverts st to its origin replicas (KIP-455's cancel):
// the ISR keeps only them; a leader that is not one of them hands over to
// the first live in-sync origin replica (none: the partition is offline).
func cancelReassignment(st meta.PartitionState, live func(int32) bool) meta.PartitionState {
	next := clonePartition(st)
	next.Replicas = originReplicas(st)
	next.Adding, next.Removing = nil, nil
	next.ISR = intersect(st.ISR, next.Replicas)
	if !slices.Contains(next.Replicas, st.Leader) {
		next.Leader = firstIn(next.Replicas, next.ISR, live, -1)
		next.LeaderEpoch++
	}
	next.PartitionEpoch++
	return next
}

// completeReassignment finishes the reassignment in progress once every
// replica being added is in the ISR (the controller's check, Kafka's
// isReassignmentComplete): Replicas = the target, ISR = ISR ∩ target, no
// Adding or Removing, and a leader outside the target hands over to the
// first live in-sync target replica, epoch + 1. When no target replica
// could lead, it waits (changed false), as Kafka's controller does.
func completeReassignment(st meta.PartitionState, live func(int32) bool) (meta.PartitionState, bool) {
	if !inReassignment(st) {
		return st, false
	}
	for _, r := range st.Adding {
		if !slices.Contains(st.ISR, r) {
			return st, false
		}
	}
	next := clonePartition(st)
	next.Replicas = targetReplicas(st)
	next.Adding, next.Removing = nil, nil
	next.ISR = intersect(st.ISR, next.Replicas)
	if !slices.Contains(next.Replicas, st.Leader) {
		leader := firstIn(next.Replicas, next.ISR, live, -1)
		if leader < 0 {
			return st, false
		}
		next.Leader = leader
		next.LeaderEpoch++
	}
	if len(next.ISR) == 0 {
		return st, false
	}
	next.PartitionEpoch++
	return next, true
}

// preferredElection makes the first replica the leader (KIP-460, type
// PREFERRED): kafka.ErrElectionNotNeeded when it leads already,
// kafka.ErrPreferredLeaderNotAvailable when it is not live or not in the
// ISR.
func preferredElection(st meta.PartitionState, live func(int32) bool) (meta.PartitionState, error) {
	if len(st.Replicas) == 0 {
		return st, fmt.Errorf("%w: no replicas", kafka.ErrPreferredLeaderNotAvailable)
	}
	pref := st.Replicas[0]
	switch {
	case st.Leader == pref:
		return st, fmt.Errorf("%w: node %d leads already", kafka.ErrElectionNotNeeded, pref)
	case !live(pref):
		return st, fmt.Errorf("%w: node %d is not live", kafka.ErrPreferredLeaderNotAvailable, pref)
	case !slices.Contains(st.ISR, pref):
		return st, fmt.Errorf("%w: node %d is not in the ISR %v", kafka.ErrPreferredLeaderNotAvailable, pref, st.ISR)
	}
	next := clonePartition(st)
	next.Leader = pref
	next.LeaderEpoch++
	next.PartitionEpoch++
	return next, nil
}

// uncleanElection gives a partition without a live leader one (KIP-460,
// type UNCLEAN, allowed by Kafka whatever unclean.leader.election.enable
// says, since an operator asks for it): the first live ISR member, else
// the first live replica alone in the ISR (what it lacks is lost).
// kafka.ErrElectionNotNeeded when a live leader exists,
// kafka.ErrEligibleLeadersNotAvailable when no replica is live.
func uncleanElection(st meta.PartitionState, live func(int32) bool) (meta.PartitionState, error) {
	if st.Leader >= 0 && live(st.Leader) {
		return st, fmt.Errorf("%w: node %d leads", kafka.ErrElectionNotNeeded, st.Leader)
	}
	next := clonePartition(st)
	leader := firstIn(st.Replicas, st.ISR, live, -1)
	if leader >= 0 {
		next.ISR = slices.DeleteFunc(slices.Clone(st.ISR), func(r int32) bool { return !live(r) })
	} else {
		for _, r := range st.Replicas {
			if live(r) {
				leader = r
				break
			}
		}
		if leader < 0 {
			return st, fmt.Errorf("%w: no replica of %v is live", kafka.ErrEligibleLeadersNotAvailable, st.Replicas)
		}
		next.ISR = []int32{leader}
	}
	next.Leader = leader
	next.LeaderEpoch++
	next.PartitionEpoch++
	return next, nil
}

// firstIn is the first replica, in assignment order, that is in set and
// live; none when there is none.
func firstIn(replicas, set []int32, live func(int32) bool, none int32) int32 {
	for _, r := range replicas {
		if slices.Contains(set, r) && live(r) {
			return r
		}
	}
	return none
}

// minus is a without the members of b, in a's order.
func minus(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// intersect is a's members that are in b, in a's order (never nil).
func intersect(a, b []int32) []int32 {
	out := []int32{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// checkTarget is Kafka's validation of a reassignment's target replicas:
// not empty, no duplicates, no negative id, every node live.
func checkTarget(target []int32, live func(int32) bool) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: the replica list is empty", kafka.ErrInvalidReplicaAssignment)
	}
	seen := make(map[int32]bool, min(len(target), 64))
	for _, r := range target {
		switch {
		case r < 0:
			return fmt.Errorf("%w: invalid node id %d", kafka.ErrInvalidReplicaAssignment, r)
		case seen[r]:
			return fmt.Errorf("%w: node %d is named twice", kafka.ErrInvalidReplicaAssignment, r)
		case !live(r):
			return fmt.Errorf("%w: node %d is not a live node of the cluster", kafka.ErrInvalidReplicaAssignment, r)
		}
		seen[r] = true // a list longer than the live nodes fails by the time it repeats one
	}
	return nil
}
