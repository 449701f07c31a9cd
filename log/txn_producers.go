package log

import (
	"fmt"
	"sort"
)

// ProducerInfo is one producer's state in a partition, as Kafka's
// DescribeProducers reports it.
type ProducerInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // of its last batch; -1 when none is remembered
	// LastOffset is the last offset of its last batch (-1 when none): its
	// batch's max timestamp is Kafka's last timestamp.
	LastOffset int64
	// TxnStartOffset is the first offset of its open transaction in the
	// partition, -1 when none is open.
	TxnStartOffset int64
	// CoordinatorEpoch is the coordinator epoch of its last marker in the
	// partition (0 when none): WriteMarker fences a lower one.
	CoordinatorEpoch int32
}

type producersOp struct {
	l    *Log
	p    *partition
	out  []ProducerInfo
	err  error
	done chan struct{}
}

func (op *producersOp) size() int { return 0 }
func (op *producersOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

// stage reads the partition's producers on the writer goroutine, which owns
// them (as of the last round: this one writes nothing): the states stored
// at the last checkpoint, overlaid by the newer ones in memory, and the
// open transactions.
func (op *producersOp) stage(r *round) {
	p := op.p
	if r.isDeleted(p) {
		op.err = fmt.Errorf("%w: partition deleted", ErrUnknownTopic)
		return
	}
	states := map[int64]*producerState{}
	prefix := partPrefix(kindProducer, p.tid, p.id)
	it := op.l.db.NewIterator(op.l.ro)
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		k := it.Key().Data()
		if len(k) != len(prefix)+8 {
			continue
		}
		if s, ok := decodeProducerState(it.Value().Data()); ok {
			states[int64(be.Uint64(k[len(prefix):]))] = s
		}
	}
	if err := it.Err(); err != nil {
		op.err = fmt.Errorf("%w: read producer states: %w", ErrStorage, err)
		return
	}
	for pid, s := range p.producers {
		states[pid] = s
	}
	for pid, t := range p.txns {
		if _, ok := states[pid]; !ok {
			states[pid] = &producerState{Epoch: t.epoch}
		}
	}
	for pid, s := range states {
		pi := ProducerInfo{ProducerID: pid, ProducerEpoch: s.Epoch, LastSequence: -1, LastOffset: -1, TxnStartOffset: -1, CoordinatorEpoch: s.CoordEpoch}
		if n := len(s.Batches); n > 0 {
			b := s.Batches[n-1]
			pi.LastSequence, pi.LastOffset = b.LastSeq, b.BaseOffset+int64(b.LastOffsetDelta)
		}
		if t, ok := p.txns[pid]; ok {
			pi.TxnStartOffset = t.first
		}
		op.out = append(op.out, pi)
	}
}

// Producers returns the producers a partition knows (idempotent and
// transactional: their epoch, last sequence and open transaction), sorted
// by producer id. A producer the partition has forgotten (its batches
// deleted by retention and never written again) is not listed.
func (l *Log) Producers(topic string, part int32) ([]ProducerInfo, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	op := &producersOp{l: l, p: p, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return nil, err
	}
	<-op.done
	if op.err != nil {
		return nil, op.err
	}
	sort.Slice(op.out, func(i, j int) bool { return op.out[i].ProducerID < op.out[j].ProducerID })
	return op.out, nil
}
