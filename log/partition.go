package log

import (
	"sync"
	"sync/atomic"

	"github.com/zombi-dev/zombi/log/batch"
)

// partition is the in-memory state of one partition. Fields marked "writer"
// are touched only by the writer goroutine; the rest are safe to read anywhere.
type partition struct {
	tid uint32
	id  int32

	next      int64                    // writer: next offset to assign
	maxTs     int64                    // writer: running max timestamp (time index)
	sinceIdx  int64                    // writer: batch bytes since the last time index entry
	sinceCkpt int64                    // writer: batch bytes since the state key was written
	producers map[int64]*producerState // writer: idempotent producers seen
	// writer: producers whose state is newer than their 'S' key; the batches
	// after the checkpoint hold it, and Open replays them.
	dirtyProducers map[int64]bool
	// writer: open transactions by producer id (never evicted: each one
	// holds the last stable offset back until its marker).
	txns    map[int64]openTxn
	deleted bool // writer: topic deleted

	hwm      atomic.Int64 // high watermark: offsets below are durable and readable
	leo      atomic.Int64 // log end offset: offsets below are durable (== hwm unless replicated)
	lso      atomic.Int64 // last stable offset: <= hwm once hwm is published
	logStart atomic.Int64
	appended atomic.Int64 // batch bytes appended since Open
	records  atomic.Int64 // records (offsets) appended since Open, for zombi_records_in_total
	maxTsPub atomic.Int64 // maxTs as of hwm

	epoch  atomic.Int32                 // current leader epoch, stamped on appends
	epochs atomic.Pointer[[]epochEntry] // epoch cache, replaced (never modified) by the writer

	mu         sync.Mutex
	notify     chan struct{} // closed when hwm or leo moves
	replicated bool          // mu: the hwm moves by AdvanceHighWatermark only
	// follower fences local writes (Append, EndTxn): another node leads
	// (cluster mode; SetClusterMode, BecomeFollower, BecomeLeader).
	follower atomic.Bool
}

func newPartition(tid uint32, id int32) *partition {
	p := &partition{tid: tid, id: id, maxTs: -1 << 63, sinceIdx: timeIndexInterval, producers: map[int64]*producerState{}, dirtyProducers: map[int64]bool{}, txns: map[int64]openTxn{}, notify: make(chan struct{})}
	p.maxTsPub.Store(p.maxTs)
	return p
}

// openTxn is a transaction open in a partition.
type openTxn struct {
	epoch int16
	first int64
}

// stableFrom returns the last stable offset given the open transactions and
// the next offset.
func stableFrom(txns map[int64]openTxn, next int64) int64 {
	lso := next
	for _, t := range txns {
		lso = min(lso, t.first)
	}
	return lso
}

// stable returns the last stable offset as readers may use it.
func (p *partition) stable() (lso, hwm int64) {
	hwm = p.hwm.Load()
	return min(p.lso.Load(), hwm), hwm
}

// publish makes offsets below leo durable, and visible unless the partition
// is replicated (then the hwm moves by AdvanceHighWatermark), and wakes
// waiters. The last stable offset is stored first: a reader loads hwm, then
// lso, and takes the smaller, so it never sees an lso past what it may read.
func (p *partition) publish(leo, lso int64) {
	p.lso.Store(lso)
	p.mu.Lock()
	p.leo.Store(leo)
	if !p.replicated {
		p.hwm.Store(leo)
	}
	p.wakeLocked()
	p.mu.Unlock()
}

// publishTruncated publishes a log end that moved down: the hwm follows it
// down (a follower truncating below its hwm after an unclean election or a
// fenced leader), and so does the last stable offset.
func (p *partition) publishTruncated(leo, lso int64) {
	p.mu.Lock()
	p.leo.Store(leo)
	if !p.replicated || p.hwm.Load() > leo {
		p.hwm.Store(leo)
	}
	p.lso.Store(lso)
	p.wakeLocked()
	p.mu.Unlock()
}

// wakeLocked wakes the watchers; p.mu is held.
func (p *partition) wakeLocked() {
	close(p.notify)
	p.notify = make(chan struct{})
}

func (p *partition) watch() (<-chan struct{}, int64) {
	p.mu.Lock()
	ch := p.notify
	p.mu.Unlock()
	return ch, p.hwm.Load()
}

// maxCachedProducers bounds the in-memory producer states per partition; the
// rest stay in RocksDB and are read back on demand.
const maxCachedProducers = 1024

// maxDirtyProducers forces a checkpoint once this many producers have state
// newer than their 'S' key, so that clean ones remain to evict.
const maxDirtyProducers = maxCachedProducers / 2

// cacheProducer remembers a producer's state, evicting an arbitrary clean
// one when the cache is full. A dirty state (newer than its 'S' key) stays
// until the next checkpoint writes it.
func (p *partition) cacheProducer(pid int64, s *producerState, dirty bool) {
	if _, ok := p.producers[pid]; !ok && len(p.producers) >= maxCachedProducers {
		for k := range p.producers {
			if !p.dirtyProducers[k] {
				delete(p.producers, k)
				break
			}
		}
	}
	p.producers[pid] = s
	if dirty {
		p.dirtyProducers[pid] = true
	}
}

// producerState is what Kafka keeps per idempotent producer and partition:
// the epoch and the last few batches, so a retried batch is recognised.
type producerState struct {
	Epoch   int16
	Batches []producerBatch // oldest first, at most maxProducerBatches
	// CoordEpoch is the coordinator epoch of the producer's last marker
	// here (Kafka's ProducerStateEntry.coordinatorEpoch; 0 when none, as
	// epochs start at 0): WriteMarker fences a lower one.
	CoordEpoch int32
}

type producerBatch struct {
	FirstSeq, LastSeq int32
	BaseOffset        int64
	LastOffsetDelta   int32
}

// maxProducerBatches mirrors Kafka's limit of five in-flight requests per
// idempotent producer connection.
const maxProducerBatches = 5

// withBatch returns the state after an accepted batch stored at base; s may
// be nil.
func (s *producerState) withBatch(h batch.Header, base int64) *producerState {
	n := &producerState{Epoch: h.ProducerEpoch, Batches: make([]producerBatch, 0, maxProducerBatches+1)}
	if s != nil {
		n.CoordEpoch = s.CoordEpoch
		if s.Epoch == h.ProducerEpoch {
			n.Batches = append(n.Batches, s.Batches...)
		}
	}
	n.Batches = append(n.Batches, producerBatch{
		FirstSeq: h.BaseSequence, LastSeq: seqAdd(h.BaseSequence, h.LastOffsetDelta), BaseOffset: base, LastOffsetDelta: h.LastOffsetDelta,
	})
	if k := len(n.Batches); k > maxProducerBatches {
		n.Batches = n.Batches[k-maxProducerBatches:]
	}
	return n
}

func (s *producerState) encode() []byte {
	b := make([]byte, 0, 3+len(s.Batches)*20)
	b = be.AppendUint16(b, uint16(s.Epoch))
	b = append(b, byte(len(s.Batches)))
	for _, pb := range s.Batches {
		b = be.AppendUint32(b, uint32(pb.FirstSeq))
		b = be.AppendUint32(b, uint32(pb.LastSeq))
		b = be.AppendUint64(b, uint64(pb.BaseOffset))
		b = be.AppendUint32(b, uint32(pb.LastOffsetDelta))
	}
	if s.CoordEpoch != 0 {
		// Only then: the 'S' keys of a producer without markers stay
		// as older versions wrote them.
		b = be.AppendUint32(b, uint32(s.CoordEpoch))
	}
	return b
}

func decodeProducerState(b []byte) (*producerState, bool) {
	if len(b) < 3 {
		return nil, false
	}
	s := &producerState{Epoch: int16(be.Uint16(b))}
	n := int(b[2])
	b = b[3:]
	switch len(b) {
	case n * 20:
	case n*20 + 4: // the coordinator epoch
		s.CoordEpoch = int32(be.Uint32(b[n*20:]))
	default:
		return nil, false
	}
	for i := 0; i < n; i++ {
		s.Batches = append(s.Batches, producerBatch{
			FirstSeq:        int32(be.Uint32(b)),
			LastSeq:         int32(be.Uint32(b[4:])),
			BaseOffset:      int64(be.Uint64(b[8:])),
			LastOffsetDelta: int32(be.Uint32(b[16:])),
		})
		b = b[20:]
	}
	return s, true
}
