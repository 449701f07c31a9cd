package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// Cluster mode (Config.Cluster set): each transactional id belongs to one
// partition of __transaction_state (coordlog.Partition), and this node
// coordinates it only while it is the loaded leader of that partition
// (Load ... Unload). Every state change is a TxnMetadata record appended
// there (acks=all) before it is installed in memory; EndTxn is Kafka's two
// phases: Prepare* appended and answered, markers sent to each partition's
// leader, then Complete* appended. Kafka's TransactionStateManager and
// TransactionMarkerChannelManager do the same.

// clusterState is the coordinator's cluster-mode part.
type clusterState struct {
	store ClusterStore
	// parts are the loaded partitions (guarded by Coordinator.mu).
	parts map[int32]*loadedPart
	// ctx ends with Close: it parents every partition's context.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts the background work (markers, completions, aborts).
	wg sync.WaitGroup
}

// loadedPart is a partition this node coordinates, at its leader epoch
// (the coordinator epoch its markers carry).
type loadedPart struct {
	epoch int32
	// ctx ends when the partition is unloaded: its in-flight appends and
	// marker sends stop; the next coordinator takes over from the log.
	ctx    context.Context
	cancel context.CancelFunc
}

// Timings of cluster mode.
const (
	// appendTimeout bounds one state append (Kafka's request timeout for
	// the transaction log append).
	appendTimeout = 5 * time.Second
	// retryMin and retryMax bound the backoff between attempts to append
	// a Complete* state.
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

func newClusterState(store ClusterStore) *clusterState {
	ctx, cancel := context.WithCancel(context.Background())
	return &clusterState{store: store, parts: map[int32]*loadedPart{}, ctx: ctx, cancel: cancel}
}

// errNotClusterMode is Load's error on a coordinator of one node.
var errNotClusterMode = errors.New("transaction coordinator: not in cluster mode")

// Load takes over the transactional ids of __transaction_state partition
// part at leader epoch epoch (cluster mode) from the materialized view
// (Meta "txn/{id}"): Prepare* ones get their markers again, then their
// Complete* state; Ongoing ones keep their deadline (StartMs + TimeoutMs),
// and one already past it is aborted at once. A second Load of the same
// partition replaces the first. A record that cannot be decoded is logged
// and skipped: the other ids of the partition stay served.
func (c *Coordinator) Load(part, epoch int32) error {
	if c.cl == nil {
		return errNotClusterMode
	}
	if c.cl.ctx.Err() != nil {
		return ErrClosed
	}
	kvs, err := c.store.MetaList(metaPrefix)
	if err != nil {
		return fmt.Errorf("load transactions of %s-%d: %w", coordlog.TxnTopic, part, err)
	}
	type loaded struct {
		id  string
		rec record
	}
	var recs []loaded
	for _, kv := range kvs {
		id := kv.Key[len(metaPrefix):]
		if coordlog.Partition(id) != part {
			continue
		}
		r, err := decodeRecordAs(kv.Value, true)
		if err != nil {
			c.logger.Error("load a transaction: skipped", "transactional_id", id, "partition", part, "err", err)
			continue
		}
		recs = append(recs, loaded{id, r})
	}
	now := c.nowMs()
	var resume, overdue []*entry
	c.mu.Lock()
	if old := c.cl.parts[part]; old != nil {
		old.cancel()
		c.dropLocked(part)
	}
	ctx, cancel := context.WithCancel(c.cl.ctx)
	lp := &loadedPart{epoch: epoch, ctx: ctx, cancel: cancel}
	c.cl.parts[part] = lp
	for _, l := range recs {
		e := &entry{id: l.id, part: part, rec: l.rec}
		c.txns[l.id] = e
		c.byPID[l.rec.ProducerID] = e
		switch {
		case l.rec.State == PrepareCommit || l.rec.State == PrepareAbort:
			resume = append(resume, e)
		case expired(l.rec, now):
			overdue = append(overdue, e)
		}
	}
	c.mu.Unlock()
	for _, e := range resume {
		c.background(func() {
			e.op.Lock()
			defer e.op.Unlock()
			if r := c.snapshot(e); r.State == PrepareCommit || r.State == PrepareAbort {
				c.complete(e, r, lp)
			}
		})
	}
	for _, e := range overdue {
		c.background(func() { c.expireOne(e) })
	}
	c.logger.Info("transactions loaded", "partition", part, "epoch", epoch, "transactional_ids", len(recs),
		"resumed", len(resume), "overdue", len(overdue))
	return nil
}

// Unload drops the ids of partition part: this node no longer coordinates
// them. Their in-flight changes end with NOT_COORDINATOR (the log decides
// whether an append that was under way counts: the next coordinator loads
// what it holds), their marker sends stop.
func (c *Coordinator) Unload(part int32) {
	if c.cl == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if lp := c.cl.parts[part]; lp != nil {
		lp.cancel()
		delete(c.cl.parts, part)
	}
	c.dropLocked(part)
}

// dropLocked forgets the entries of part (c.mu held): whoever waits for
// one's op mutex finds it dead.
func (c *Coordinator) dropLocked(part int32) {
	for id, e := range c.txns {
		if e.part != part {
			continue
		}
		e.dead = true
		delete(c.txns, id)
		if c.byPID[e.rec.ProducerID] == e {
			delete(c.byPID, e.rec.ProducerID)
		}
		c.countPending(e.rec, -1)
	}
}

// closeCluster stops the background work and waits for it (Close).
func (c *Coordinator) closeCluster() {
	if c.cl == nil {
		return
	}
	c.cl.cancel()
	c.cl.wg.Wait()
}

// background runs f on its own goroutine, counted for Close.
func (c *Coordinator) background(f func()) {
	c.cl.wg.Add(1)
	go func() {
		defer c.cl.wg.Done()
		f()
	}()
}

// partOfLocked is the loaded partition of id, or nil (c.mu held).
func (c *Coordinator) partOfLocked(id string) *loadedPart {
	return c.cl.parts[coordlog.Partition(id)]
}

// notHere is NOT_COORDINATOR for an id this node does not coordinate now
// (cluster mode), nil otherwise.
func (c *Coordinator) notHere(id string) *kerr.Error {
	if c.cl == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.partOfLocked(id) == nil {
		return kerr.NotCoordinator
	}
	return nil
}

// state is r as __transaction_state holds it.
func (r record) state() coordlog.TxnState {
	return coordlog.TxnState{ProducerID: r.ProducerID, Epoch: r.Epoch, LastProducerID: r.LastProducerID,
		LastEpoch: r.LastEpoch, TimeoutMs: r.TimeoutMs, State: string(r.State), Partitions: r.Partitions,
		StartMs: r.StartMs, UpdateMs: r.UpdateMs}
}

// appendState appends st as e's state at its partition's loaded epoch; nil
// when it is committed (acks=all) and applied. e.op held.
func (c *Coordinator) appendState(e *entry, st coordlog.TxnState) *kerr.Error {
	c.mu.Lock()
	lp, dead := c.cl.parts[e.part], e.dead
	c.mu.Unlock()
	if lp == nil || dead {
		return kerr.NotCoordinator
	}
	ctx, cancel := context.WithTimeout(lp.ctx, appendTimeout)
	defer cancel()
	err := c.cl.store.Append(ctx, e.part, lp.epoch, coordlog.TxnStateBatch(e.id, st, c.nowMs()))
	if err == nil {
		return nil
	}
	c.logger.Warn("append transaction state", "transactional_id", e.id, "state", st.State, "partition", e.part, "err", err)
	var ke *kerr.Error
	switch {
	case lp.ctx.Err() != nil:
		return kerr.NotCoordinator // unloaded meanwhile
	case errors.As(err, &ke):
		return ke
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut
	default:
		return errUnavailable
	}
}

// persistCluster is persist in cluster mode: the record appended, then
// installed unless the partition was unloaded meanwhile.
func (c *Coordinator) persistCluster(e *entry, r record) *kerr.Error {
	if ke := c.appendState(e, r.state()); ke != nil {
		return ke
	}
	c.mu.Lock()
	dead := e.dead
	c.mu.Unlock()
	if dead {
		return kerr.NotCoordinator
	}
	c.install(e, r)
	return nil
}

// forgetCluster writes e's tombstone (an id expired after IDExpiration).
// e.op held.
func (c *Coordinator) forgetCluster(e *entry, r record) error {
	st := r.state()
	st.State = coordlog.StateDead
	if ke := c.appendState(e, st); ke != nil {
		return ke
	}
	return nil
}

// endCluster is the first phase of ending r's transaction (e.op held):
// Prepare* appended with producer epoch epoch (r.Epoch, or the bumped
// epoch that fences its producer), then the markers and Complete* in the
// background. The answer is due once Prepare* is durable.
func (c *Coordinator) endCluster(e *entry, r record, commit bool, epoch int16) *kerr.Error {
	prep := r.clone()
	prep.State, prep.UpdateMs = PrepareAbort, c.nowMs()
	if commit {
		prep.State = PrepareCommit
	}
	if epoch != r.Epoch {
		prep.Epoch, prep.LastEpoch = epoch, -1
	}
	if ke := c.persistCluster(e, prep); ke != nil {
		return ke
	}
	c.mu.Lock()
	lp := c.cl.parts[e.part]
	c.mu.Unlock()
	if lp == nil {
		return nil // unloaded meanwhile: the next coordinator resumes it
	}
	c.background(func() {
		e.op.Lock()
		defer e.op.Unlock()
		c.complete(e, prep, lp)
	})
	return nil
}

// complete is the second phase (e.op held): prep's markers in every
// partition at lp's coordinator epoch, then Complete*. It gives up when lp
// is unloaded or the markers are fenced (a newer coordinator owns the id).
// Meanwhile the id answers CONCURRENT_TRANSACTIONS.
func (c *Coordinator) complete(e *entry, prep record, lp *loadedPart) {
	commit := prep.State == PrepareCommit
	c.mu.Lock()
	dead := e.dead
	c.mu.Unlock()
	if dead || lp.ctx.Err() != nil {
		return
	}
	if len(prep.Partitions) > 0 {
		if err := c.cl.store.SendMarkers(lp.ctx, lp.epoch, prep.ProducerID, prep.Epoch, commit, prep.Partitions); err != nil {
			c.logger.Warn("transaction markers not sent: left to the next coordinator", "transactional_id", e.id,
				"producer_id", prep.ProducerID, "commit", commit, "err", err)
			return
		}
	}
	next := prep.completed(commit, c.nowMs())
	wait := retryMin
	for {
		ke := c.persistCluster(e, next)
		if ke == nil {
			return
		}
		if ke == kerr.NotCoordinator {
			return
		}
		select {
		case <-lp.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// decodeRecordAs decodes a stored record; keepPrepare keeps the Prepare*
// states (cluster mode, where they are written).
func decodeRecordAs(b []byte, keepPrepare bool) (record, error) {
	r, err := decodeRecordRaw(b)
	if err != nil {
		return r, err
	}
	if !keepPrepare && (r.State == PrepareCommit || r.State == PrepareAbort) {
		// Never written by one node; should one appear, the transaction
		// is still open and the timeout ends it.
		r.State = Ongoing
	}
	return r, nil
}

// clusterPartitionOfGroup is the partition of __consumer_offsets a group's
// transactional offsets go to: the transaction's markers go there too.
func clusterPartitionOfGroup(group string) plog.TopicPartition {
	return plog.TopicPartition{Topic: coordlog.OffsetsTopic, Partition: coordlog.Partition(group)}
}
