package kafka

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	plog "github.com/zombi-dev/zombi/log"
)

// fakeOps is the fake Cluster's reassignments in progress and the
// elections it was asked for.
type fakeOps struct {
	reassigning map[string]Reassignment // "topic/p"
	elections   []string                // "topic/p preferred|unclean"
}

func (f *fakeCluster) AlterReassignment(_ context.Context, topic string, p int32, replicas []int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := topic + "/" + strconv.Itoa(int(p))
	v, ok := f.view(topic, p)
	if !ok {
		return fmt.Errorf("%w: %s-%d", plog.ErrUnknownTopic, topic, p)
	}
	if f.ops.reassigning == nil {
		f.ops.reassigning = map[string]Reassignment{}
	}
	cur, in := f.ops.reassigning[key]
	if replicas == nil {
		if !in {
			return fmt.Errorf("%w for %s-%d", ErrNoReassignmentInProgress, topic, p)
		}
		delete(f.ops.reassigning, key)
		return nil
	}
	for i, r := range replicas {
		if r < 1 || r > 3 || slices.Contains(replicas[:i], r) {
			return fmt.Errorf("%w: %v", ErrInvalidReplicaAssignment, replicas)
		}
	}
	origin := v.Replicas
	if in {
		origin = slices.DeleteFunc(slices.Clone(cur.Replicas), func(r int32) bool { return slices.Contains(cur.Adding, r) })
	}
	ra := Reassignment{Topic: topic, Partition: p}
	for _, r := range replicas {
		if !slices.Contains(origin, r) {
			ra.Adding = append(ra.Adding, r)
		}
	}
	for _, r := range origin {
		if !slices.Contains(replicas, r) {
			ra.Removing = append(ra.Removing, r)
		}
	}
	ra.Replicas = append(slices.Clone(replicas), ra.Removing...)
	v.Replicas = ra.Replicas
	f.parts[key] = v
	f.ops.reassigning[key] = ra
	return nil
}

func (f *fakeCluster) Reassignments(topics []string) []Reassignment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Reassignment
	for _, ra := range f.ops.reassigning {
		if topics == nil || slices.Contains(topics, ra.Topic) {
			out = append(out, ra)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

func (f *fakeCluster) ElectLeader(_ context.Context, topic string, p int32, unclean bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := topic + "/" + strconv.Itoa(int(p))
	v, ok := f.view(topic, p)
	if !ok {
		return fmt.Errorf("%w: %s-%d", plog.ErrUnknownTopic, topic, p)
	}
	kind := "preferred"
	if unclean {
		kind = "unclean"
	}
	f.ops.elections = append(f.ops.elections, key+" "+kind)
	switch {
	case unclean && v.Leader >= 0, !unclean && v.Leader == v.Replicas[0]:
		return fmt.Errorf("%w: %s", ErrElectionNotNeeded, key)
	case unclean:
		v.Leader, v.ISR = v.Replicas[0], []int32{v.Replicas[0]}
	case !slices.Contains(v.ISR, v.Replicas[0]):
		return fmt.Errorf("%w: %s", ErrPreferredLeaderNotAvailable, key)
	default:
		v.Leader = v.Replicas[0]
	}
	v.LeaderEpoch++
	f.parts[key] = v
	return nil
}
