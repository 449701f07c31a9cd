package log

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/linxGnu/grocksdb"
)

// The writer is the single goroutine that assigns offsets and writes to
// RocksDB. Every mutation of partition data goes through it, so offset
// assignment, idempotency checks and producer dedupe need no locks, and all
// operations waiting when a write starts share one WriteBatch and one fsync
// (group commit).

// writeOp is one unit of work for the writer.
type writeOp interface {
	// stage adds the op's mutations to the round.
	stage(r *round)
	// size is the op's approximate payload in bytes, to bound rounds.
	size() int
	// finish is called once the round is written (err nil) or failed.
	finish(err error)
}

const (
	maxRoundOps   = 4096
	maxRoundBytes = 32 << 20
	writerQueue   = 8192
)

type writer struct {
	l       *Log
	ch      chan writeOp
	pending atomic.Int64
	// barriers counts the barrier ops submitted and not yet committed: a
	// round holding one is split so that it commits alone.
	barriers atomic.Int64
	r        round
}

// barrierOp is a writeOp that must be staged alone in its round, after
// every op before it committed (a truncation reads RocksDB as committed).
type barrierOp interface{ barrier() }

// pstate is a partition's state as staged in the current round.
type pstate struct {
	next, maxTs, logStart int64
	appended              int64 // batch bytes appended in this round
	records               int64 // records (offsets) appended in this round
	sinceIdx, sinceCkpt   int64 // as in partition
	dirty                 bool  // logStart or next moved other than by an append
	ckpt                  bool  // this round writes the partition's checkpoint
	producers             int   // producers staged in this round
	epoch                 int32 // current leader epoch
	epochsSet             bool  // epochs is the staged epoch cache
	epochs                []epochEntry
}

type producerKey struct {
	p   *partition
	pid int64
}

type idemEntry struct {
	part   int32
	offset int64
}

// round is one group commit.
type round struct {
	l         *Log
	wb        *grocksdb.WriteBatch
	parts     map[*partition]*pstate
	order     []*partition
	producers map[producerKey]*producerState
	idem      map[string]idemEntry
	deleted   map[uint32]bool
	// txns holds the open transactions staged in this round: a nil value
	// is one a marker closed.
	txns map[producerKey]*openTxn
	// dropped holds producers a truncation forgot: no checkpoint writes
	// them, and they leave the partition's cache when the round commits.
	dropped map[producerKey]bool
	// truncated holds the partitions whose log end moved down this round.
	truncated map[*partition]bool
	now       int64
}

func newWriter(l *Log) *writer {
	w := &writer{l: l, ch: make(chan writeOp, writerQueue)}
	w.r = round{
		l:         l,
		wb:        grocksdb.NewWriteBatch(),
		parts:     map[*partition]*pstate{},
		producers: map[producerKey]*producerState{},
		idem:      map[string]idemEntry{},
		deleted:   map[uint32]bool{},
		txns:      map[producerKey]*openTxn{},
		dropped:   map[producerKey]bool{},
		truncated: map[*partition]bool{},
	}
	return w
}

// submit queues op; it fails only when the log is closed.
func (w *writer) submit(op writeOp) error {
	if w.l.closed.Load() {
		return ErrClosed
	}
	w.pending.Add(1)
	if w.l.closed.Load() {
		w.pending.Add(-1)
		return ErrClosed
	}
	w.ch <- op
	return nil
}

// runBarrier queues a barrier op (it commits alone) and waits until done
// is closed; it fails only when the log is closed. The op's own error is
// the caller's to read.
func (w *writer) runBarrier(op writeOp, done <-chan struct{}) error {
	w.barriers.Add(1)
	if err := w.submit(op); err != nil {
		w.barriers.Add(-1)
		return err
	}
	<-done
	return nil
}

func (w *writer) run() {
	defer w.r.wb.Destroy()
	ops := make([]writeOp, 0, 64)
	var lazyOps []writeOp
	for {
		var op writeOp
		select {
		case op = <-w.ch:
		case <-w.l.stop:
			// Finish what was submitted before Close; submit refuses the rest.
			if w.pending.Load() == 0 {
				return
			}
			op = <-w.ch
		}
		ops = append(ops[:0], op)
		bytes := op.size()
	drain:
		for len(ops) < maxRoundOps && bytes < maxRoundBytes {
			select {
			case op := <-w.ch:
				ops = append(ops, op)
				bytes += op.size()
			default:
				break drain
			}
		}
		w.pending.Add(-int64(len(ops)))
		if w.barriers.Load() > 0 {
			w.commitAroundBarriers(ops)
			continue
		}
		if lazy, rest := splitLazy(ops, lazyOps[:0]); len(lazy) > 0 && len(rest) > 0 {
			// Lazy ops first, in a write of their own without an fsync:
			// they need not wait for the round's, and the round's covers
			// them anyway.
			err := w.commit(lazy)
			for _, op := range lazy {
				op.finish(err)
			}
			lazyOps, ops = lazy, rest
		}
		err := w.commit(ops)
		for _, op := range ops {
			op.finish(err)
		}
	}
}

// commitAroundBarriers commits ops in order, each barrier op in a round of
// its own.
func (w *writer) commitAroundBarriers(ops []writeOp) {
	flush := func(seg []writeOp) {
		if len(seg) == 0 {
			return
		}
		err := w.commit(seg)
		for _, op := range seg {
			op.finish(err)
		}
	}
	from := 0
	for i, op := range ops {
		if _, ok := op.(barrierOp); ok {
			flush(ops[from:i])
			w.barriers.Add(-1)
			flush(ops[i : i+1])
			from = i + 1
		}
	}
	flush(ops[from:])
}

// splitLazy moves the lazy ops of ops into lazy and returns both; ops keeps
// the others, in order.
func splitLazy(ops, lazy []writeOp) ([]writeOp, []writeOp) {
	rest := ops[:0]
	for _, op := range ops {
		if l, ok := op.(lazyOp); ok && l.lazy() {
			lazy = append(lazy, op)
		} else {
			rest = append(rest, op)
		}
	}
	return lazy, rest
}

func (w *writer) commit(ops []writeOp) error {
	r := &w.r
	r.reset()
	for _, op := range ops {
		op.stage(r)
	}
	for _, p := range r.order {
		if r.deleted[p.tid] {
			continue
		}
		st := r.parts[p]
		if st.dirty || st.sinceCkpt >= stateCheckpointBytes || len(p.dirtyProducers)+st.producers >= maxDirtyProducers {
			r.wb.Put(partPrefix(kindPartition, p.tid, p.id), encodePartState(st))
			st.sinceCkpt, st.ckpt = 0, true
			for pid := range p.dirtyProducers {
				if _, staged := r.producers[producerKey{p, pid}]; !staged && !r.dropped[producerKey{p, pid}] {
					r.wb.Put(partKey(kindProducer, p.tid, p.id, uint64(pid)), p.producers[pid].encode())
				}
			}
		}
	}
	for pk, s := range r.producers {
		if r.parts[pk.p].ckpt && !r.deleted[pk.p.tid] {
			r.wb.Put(partKey(kindProducer, pk.p.tid, pk.p.id, uint64(pk.pid)), s.encode())
		}
	}
	if r.wb.Count() > 0 {
		wo := w.l.wo
		if allLazy(ops) {
			wo = w.l.woLazy
		}
		if err := w.l.db.Write(wo, r.wb); err != nil {
			if w.l.failures.Add(1) == 1 {
				w.l.logger.Error("write failed; /health reports unhealthy until a write succeeds", "err", err)
			}
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if w.l.failures.Swap(0) > 0 {
			w.l.logger.Info("writes succeed again")
		}
	}
	for _, p := range r.order {
		if r.parts[p].ckpt {
			clear(p.dirtyProducers)
		}
	}
	for pk := range r.dropped {
		delete(pk.p.producers, pk.pid)
		delete(pk.p.dirtyProducers, pk.pid)
	}
	for pk, st := range r.producers {
		pk.p.cacheProducer(pk.pid, st, !r.parts[pk.p].ckpt)
	}
	for pk, t := range r.txns {
		if t == nil {
			delete(pk.p.txns, pk.pid)
		} else {
			pk.p.txns[pk.pid] = *t
		}
	}
	var records int64
	for _, p := range r.order {
		st := r.parts[p]
		if r.deleted[p.tid] {
			p.deleted = true
			continue
		}
		p.next, p.maxTs = st.next, st.maxTs
		p.sinceIdx, p.sinceCkpt = st.sinceIdx, st.sinceCkpt
		p.maxTsPub.Store(st.maxTs)
		if st.appended > 0 {
			p.appended.Add(st.appended)
			if st.records > 0 {
				p.records.Add(st.records)
				records += st.records
			}
		}
		if st.logStart != p.logStart.Load() {
			p.logStart.Store(st.logStart)
		}
		if st.epochsSet {
			p.epochs.Store(&st.epochs)
		}
		if st.epoch != p.epoch.Load() {
			p.epoch.Store(st.epoch)
		}
		if r.truncated[p] {
			p.publishTruncated(st.next, stableFrom(p.txns, st.next))
		} else if lso := stableFrom(p.txns, st.next); st.next != p.leo.Load() || lso != p.lso.Load() {
			p.publish(st.next, lso)
		}
	}
	if records > 0 {
		commitRecords.Observe(float64(records))
	}
	return nil
}

// lazyOp is a writeOp that needs no fsync of its own (SetMetaLazy).
type lazyOp interface{ lazy() bool }

// allLazy reports whether a round may skip the fsync: every op in it is
// lazy. One op that is not makes the round synced, lazy ones included.
func allLazy(ops []writeOp) bool {
	for _, op := range ops {
		if l, ok := op.(lazyOp); !ok || !l.lazy() {
			return false
		}
	}
	return true
}

func (r *round) reset() {
	r.wb.Clear()
	clear(r.parts)
	r.order = r.order[:0]
	clear(r.producers)
	clear(r.idem)
	clear(r.deleted)
	clear(r.txns)
	clear(r.dropped)
	clear(r.truncated)
	r.now = time.Now().UnixMilli()
}

// state returns the staged state of p, starting from its committed state.
func (r *round) state(p *partition) *pstate {
	if st, ok := r.parts[p]; ok {
		return st
	}
	st := &pstate{next: p.next, maxTs: p.maxTs, logStart: p.logStart.Load(), sinceIdx: p.sinceIdx, sinceCkpt: p.sinceCkpt, epoch: p.epoch.Load()}
	r.parts[p] = st
	r.order = append(r.order, p)
	return st
}

func (r *round) isDeleted(p *partition) bool { return p.deleted || r.deleted[p.tid] }

// producer returns the staged state of an idempotent producer, or nil.
func (r *round) producer(p *partition, pid int64) (*producerState, error) {
	k := producerKey{p, pid}
	if s, ok := r.producers[k]; ok {
		return s, nil
	}
	if s, ok := p.producers[pid]; ok {
		return s, nil
	}
	s, err := r.l.storedProducer(p, pid)
	if err != nil || s == nil {
		return nil, err
	}
	p.cacheProducer(pid, s, false)
	return s, nil
}

// seqAdd adds to a producer sequence number, wrapping as Kafka does.
func seqAdd(seq, n int32) int32 {
	v := int64(seq) + int64(n)
	if v > math.MaxInt32 {
		v -= math.MaxInt32 + 1
	}
	return int32(v)
}

// storedProducer reads a producer's state as of the last checkpoint, or nil.
func (l *Log) storedProducer(p *partition, pid int64) (*producerState, error) {
	v, err := l.db.GetBytes(l.ro, partKey(kindProducer, p.tid, p.id, uint64(pid)))
	if err != nil {
		return nil, fmt.Errorf("%w: read producer state: %w", ErrStorage, err)
	}
	if v == nil {
		return nil, nil
	}
	s, ok := decodeProducerState(v)
	if !ok {
		return nil, nil
	}
	return s, nil
}
