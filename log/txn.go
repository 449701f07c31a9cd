package log

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/zombi-dev/zombi/log/batch"
)

// Transactions in the partition log (Kafka's model): transactional batches
// are stored as produced; the transaction coordinator ends a transaction by
// writing a control batch (marker) into every partition of it. Each
// partition keeps its open transactions (producer id -> first offset), whose
// minimum is the last stable offset (LSO), and an index of aborted
// transactions, which read_committed readers use to drop aborted batches.

// Isolation is a read's isolation level, as Kafka's isolation_level.
type Isolation int8

const (
	// ReadUncommitted reads everything up to the high watermark.
	ReadUncommitted Isolation = 0
	// ReadCommitted reads only below the last stable offset; ReadResult.Aborted
	// lists the aborted transactions the returned batches may hold.
	ReadCommitted Isolation = 1
	// readLogEnd reads up to the log end offset (ReadReplica).
	readLogEnd Isolation = 2
)

// AbortedTxn is one aborted transaction of a partition.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64 // the transaction's first offset in the partition
	LastOffset  int64 // the offset of its abort marker
	// StableAt is the partition's last stable offset right after the abort:
	// every transaction aborted later starts at or after it, so a lookup for
	// offsets below it can stop here (Kafka's TransactionIndex rule).
	StableAt int64
}

// OpenTxn is a transaction open in a partition: batches written, no marker
// yet.
type OpenTxn struct {
	Topic         string
	Partition     int32
	ProducerID    int64
	ProducerEpoch int16
	FirstOffset   int64
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// EndTxnRequest ends a transaction: one write, one fsync, all or nothing.
type EndTxnRequest struct {
	ProducerID    int64
	ProducerEpoch int16 // stamped on the markers; raises the partitions' producer epoch
	Commit        bool
	// CoordinatorEpoch goes into each marker's value, as Kafka writes it.
	CoordinatorEpoch int32
	// Partitions get a marker each; a partition of a deleted topic is skipped.
	Partitions []TopicPartition
	// Offsets become visible with the markers (TxnOffsetCommit, on commit).
	Offsets []CommittedOffset
	// Meta entries are written in the same batch (the coordinator's state):
	// a nil Value deletes the key.
	Meta []MetaKV
}

// ErrInvalidTxnState is returned for a transactional batch the transaction
// verifier refuses (the partition is not in an ongoing transaction of that
// producer and epoch), as Kafka's INVALID_TXN_STATE.
var ErrInvalidTxnState = errors.New("invalid transaction state")

// TxnVerifier decides whether a transactional batch of producer pid at epoch
// may open a transaction in topic/part. The log calls it on the writer
// goroutine, only for a batch that would open one (the producer has no open
// transaction there): it must not block and must not wait on the log.
type TxnVerifier func(pid int64, epoch int16, topic string, part int32) error

// SetTxnVerifier installs the verifier; without one every transactional
// batch is accepted.
func (l *Log) SetTxnVerifier(f TxnVerifier) {
	if f == nil {
		l.verifier.Store(nil)
		return
	}
	l.verifier.Store(&f)
}

func (t openTxn) encode() []byte {
	v := be.AppendUint64(make([]byte, 0, 10), uint64(t.first))
	return be.AppendUint16(v, uint16(t.epoch))
}

// openTxn returns the staged view of producer pid's open transaction in p.
func (r *round) openTxn(p *partition, pid int64) (openTxn, bool) {
	if t, ok := r.txns[producerKey{p, pid}]; ok {
		if t == nil {
			return openTxn{}, false
		}
		return *t, true
	}
	t, ok := p.txns[pid]
	return t, ok
}

// openTxnFor is called for a transactional batch about to be stored at base:
// the first one of its producer since its last marker opens a transaction,
// if the verifier agrees (asked only when verify is set: a coordinator's
// own batch is not verified).
func (r *round) openTxnFor(p *partition, topic string, h batch.Header, base int64, verify bool) error {
	if h.ProducerID < 0 {
		return fmt.Errorf("%w: a transactional batch without a producer id", ErrInvalidTxnState)
	}
	if _, open := r.openTxn(p, h.ProducerID); open {
		return nil
	}
	if f := r.l.verifier.Load(); f != nil && verify {
		if err := (*f)(h.ProducerID, h.ProducerEpoch, topic, p.id); err != nil {
			return err
		}
	}
	t := &openTxn{epoch: h.ProducerEpoch, first: base}
	r.txns[producerKey{p, h.ProducerID}] = t
	r.wb.Put(partKey(kindTxnOpen, p.tid, p.id, uint64(h.ProducerID)), t.encode())
	return nil
}

// stableOf returns p's last stable offset in the staged view, next being its
// staged next offset.
func (r *round) stableOf(p *partition, next int64) int64 {
	lso := next
	for pid, t := range p.txns {
		if _, staged := r.txns[producerKey{p, pid}]; !staged {
			lso = min(lso, t.first)
		}
	}
	for k, t := range r.txns {
		if k.p == p && t != nil {
			lso = min(lso, t.first)
		}
	}
	return lso
}

func abortedKey(p *partition, last int64) []byte {
	return partKey(kindAborted, p.tid, p.id, uint64(last))
}

func encodeAborted(a AbortedTxn) []byte {
	v := be.AppendUint64(make([]byte, 0, 24), uint64(a.ProducerID))
	v = be.AppendUint64(v, uint64(a.FirstOffset))
	return be.AppendUint64(v, uint64(a.StableAt))
}

func decodeAborted(k, v []byte) (AbortedTxn, bool) {
	if len(k) != 17 || len(v) != 24 {
		return AbortedTxn{}, false
	}
	return AbortedTxn{
		LastOffset:  int64(be.Uint64(k[9:])),
		ProducerID:  int64(be.Uint64(v)),
		FirstOffset: int64(be.Uint64(v[8:])),
		StableAt:    int64(be.Uint64(v[16:])),
	}, true
}

type endTxnOp struct {
	req   EndTxnRequest
	parts []*partition
	err   error
	done  chan struct{}
}

func (op *endTxnOp) size() int { return 128*len(op.parts) + 64*len(op.req.Offsets) }

func (op *endTxnOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

func (op *endTxnOp) stage(r *round) {
	req := op.req
	typ := "abort"
	if req.Commit {
		typ = "commit"
	}
	// Read what may fail first, so that nothing is staged on a failure.
	prevs := make([]*producerState, len(op.parts))
	for i, p := range op.parts {
		if r.isDeleted(p) {
			continue
		}
		if p.follower.Load() {
			op.err = fmt.Errorf("end transaction (%s): %w", typ, errNotLeader(p))
			return
		}
		prev, err := r.producer(p, req.ProducerID)
		if err != nil {
			op.err = fmt.Errorf("end transaction (%s): %w", typ, err)
			return
		}
		prevs[i] = prev
	}
	raw := batch.Marker(req.ProducerID, req.ProducerEpoch, req.Commit, req.CoordinatorEpoch, r.now)
	h, err := batch.ReadHeader(raw)
	if err != nil {
		op.err = fmt.Errorf("%w: marker: %w", ErrCorruptBatch, err)
		return
	}
	for i, p := range op.parts {
		if r.isDeleted(p) {
			continue
		}
		b := raw
		if i < len(op.parts)-1 {
			b = append([]byte(nil), raw...) // each partition stores its own copy
		}
		r.stageMarker(p, b, h, req.ProducerID, req.ProducerEpoch, req.Commit, req.CoordinatorEpoch, prevs[i])
	}
	if req.Commit {
		(&commitOp{offs: req.Offsets}).stage(r)
	}
	stageMeta(r, req.Meta)
}

// EndTxn writes the markers, offsets and meta entries of req in one durable
// write and returns once it is done: a crash leaves all of it or none.
func (l *Log) EndTxn(ctx context.Context, req EndTxnRequest) error {
	if req.ProducerID < 0 || req.ProducerEpoch < 0 {
		return fmt.Errorf("%w: end transaction of producer %d epoch %d", ErrInvalidTxnState, req.ProducerID, req.ProducerEpoch)
	}
	for _, o := range req.Offsets {
		if err := validOffset(o); err != nil {
			return err
		}
	}
	op := &endTxnOp{req: req, done: make(chan struct{})}
	seen := make(map[TopicPartition]bool, len(req.Partitions))
	for _, tp := range req.Partitions {
		if seen[tp] {
			continue
		}
		seen[tp] = true
		p, err := l.partition(tp.Topic, tp.Partition)
		if err != nil {
			continue // deleted: nothing to mark
		}
		op.parts = append(op.parts, p)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.w.submit(op); err != nil {
		return err
	}
	<-op.done
	return op.err
}

type openTxnsOp struct {
	l    *Log
	out  []OpenTxn
	done chan struct{}
}

func (op *openTxnsOp) size() int        { return 0 }
func (op *openTxnsOp) finish(err error) { close(op.done) }

// stage reads the partitions' open transactions on the writer goroutine,
// which owns them (as of the last round: this one writes nothing).
func (op *openTxnsOp) stage(r *round) {
	op.l.mu.RLock()
	defer op.l.mu.RUnlock()
	for name, t := range op.l.topics {
		for _, p := range t.parts {
			if r.isDeleted(p) {
				continue
			}
			for pid, ot := range p.txns {
				op.out = append(op.out, OpenTxn{Topic: name, Partition: p.id, ProducerID: pid, ProducerEpoch: ot.epoch, FirstOffset: ot.first})
			}
		}
	}
}

// OpenTxns returns every transaction open in any partition (for the
// coordinator's recovery: one it does not know is aborted).
func (l *Log) OpenTxns() ([]OpenTxn, error) {
	op := &openTxnsOp{l: l, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return nil, err
	}
	<-op.done
	sort.Slice(op.out, func(i, j int) bool {
		a, b := op.out[i], op.out[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.ProducerID < b.ProducerID
	})
	return op.out, nil
}

// LastStable returns a partition's last stable offset: the first offset of
// its oldest open transaction, or the high watermark when none is open.
func (l *Log) LastStable(topic string, part int32) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	lso, _ := p.stable()
	return l.stableAtLeastStart(topic, p, lso), nil
}

// stableAtLeastStart clamps lso to the partition's earliest offset (cold
// tier included), as Kafka clamps its first unstable offset: records
// deleted past an open transaction's start leave it below the log start.
func (l *Log) stableAtLeastStart(topic string, p *partition, lso int64) int64 {
	if hot := p.logStart.Load(); lso < hot {
		return max(lso, l.earliest(topic, p.id, hot))
	}
	return lso
}

// ReadIsolated is Read at an isolation level; ReadCommitted returns batches
// below the last stable offset only (an offset at or above it, up to the
// high watermark, returns none and no error) and fills Aborted.
func (l *Log) ReadIsolated(topic string, part int32, offset int64, maxBytes int, iso Isolation) (ReadResult, error) {
	if iso != ReadCommitted {
		iso = ReadUncommitted // readLogEnd is ReadReplica's
	}
	return l.read(topic, part, offset, maxBytes, iso)
}

// ColdAborted is implemented by a cold tier that keeps the aborted
// transactions of its segments.
type ColdAborted interface {
	// AbortedTxns returns the aborted transactions with LastOffset >= from
	// and FirstOffset < upTo whose markers are in the cold tier.
	AbortedTxns(ctx context.Context, topic string, part int32, from, upTo int64) ([]AbortedTxn, error)
}

// abortedTxns returns the aborted transactions with LastOffset >= from and
// FirstOffset < upTo, by marker offset: the hot index, and the cold tier's
// for a range that starts below the hot log start.
func (l *Log) abortedTxns(p *partition, topic string, from, upTo int64) ([]AbortedTxn, error) {
	var out []AbortedTxn
	if from < p.logStart.Load() {
		if ca, ok := l.coldTier().(ColdAborted); ok {
			ctx, cancel := context.WithTimeout(context.Background(), coldReadTimeout)
			cold, err := ca.AbortedTxns(ctx, topic, p.id, from, upTo)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%w: aborted transactions of %s/%d: %w", ErrColdUnavailable, topic, p.id, err)
			}
			out = cold
		}
	}
	hot, err := l.hotAborted(p, from, upTo)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return hot, nil
	}
	seen := make(map[int64]bool, len(out))
	for _, a := range out {
		seen[a.LastOffset] = true
	}
	for _, a := range hot {
		if !seen[a.LastOffset] {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastOffset < out[j].LastOffset })
	return out, nil
}

// hotAborted reads the aborted-transaction index kept with the hot tier:
// the entries with LastOffset >= from and FirstOffset < upTo, stopping at
// the first whose StableAt reaches upTo.
func (l *Log) hotAborted(p *partition, from, upTo int64) ([]AbortedTxn, error) {
	var out []AbortedTxn
	err := l.scanAborted(p, from, func(a AbortedTxn) bool {
		if a.FirstOffset < upTo {
			out = append(out, a)
		}
		return a.StableAt < upTo
	})
	return out, err
}

// scanAborted calls fn with the index entries of p from marker offset from
// on, in marker order, while fn returns true.
func (l *Log) scanAborted(p *partition, from int64, fn func(AbortedTxn) bool) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.closeMu.RUnlock()
	prefix := partPrefix(kindAborted, p.tid, p.id)
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	for it.Seek(abortedKey(p, max(from, 0))); it.ValidForPrefix(prefix); it.Next() {
		a, ok := decodeAborted(it.Key().Data(), it.Value().Data())
		if !ok {
			return fmt.Errorf("%w: aborted transaction index of %d/%d", ErrCorruptBatch, p.tid, p.id)
		}
		if !fn(a) {
			break
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%w: aborted transaction index: %w", ErrStorage, err)
	}
	return nil
}

// AbortedIn returns the aborted transactions whose abort markers are in
// [from, to): what the tiering flusher copies into a segment of that range.
// The index is keyed by marker offset: the scan stops at to.
func (l *Log) AbortedIn(topic string, part int32, from, to int64) ([]AbortedTxn, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	var out []AbortedTxn
	err = l.scanAborted(p, from, func(a AbortedTxn) bool {
		if a.LastOffset >= to {
			return false
		}
		out = append(out, a)
		return true
	})
	return out, err
}

// Committed returns the batches of rr a read_committed consumer keeps: no
// control batches, no batch of an aborted transaction (rr from a
// ReadCommitted read).
func Committed(rr ReadResult) []Batch {
	out := make([]Batch, 0, len(rr.Batches))
	for _, b := range rr.Batches {
		if rr.Keeps(b) {
			out = append(out, b)
		}
	}
	return out
}

// Keeps reports whether a read_committed consumer keeps batch b of rr: not
// a control batch, not a batch of an aborted transaction.
func (rr ReadResult) Keeps(b Batch) bool {
	h, err := batch.ReadHeader(b.Raw)
	if err != nil || h.IsControl() {
		return false // a stored batch was validated: err cannot happen
	}
	return !h.IsTransactional() || !isAborted(rr.Aborted, h.ProducerID, b.BaseOffset)
}

func isAborted(aborted []AbortedTxn, pid, offset int64) bool {
	for _, a := range aborted {
		if a.ProducerID == pid && a.FirstOffset <= offset && offset <= a.LastOffset {
			return true
		}
	}
	return false
}
