package txn

import (
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	plog "github.com/zombi-dev/zombi/log"
)

// InitRequest is an InitProducerId with a transactional id.
type InitRequest struct {
	TransactionalID string
	TimeoutMs       int32
	// ProducerID and ProducerEpoch are the producer's current ones (v3+,
	// KIP-360), both -1 when it has none.
	ProducerID    int64
	ProducerEpoch int16
}

// InitProducerID gives a transactional id its producer id and epoch: a new
// id on first use, the epoch bumped on every later call (which fences the
// previous producer), a new id when the epoch is exhausted. An ongoing
// transaction is aborted first, its markers carrying a bumped epoch so that
// the partitions refuse the old producer too. Errors (Kafka's):
// INVALID_TRANSACTION_TIMEOUT, CONCURRENT_TRANSACTIONS while an EndTxn is
// being written, PRODUCER_FENCED for a stale producer id or epoch,
// INVALID_REQUEST for only one of ProducerID/ProducerEpoch set,
// COORDINATOR_NOT_AVAILABLE when the log cannot write.
func (c *Coordinator) InitProducerID(req InitRequest) (int64, int16, *kerr.Error) {
	if !c.Started() {
		return -1, -1, errUnavailable
	}
	if req.TransactionalID == "" {
		return -1, -1, kerr.InvalidRequest // null is an idempotent producer, not ours
	}
	if req.TimeoutMs <= 0 || time.Duration(req.TimeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	if (req.ProducerID < 0) != (req.ProducerEpoch < 0) {
		return -1, -1, kerr.InvalidRequest
	}
	hasExp := req.ProducerID >= 0
	first := c.entryFor(req.TransactionalID, true)
	if first == nil {
		return -1, -1, kerr.NotCoordinator // cluster mode: not loaded here
	}
	if s := c.snapshot(first); s.State == PrepareCommit || s.State == PrepareAbort {
		return -1, -1, kerr.ConcurrentTransactions
	}
	e := c.acquire(req.TransactionalID, true)
	if e == nil {
		return -1, -1, kerr.NotCoordinator
	}
	defer e.op.Unlock()
	r := c.snapshot(e)
	now := c.nowMs()
	if r.ProducerID < 0 {
		pid, err := c.cfg.NewProducerID()
		if err != nil {
			c.logger.Warn("allocate producer id", "err", err)
			return -1, -1, errUnavailable
		}
		next := record{ProducerID: pid, LastProducerID: -1, LastEpoch: -1, TimeoutMs: req.TimeoutMs, State: Empty, UpdateMs: now}
		if ke := c.persist(e, next); ke != nil {
			return -1, -1, ke
		}
		return pid, 0, nil
	}
	if hasExp && req.ProducerID != r.ProducerID &&
		!(req.ProducerID == r.LastProducerID && epochExhausted(req.ProducerEpoch)) {
		return -1, -1, kerr.ProducerFenced
	}
	if r.State == Ongoing {
		// The producer holding this epoch is fenced: its transaction is
		// aborted with markers at a bumped epoch.
		if hasExp && req.ProducerID == r.ProducerID && req.ProducerEpoch != r.Epoch {
			return -1, -1, kerr.ProducerFenced
		}
		fence := r.Epoch
		if fence < math.MaxInt16 {
			fence++
		}
		if c.cl != nil {
			// Kafka's two phases: PrepareAbort at the fencing epoch now,
			// the markers after; the producer retries meanwhile.
			if ke := c.endCluster(e, r, false, fence); ke != nil {
				return -1, -1, ke
			}
			endedFenced.Inc()
			return -1, -1, kerr.ConcurrentTransactions
		}
		c.setState(e, PrepareAbort)
		next := r.completed(false, now)
		next.Epoch, next.LastEpoch = fence, -1
		if ke := c.end(e, r, false, fence, next); ke != nil {
			return -1, -1, ke
		}
		endedFenced.Inc()
		r = next
		hasExp = false // checked against the epoch just fenced
	}
	next := r.clone()
	next.State, next.TimeoutMs, next.UpdateMs = Empty, req.TimeoutMs, now
	next.Partitions, next.Groups, next.Offsets, next.StartMs = nil, nil, nil, 0
	switch {
	case epochExhausted(r.Epoch) && (!hasExp || req.ProducerEpoch == r.Epoch):
		pid, err := c.cfg.NewProducerID()
		if err != nil {
			c.logger.Warn("allocate producer id", "err", err)
			return -1, -1, errUnavailable
		}
		next.LastProducerID, next.LastEpoch = r.ProducerID, -1
		if hasExp {
			next.LastEpoch = r.Epoch
		}
		next.ProducerID, next.Epoch = pid, 0
	case !hasExp:
		next.Epoch, next.LastEpoch = r.Epoch+1, -1
	case req.ProducerEpoch == r.Epoch:
		next.Epoch, next.LastEpoch = r.Epoch+1, r.Epoch
	case req.ProducerEpoch == r.LastEpoch:
		// A retry of a bump whose answer was lost: the same answer.
	default:
		return -1, -1, kerr.ProducerFenced
	}
	if ke := c.persist(e, next); ke != nil {
		return -1, -1, ke
	}
	return next.ProducerID, next.Epoch, nil
}

// setState changes e's state in memory only (Prepare*, before the write).
func (c *Coordinator) setState(e *entry, s State) {
	c.mu.Lock()
	e.rec.State = s
	c.mu.Unlock()
}

// check is the producer check every transactional request starts with.
func check(r record, pid int64, epoch int16) *kerr.Error {
	switch {
	case r.ProducerID < 0 || r.ProducerID != pid:
		return kerr.InvalidProducerIDMapping
	case r.Epoch != epoch:
		return kerr.ProducerFenced
	case r.State == PrepareCommit || r.State == PrepareAbort:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// lock returns id's entry with its op mutex held and its record, after the
// producer check (before and after waiting for the mutex: an EndTxn being
// written answers CONCURRENT_TRANSACTIONS at once).
func (c *Coordinator) lock(id string, pid int64, epoch int16) (*entry, record, *kerr.Error) {
	if !c.Started() {
		return nil, record{}, errUnavailable
	}
	if id == "" {
		return nil, record{}, kerr.InvalidRequest // as Kafka
	}
	if ke := c.notHere(id); ke != nil {
		return nil, record{}, ke
	}
	e := c.entryFor(id, false)
	if e == nil {
		return nil, record{}, kerr.InvalidProducerIDMapping
	}
	if ke := check(c.snapshot(e), pid, epoch); ke != nil {
		return nil, record{}, ke
	}
	if e = c.acquire(id, false); e == nil {
		if ke := c.notHere(id); ke != nil {
			return nil, record{}, ke // unloaded while waiting
		}
		return nil, record{}, kerr.InvalidProducerIDMapping
	}
	r := c.snapshot(e)
	if ke := check(r, pid, epoch); ke != nil {
		e.op.Unlock()
		return nil, record{}, ke
	}
	return e, r, nil
}

// begun is r with its transaction begun (Ongoing) if it was not.
func (c *Coordinator) begun(r record) record {
	next := r.clone()
	now := c.nowMs()
	if next.State != Ongoing {
		next.State, next.StartMs = Ongoing, now
		next.Partitions, next.Groups, next.Offsets = nil, nil, nil
	}
	next.UpdateMs = now
	return next
}

// AddPartitions adds partitions to the producer's transaction, beginning it
// if needed; durable before it returns.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []plog.TopicPartition) *kerr.Error {
	e, r, ke := c.lock(id, pid, epoch)
	if ke != nil {
		return ke
	}
	defer e.op.Unlock()
	if r.State == Ongoing && !slices.ContainsFunc(parts, func(tp plog.TopicPartition) bool { return !r.hasPartition(tp) }) {
		return nil // nothing new: no write
	}
	next := c.begun(r)
	for _, tp := range parts {
		if !next.hasPartition(tp) {
			next.Partitions = append(next.Partitions, tp)
		}
	}
	return c.persistLazy(e, next)
}

// VerifyPartitions answers AddPartitionsToTxn's VerifyOnly form: nil for a
// partition in the producer's ongoing transaction, INVALID_TXN_STATE for
// another; changes nothing. The second result is a producer error for all.
func (c *Coordinator) VerifyPartitions(id string, pid int64, epoch int16, parts []plog.TopicPartition) ([]*kerr.Error, *kerr.Error) {
	if !c.Started() {
		return nil, errUnavailable
	}
	if id == "" {
		return nil, kerr.InvalidRequest
	}
	if ke := c.notHere(id); ke != nil {
		return nil, ke
	}
	e := c.entryFor(id, false)
	if e == nil {
		return nil, kerr.InvalidProducerIDMapping
	}
	r := c.snapshot(e)
	if ke := check(r, pid, epoch); ke != nil && ke != kerr.ConcurrentTransactions {
		return nil, ke
	}
	out := make([]*kerr.Error, len(parts))
	for i, tp := range parts {
		if r.State != Ongoing || !r.hasPartition(tp) {
			out[i] = kerr.InvalidTxnState
		}
	}
	return out, nil
}

// AddOffsets adds a consumer group to the producer's transaction (its
// TxnOffsetCommits become visible at commit), beginning it if needed.
//
// In cluster mode the group's partition of __consumer_offsets joins the
// transaction's partitions instead (Kafka's way): its TxnOffsetCommits are
// transactional batches there, and the transaction's marker ends them.
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, group string) *kerr.Error {
	if c.cl != nil {
		return c.AddPartitions(id, pid, epoch, []plog.TopicPartition{clusterPartitionOfGroup(group)})
	}
	e, r, ke := c.lock(id, pid, epoch)
	if ke != nil {
		return ke
	}
	defer e.op.Unlock()
	if r.State == Ongoing && slices.Contains(r.Groups, group) {
		return nil
	}
	next := c.begun(r)
	next.Groups = append(next.Groups, group)
	return c.persist(e, next)
}

// TxnOffsetCommit stores offsets of group (added with AddOffsets) as
// pending in the producer's ongoing transaction: they become committed
// offsets with the commit marker, and vanish with an abort. Each offset's
// Group is group. INVALID_TXN_STATE without an ongoing transaction holding
// the group.
func (c *Coordinator) TxnOffsetCommit(id string, pid int64, epoch int16, group string, offs []plog.CommittedOffset) *kerr.Error {
	e, r, ke := c.lock(id, pid, epoch)
	if ke != nil {
		return ke
	}
	defer e.op.Unlock()
	if r.State != Ongoing || !slices.Contains(r.Groups, group) {
		return kerr.InvalidTxnState
	}
	next := r.clone()
	next.UpdateMs = c.nowMs()
	for _, o := range offs {
		p := pendingOffset{Group: group, Topic: o.Topic, Partition: o.Partition, Offset: o.Offset,
			LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitMs: o.CommitTimeMs}
		i := slices.IndexFunc(next.Offsets, func(q pendingOffset) bool {
			return q.Group == p.Group && q.Topic == p.Topic && q.Partition == p.Partition
		})
		if i >= 0 {
			next.Offsets[i] = p
		} else {
			next.Offsets = append(next.Offsets, p)
		}
	}
	return c.persist(e, next)
}

// EndTxn commits or aborts the producer's ongoing transaction: markers in
// every partition, the pending offsets (commit), the completed state, one
// atomic log write. A retry of an EndTxn that completed gets no error (as
// Kafka); ending without a transaction, or the opposite of one completed,
// gets INVALID_TXN_STATE; one being written gets CONCURRENT_TRANSACTIONS
// (same decision) or INVALID_TXN_STATE (the other).
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool) *kerr.Error {
	if c.Started() {
		if e := c.entryFor(id, false); e != nil {
			r := c.snapshot(e)
			if r.ProducerID == pid && r.Epoch == epoch &&
				(r.State == PrepareAbort && commit || r.State == PrepareCommit && !commit) {
				return kerr.InvalidTxnState
			}
		}
	}
	e, r, ke := c.lock(id, pid, epoch)
	if ke != nil {
		return ke
	}
	defer e.op.Unlock()
	switch r.State {
	case Ongoing:
	case CompleteCommit:
		if commit {
			return nil
		}
		return kerr.InvalidTxnState
	case CompleteAbort:
		if !commit {
			return nil
		}
		return kerr.InvalidTxnState
	default:
		return kerr.InvalidTxnState
	}
	if c.cl != nil {
		if ke := c.endCluster(e, r, commit, r.Epoch); ke != nil {
			return ke
		}
		if commit {
			endedCommit.Inc()
		} else {
			endedAbort.Inc()
		}
		return nil
	}
	if commit {
		c.setState(e, PrepareCommit)
	} else {
		c.setState(e, PrepareAbort)
	}
	if ke := c.end(e, r, commit, r.Epoch, r.completed(commit, c.nowMs())); ke != nil {
		return ke
	}
	if commit {
		endedCommit.Inc()
	} else {
		endedAbort.Inc()
	}
	return nil
}

// expireLoop aborts timed-out transactions until stop is closed.
func (c *Coordinator) expireLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(c.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.expire(stop)
		}
	}
}

// expired reports whether r's transaction is past its timeout at nowMs.
func expired(r record, nowMs int64) bool {
	return r.State == Ongoing && nowMs >= r.StartMs+int64(r.TimeoutMs)
}

// idle reports whether r's transactional id has had no transaction nor
// request for the expiration time at nowMs.
func (c *Coordinator) idle(r record, nowMs int64) bool {
	return r.State != Ongoing && r.State != PrepareCommit && r.State != PrepareAbort &&
		nowMs-r.UpdateMs >= c.cfg.IDExpiration.Milliseconds()
}

// expire aborts every ongoing transaction past its timeout, bumping the
// epoch as Kafka does: the producer is fenced (PRODUCER_FENCED on its next
// request) rather than left to write into a transaction that is gone. It
// also forgets the transactional ids idle for IDExpiration.
func (c *Coordinator) expire(stop <-chan struct{}) {
	now := c.nowMs()
	var due []*entry
	c.mu.Lock()
	for _, e := range c.txns {
		if expired(e.rec, now) || e.rec.ProducerID >= 0 && c.idle(e.rec, now) {
			due = append(due, e)
		}
	}
	c.mu.Unlock()
	for _, e := range due {
		select {
		case <-stop:
			return
		default:
		}
		c.expireOne(e)
	}
}

func (c *Coordinator) expireOne(e *entry) {
	e.op.Lock()
	defer e.op.Unlock()
	now := c.nowMs()
	r := c.snapshot(e)
	c.mu.Lock()
	dead := e.dead
	c.mu.Unlock()
	if dead {
		return
	}
	if r.ProducerID >= 0 && c.idle(r, now) {
		forget := func() error { return c.store.DeleteMeta(metaKey(e.id)) }
		if c.cl != nil {
			forget = func() error { return c.forgetCluster(e, r) }
		}
		if err := forget(); err != nil {
			c.logger.Warn("forget an expired transactional id", "transactional_id", e.id, "err", err)
			return
		}
		c.mu.Lock()
		e.dead = true
		if c.txns[e.id] == e { // not a newer entry (cluster mode: a reload)
			delete(c.txns, e.id)
		}
		if c.byPID[r.ProducerID] == e {
			delete(c.byPID, r.ProducerID)
		}
		c.mu.Unlock()
		return
	}
	if !expired(r, now) {
		return
	}
	fence := r.Epoch
	if fence < math.MaxInt16 {
		fence++
	}
	if c.cl != nil {
		if c.endCluster(e, r, false, fence) == nil {
			endedTimeout.Inc()
			c.logger.Info("aborting a timed-out transaction", "transactional_id", e.id, "producer_id", r.ProducerID,
				"timeout_ms", r.TimeoutMs, "partitions", len(r.Partitions))
		}
		return
	}
	c.setState(e, PrepareAbort)
	next := r.completed(false, now)
	next.Epoch, next.LastEpoch = fence, -1
	if c.end(e, r, false, fence, next) == nil {
		endedTimeout.Inc()
		c.logger.Info("aborted a timed-out transaction", "transactional_id", e.id, "producer_id", r.ProducerID,
			"timeout_ms", r.TimeoutMs, "partitions", len(r.Partitions))
	}
}
