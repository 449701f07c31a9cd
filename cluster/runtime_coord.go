package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// The coordinators' half of kafka.Cluster (the coordinators' design,
// sections 1, 3, 4): where a group's or transactional id's coordinator
// is, and the acks=all append to its internal partition.

// ensureTimeout bounds one background creation of an internal topic.
const ensureTimeout = 30 * time.Second

// ensuring is the internal topics whose creation runs in the background,
// one at a time per kind.
type ensuring struct {
	mu      sync.Mutex
	running map[coordlog.Kind]bool
	closed  bool // Close: no new creation starts
}

func (e *ensuring) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
}

// CoordinatorOf is the coordinator of a group (kind 0) or transactional id
// (kind 1): the leader of the key's partition of the internal topic. An
// absent topic is created in the background and, as no leader while it
// comes, answers kafka.ErrCoordinatorNotAvailable (Kafka's
// COORDINATOR_NOT_AVAILABLE, retriable).
func (r *Runtime) CoordinatorOf(kind int8, key string) (kafka.CoordinatorView, error) {
	k, err := coordKind(kind)
	if err != nil {
		return kafka.CoordinatorView{}, err
	}
	topic, part := coordlog.TopicOf(k), coordlog.Partition(key)
	st, _, ok := r.cat.Partition(topic, part)
	if !ok {
		r.ensureInternal(k)
		return kafka.CoordinatorView{}, fmt.Errorf("%w: %s is being created", kafka.ErrCoordinatorNotAvailable, topic)
	}
	if st.Leader < 0 || !r.live(st.Leader) {
		return kafka.CoordinatorView{}, fmt.Errorf("%w: %s-%d has no live leader", kafka.ErrCoordinatorNotAvailable, topic, part)
	}
	v := kafka.CoordinatorView{Partition: part, Leader: st.Leader, Epoch: st.LeaderEpoch, Local: st.Leader == r.cfg.NodeID}
	if v.Local {
		epoch, loaded := r.rm.CoordinatorState(topic, part)
		v.Loaded = loaded && epoch == st.LeaderEpoch
	}
	return v, nil
}

func coordKind(kind int8) (coordlog.Kind, error) {
	switch k := coordlog.Kind(kind); k {
	case coordlog.Group, coordlog.Transaction:
		return k, nil
	}
	return 0, fmt.Errorf("unknown coordinator key type %d", kind)
}

// ensureInternal starts the creation of kind's internal topic, unless one
// runs already.
func (r *Runtime) ensureInternal(k coordlog.Kind) {
	r.ensure.mu.Lock()
	if r.ensure.running == nil {
		r.ensure.running = map[coordlog.Kind]bool{}
	}
	if r.ensure.running[k] || r.ensure.closed || r.ctx == nil {
		r.ensure.mu.Unlock()
		return
	}
	r.ensure.running[k] = true
	r.wg.Add(1) // under the lock: Close's Wait comes after
	r.ensure.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer func() {
			r.ensure.mu.Lock()
			delete(r.ensure.running, k)
			r.ensure.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(r.ctx, ensureTimeout)
		defer cancel()
		if err := r.cat.EnsureInternal(ctx, k); err != nil && r.ctx.Err() == nil {
			r.logger.Warn("cannot create an internal topic; the next coordinator request tries again", "topic", coordlog.TopicOf(k), "err", err)
		}
	}()
}

// AppendInternal appends one batch to internal partition part as its
// leader at epoch, waits for the in-sync replicas (acks=all) and for this
// node's view to have applied it, and returns its last offset: a write is
// acknowledged once committed and visible to readers of the view.
func (r *Runtime) AppendInternal(ctx context.Context, kind int8, part int32, epoch int32, raw []byte) (int64, error) {
	k, err := coordKind(kind)
	if err != nil {
		return 0, err
	}
	topic := coordlog.TopicOf(k)
	if err := r.rm.CheckProduce(topic, part, epoch, true); err != nil {
		if errors.Is(err, kafka.ErrUnknownLeaderEpoch) {
			// An epoch this node does not lead in yet: not the coordinator.
			return 0, fmt.Errorf("%w: %w", kafka.ErrNotLeader, err)
		}
		return 0, err
	}
	_, last, err := r.log.AppendInternal(ctx, topic, part, raw)
	if err != nil {
		if errors.Is(err, plog.ErrNotLeader) {
			return 0, fmt.Errorf("%w: %w", kafka.ErrNotLeader, err)
		}
		return 0, fmt.Errorf("append to %s-%d: %w", topic, part, err)
	}
	if err := r.rm.AwaitReplicated(ctx, topic, part, last); err != nil {
		return 0, err
	}
	if err := r.rm.AwaitApplied(ctx, topic, part, last); err != nil {
		return 0, err
	}
	return last, nil
}

// SetCoordinatorHooks installs the coordinators' load and unload hooks
// (kafka.Cluster's).
func (r *Runtime) SetCoordinatorHooks(onLoad func(kind int8, part, epoch int32), onUnload func(kind int8, part int32)) {
	var load func(coordlog.Kind, int32, int32)
	var unload func(coordlog.Kind, int32)
	if onLoad != nil {
		load = func(k coordlog.Kind, p, e int32) { onLoad(int8(k), p, e) }
	}
	if onUnload != nil {
		unload = func(k coordlog.Kind, p int32) { onUnload(int8(k), p) }
	}
	r.rm.SetCoordinatorHooks(load, unload)
}
