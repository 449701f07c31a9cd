package httpapi

import (
	"cmp"
	"errors"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// The message browser's scan: one partScan per partition reads committed
// records forward (oldest, offset, time) or backward (newest) from its
// position, keeps the ones the filter matches, and a merge takes the next
// record across partitions by (timestamp, partition, offset), ascending
// forward, descending backward. A scan budget bounds each call; where it
// stops, the positions go into the next cursor.

const (
	// MaxScanRecords and MaxScanDuration are the scan budget of one call of
	// GET /tables/{t}/messages.
	MaxScanRecords  = 100_000
	MaxScanDuration = 2 * time.Second
	// scanChunkBytes is how much one log read fetches (at least a batch),
	// at most; a read over many partitions fetches less per partition
	// (scanMemory shared out), down to minScanChunk.
	scanChunkBytes = 64 << 10
	minScanChunk   = 4 << 10
	firstChunk     = 8 << 10
	// scanMemory is what one call's partitions may hold between them,
	// roughly: read chunks forward, matched records backward.
	scanMemory = 64 << 20
	// Backward windows: the offsets a partition reads at a time going
	// backward, from the first size of each call, doubling while windows
	// match nothing.
	firstWindow = 64
	maxWindow   = 4096
	// maxHeldBytes bounds the matched keys and values one partition holds
	// in a backward window (scanMemory shared out, down to minHeld); past
	// it the oldest are dropped (and read again by the next window).
	maxHeldBytes = 8 << 20
	minHeld      = 64 << 10
)

// scanShares returns the read chunk and the held bytes of each of n
// partitions read by one call.
func scanShares(n int) (chunk, held int) {
	n = max(n, 1)
	return min(max(scanMemory/n, minScanChunk), scanChunkBytes), min(max(scanMemory/n, minHeld), maxHeldBytes)
}

// scanBudget is what one call may still scan.
type scanBudget struct {
	scanned  int
	max      int
	deadline time.Time
	now      func() time.Time
}

// scanRecords is MaxScanRecords, a variable for tests.
var scanRecords = MaxScanRecords

func newScanBudget(now func() time.Time) *scanBudget {
	return &scanBudget{max: scanRecords, deadline: now().Add(MaxScanDuration), now: now}
}

func (b *scanBudget) spent() bool { return b.scanned >= b.max || !b.now().Before(b.deadline) }

// partScan reads one partition for the message browser.
type partScan struct {
	s        *server
	table    string
	part     int32
	f        *textFilter
	backward bool
	// pos: forward, the next offset to read; backward, the end (exclusive)
	// of what is left to read.
	pos int64
	// lo: backward, the partition's log start (nothing below).
	lo int64
	// buf: matched records not yet taken, in offset order; the head (next
	// to take) is buf[0] forward, buf[len-1] backward.
	buf []rec
	// done: forward, the last read reached the last stable offset (more
	// may come later); backward, nothing is left above lo.
	done   bool
	window int64
	// chunk and heldMax: this partition's share of the call's memory
	// (scanShares); next is the size of the next forward read, from
	// firstChunk doubling up to chunk (a page of 50 needs little of each
	// partition; a filtered scan soon reads whole chunks).
	chunk, heldMax, next int
	// warning is set when the cold tier was down and only the hot tier
	// was read.
	warning string
}

func (p *partScan) ready() bool { return len(p.buf) > 0 || p.done }

func (p *partScan) head() *rec {
	if p.backward {
		return &p.buf[len(p.buf)-1]
	}
	return &p.buf[0]
}

func (p *partScan) pop() rec {
	if p.backward {
		r := p.buf[len(p.buf)-1]
		p.buf = p.buf[:len(p.buf)-1]
		return r
	}
	r := p.buf[0]
	p.buf = p.buf[1:]
	return r
}

// position is where the next call continues: the head's place when a
// matched record waits, else where the scan got to.
func (p *partScan) position() int64 {
	if len(p.buf) == 0 {
		return p.pos
	}
	if p.backward {
		return p.head().r.Offset + 1
	}
	return p.head().r.Offset
}

// exhausted: nothing left to give in this direction now.
func (p *partScan) exhausted() bool { return p.done && len(p.buf) == 0 }

// fill reads until a matched record waits or the partition is done. It
// reads at least one chunk (forward) or window (backward) before looking
// at the budget, so that every call moves on; it returns false when the
// budget ran out first.
func (p *partScan) fill(b *scanBudget) (bool, error) {
	for first := true; !p.ready(); first = false {
		if !first && b.spent() {
			return false, nil
		}
		var err error
		if p.backward {
			err = p.readWindow(b)
		} else {
			err = p.readForward(b)
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// read is one committed read at offset, with the recoveries both
// directions share: a log start that moved past offset (trimmed) and a
// cold tier that is down (the hot tier is read instead). moved is the
// offset to read from instead, or -1.
func (p *partScan) read(offset int64, size int) (rr plog.ReadResult, moved int64, err error) {
	rr, err = p.s.log.ReadIsolated(p.table, p.part, offset, size, plog.ReadCommitted)
	switch {
	case errors.Is(err, plog.ErrOffsetOutOfRange) && rr.LogStartOffset > offset:
		return rr, rr.LogStartOffset, nil
	case errors.Is(err, plog.ErrColdUnavailable):
		hot, herr := p.s.log.HotStart(p.table, p.part)
		if herr != nil || hot <= offset {
			return rr, -1, err
		}
		p.warning = "cold tier unavailable, only the hot tier was read: " + err.Error()
		return rr, hot, nil
	}
	return rr, -1, err
}

// readForward reads one chunk from pos.
func (p *partScan) readForward(b *scanBudget) error {
	size := p.chunk
	if p.next < p.chunk {
		size = max(p.next, min(firstChunk, p.chunk))
		p.next = size * 2
	}
	rr, moved, err := p.read(p.pos, size)
	if err != nil {
		return err
	}
	if moved >= 0 {
		p.pos = moved
		return nil
	}
	if len(rr.Batches) == 0 {
		p.done = true // at the last stable offset
		return nil
	}
	for i, bt := range rr.Batches {
		if i > 0 && b.spent() {
			return nil // the budget is looked at per batch: a chunk can hold thousands
		}
		if err := p.take(rr, bt, b, p.pos, -1); err != nil {
			return err
		}
		p.pos = max(p.pos, bt.LastOffset+1)
	}
	if p.pos >= rr.LastStableOffset {
		p.done = true
	}
	return nil
}

// take decodes a batch and keeps its matched records in [from, to) (to < 0:
// no end), counting each record looked at.
func (p *partScan) take(rr plog.ReadResult, bt plog.Batch, b *scanBudget, from, to int64) error {
	if !rr.Keeps(bt) {
		return nil // a transaction marker or an aborted transaction's batch
	}
	_, recs, err := batch.Records(bt.Raw, 0)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Offset < from || (to >= 0 && r.Offset >= to) {
			continue
		}
		b.scanned++
		if p.f.matches(&r) {
			p.buf = append(p.buf, rec{part: p.part, r: r})
		}
	}
	return nil
}

// readWindow reads the window of offsets just below pos, keeps its matched
// records and moves pos to the window's start.
func (p *partScan) readWindow(b *scanBudget) error {
	if p.pos <= p.lo {
		p.done = true
		return nil
	}
	if p.window == 0 {
		p.window = firstWindow
	}
	start := max(p.lo, p.pos-p.window)
	held, dropped := 0, false
	for off := start; off < p.pos; {
		rr, moved, err := p.read(off, p.chunk)
		if err != nil {
			return err
		}
		if moved >= 0 {
			// The log start moved (trimmed, or the cold tier is down): what
			// is below it is out of reach; read the window again from it.
			p.lo, p.buf, held, dropped = moved, p.buf[:0], 0, false
			if p.pos <= p.lo {
				p.done = true
				return nil
			}
			start = max(p.lo, start)
			off = start
			continue
		}
		next := off
		for _, bt := range rr.Batches {
			if bt.BaseOffset >= p.pos {
				break
			}
			n := len(p.buf)
			if err := p.take(rr, bt, b, off, p.pos); err != nil {
				return err
			}
			for _, r := range p.buf[n:] {
				held += len(r.r.Key) + len(r.r.Value)
			}
			next = max(next, bt.LastOffset+1)
		}
		if next == off {
			break // nothing more below pos (the rest is above the last stable offset)
		}
		off = next
		// Hold at most heldMax: drop the oldest matches; the next
		// window ends where the kept ones begin and reads them again.
		for held > p.heldMax && len(p.buf) > 1 {
			held -= len(p.buf[0].r.Key) + len(p.buf[0].r.Value)
			p.buf = p.buf[1:]
			dropped = true
		}
	}
	p.pos = start
	if dropped {
		p.pos = p.buf[0].r.Offset
	}
	if len(p.buf) == 0 && p.window < maxWindow {
		p.window *= 2
	}
	if p.pos <= p.lo && len(p.buf) == 0 {
		p.done = true
	}
	return nil
}

// compareRecKey orders records by (timestamp, partition, offset).
func compareRecKey(a, b *rec) int {
	if c := cmp.Compare(a.r.Timestamp, b.r.Timestamp); c != 0 {
		return c
	}
	if c := cmp.Compare(a.part, b.part); c != 0 {
		return c
	}
	return cmp.Compare(a.r.Offset, b.r.Offset)
}
