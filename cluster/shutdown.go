package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// ControlledShutdownTimeout bounds a controlled shutdown: past it the
// node stops anyway (its registration's end moves what is left).
const ControlledShutdownTimeout = 10 * time.Second

// errUnchanged: the partition needs no write (updatePartition's change
// says so; not an error for the caller).
var errUnchanged = errors.New("unchanged")

// ShutdownReport is what a controlled shutdown did.
type ShutdownReport struct {
	Moved    int // leaderships handed to another in-sync replica
	Kept     int // leaderships kept: no other live in-sync replica
	LeftISRs int // ISRs of partitions followed that this node left
}

// ControlledShutdown is Kafka's controlled shutdown, run before the doors
// stop: every partition this node leads with another live ISR member gets
// that member as leader (the first in assignment order; epochs + 1, this
// node out of the ISR), it waits until its replica manager has stepped
// down (so that clients get NOT_LEADER_OR_FOLLOWER and move), stops
// following (a follower that fetches would be taken back into the ISRs),
// and leaves the ISR of every partition it follows. The writes are CASes,
// as an operator's are; what ctx cuts short is left to the controller,
// which treats this node as dead once its registration ends.
func (r *Runtime) ControlledShutdown(ctx context.Context) (ShutdownReport, error) {
	self := r.cfg.NodeID
	var rep ShutdownReport
	var moved [][2]any
	var firstErr error
	note := func(err error) {
		if err != nil && !errors.Is(err, errUnchanged) && firstErr == nil {
			firstErr = err
		}
	}
	others := func(id int32) bool { return id != self && r.live(id) }
	for _, tp := range r.partitionsHere() {
		st, _, ok := r.cat.Partition(tp.topic, tp.p)
		if !ok || st.Leader != self {
			continue
		}
		err := r.updatePartition(ctx, tp.topic, tp.p, func(st meta.PartitionState) (meta.PartitionState, error) {
			if st.Leader != self {
				return st, errUnchanged
			}
			leader := firstIn(st.Replicas, st.ISR, others, -1)
			if leader < 0 {
				return st, errUnchanged
			}
			next := clonePartition(st)
			next.Leader = leader
			next.ISR = minus(st.ISR, []int32{self})
			next.LeaderEpoch++
			next.PartitionEpoch++
			return next, nil
		})
		switch {
		case err == nil:
			rep.Moved++
			moved = append(moved, [2]any{tp.topic, tp.p})
		case errors.Is(err, errUnchanged):
			rep.Kept++
		default:
			note(err)
		}
	}
	// Step down before stopping the fetchers: a partition this node still
	// thinks it leads would take writes nobody replicates.
	for _, m := range moved {
		topic, p := m[0].(string), m[1].(int32)
		for {
			if r.rm.CheckProduce(topic, p, -1, false) != nil {
				break // no longer takes writes: stepped down
			}
			select {
			case <-ctx.Done():
				return rep, fmt.Errorf("controlled shutdown: %s-%d still led here: %w", topic, p, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	r.rm.Close()
	for _, tp := range r.partitionsHere() {
		st, _, ok := r.cat.Partition(tp.topic, tp.p)
		if !ok || st.Leader == self || !slices.Contains(st.ISR, self) {
			continue
		}
		err := r.updatePartition(ctx, tp.topic, tp.p, func(st meta.PartitionState) (meta.PartitionState, error) {
			if st.Leader == self || !slices.Contains(st.ISR, self) || len(st.ISR) < 2 {
				return st, errUnchanged
			}
			next := clonePartition(st)
			next.ISR = minus(st.ISR, []int32{self})
			next.PartitionEpoch++
			return next, nil
		})
		if err == nil {
			rep.LeftISRs++
		}
		note(err)
	}
	r.logger.Info("controlled shutdown", "moved", rep.Moved, "kept", rep.Kept, "left_isrs", rep.LeftISRs, "err", firstErr)
	return rep, firstErr
}

type topicPart struct {
	topic string
	p     int32
}

// partitionsHere are the partitions this node is a replica of, as its
// catalog has them.
func (r *Runtime) partitionsHere() []topicPart {
	var out []topicPart
	for _, name := range r.cat.TopicNames() {
		rec, _, ok := r.cat.Topic(name)
		if !ok {
			continue
		}
		for p := range rec.Partitions {
			if st, _, ok := r.cat.Partition(name, p); ok && slices.Contains(st.Replicas, r.cfg.NodeID) {
				out = append(out, topicPart{name, p})
			}
		}
	}
	return out
}
