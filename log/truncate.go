package log

import (
	"context"
	"fmt"

	"github.com/zombi-dev/zombi/log/batch"
)

// TruncateTo removes the end of a partition, as Kafka's UnifiedLog.truncateTo
// on a follower after a leader change: every batch whose last offset is >=
// offset goes (the batch holding offset goes whole, so the new log end is
// its base, <= offset), and with them everything derived from them: epoch
// cache entries from the new end on, time index entries, open
// transactions, aborted-transaction entries and HTTP idempotency keys of
// removed offsets, and the idempotent producers' batches (each producer's
// state becomes what a re-scan of the kept log gives; one with no batch
// left is forgotten). The high watermark and the last stable offset follow
// the log end down. offset >= the log end removes no batch, but drops the
// epoch cache entries starting at the log end (an epoch this node began as
// leader and never wrote to, as Kafka does). An offset at or below the hot
// log start empties the partition at offset, as ResetEmpty. It returns the
// new log end offset.
func (l *Log) TruncateTo(ctx context.Context, topic string, part int32, offset int64) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: truncate %s/%d to %d", ErrInvalidOffset, topic, part, offset)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	op := &truncateOp{p: p, offset: offset, done: make(chan struct{})}
	if err := l.w.runBarrier(op, op.done); err != nil {
		return 0, err
	}
	if op.err != nil {
		return 0, fmt.Errorf("truncate %s/%d to %d: %w", topic, part, offset, op.err)
	}
	return op.leo, nil
}

type truncateOp struct {
	p      *partition
	offset int64
	leo    int64
	err    error
	done   chan struct{}
}

func (op *truncateOp) barrier()  {}
func (op *truncateOp) size() int { return 0 }
func (op *truncateOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

// stage runs alone in its round (a barrier): RocksDB holds the committed
// partition, which it reads to find what the removed batches touched.
func (op *truncateOp) stage(r *round) {
	p := op.p
	if r.isDeleted(p) {
		op.err = ErrUnknownTopic
		return
	}
	st := r.state(p)
	leo := st.next
	es := r.stagedEpochs(p, st)
	if op.offset >= leo {
		if t := truncateEpochsFromEnd(es, leo); len(t) != len(es) {
			r.setEpochs(p, st, t)
		}
		op.leo = leo
		return
	}
	empty, target := op.offset <= st.logStart, op.offset
	if !empty {
		base, err := r.baseHolding(p, op.offset, leo)
		if err != nil {
			op.err = err
			return
		}
		target = min(base, op.offset)
		if target <= st.logStart {
			empty, target = true, st.logStart
		}
	}
	cut := target // batches from here on go
	if empty {
		cut = 0 // and a batch straddling the log start
	}
	if err := r.truncateDerived(p, st, cut, target, leo, empty); err != nil {
		op.err = err
		return
	}
	if empty {
		r.setEpochs(p, st, nil)
		st.logStart = target
	} else {
		r.setEpochs(p, st, truncateEpochsFromEnd(es, target))
	}
	r.wb.DeleteRange(batchKey(p.tid, p.id, cut), prefixEnd(partPrefix(kindBatch, p.tid, p.id)))
	r.wb.DeleteRange(abortedKey(p, cut), prefixEnd(partPrefix(kindAborted, p.tid, p.id)))
	st.next = target
	st.sinceIdx = timeIndexInterval // the next batch that raises the max gets an entry
	st.dirty = true                 // the checkpoint describes the kept log
	r.truncated[p] = true
	op.leo = target
}

// baseHolding returns the base offset of the stored batch holding offset.
func (r *round) baseHolding(p *partition, offset, leo int64) (int64, error) {
	base := int64(-1)
	err := r.l.scanHeaders(p, offset, leo, func(h batch.Header, _ []byte) bool {
		base = h.BaseOffset
		return false
	})
	if err != nil {
		return 0, err
	}
	if base < 0 {
		return 0, fmt.Errorf("%w: no stored batch holds offset %d (log end %d)", ErrCorruptBatch, offset, leo)
	}
	return base, nil
}

// truncateDerived stages the removal of what the batches from cut on
// derived (time index, idempotency keys, producers, open transactions) and
// sets the staged max timestamp to the kept log's.
func (r *round) truncateDerived(p *partition, st *pstate, cut, target, leo int64, empty bool) error {
	maxTs, err := r.truncateTimeIndex(p, st, cut, target)
	if err != nil {
		return err
	}
	st.maxTs = maxTs
	if err := r.truncateIdemKeys(p, cut); err != nil {
		return err
	}
	if empty {
		for pid := range p.producers {
			r.dropped[producerKey{p, pid}] = true
		}
		sp := partPrefix(kindProducer, p.tid, p.id)
		r.wb.DeleteRange(sp, prefixEnd(sp))
		for pid := range p.txns {
			r.txns[producerKey{p, pid}] = nil
		}
		op := partPrefix(kindTxnOpen, p.tid, p.id)
		r.wb.DeleteRange(op, prefixEnd(op))
		return nil
	}
	return r.rebuildProducers(p, target, leo)
}

// truncateTimeIndex deletes the time index entries pointing at cut or
// above and returns the running max timestamp below target: the last kept
// entry's, raised by the batches after it that got no entry (those within
// timeIndexInterval bytes of it: a later batch that raised the max would
// have one).
func (r *round) truncateTimeIndex(p *partition, st *pstate, cut, target int64) (int64, error) {
	maxTs := int64(-1 << 63)
	from, bounded := st.logStart, false
	prefix := partPrefix(kindTime, p.tid, p.id)
	it := r.l.db.NewIterator(r.l.ro)
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		k, v := it.Key().Data(), it.Value().Data()
		if len(k) != len(prefix)+8 || len(v) != 8 {
			continue
		}
		base := int64(be.Uint64(v))
		if base >= cut {
			r.wb.Delete(append([]byte(nil), k...))
			continue
		}
		maxTs = int64(be.Uint64(k[len(prefix):]) ^ (1 << 63))
		from, bounded = max(base, st.logStart), true
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("%w: time index: %w", ErrStorage, err)
	}
	if cut == 0 {
		return int64(-1 << 63), nil // emptied
	}
	var seen int64
	err := r.l.scanHeaders(p, from, target, func(h batch.Header, v []byte) bool {
		if bounded && seen >= timeIndexInterval {
			return false
		}
		maxTs = max(maxTs, h.MaxTimestamp)
		seen += int64(len(v))
		return true
	})
	return maxTs, err
}

// truncateIdemKeys deletes the HTTP idempotency keys of the partition that
// point at removed offsets: a retry must append again, not answer with an
// offset that now holds another record.
func (r *round) truncateIdemKeys(p *partition, cut int64) error {
	prefix := topicPrefix(kindIdem, p.tid)
	it := r.l.db.NewIterator(r.l.ro)
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		v := it.Value().Data()
		if len(v) == 20 && int32(be.Uint32(v)) == p.id && int64(be.Uint64(v[4:])) >= cut {
			r.wb.Delete(append([]byte(nil), it.Key().Data()...))
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%w: idempotency keys: %w", ErrStorage, err)
	}
	return nil
}

// rebuild is what a truncation learns about one producer from the kept log,
// read backwards from the truncation point.
type rebuild struct {
	events   []batch.Header // newest first, until its state is known
	data     int            // data batches in events
	seed     *producerState // its state at the checkpoint the scan reached
	prodDone bool
	// The transaction open at the truncation point, if any: a run of
	// transactional batches back to a marker or a plain batch.
	txnOpen  bool
	txnFirst int64
	txnEpoch int16
	txnDone  bool
}

// rebuildProducers stages, for every producer with a batch or marker in
// [target, leo), its state and open transaction as of target: the events
// read backwards from target until its last five batches are found (then
// earlier ones cannot change its state) or the last checkpoint (whose 'S'
// key is its state there, when the checkpoint is at or below target), and
// its transaction back to the batch that opened it.
func (r *round) rebuildProducers(p *partition, target, leo int64) error {
	affected := map[int64]*rebuild{}
	err := r.l.scanHeaders(p, target, leo, func(h batch.Header, _ []byte) bool {
		if h.ProducerID >= 0 && affected[h.ProducerID] == nil {
			affected[h.ProducerID] = &rebuild{}
		}
		return true
	})
	if err != nil {
		return err
	}
	if len(affected) == 0 {
		return nil
	}
	ckpt := int64(-1) // the checkpoint's offset, when it may seed states
	if v, err := r.l.db.GetBytes(r.l.ro, partPrefix(kindPartition, p.tid, p.id)); err != nil {
		return fmt.Errorf("%w: read partition state: %w", ErrStorage, err)
	} else if len(v) >= 16 && int64(be.Uint64(v[8:])) <= target {
		ckpt = int64(be.Uint64(v[8:]))
	}
	pending := 0
	for pid, rb := range affected {
		if t, open := p.txns[pid]; open && t.first < target {
			// Opened before target and still open: unchanged.
			rb.txnOpen, rb.txnFirst, rb.txnEpoch, rb.txnDone = true, t.first, t.epoch, true
		}
		pending++
	}
	seedAll := func() error {
		for pid, rb := range affected {
			if rb.prodDone {
				continue
			}
			s, err := r.l.storedProducer(p, pid)
			if err != nil {
				return err
			}
			rb.seed, rb.prodDone = s, true
			if rb.txnDone {
				pending--
			}
		}
		return nil
	}
	it := r.l.db.NewIterator(r.l.ro)
	defer it.Close()
	prefix := partPrefix(kindBatch, p.tid, p.id)
	seeded := false
	for it.SeekForPrev(batchKey(p.tid, p.id, target-1)); pending > 0 && it.ValidForPrefix(prefix); it.Prev() {
		h, err := batch.ReadHeader(it.Value().Data())
		if err != nil {
			return fmt.Errorf("%w: stored batch: %w", ErrCorruptBatch, err)
		}
		if !seeded && ckpt >= 0 && h.BaseOffset < ckpt {
			// Below the checkpoint the 'S' keys hold the producers' state.
			seeded = true
			if err := seedAll(); err != nil {
				return err
			}
			if pending == 0 {
				break
			}
		}
		rb := affected[h.ProducerID]
		if h.ProducerID < 0 || rb == nil || (rb.prodDone && rb.txnDone) {
			continue
		}
		if !rb.prodDone {
			rb.events = append(rb.events, h)
			if !h.IsControl() {
				rb.data++
			}
			rb.prodDone = rb.data >= maxProducerBatches
		}
		if !rb.txnDone {
			if h.IsTransactional() && !h.IsControl() {
				rb.txnOpen, rb.txnFirst, rb.txnEpoch = true, h.BaseOffset, h.ProducerEpoch
			} else {
				rb.txnDone = true
			}
		}
		if rb.prodDone && rb.txnDone {
			pending--
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%w: iterate: %w", ErrStorage, err)
	}
	if !seeded && ckpt >= 0 {
		if err := seedAll(); err != nil {
			return err
		}
	}
	for pid, rb := range affected {
		pk := producerKey{p, pid}
		s := rb.seed
		for i := len(rb.events) - 1; i >= 0; i-- {
			h := rb.events[i]
			if h.IsControl() {
				// As loadPartition replays a marker (its coordinator
				// epoch is taken below).
				s = s.afterMarker(h.ProducerEpoch, -1)
				continue
			}
			s = s.withBatch(h, h.BaseOffset)
		}
		if s != nil {
			// The coordinator epoch stays the highest this node saw:
			// coordinator epochs only grow, so a marker removed here was
			// from a coordinator no older than any to come, and the one
			// it deposed stays fenced (Kafka would forget it).
			cur, err := r.producer(p, pid)
			if err != nil {
				return err
			}
			if cur != nil && cur.CoordEpoch > s.CoordEpoch {
				c := *s
				c.CoordEpoch = cur.CoordEpoch
				s = &c
			}
		}
		if s == nil {
			r.dropped[pk] = true
			r.wb.Delete(partKey(kindProducer, p.tid, p.id, uint64(pid)))
		} else {
			r.producers[pk] = s
		}
		okey := partKey(kindTxnOpen, p.tid, p.id, uint64(pid))
		cur, wasOpen := p.txns[pid]
		switch {
		case rb.txnOpen && (!wasOpen || cur.first != rb.txnFirst):
			t := &openTxn{epoch: rb.txnEpoch, first: rb.txnFirst}
			r.txns[pk] = t
			r.wb.Put(okey, t.encode())
		case !rb.txnOpen && wasOpen:
			r.txns[pk] = nil
			r.wb.Delete(okey)
		}
	}
	return nil
}
