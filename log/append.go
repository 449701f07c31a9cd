package log

import (
	"context"
	"fmt"
	"time"

	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/metrics"
)

// LeaderEpoch is the leader epoch of a partition that never changed leader
// (every partition of a single node): appends stamp the partition's current
// epoch (LeaderEpochOf) on each batch, as a Kafka leader does, so consumers
// see the epoch that Metadata and ListOffsets give (the Java consumer
// commits it and validates positions with OffsetForLeaderEpoch, KIP-320).
const LeaderEpoch int32 = 0

// AppendRequest appends one record batch to one partition.
type AppendRequest struct {
	Topic     string
	Partition int32
	// Batch is one magic v2 record batch. The log takes ownership: its base
	// offset and partition leader epoch (LeaderEpochOf) are rewritten in place
	// and the bytes are stored as they are.
	Batch []byte
	// IdempotencyKey, when set, makes the append happen at most once per
	// topic within the idempotency window (HTTP writes).
	IdempotencyKey string
	// Group, when not 0, makes consecutive requests with the same Group one
	// unit: all are appended or none is (a Kafka partition's record set of
	// several batches). They must be for the same partition.
	Group int

	// internal: an append by a coordinator to an internal topic
	// (AppendInternal), past the name guard, without the sequence checks
	// and the transaction verifier (Kafka's AppendOrigin.COORDINATOR).
	internal bool
}

// AppendResult is the outcome of one AppendRequest.
type AppendResult struct {
	Partition      int32
	BaseOffset     int64
	LastOffset     int64
	LogStartOffset int64
	// LogAppendTime is the broker's time stamped on the batch when its topic
	// has message.timestamp.type=LogAppendTime, else 0.
	LogAppendTime int64
	// Duplicate: the batch (idempotency key, or producer id and sequence) was
	// appended before; the offsets are those of the first append.
	Duplicate bool
	Err       error
}

type appendOp struct {
	reqs    []AppendRequest
	headers []batch.Header
	parts   []*partition
	res     []AppendResult
	bytes   int
	done    chan struct{}
	// Backing for the slices of a one-batch append (a single-record
	// produce or POST), which saves three allocations per write.
	oneH [1]batch.Header
	oneP [1]*partition
	oneR [1]AppendResult
}

// Append appends batches, possibly to different partitions, and returns once
// they are durable (or failed). All requests share one group commit, so a
// Kafka Produce request or an HTTP bulk write costs one fsync. Per-request
// problems are in AppendResult.Err; a storage failure fails every request.
func (l *Log) Append(ctx context.Context, reqs []AppendRequest) []AppendResult {
	start := metrics.Now()
	res := l.append(ctx, reqs)
	appendDuration.Observe(start.Seconds())
	for i := range res {
		if res[i].Err != nil {
			countRefused(res[i].Err)
		}
	}
	return res
}

func (l *Log) append(ctx context.Context, reqs []AppendRequest) []AppendResult {
	op := &appendOp{reqs: reqs, done: make(chan struct{})}
	if len(reqs) == 1 {
		op.headers, op.parts, op.res = op.oneH[:], op.oneP[:], op.oneR[:]
	} else {
		op.headers = make([]batch.Header, len(reqs))
		op.parts = make([]*partition, len(reqs))
		op.res = make([]AppendResult, len(reqs))
	}
	live := 0
	var now int64
	for i, req := range reqs {
		op.res[i].Partition = req.Partition
		if !req.internal && IsInternalTopic(req.Topic) {
			// Only the coordinators write there (AppendInternal).
			op.res[i].Err = fmt.Errorf("%w: %s", ErrInternalTopic, req.Topic)
			continue
		}
		p, appendTime, err := l.appendTarget(req.Topic, req.Partition)
		if err != nil {
			op.res[i].Err = err
			continue
		}
		if g := l.gate.Load(); g != nil && !req.internal {
			// Internal partitions are never tiered: the tiering gate
			// (unflushed bytes) is not theirs; compaction bounds them.
			if err := g.f(req.Topic, req.Partition); err != nil {
				op.res[i].Err = err
				continue
			}
		}
		h, err := batch.Validate(req.Batch)
		if err != nil {
			op.res[i].Err = fmt.Errorf("%w: %w", ErrCorruptBatch, err)
			continue
		}
		if appendTime {
			// As Kafka does for such a topic: the batch carries the
			// broker's time, whichever door wrote it (after the CRC check,
			// which SetLogAppendTime redoes).
			if now == 0 {
				now = time.Now().UnixMilli() // one time for the whole call
			}
			batch.SetLogAppendTime(req.Batch, now)
			h.MaxTimestamp, h.Attributes = now, h.Attributes|batch.TimestampTypeMask
			op.res[i].LogAppendTime = now
		}
		op.headers[i], op.parts[i] = h, p
		op.bytes += len(req.Batch)
		live++
	}
	if live == 0 {
		return op.res
	}
	if err := ctx.Err(); err != nil {
		return failAll(op.res, err)
	}
	if err := l.w.submit(op); err != nil {
		return failAll(op.res, err)
	}
	<-op.done
	return op.res
}

func failAll(res []AppendResult, err error) []AppendResult {
	for i := range res {
		if res[i].Err == nil {
			res[i].Err = err
		}
	}
	return res
}

func (op *appendOp) size() int { return op.bytes }

func (op *appendOp) finish(err error) {
	if err != nil {
		failAll(op.res, err)
	}
	close(op.done)
}

func (op *appendOp) stage(r *round) {
	for i := 0; i < len(op.reqs); {
		j := i + 1
		if g := op.reqs[i].Group; g != 0 {
			for j < len(op.reqs) && op.reqs[j].Group == g {
				j++
			}
		}
		if j-i == 1 {
			op.stageOne(r, i)
		} else {
			op.stageGroup(r, i, j)
		}
		i = j
	}
}

func (op *appendOp) stageOne(r *round, i int) {
	p := op.parts[i]
	if p == nil {
		return
	}
	if r.isDeleted(p) {
		op.res[i].Err = fmt.Errorf("%w: %s/%d", ErrUnknownTopic, op.reqs[i].Topic, p.id)
		return
	}
	stamped := op.res[i].LogAppendTime // set by Append
	op.res[i] = r.append(p, op.reqs[i], op.headers[i])
	if op.res[i].Err == nil && !op.res[i].Duplicate {
		op.res[i].LogAppendTime = stamped // a duplicate keeps its first time, unknown here: 0
	}
}

// stageGroup stages reqs[i:j] all or nothing: on the first failure what the
// group staged is rolled back and every request of it gets that error.
func (op *appendOp) stageGroup(r *round, i, j int) {
	var fail error
	for k := i; k < j && fail == nil; k++ {
		if op.res[k].Err != nil {
			fail = op.res[k].Err // refused before staging (corrupt, gate)
		} else if op.parts[k] != op.parts[i] {
			fail = fmt.Errorf("%w: an atomic group spans partitions", ErrInvalidOffset)
		}
	}
	if fail == nil {
		p := op.parts[i]
		saved := *r.state(p)
		prods := map[producerKey]*producerState{}
		type stagedTxn struct {
			t      *openTxn
			staged bool
		}
		txns := map[producerKey]stagedTxn{}
		for k := i; k < j; k++ {
			if h := op.headers[k]; h.ProducerID >= 0 {
				key := producerKey{p, h.ProducerID}
				if _, seen := prods[key]; !seen {
					prods[key] = r.producers[key]
					t, staged := r.txns[key]
					txns[key] = stagedTxn{t, staged}
				}
			}
		}
		r.wb.SetSavePoint()
		for k := i; k < j && fail == nil; k++ {
			op.stageOne(r, k)
			fail = op.res[k].Err
		}
		if fail == nil {
			_ = r.wb.PopSavePoint()
			return
		}
		if err := r.wb.RollbackToSavePoint(); err != nil {
			fail = fmt.Errorf("%w: roll back a failed record set: %w", ErrStorage, err)
		}
		*r.state(p) = saved
		for key, prev := range prods {
			if prev == nil {
				delete(r.producers, key)
			} else {
				r.producers[key] = prev
			}
		}
		for key, prev := range txns {
			if prev.staged {
				r.txns[key] = prev.t
			} else {
				delete(r.txns, key)
			}
		}
	}
	for k := i; k < j; k++ {
		op.res[k] = AppendResult{Partition: op.reqs[k].Partition, Err: fail}
	}
}

// append stages one batch.
func (r *round) append(p *partition, req AppendRequest, h batch.Header) AppendResult {
	res := AppendResult{Partition: p.id}
	st := r.state(p)
	res.LogStartOffset = st.logStart

	var idemK string
	if req.IdempotencyKey != "" {
		idemK = string(idemKey(p.tid, req.IdempotencyKey))
		e, found, err := r.lookupIdem(idemK)
		if err != nil {
			res.Err = err
			return res
		}
		if found {
			return AppendResult{Partition: e.part, BaseOffset: e.offset, LastOffset: e.offset, LogStartOffset: st.logStart, Duplicate: true}
		}
	}

	if p.follower.Load() {
		res.Err = errNotLeader(p)
		return res
	}
	if h.IsControl() {
		// Markers come from EndTxn only: a forged one would end another
		// producer's transaction for readers, and its epoch would fence that
		// producer when the partition is loaded again.
		res.Err = fmt.Errorf("%w: control batches are written by the transaction coordinator only", ErrInvalidTxnState)
		return res
	}
	var newProducer *producerState
	if h.ProducerID >= 0 {
		prev, err := r.producer(p, h.ProducerID)
		if err != nil {
			res.Err = err
			return res
		}
		lastSeq := seqAdd(h.BaseSequence, h.LastOffsetDelta)
		if prev != nil {
			if h.ProducerEpoch < prev.Epoch {
				res.Err = fmt.Errorf("%w: epoch %d < %d", ErrProducerFenced, h.ProducerEpoch, prev.Epoch)
				return res
			}
			switch {
			case req.internal:
				// A coordinator's batch has no sequence: Kafka checks the
				// sequences of client appends only.
			case h.ProducerEpoch == prev.Epoch:
				for _, b := range prev.Batches {
					if b.FirstSeq == h.BaseSequence && b.LastSeq == lastSeq {
						res.BaseOffset, res.LastOffset, res.Duplicate = b.BaseOffset, b.BaseOffset+int64(b.LastOffsetDelta), true
						return res
					}
				}
				if n := len(prev.Batches); n > 0 && h.BaseSequence != seqAdd(prev.Batches[n-1].LastSeq, 1) {
					res.Err = fmt.Errorf("%w: got %d, expected %d", ErrOutOfOrderSequence, h.BaseSequence, seqAdd(prev.Batches[n-1].LastSeq, 1))
					return res
				}
			case h.BaseSequence != 0:
				res.Err = fmt.Errorf("%w: new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerEpoch, h.BaseSequence)
				return res
			}
		}
		newProducer = prev.withBatch(h, st.next)
	}

	base := st.next
	if h.IsTransactional() {
		if err := r.openTxnFor(p, req.Topic, h, base, !req.internal); err != nil {
			res.Err = err
			return res
		}
	} else if h.ProducerID >= 0 {
		if _, open := r.openTxn(p, h.ProducerID); open {
			// As Kafka: a plain batch inside the producer's open
			// transaction would survive its abort.
			res.Err = fmt.Errorf("%w: producer %d has a transaction open in the partition: transactional batches only", ErrInvalidTxnState, h.ProducerID)
			return res
		}
	}
	h.BaseOffset = base
	r.put(p, st, req.Batch, h)
	st.records += st.next - base
	if newProducer != nil {
		// Written with the next checkpoint; until then the batch is the record.
		pk := producerKey{p, h.ProducerID}
		if _, ok := r.producers[pk]; !ok {
			st.producers++
		}
		r.producers[pk] = newProducer
	}
	if idemK != "" {
		r.idem[idemK] = idemEntry{part: p.id, offset: base}
		v := be.AppendUint32(make([]byte, 0, 20), uint32(p.id))
		v = be.AppendUint64(v, uint64(base))
		v = be.AppendUint64(v, uint64(r.now))
		r.wb.Put([]byte(idemK), v)
		r.wb.Put(idemExpiryKey(r.now, p.tid, req.IdempotencyKey), nil)
	}
	res.BaseOffset, res.LastOffset = base, st.next-1
	return res
}

// put stages batch b at h.BaseOffset, the staged next offset: it sets the
// base offset and the partition's leader epoch in place, keeps the time
// index and moves the staged state past it.
func (r *round) put(p *partition, st *pstate, b []byte, h batch.Header) {
	batch.SetBaseOffset(b, h.BaseOffset)
	batch.SetLeaderEpoch(b, st.epoch)
	r.store(p, st, b, h)
}

// store stages batch b, whose base offset is h.BaseOffset, as it is.
func (r *round) store(p *partition, st *pstate, b []byte, h batch.Header) {
	base := h.BaseOffset
	r.wb.Put(batchKey(p.tid, p.id, base), b)
	if h.MaxTimestamp > st.maxTs {
		st.maxTs = h.MaxTimestamp
		if st.sinceIdx >= timeIndexInterval {
			r.wb.Put(partKey(kindTime, p.tid, p.id, tsKey(h.MaxTimestamp)), be.AppendUint64(nil, uint64(base)))
			st.sinceIdx = 0
		}
	}
	st.next = base + int64(h.LastOffsetDelta) + 1
	st.appended += int64(len(b))
	st.sinceIdx += int64(len(b))
	st.sinceCkpt += int64(len(b))
}

func (r *round) lookupIdem(k string) (idemEntry, bool, error) {
	if e, ok := r.idem[k]; ok {
		return e, true, nil
	}
	v, err := r.l.db.GetBytes(r.l.ro, []byte(k))
	if err != nil {
		return idemEntry{}, false, fmt.Errorf("%w: read idempotency key: %w", ErrStorage, err)
	}
	if len(v) != 20 {
		return idemEntry{}, false, nil
	}
	ts := int64(be.Uint64(v[12:]))
	if r.now-ts > r.l.opts.IdempotencyWindow.Milliseconds() {
		return idemEntry{}, false, nil
	}
	return idemEntry{part: int32(be.Uint32(v)), offset: int64(be.Uint64(v[4:]))}, true, nil
}
