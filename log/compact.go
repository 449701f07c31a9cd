package log

import (
	"fmt"
	"slices"

	"github.com/zombi-dev/zombi/log/batch"
)

// Compaction of the internal partitions (cluster mode): the cleaner
// (cluster/replica/cleaner.go) decides which whole batches every record of
// which has a newer record of the same key, and DeleteBatches removes them.
// Offsets keep their values: the log has gaps, as a compacted Kafka topic
// has. Every reader steps over a missing batch: Read and ReadReplica return
// the next stored one (a first batch above the offset asked is a gap, not a
// trim, in an internal partition: they are never trimmed), AppendReplica
// stores a leader's batches with gaps between them, TruncateTo at an offset
// in a gap cuts there, and the epoch cache, whose entries are start offsets,
// needs no batch at its offsets.

// DeleteBatches removes the stored batches of an internal partition whose
// base offsets are bases, in one durable write committed alone (a barrier,
// as TruncateTo). Every base must be a stored batch below the high
// watermark that is not the partition's last batch (the log end is
// recovered from it on Open); otherwise nothing is removed and the error
// wraps ErrInvalidOffset. Other topics are refused (ErrUnknownTopic).
func (l *Log) DeleteBatches(topic string, part int32, bases []int64) error {
	if err := checkViewPartition(topic, part); err != nil {
		return fmt.Errorf("delete batches: %w", err)
	}
	p, err := l.partition(topic, part)
	if err != nil {
		return fmt.Errorf("delete batches: %w", err)
	}
	if len(bases) == 0 {
		return nil
	}
	bases = slices.Clone(bases)
	slices.Sort(bases)
	bases = slices.Compact(bases)
	op := &deleteBatchesOp{l: l, p: p, bases: bases, done: make(chan struct{})}
	if err := l.w.runBarrier(op, op.done); err != nil {
		return err
	}
	if op.err != nil {
		return fmt.Errorf("delete batches of %s/%d: %w", topic, part, op.err)
	}
	return nil
}

type deleteBatchesOp struct {
	l     *Log
	p     *partition
	bases []int64
	err   error
	done  chan struct{}
}

func (op *deleteBatchesOp) barrier()  {}
func (op *deleteBatchesOp) size() int { return 16 * len(op.bases) }
func (op *deleteBatchesOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

// stage runs alone in its round: RocksDB holds the committed partition.
func (op *deleteBatchesOp) stage(r *round) {
	p := op.p
	if r.isDeleted(p) {
		op.err = ErrUnknownTopic
		return
	}
	st := r.state(p)
	hwm := p.hwm.Load()
	for _, base := range op.bases {
		if base < st.logStart || base >= hwm {
			op.err = fmt.Errorf("%w: batch %d not in [%d, %d)", ErrInvalidOffset, base, st.logStart, hwm)
			return
		}
		v, err := op.l.db.GetBytes(op.l.ro, batchKey(p.tid, p.id, base))
		if err != nil {
			op.err = fmt.Errorf("%w: read batch %d: %w", ErrStorage, base, err)
			return
		}
		if v == nil {
			op.err = fmt.Errorf("%w: no stored batch at %d", ErrInvalidOffset, base)
			return
		}
		h, err := batch.ReadHeader(v)
		if err != nil {
			op.err = fmt.Errorf("%w: stored batch at %d: %w", ErrCorruptBatch, base, err)
			return
		}
		if h.LastOffset()+1 >= st.next {
			op.err = fmt.Errorf("%w: batch %d is the last of the log (end %d)", ErrInvalidOffset, base, st.next)
			return
		}
	}
	for _, base := range op.bases {
		r.wb.Delete(batchKey(p.tid, p.id, base))
	}
}
