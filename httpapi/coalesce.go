package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// The coalescer turns concurrent single-event POSTs into one log Append:
// one batch per (table, partition) plus one batch per record that carries an
// idempotency key (the log dedupes per batch). One write is in flight at a
// time; writes that arrive meanwhile queue and go together next.
//
// Why: every log Append round costs an fsync, and on a small VM an fsync
// costs tens of microseconds of CPU besides its latency. Left alone, HTTP
// requests reach the log a few at a time, so rounds stay small and fsyncs
// dominate the CPU per request. After a write, the coalescer waits (at most
// lingerMax) until 3/4 as many writes are queued as went in the previous
// one: under steady load the writes stay large (BenchmarkPostSingle: about 25
// events per Append with 64 clients, against about 12 without waiting); a
// lone client never waits (3/4 of 1 is 0); when load falls, each write's
// target shrinks by a quarter. The 3/4 (rather than all) lets the next group
// fill while one is being written.

const (
	lingerMax  = 500 * time.Microsecond
	maxPending = 4096 // events per coalesced write
	// maxCoalesceBytes bounds the payload of one coalesced write, so that
	// stored batches stay of a size Kafka consumers fetch comfortably.
	maxCoalesceBytes = 1 << 20
)

type pendingWrite struct {
	table   string
	part    int32
	ev      *event
	res     plog.AppendResult
	done    chan struct{} // closed when res is set or when this write leads
	leading bool
}

type coalescer struct {
	log    *plog.Log
	mu     sync.Mutex
	queue  []*pendingWrite
	busy   bool          // a leader is collecting or writing
	target int           // queue length the leader waits for
	wake   chan struct{} // signalled when the queue reaches target

	appends, events atomic.Int64 // totals, for benchmarks
}

func newCoalescer(l *plog.Log) *coalescer {
	return &coalescer{log: l, wake: make(chan struct{}, 1)}
}

var pendingPool = sync.Pool{New: func() any { return &pendingWrite{done: make(chan struct{}, 1)} }}

// write appends ev (partition chosen, timestamp set) and returns the result.
func (co *coalescer) write(table string, part int32, ev *event) plog.AppendResult {
	pw := pendingPool.Get().(*pendingWrite)
	pw.table, pw.part, pw.ev, pw.leading = table, part, ev, false
	co.mu.Lock()
	co.queue = append(co.queue, pw)
	if co.busy {
		if len(co.queue) == co.target {
			select {
			case co.wake <- struct{}{}:
			default:
			}
		}
		co.mu.Unlock()
		<-pw.done
	} else {
		co.busy = true
		co.mu.Unlock()
		pw.leading = true
	}
	if pw.leading {
		co.lead()
		<-pw.done
	}
	res := pw.res
	pw.ev, pw.res = nil, plog.AppendResult{}
	pendingPool.Put(pw)
	return res
}

// lead waits for the target, writes what is queued, and hands leadership to
// the first write queued meanwhile (or ends it).
func (co *coalescer) lead() {
	co.mu.Lock()
	if len(co.queue) < co.target {
		co.mu.Unlock()
		t := time.NewTimer(lingerMax)
		select {
		case <-co.wake:
		case <-t.C:
		}
		t.Stop()
		co.mu.Lock()
	}
	// Drop a stale wake-up meant for this round.
	select {
	case <-co.wake:
	default:
	}
	n, size := 0, 0
	for n < len(co.queue) && n < maxPending && (n == 0 || size < maxCoalesceBytes) {
		ev := co.queue[n].ev
		size += len(ev.value) + len(ev.key) + 32
		for _, h := range ev.headers {
			size += len(h.Key) + len(h.Value)
		}
		n++
	}
	batch := make([]*pendingWrite, n)
	copy(batch, co.queue)
	rest := copy(co.queue, co.queue[n:])
	clear(co.queue[rest:])
	co.queue = co.queue[:rest]
	co.target = n * 3 / 4
	co.mu.Unlock()

	co.appends.Add(1)
	co.events.Add(int64(len(batch)))
	co.flush(batch)

	co.mu.Lock()
	if len(co.queue) > 0 {
		next := co.queue[0]
		next.leading = true
		co.mu.Unlock()
		next.done <- struct{}{}
	} else {
		co.busy = false
		co.mu.Unlock()
	}
	for _, pw := range batch {
		pw.done <- struct{}{}
	}
}

// flush appends the writes in one log Append and sets their results.
func (co *coalescer) flush(ws []*pendingWrite) {
	type key struct {
		table string
		part  int32
	}
	var reqs []plog.AppendRequest
	var groups [][]*event
	pos := make([]int32, len(ws)) // position in its batch
	idx := make([]int, len(ws))   // index of its request
	shared := map[key]int{}
	for i, pw := range ws {
		if pw.ev.idemKey != "" {
			idx[i] = len(reqs)
			reqs = append(reqs, plog.AppendRequest{Topic: pw.table, Partition: pw.part, IdempotencyKey: pw.ev.idemKey})
			groups = append(groups, []*event{pw.ev})
			continue
		}
		k := key{pw.table, pw.part}
		ri, ok := shared[k]
		if !ok {
			ri = len(reqs)
			shared[k] = ri
			reqs = append(reqs, plog.AppendRequest{Topic: pw.table, Partition: pw.part})
			groups = append(groups, nil)
		}
		idx[i], pos[i] = ri, int32(len(groups[ri]))
		groups[ri] = append(groups[ri], pw.ev)
	}
	for i := range reqs {
		reqs[i].Batch = buildBatch(groups[i], 0)
	}
	// One request's cancellation must not fail the others' writes.
	res := co.log.Append(context.Background(), reqs)
	for i, pw := range ws {
		r := res[idx[i]]
		if r.Err == nil && !r.Duplicate {
			r.BaseOffset += int64(pos[i])
			r.LastOffset = r.BaseOffset
		}
		pw.res = r
	}
}
