package cluster

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/kafka"
)

func liveOf(ids ...int32) func(int32) bool {
	m := map[int32]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return func(id int32) bool { return m[id] }
}

func reassigning(st meta.PartitionState, adding, removing []int32) meta.PartitionState {
	st.Adding, st.Removing = adding, removing
	return st
}

// TestStartReassignment: KIP-455's Replicas = T + (R - T), Adding = T - R,
// Removing = R - T.
func TestStartReassignment(t *testing.T) {
	cases := []struct {
		name   string
		in     meta.PartitionState
		target []int32
		want   meta.PartitionState
	}{
		{"RF 1 to 3", ps(r(1), r(1), 1, 0, 0), r(1, 2, 3), reassigning(ps(r(1, 2, 3), r(1), 1, 0, 1), r(2, 3), nil)},
		{"move a leader off its node", ps(r(1, 2, 3), r(1, 2, 3), 1, 3, 5), r(2, 3, 4), reassigning(ps(r(2, 3, 4, 1), r(1, 2, 3), 1, 3, 6), r(4), r(1))},
		{"shrink RF 3 to 2", ps(r(1, 2, 3), r(1, 2, 3), 1, 3, 5), r(1, 2), reassigning(ps(r(1, 2, 3), r(1, 2, 3), 1, 3, 6), nil, r(3))},
		{"reorder only: written at once", ps(r(1, 2, 3), r(1, 2, 3), 1, 3, 5), r(3, 1, 2), ps(r(3, 1, 2), r(1, 2, 3), 1, 3, 6)},
		{"override from the origin; the dropped adding replica leaves the ISR",
			reassigning(ps(r(4, 5, 1), r(1, 4), 1, 3, 5), r(4, 5), r(1)), r(6),
			reassigning(ps(r(6, 1), r(1), 1, 3, 6), r(6), r(1))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := clonePartition(c.in)
			got := startReassignment(c.in, c.target)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("start(%+v, %v) = %+v; want %+v", c.in, c.target, got, c.want)
			}
			if !reflect.DeepEqual(c.in, before) {
				t.Fatalf("the input was changed")
			}
		})
	}
}

// TestCompleteReassignment: the controller finishes once every adding
// replica is in the ISR, electing from the target when the leader leaves.
func TestCompleteReassignment(t *testing.T) {
	cases := []struct {
		name    string
		in      meta.PartitionState
		live    []int32
		want    meta.PartitionState
		changed bool
	}{
		{"adding not in ISR yet: waits", reassigning(ps(r(1, 2, 3), r(1, 2), 1, 0, 1), r(2, 3), nil), r(1, 2, 3),
			reassigning(ps(r(1, 2, 3), r(1, 2), 1, 0, 1), r(2, 3), nil), false},
		{"RF 1 to 3 done", reassigning(ps(r(1, 2, 3), r(1, 2, 3), 1, 0, 3), r(2, 3), nil), r(1, 2, 3),
			ps(r(1, 2, 3), r(1, 2, 3), 1, 0, 4), true},
		{"leader removed: first live in-sync target leads, epoch + 1",
			reassigning(ps(r(2, 3, 4, 1), r(1, 2, 3, 4), 1, 3, 7), r(4), r(1)), r(1, 2, 3, 4),
			ps(r(2, 3, 4), r(2, 3, 4), 2, 4, 8), true},
		{"leader removed, target member dead is skipped",
			reassigning(ps(r(2, 3, 4, 1), r(1, 2, 3, 4), 1, 3, 7), r(4), r(1)), r(1, 3, 4),
			ps(r(2, 3, 4), r(2, 3, 4), 3, 4, 8), true},
		{"leader removed, no target replica live: waits",
			reassigning(ps(r(4, 1), r(1, 4), 1, 3, 7), r(4), r(1)), r(1),
			reassigning(ps(r(4, 1), r(1, 4), 1, 3, 7), r(4), r(1)), false},
		{"pure removal completes at once", reassigning(ps(r(1, 2, 3), r(1, 2, 3), 1, 3, 6), nil, r(3)), r(1, 2, 3),
			ps(r(1, 2), r(1, 2), 1, 3, 7), true},
		{"no reassignment: nothing", ps(r(1, 2), r(1, 2), 1, 3, 6), r(1, 2), ps(r(1, 2), r(1, 2), 1, 3, 6), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, changed := completeReassignment(c.in, liveOf(c.live...))
			if changed != c.changed || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("complete(%+v, live %v) = %+v, %v; want %+v, %v", c.in, c.live, got, changed, c.want, c.changed)
			}
		})
	}
}

// TestCancelReassignment: a cancel reverts to the origin replicas.
func TestCancelReassignment(t *testing.T) {
	in := reassigning(ps(r(2, 3, 4, 1), r(1, 2, 3, 4), 1, 3, 7), r(4), r(1))
	want := ps(r(2, 3, 1), r(1, 2, 3), 1, 3, 8)
	if got := cancelReassignment(in, liveOf(1, 2, 3, 4)); !reflect.DeepEqual(got, want) {
		t.Fatalf("cancel = %+v; want %+v", got, want)
	}
	// A leader among the adding replicas hands back to the origin.
	in = reassigning(ps(r(4, 1), r(1, 4), 4, 3, 7), r(4), r(1))
	want = ps(r(1), r(1), 1, 4, 8)
	if got := cancelReassignment(in, liveOf(1, 4)); !reflect.DeepEqual(got, want) {
		t.Fatalf("cancel with an adding leader = %+v; want %+v", got, want)
	}
}

// TestElections: KIP-460's preferred and unclean elections.
func TestElections(t *testing.T) {
	got, err := preferredElection(ps(r(1, 2, 3), r(1, 2, 3), 2, 4, 9), liveOf(1, 2, 3))
	if want := ps(r(1, 2, 3), r(1, 2, 3), 1, 5, 10); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("preferred = %+v, %v; want %+v", got, err, want)
	}
	if _, err := preferredElection(ps(r(1, 2, 3), r(1, 2, 3), 1, 4, 9), liveOf(1, 2, 3)); !errors.Is(err, kafka.ErrElectionNotNeeded) {
		t.Fatalf("preferred leading already: %v", err)
	}
	if _, err := preferredElection(ps(r(1, 2, 3), r(2, 3), 2, 4, 9), liveOf(1, 2, 3)); !errors.Is(err, kafka.ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred out of the ISR: %v", err)
	}
	if _, err := preferredElection(ps(r(1, 2, 3), r(1, 2, 3), 2, 4, 9), liveOf(2, 3)); !errors.Is(err, kafka.ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred dead: %v", err)
	}
	if _, err := uncleanElection(ps(r(1, 2), r(1, 2), 1, 4, 9), liveOf(1, 2)); !errors.Is(err, kafka.ErrElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %v", err)
	}
	got, err = uncleanElection(ps(r(1, 2, 3), r(1), -1, 5, 10), liveOf(3))
	if want := ps(r(1, 2, 3), r(3), 3, 6, 11); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("unclean = %+v, %v; want %+v", got, err, want)
	}
	if _, err := uncleanElection(ps(r(1, 2), r(1), -1, 5, 10), liveOf(3)); !errors.Is(err, kafka.ErrEligibleLeadersNotAvailable) {
		t.Fatalf("unclean with nobody live: %v", err)
	}
}

// TestCheckTarget: Kafka's validation of target replicas.
func TestCheckTarget(t *testing.T) {
	live := liveOf(1, 2, 3)
	for _, bad := range [][]int32{{}, {1, 1}, {-1}, {1, 4}} {
		if err := checkTarget(bad, live); !errors.Is(err, kafka.ErrInvalidReplicaAssignment) {
			t.Errorf("target %v: %v, want INVALID_REPLICA_ASSIGNMENT", bad, err)
		}
	}
	if err := checkTarget(r(3, 1), live); err != nil {
		t.Fatalf("target [3 1]: %v", err)
	}
}

// TestCheckTargetHuge: a hostile list of a million ids is refused at once.
func TestCheckTargetHuge(t *testing.T) {
	huge := make([]int32, 1_000_000)
	for i := range huge {
		huge[i] = int32(i % 3)
	}
	start := time.Now()
	if err := checkTarget(huge, liveOf(0, 1, 2)); !errors.Is(err, kafka.ErrInvalidReplicaAssignment) {
		t.Fatalf("huge target: %v", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("refusing it took %s", took)
	}
}
