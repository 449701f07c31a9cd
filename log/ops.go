package log

import (
	"context"
	"fmt"
	"time"

	"github.com/linxGnu/grocksdb"
)

// TrimBefore moves a partition's log start to offset and deletes the batches
// wholly below it (Kafka DeleteRecords; the tiering flusher after upload).
// It returns the new log start.
func (l *Log) TrimBefore(ctx context.Context, topic string, part int32, offset int64) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	start, err := l.trimPartition(ctx, p, offset)
	if err != nil {
		return start, fmt.Errorf("trim %s/%d: %w", topic, part, err)
	}
	return start, nil
}

// trimPartition is TrimBefore on a partition already looked up: a deleted
// topic's partition fails with ErrUnknownTopic, whatever now has its name.
func (l *Log) trimPartition(ctx context.Context, p *partition, offset int64) (int64, error) {
	hwm, start := p.hwm.Load(), p.logStart.Load()
	if offset < 0 || offset > hwm {
		return start, fmt.Errorf("%w: trim to %d, high watermark %d", ErrOffsetOutOfRange, offset, hwm)
	}
	if offset <= start {
		return start, nil
	}
	// Batches below hwm never change, so the range can be found outside the writer.
	var keepFrom int64 = offset
	if err := l.enter(); err != nil {
		return start, err
	}
	err := l.scan(p, offset, hwm, func(b Batch) bool {
		keepFrom = b.BaseOffset
		return false
	})
	l.closeMu.RUnlock()
	if err != nil {
		return start, err
	}
	op := &trimOp{p: p, offset: offset, keepFrom: keepFrom, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return start, err
	}
	<-op.done
	if op.err != nil {
		return start, op.err
	}
	return p.logStart.Load(), nil
}

type trimOp struct {
	p                *partition
	offset, keepFrom int64
	err              error
	done             chan struct{}
}

func (op *trimOp) size() int { return 0 }

func (op *trimOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

func (op *trimOp) stage(r *round) {
	p := op.p
	if r.isDeleted(p) {
		op.err = ErrUnknownTopic
		return
	}
	st := r.state(p)
	if op.offset <= st.logStart {
		return
	}
	if op.offset > st.next {
		// A truncation (TruncateTo) moved the log end below it since the
		// caller checked.
		op.err = fmt.Errorf("%w: trim to %d, log end %d", ErrOffsetOutOfRange, op.offset, st.next)
		return
	}
	st.logStart = op.offset
	st.dirty = true
	if es := r.stagedEpochs(p, st); len(es) > 0 {
		r.setEpochs(p, st, truncateEpochsFromStart(es, op.offset))
	}
	r.wb.DeleteRange(batchKey(p.tid, p.id, 0), batchKey(p.tid, p.id, op.keepFrom))
	// Aborted transactions whose markers are below the new start: no hot read
	// needs them (a read from offset o asks for markers at or after o), and
	// the cold tier, which trims only what its manifest holds, keeps its own
	// copy for cold reads.
	r.wb.DeleteRange(abortedKey(p, 0), abortedKey(p, op.offset))
	// Time index entries pointing below keepFrom are dead, except the last
	// one, which may still cover the batch that holds keepFrom.
	prefix := partPrefix(kindTime, p.tid, p.id)
	it := r.l.db.NewIterator(r.l.ro)
	defer it.Close()
	var prev []byte
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		if int64(be.Uint64(it.Value().Data())) >= op.keepFrom {
			break
		}
		if prev != nil {
			r.wb.Delete(prev)
		}
		prev = append(prev[:0], it.Key().Data()...)
	}
}

type deleteTopicOp struct {
	l    *Log
	t    *topic
	err  error
	done chan struct{}
}

func (op *deleteTopicOp) size() int { return 0 }

func (op *deleteTopicOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

func (op *deleteTopicOp) stage(r *round) {
	tid := op.t.info.ID
	if r.deleted[tid] {
		op.err = ErrUnknownTopic
		return
	}
	r.deleted[tid] = true
	for _, kind := range []byte{kindBatch, kindPartition, kindTime, kindProducer, kindIdem, kindTxnOpen, kindAborted, kindEpoch} {
		p := topicPrefix(kind, tid)
		r.wb.DeleteRange(p, prefixEnd(p))
	}
	r.wb.Delete(append([]byte{kindTopic}, op.t.info.Name...))
	for _, p := range op.t.parts {
		r.state(p) // marks the partition deleted when the round commits
	}
}

// expireIdempotencyKeys deletes HTTP idempotency keys older than the window,
// every minute, using the time-ordered expiry index.
func (l *Log) expireIdempotencyKeys() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if err := l.expireIdempotencyOnce(time.Now()); err != nil {
			l.logger.Warn("expire idempotency keys", "err", err)
		}
	}
}

func (l *Log) expireIdempotencyOnce(now time.Time) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.closeMu.RUnlock()
	cutoff := now.Add(-l.opts.IdempotencyWindow).UnixMilli()
	end := be.AppendUint64([]byte{kindIdemExpiry}, tsKey(cutoff))
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetIterateUpperBound(end)
	it := l.db.NewIterator(ro)
	defer it.Close()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	n := 0
	for it.Seek([]byte{kindIdemExpiry}); it.Valid(); it.Next() {
		k := it.Key().Data()
		if len(k) < 13 {
			continue
		}
		ts := int64(be.Uint64(k[1:]) ^ (1 << 63))
		ik := idemKey(be.Uint32(k[9:]), string(k[13:]))
		// Only delete the key if it was not rewritten after this entry.
		if v, err := l.db.GetBytes(l.ro, ik); err == nil && len(v) == 20 && int64(be.Uint64(v[12:])) <= ts {
			wb.Delete(ik)
		}
		wb.Delete(append([]byte(nil), k...))
		n++
	}
	if err := it.Err(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	wo := grocksdb.NewDefaultWriteOptions()
	defer wo.Destroy()
	return l.db.Write(wo, wb)
}
