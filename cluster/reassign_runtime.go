package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// opAttempts bounds the re-read-and-retry of an operator's partition
// write that loses its CAS to a leader's ISR change or the controller.
const opAttempts = 5

// The operator's requests reach any node; Kafka forwards them to the
// controller, here the node that got them writes the new state itself, a
// CAS on the version it read (the controller's own writes race it the same
// way a leader's ISR write does, and the loser re-reads). The controller
// completes reassignments (completeReassignment in its reconcile).

// AlterReassignment starts (replicas non-nil) or cancels (nil) a
// reassignment of the partition (KIP-455).
func (r *Runtime) AlterReassignment(ctx context.Context, topic string, p int32, replicas []int32) error {
	if replicas != nil {
		if err := checkTarget(replicas, r.live); err != nil {
			return err
		}
	}
	return r.updatePartition(ctx, topic, p, func(st meta.PartitionState) (meta.PartitionState, error) {
		if replicas == nil {
			if !inReassignment(st) {
				return st, fmt.Errorf("%w for %s-%d", kafka.ErrNoReassignmentInProgress, topic, p)
			}
			return cancelReassignment(st, r.live), nil
		}
		return startReassignment(st, replicas), nil
	})
}

// ElectLeader runs a preferred or unclean election (KIP-460).
func (r *Runtime) ElectLeader(ctx context.Context, topic string, p int32, unclean bool) error {
	return r.updatePartition(ctx, topic, p, func(st meta.PartitionState) (meta.PartitionState, error) {
		if unclean {
			return uncleanElection(st, r.live)
		}
		return preferredElection(st, r.live)
	})
}

// Reassignments lists the partitions with a reassignment in progress, as
// this node's catalog has them.
func (r *Runtime) Reassignments(topics []string) []kafka.Reassignment {
	names := topics
	if names == nil {
		names = r.cat.TopicNames()
	}
	sort.Strings(names)
	var out []kafka.Reassignment
	for _, name := range names {
		rec, _, ok := r.cat.Topic(name)
		if !ok {
			continue
		}
		for p := range rec.Partitions {
			st, _, ok := r.cat.Partition(name, p)
			if !ok || !inReassignment(st) {
				continue
			}
			out = append(out, kafka.Reassignment{Topic: name, Partition: p,
				Replicas: slices.Clone(st.Replicas), Adding: slices.Clone(st.Adding), Removing: slices.Clone(st.Removing)})
		}
	}
	return out
}

// updatePartition reads the partition's state from the store, asks change
// for the next one and writes it with a CAS on the version read, reading
// again when it loses. An error of change is returned as it is.
func (r *Runtime) updatePartition(ctx context.Context, topic string, p int32, change func(meta.PartitionState) (meta.PartitionState, error)) error {
	key := meta.PartitionKey(topic, p)
	for range opAttempts {
		kv, err := r.store.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("read %s-%d: %w", topic, p, err)
		}
		if kv.Version == 0 {
			return fmt.Errorf("%w: %s-%d", plog.ErrUnknownTopic, topic, p)
		}
		var st meta.PartitionState
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			return fmt.Errorf("read %s-%d: %w", topic, p, err)
		}
		next, err := change(st)
		if err != nil {
			return err
		}
		_, err = meta.UpdatePartition(ctx, r.store, topic, p, kv.Version, next)
		if errors.Is(err, meta.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		r.logger.Info("partition state changed by request", "topic", topic, "partition", p,
			"replicas", next.Replicas, "adding", next.Adding, "removing", next.Removing,
			"leader", next.Leader, "leader_epoch", next.LeaderEpoch, "isr", next.ISR)
		return nil
	}
	return fmt.Errorf("%s-%d changed %d times while being updated: %w", topic, p, opAttempts, meta.ErrConflict)
}
