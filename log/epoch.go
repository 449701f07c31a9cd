package log

import (
	"errors"
	"fmt"

	"github.com/linxGnu/grocksdb"
)

// Leader epochs, as Kafka's LeaderEpochFileCache: each partition has a
// current leader epoch (stamped on the batches it appends) and a durable
// cache of (epoch, start offset) entries, one per epoch that wrote into the
// log, in increasing epoch and offset order. A partition that never had a
// leader change (every single-node partition, every old data dir) has an
// empty cache and behaves as one epoch 0 starting at the log start.

// ErrFencedEpoch is returned for a leader epoch older than the one the
// partition already has (a stale leader or a stale controller), as Kafka's
// FENCED_LEADER_EPOCH.
var ErrFencedEpoch = errors.New("leader epoch is older than the partition's")

// epochEntry is one entry of the epoch cache: epoch started at start.
type epochEntry struct {
	epoch int32
	start int64
}

func epochKey(tid uint32, part int32, epoch int32) []byte {
	return be.AppendUint32(partPrefix(kindEpoch, tid, part), uint32(epoch))
}

// latestEpoch is the last entry's epoch, 0 for an empty cache (the implicit
// epoch 0 of a partition that never changed leader).
func latestEpoch(es []epochEntry) int32 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].epoch
}

// assignEpoch is Kafka's LeaderEpochFileCache.assign: it returns es with
// (epoch, start) appended, after removing from the end the entries it would
// make non-monotonic (an epoch at or above it, or a start at or after its
// start: a leader that wrote nothing in its epoch). es is not modified. An
// empty cache over a non-empty log first gets the implicit epoch 0 of that
// data (logStart < start), so that the cache describes every batch.
func assignEpoch(es []epochEntry, epoch int32, start, logStart int64) []epochEntry {
	out := make([]epochEntry, 0, len(es)+2)
	if len(es) == 0 && epoch > 0 && logStart < start {
		out = append(out, epochEntry{0, logStart})
	}
	out = append(out, es...)
	for len(out) > 0 {
		last := out[len(out)-1]
		if last.epoch < epoch && last.start < start {
			break
		}
		out = out[:len(out)-1]
	}
	return append(out, epochEntry{epoch, start})
}

// truncateEpochsFromEnd removes the entries starting at or after end
// (Kafka's truncateFromEnd), returning es itself when none does.
func truncateEpochsFromEnd(es []epochEntry, end int64) []epochEntry {
	n := len(es)
	for n > 0 && es[n-1].start >= end {
		n--
	}
	if n == len(es) {
		return es
	}
	return append([]epochEntry(nil), es[:n]...)
}

// truncateEpochsFromStart drops the entries wholly below start and moves the
// one covering it to start (Kafka's truncateFromStart), returning es itself
// when nothing changes.
func truncateEpochsFromStart(es []epochEntry, start int64) []epochEntry {
	i := 0
	for i < len(es) && es[i].start <= start {
		i++
	}
	if i == 0 || (i == 1 && es[0].start == start) {
		return es
	}
	out := make([]epochEntry, 0, len(es)-i+1)
	out = append(out, epochEntry{es[i-1].epoch, start})
	return append(out, es[i:]...)
}

// endOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor: the largest
// epoch <= requested and the offset where it ended (the start of the first
// later epoch, or leo for the latest one); (-1, -1) when requested is
// undefined or above every known epoch. An empty cache is one epoch 0.
func endOffsetFor(es []epochEntry, requested int32, leo int64) (int32, int64) {
	if requested < 0 {
		return -1, -1
	}
	if requested == latestEpoch(es) {
		return requested, leo
	}
	// First entry above requested.
	hi := -1
	for i, e := range es {
		if e.epoch > requested {
			hi = i
			break
		}
	}
	if hi < 0 {
		return -1, -1
	}
	if hi == 0 {
		// Below every known epoch: its data is gone; the follower goes
		// from the first known epoch's start (Kafka says the same).
		return requested, es[0].start
	}
	return es[hi-1].epoch, es[hi].start
}

// stagedEpochs returns p's epoch cache as staged in the round.
func (r *round) stagedEpochs(p *partition, st *pstate) []epochEntry {
	if st.epochsSet {
		return st.epochs
	}
	return p.epochCache()
}

// setEpochs stages p's epoch cache as es: the keys of entries that changed
// are written in the round, and the cache is published when it commits.
func (r *round) setEpochs(p *partition, st *pstate, es []epochEntry) {
	old := r.stagedEpochs(p, st)
	keep := make(map[int32]int64, len(es))
	for _, e := range es {
		keep[e.epoch] = e.start
	}
	for _, e := range old {
		if _, ok := keep[e.epoch]; !ok {
			r.wb.Delete(epochKey(p.tid, p.id, e.epoch))
		}
	}
	prev := make(map[int32]int64, len(old))
	for _, e := range old {
		prev[e.epoch] = e.start
	}
	for _, e := range es {
		if s, ok := prev[e.epoch]; !ok || s != e.start {
			r.wb.Put(epochKey(p.tid, p.id, e.epoch), be.AppendUint64(make([]byte, 0, 8), uint64(e.start)))
		}
	}
	st.epochs, st.epochsSet = es, true
}

// epochCache returns the committed epoch cache (never modified in place).
func (p *partition) epochCache() []epochEntry {
	if es := p.epochs.Load(); es != nil {
		return *es
	}
	return nil
}

// loadEpochs reads a partition's epoch cache ('L' keys, in epoch order)
// with Open's iterator (one seek per partition; none is there on a single
// node).
func loadEpochs(pt *partition, it *grocksdb.Iterator) error {
	prefix := partPrefix(kindEpoch, pt.tid, pt.id)
	var es []epochEntry
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		k, v := it.Key().Data(), it.Value().Data()
		if len(k) != len(prefix)+4 || len(v) != 8 {
			return fmt.Errorf("read leader epochs %d/%d: bad entry", pt.tid, pt.id)
		}
		es = append(es, epochEntry{epoch: int32(be.Uint32(k[len(prefix):])), start: int64(be.Uint64(v))})
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read leader epochs %d/%d: %w", pt.tid, pt.id, err)
	}
	if len(es) > 0 {
		pt.epochs.Store(&es)
		pt.epoch.Store(max(0, latestEpoch(es)))
	}
	return nil
}

// BecomeLeader makes epoch the partition's current leader epoch: appends
// stamp it from now on, and when it is newer than the cache's latest entry
// the cache records (epoch, log end offset), durably, before it returns
// (Kafka's assign on becoming leader). The same epoch again changes nothing;
// an older one is ErrFencedEpoch.
func (l *Log) BecomeLeader(topic string, part int32, epoch int32) error {
	p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	op := &leaderOp{p: p, epoch: epoch, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return err
	}
	<-op.done
	if op.err != nil {
		return fmt.Errorf("%s/%d become leader: %w", topic, part, op.err)
	}
	p.follower.Store(false)
	return nil
}

type leaderOp struct {
	p     *partition
	epoch int32
	err   error
	done  chan struct{}
}

func (op *leaderOp) size() int { return 0 }
func (op *leaderOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

func (op *leaderOp) stage(r *round) {
	p := op.p
	if r.isDeleted(p) {
		op.err = ErrUnknownTopic
		return
	}
	st := r.state(p)
	if op.epoch < st.epoch {
		op.err = fmt.Errorf("%w: epoch %d, current %d", ErrFencedEpoch, op.epoch, st.epoch)
		return
	}
	es := r.stagedEpochs(p, st)
	if op.epoch > latestEpoch(es) {
		r.setEpochs(p, st, assignEpoch(es, op.epoch, st.next, st.logStart))
	}
	st.epoch = op.epoch
}

// LeaderEpochOf returns a partition's current leader epoch: 0 on a single
// node, else the last one BecomeLeader set or the log holds.
func (l *Log) LeaderEpochOf(topic string, part int32) (int32, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	return p.epoch.Load(), nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor: for the latest epoch (epoch, log end
// offset); for an older one the largest known epoch <= it and the start of
// the first epoch above it; (-1, -1) for an undefined epoch or one above
// every known epoch. A partition that never changed leader is one epoch 0.
func (l *Log) EndOffsetForEpoch(topic string, part int32, epoch int32) (int32, int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return -1, -1, err
	}
	e, off := endOffsetFor(p.epochCache(), epoch, p.leo.Load())
	return e, off, nil
}

// LeaderEpochs returns a partition's epoch cache as (epoch, start offset)
// pairs, oldest first (for tests and diagnostics).
func (l *Log) LeaderEpochs(topic string, part int32) ([][2]int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	var out [][2]int64
	for _, e := range p.epochCache() {
		out = append(out, [2]int64{int64(e.epoch), e.start})
	}
	return out, nil
}
