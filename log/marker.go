package log

import (
	"context"
	"fmt"

	"github.com/zombi-dev/zombi/log/batch"
)

// Transaction markers in one partition: what EndTxn does in each of its
// partitions on a node alone, what WriteMarker does on a partition leader
// for a transaction coordinator elsewhere (WriteTxnMarkers), and what a
// follower's AppendReplica and Open do again for a stored marker.

// afterMarker is a producer's state after a marker of producer epoch epoch
// and coordinator epoch coord (-1: unknown, kept): a newer producer epoch
// fences the older one (its batches forgotten); the coordinator epoch
// becomes the marker's, as Kafka's appendEndTxnMarker sets it. s may be
// nil; s itself is returned when nothing changes.
func (s *producerState) afterMarker(epoch int16, coord int32) *producerState {
	n := s
	if s == nil || epoch > s.Epoch {
		n = &producerState{Epoch: epoch}
		if s != nil {
			n.CoordEpoch = s.CoordEpoch
		}
	}
	if coord >= 0 && coord != n.CoordEpoch {
		if n == s {
			c := *s
			n = &c
		}
		n.CoordEpoch = coord
	}
	return n
}

// markerCoordEpoch reads the coordinator epoch of a marker's value (Kafka's
// EndTransactionMarker: version int16, coordinator epoch int32); -1 when
// the value is too short to hold one.
func markerCoordEpoch(value []byte) int32 {
	if len(value) < 6 {
		return -1
	}
	return int32(be.Uint32(value[2:]))
}

// storedMarkerCoordEpoch is the coordinator epoch of stored control batch
// raw (-1 when it is not a marker).
func storedMarkerCoordEpoch(raw []byte) int32 {
	_, recs, err := batch.Records(raw, 0)
	if err != nil || len(recs) == 0 {
		return -1
	}
	if _, ok := batch.MarkerType(recs[0].Key); !ok {
		return -1
	}
	return markerCoordEpoch(recs[0].Value)
}

// stageMarker stages marker raw (its header h) at p's staged log end for
// producer pid: the control batch, the producer's state after it (prev is
// its staged state), its open transaction closed and, for an abort,
// indexed. It returns the marker's offset.
func (r *round) stageMarker(p *partition, raw []byte, h batch.Header, pid int64, epoch int16, commit bool, coord int32, prev *producerState) int64 {
	st := r.state(p)
	base := st.next
	h.BaseOffset = base
	r.put(p, st, raw, h)
	if next := prev.afterMarker(epoch, coord); next != prev {
		pk := producerKey{p, pid}
		if _, ok := r.producers[pk]; !ok {
			st.producers++
		}
		r.producers[pk] = next
	}
	r.closeTxn(p, st, pid, commit, base)
	return base
}

// WriteMarker writes a transaction marker into a partition this node leads
// (WriteTxnMarkers, Kafka's appendEndTxnMarker with origin COORDINATOR) and
// returns its offset once durable. A producer epoch older than the
// partition's for that producer is ErrProducerFenced, a coordinator epoch
// older than the producer's last marker's is ErrCoordinatorFenced (a
// deposed transaction coordinator); a follower refuses (ErrNotLeader).
// Otherwise it does what EndTxn does in the partition: the control batch,
// the open transaction closed, an abort indexed, and the coordinator epoch
// kept in the producer's state (AppendReplica and Open keep it too, so a
// new leader fences the same). A marker for a producer with nothing open
// is written all the same, as Kafka does. The caller waits for the
// replicas (acks=all) itself.
func (l *Log) WriteMarker(ctx context.Context, topic string, part int32, m MarkerRequest) (int64, error) {
	if m.ProducerID < 0 || m.ProducerEpoch < 0 || m.CoordinatorEpoch < 0 {
		return 0, fmt.Errorf("%w: marker of producer %d epoch %d, coordinator epoch %d", ErrInvalidTxnState, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch)
	}
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	op := &markerOp{p: p, m: m, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return 0, err
	}
	<-op.done
	if op.err != nil {
		return 0, fmt.Errorf("write marker in %s/%d: %w", topic, part, op.err)
	}
	return op.offset, nil
}

type markerOp struct {
	p      *partition
	m      MarkerRequest
	offset int64
	err    error
	done   chan struct{}
}

func (op *markerOp) size() int { return 128 }
func (op *markerOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

func (op *markerOp) stage(r *round) {
	p, m := op.p, op.m
	if r.isDeleted(p) {
		op.err = fmt.Errorf("%w: partition deleted", ErrUnknownTopic)
		return
	}
	if p.follower.Load() {
		op.err = errNotLeader(p)
		return
	}
	prev, err := r.producer(p, m.ProducerID)
	if err != nil {
		op.err = err
		return
	}
	if prev != nil {
		// Kafka's order: the producer epoch, then the coordinator's.
		if m.ProducerEpoch < prev.Epoch {
			op.err = fmt.Errorf("%w: marker epoch %d < %d", ErrProducerFenced, m.ProducerEpoch, prev.Epoch)
			return
		}
		if m.CoordinatorEpoch < prev.CoordEpoch {
			op.err = fmt.Errorf("%w: coordinator epoch %d < %d of the producer's last marker", ErrCoordinatorFenced, m.CoordinatorEpoch, prev.CoordEpoch)
			return
		}
	}
	raw := batch.Marker(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, r.now)
	h, err := batch.ReadHeader(raw)
	if err != nil {
		op.err = fmt.Errorf("%w: marker: %w", ErrCorruptBatch, err)
		return
	}
	op.offset = r.stageMarker(p, raw, h, m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, prev)
}
