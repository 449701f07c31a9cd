package log

import (
	"context"
	"fmt"

	"github.com/zombi-dev/zombi/log/batch"
)

// Replication primitives, Kafka's model: a follower stores the leader's
// batches as they are (AppendReplica), a leader serves them up to its log
// end offset (ReadReplica), and a replicated partition's high watermark
// stays below the log end until the in-sync replicas have the batches
// (SetReplicated, AdvanceHighWatermark).

// AppendReplica appends batches fetched from the partition's leader: full v2
// batches with their base offsets and partition leader epochs set, starting
// exactly at the log end offset and contiguous (else ErrInvalidOffset),
// CRC-valid (else ErrCorruptBatch). They are stored byte for byte, in one
// durable write, and keep everything an append keeps: time index,
// checkpoints, idempotent producers' state (not checked: the leader did),
// open transactions, and for markers what EndTxn does in the partition.
// Each batch whose leader epoch is above the epoch cache's latest starts an
// entry; one below it is ErrFencedEpoch (the follower must truncate first).
// It returns the new log end offset.
func (l *Log) AppendReplica(ctx context.Context, topic string, part int32, batches [][]byte) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	// An internal partition is compacted (compact.go): the leader's
	// batches may have gaps between them and after the log end.
	_, gaps := LookupInternalTopic(topic)
	op := &replicaOp{p: p, gaps: gaps, done: make(chan struct{})}
	var prev batch.Header
	for i, b := range batches {
		h, err := batch.Validate(b)
		if err != nil {
			return 0, fmt.Errorf("%w: %s/%d replica batch %d: %w", ErrCorruptBatch, topic, part, i, err)
		}
		if h.LeaderEpoch < 0 {
			return 0, fmt.Errorf("%w: %s/%d replica batch at %d has no leader epoch (%d)", ErrCorruptBatch, topic, part, h.BaseOffset, h.LeaderEpoch)
		}
		if i > 0 && (h.BaseOffset != prev.LastOffset()+1 && !gaps || h.BaseOffset <= prev.LastOffset()) {
			return 0, fmt.Errorf("%w: %s/%d replica batch at %d does not follow the one ending at %d", ErrInvalidOffset, topic, part, h.BaseOffset, prev.LastOffset())
		}
		if i > 0 && h.LeaderEpoch < prev.LeaderEpoch {
			return 0, fmt.Errorf("%w: %s/%d replica batch at %d has leader epoch %d after %d", ErrFencedEpoch, topic, part, h.BaseOffset, h.LeaderEpoch, prev.LeaderEpoch)
		}
		m := replicaBatch{raw: b, h: h}
		if h.IsControl() && h.ProducerID >= 0 {
			_, recs, err := batch.Records(b, 0)
			if err != nil || len(recs) == 0 {
				return 0, fmt.Errorf("%w: %s/%d replica control batch at %d: %v", ErrCorruptBatch, topic, part, h.BaseOffset, err)
			}
			m.coord = -1
			if typ, ok := batch.MarkerType(recs[0].Key); ok {
				m.marker, m.commit, m.coord = true, typ == batch.MarkerCommit, markerCoordEpoch(recs[0].Value)
			}
		}
		op.batches = append(op.batches, m)
		op.bytes += len(b)
		prev = h
	}
	if len(batches) == 0 {
		return p.leo.Load(), nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := l.w.submit(op); err != nil {
		return 0, err
	}
	<-op.done
	if op.err != nil {
		return 0, fmt.Errorf("%s/%d append replica: %w", topic, part, op.err)
	}
	return op.leo, nil
}

type replicaBatch struct {
	raw            []byte
	h              batch.Header
	marker, commit bool  // a transaction marker, and its type
	coord          int32 // a marker's coordinator epoch (-1: none)
}

type replicaOp struct {
	p       *partition
	gaps    bool // compacted: batches may start past the log end
	batches []replicaBatch
	bytes   int
	leo     int64
	err     error
	done    chan struct{}
}

func (op *replicaOp) size() int { return op.bytes }
func (op *replicaOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

func (op *replicaOp) stage(r *round) {
	p := op.p
	if r.isDeleted(p) {
		op.err = ErrUnknownTopic
		return
	}
	st := r.state(p)
	first := op.batches[0].h
	if first.BaseOffset != st.next && !(op.gaps && first.BaseOffset > st.next) {
		op.err = fmt.Errorf("%w: replica batches start at %d, the log ends at %d", ErrInvalidOffset, first.BaseOffset, st.next)
		return
	}
	es := r.stagedEpochs(p, st)
	if first.LeaderEpoch < latestEpoch(es) {
		op.err = fmt.Errorf("%w: replica batch at %d has leader epoch %d, the log already has epoch %d from %d: truncate first",
			ErrFencedEpoch, first.BaseOffset, first.LeaderEpoch, latestEpoch(es), es[len(es)-1].start)
		return
	}
	// Read what may fail first, so that nothing is staged on a failure.
	prods := map[int64]*producerState{}
	for _, b := range op.batches {
		if pid := b.h.ProducerID; pid >= 0 {
			if _, ok := prods[pid]; !ok {
				s, err := r.producer(p, pid)
				if err != nil {
					op.err = err
					return
				}
				prods[pid] = s
			}
		}
	}
	for _, b := range op.batches {
		h := b.h
		if h.LeaderEpoch > latestEpoch(es) {
			es = assignEpoch(es, h.LeaderEpoch, h.BaseOffset, st.logStart)
			r.setEpochs(p, st, es)
		}
		st.epoch = max(st.epoch, h.LeaderEpoch)
		r.store(p, st, b.raw, h)
		if h.ProducerID < 0 {
			continue
		}
		pk := producerKey{p, h.ProducerID}
		prev := prods[h.ProducerID]
		next := prev
		switch {
		case h.IsControl():
			// As loadPartition replays a marker: a newer epoch fences the
			// older, and the coordinator epoch is kept so that this node
			// fences a deposed coordinator as the leader did.
			next = prev.afterMarker(h.ProducerEpoch, b.coord)
			if b.marker {
				r.closeTxn(p, st, h.ProducerID, b.commit, h.BaseOffset)
			}
		default:
			next = prev.withBatch(h, h.BaseOffset)
			if h.IsTransactional() {
				if _, open := r.openTxn(p, h.ProducerID); !open {
					t := &openTxn{epoch: h.ProducerEpoch, first: h.BaseOffset}
					r.txns[pk] = t
					r.wb.Put(partKey(kindTxnOpen, p.tid, p.id, uint64(h.ProducerID)), t.encode())
				}
			}
		}
		if next != prev {
			prods[h.ProducerID] = next
			if _, ok := r.producers[pk]; !ok {
				st.producers++
			}
			r.producers[pk] = next
		}
	}
	op.leo = st.next
}

// closeTxn stages what a marker at offset does to producer pid's open
// transaction in p (EndTxn's rule): it closes, and an abort enters the
// aborted index. A marker with no open transaction changes nothing.
func (r *round) closeTxn(p *partition, st *pstate, pid int64, commit bool, offset int64) {
	t, open := r.openTxn(p, pid)
	if !open {
		return
	}
	r.txns[producerKey{p, pid}] = nil
	r.wb.Delete(partKey(kindTxnOpen, p.tid, p.id, uint64(pid)))
	if !commit {
		a := AbortedTxn{ProducerID: pid, FirstOffset: t.first, LastOffset: offset, StableAt: r.stableOf(p, st.next)}
		r.wb.Put(abortedKey(p, offset), encodeAborted(a))
	}
}

// ReadReplica is Read up to the log end offset instead of the high
// watermark, hot and cold: what a follower fetching from this leader gets.
// ReadResult.HighWatermark is the leader's high watermark.
func (l *Log) ReadReplica(topic string, part int32, offset int64, maxBytes int) (ReadResult, error) {
	return l.read(topic, part, offset, maxBytes, readLogEnd)
}

// LogEndOffset returns a partition's log end offset: the next offset to be
// written; every offset below it is durable. It equals the high watermark
// unless the partition is replicated.
func (l *Log) LogEndOffset(topic string, part int32) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	return p.leo.Load(), nil
}

// SetReplicated turns a partition's replicated mode on or off. On, the
// high watermark stays where it is and moves only by AdvanceHighWatermark
// (readers, Offsets and the last stable offset stop there) while appends
// move the log end offset. Off (the default), the high watermark is the log
// end offset, as on a single node.
func (l *Log) SetReplicated(topic string, part int32, on bool) error {
	p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.replicated == on {
		return nil
	}
	p.replicated = on
	if !on && p.hwm.Load() != p.leo.Load() {
		p.hwm.Store(p.leo.Load())
		p.wakeLocked()
	}
	return nil
}

// AdvanceHighWatermark moves a replicated partition's high watermark up to
// hwm, clamped to the log end offset, and wakes the watchers; a lower value
// changes nothing (it is monotonic, as Kafka's). hwm must be a batch
// boundary of the log (what the in-sync replicas' log end offsets are),
// else ErrInvalidOffset. Without replicated mode the high watermark is
// already the log end offset and this changes nothing.
func (l *Log) AdvanceHighWatermark(topic string, part int32, hwm int64) error {
	p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	if hwm < 0 {
		return fmt.Errorf("%w: high watermark %d", ErrInvalidOffset, hwm)
	}
	if hwm <= p.hwm.Load() {
		return nil
	}
	if hwm < p.leo.Load() {
		// A boundary is the base of a stored batch (the log end is one too).
		if err := l.enter(); err != nil {
			return err
		}
		v, err := l.db.Get(l.ro, batchKey(p.tid, p.id, hwm))
		l.closeMu.RUnlock()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		found := v.Exists()
		v.Free()
		if !found {
			return fmt.Errorf("%w: high watermark %d of %s/%d is not a batch boundary", ErrInvalidOffset, hwm, topic, part)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.replicated {
		return nil
	}
	if h := min(hwm, p.leo.Load()); h > p.hwm.Load() {
		p.hwm.Store(h)
		p.wakeLocked()
	}
	return nil
}

// WaitForEnd blocks until the log end offset passes offset, ctx ends, or
// the log closes; it returns the log end offset (a leader's long poll for a
// follower's fetch).
func (l *Log) WaitForEnd(ctx context.Context, topic string, part int32, offset int64) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	for {
		ch, _ := p.watch()
		leo := p.leo.Load()
		if leo > offset {
			return leo, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return leo, ctx.Err()
		case <-l.stop:
			return leo, ErrClosed
		}
	}
}
