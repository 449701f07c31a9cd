package log

import (
	"context"
	"fmt"

	"github.com/linxGnu/grocksdb"
	"github.com/zombi-dev/zombi/log/batch"
)

// Batch is one stored record batch.
type Batch struct {
	BaseOffset   int64
	LastOffset   int64
	MaxTimestamp int64
	Raw          []byte // the batch as stored, base offset set
}

// ReadResult is what Read returns.
type ReadResult struct {
	Batches        []Batch
	HighWatermark  int64
	LogStartOffset int64
	// LastStableOffset is the first offset of the oldest open transaction,
	// or HighWatermark when none is open.
	LastStableOffset int64
	// Aborted (ReadCommitted reads only): the aborted transactions whose
	// batches the result may hold, oldest marker first.
	Aborted []AbortedTxn
}

// Offsets returns a partition's log start offset (the earliest readable
// offset, cold tier included) and high watermark.
func (l *Log) Offsets(topic string, part int32) (logStart, hwm int64, err error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, 0, err
	}
	return l.earliest(topic, part, p.logStart.Load()), p.hwm.Load(), nil
}

// AppendedBytes is the number of record-batch bytes appended to a partition
// since the log was opened: a running count, so that the tiering gate knows
// how much arrived without reading it back.
func (l *Log) AppendedBytes(topic string, part int32) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	return p.appended.Load(), nil
}

// Watch returns the high watermark and a channel closed when it or the log
// end offset next moves, for long polling without sleeping.
func (l *Log) Watch(topic string, part int32) (<-chan struct{}, int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return nil, 0, err
	}
	ch, hwm := p.watch()
	return ch, hwm, nil
}

// WaitFor blocks until the high watermark passes offset, ctx ends, or the
// partition goes away; it returns the high watermark.
func (l *Log) WaitFor(ctx context.Context, topic string, part int32, offset int64) (int64, error) {
	for {
		ch, hwm, err := l.Watch(topic, part)
		if err != nil || hwm > offset {
			return hwm, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return hwm, ctx.Err()
		case <-l.stop:
			return hwm, ErrClosed
		}
	}
}

// Read returns the batches of a partition starting with the one that holds
// offset, up to maxBytes (at least one batch when any is there, as Kafka does
// so that a batch larger than maxBytes still makes progress). Reading at the
// high watermark returns no batches; below the log start or above the high
// watermark is ErrOffsetOutOfRange.
func (l *Log) Read(topic string, part int32, offset int64, maxBytes int) (ReadResult, error) {
	return l.read(topic, part, offset, maxBytes, ReadUncommitted)
}

func (l *Log) read(topic string, part int32, offset int64, maxBytes int, iso Isolation) (ReadResult, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return ReadResult{}, err
	}
	// A concurrent TrimBefore (the flusher after upload) can delete the hot
	// batches between the range check and the scan. readOnce then reads the
	// cold tier; without it (or with the offset not there) the data is gone,
	// and reading again reports the range once the new log start is out.
	for attempt := 0; ; attempt++ {
		res, trimmed, err := l.readOnce(p, topic, part, offset, maxBytes, iso)
		if !trimmed || attempt == 3 {
			if trimmed {
				err = fmt.Errorf("%w: %s/%d at %d: trimmed while reading", ErrOffsetOutOfRange, topic, part, offset)
			}
			if err == nil && iso == ReadCommitted && len(res.Batches) > 0 {
				res.Aborted, err = l.abortedTxns(p, topic, offset, res.Batches[len(res.Batches)-1].LastOffset+1)
			}
			return res, err
		}
	}
}

// testHookBeforeScan lets tests act between the range check and the scan.
var testHookBeforeScan func()

func (l *Log) readOnce(p *partition, topic string, part int32, offset int64, maxBytes int, iso Isolation) (res ReadResult, trimmed bool, err error) {
	lso, hwm := p.stable()
	lso = l.stableAtLeastStart(topic, p, lso)
	res = ReadResult{HighWatermark: hwm, LastStableOffset: lso, LogStartOffset: p.logStart.Load()}
	// limit: what this read may return (read_committed: below the LSO; a
	// batch never straddles it, which is a batch's base offset).
	limit, end := hwm, hwm
	switch iso {
	case ReadCommitted:
		limit = lso
	case readLogEnd:
		// Loaded after hwm: the log end is never below it.
		limit = p.leo.Load()
		end = limit
	}
	if offset < res.LogStartOffset {
		if res, ok, err := l.readCold(topic, part, offset, maxBytes, res); ok {
			if iso == ReadCommitted {
				res.Batches = below(res.Batches, limit)
			}
			return res, false, err
		}
	}
	res.LogStartOffset = l.earliest(topic, part, res.LogStartOffset)
	if offset < res.LogStartOffset || offset > end {
		return res, false, fmt.Errorf("%w: %d not in [%d, %d] of %s/%d", ErrOffsetOutOfRange, offset, res.LogStartOffset, end, topic, part)
	}
	if offset >= limit {
		return res, false, nil
	}
	if testHookBeforeScan != nil {
		testHookBeforeScan()
	}
	if err := l.enter(); err != nil {
		return res, false, err
	}
	defer l.closeMu.RUnlock()
	err = l.scan(p, offset, limit, func(b Batch) bool {
		if len(res.Batches) > 0 && maxBytes-len(b.Raw) < 0 {
			return false
		}
		maxBytes -= len(b.Raw)
		res.Batches = append(res.Batches, b)
		return maxBytes > 0
	})
	if _, compacted := LookupInternalTopic(topic); compacted {
		// Never trimmed under a reader, but compacted (compact.go): a
		// missing batch is a gap, and the next stored one is the answer.
		return res, false, err
	}
	if err == nil && (len(res.Batches) == 0 || res.Batches[0].BaseOffset > offset) {
		// The batches went between the range check and the scan: a trim has
		// committed. The writer publishes its new log start only after the
		// RocksDB write returns, and may be descheduled in between for as
		// long as the scheduler likes, so reading again is no answer on its
		// own. A tier trim only drops what the cold tier already holds: read
		// it there now.
		res.Batches = nil
		if cres, ok, err := l.readCold(topic, part, offset, maxBytes, res); ok {
			if iso == ReadCommitted {
				cres.Batches = below(cres.Batches, limit)
			}
			return cres, false, err
		}
		return res, true, nil
	}
	return res, false, err
}

// below returns the leading batches that start below limit.
func below(bs []Batch, limit int64) []Batch {
	for i, b := range bs {
		if b.BaseOffset >= limit {
			return bs[:i]
		}
	}
	return bs
}

// scan calls fn with copies of the batches from the one holding offset up to
// hwm, until fn returns false. Callers hold closeMu.
func (l *Log) scan(p *partition, offset, hwm int64, fn func(Batch) bool) error {
	return l.scanHeaders(p, offset, hwm, func(h batch.Header, v []byte) bool {
		return fn(Batch{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp, Raw: append([]byte(nil), v...)})
	})
}

// scanHeaders is scan without the copies: v is valid only during fn.
func (l *Log) scanHeaders(p *partition, offset, hwm int64, fn func(h batch.Header, v []byte) bool) error {
	prefix := partPrefix(kindBatch, p.tid, p.id)
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetIterateUpperBound(batchKey(p.tid, p.id, hwm))
	it := l.db.NewIterator(ro)
	defer it.Close()
	start := batchKey(p.tid, p.id, offset)
	it.SeekForPrev(start)
	if !it.ValidForPrefix(prefix) {
		it.Seek(start)
	}
	for ; it.ValidForPrefix(prefix); it.Next() {
		v := it.Value()
		h, err := batch.ReadHeader(v.Data())
		if err != nil {
			v.Free()
			return fmt.Errorf("%w: stored batch at %d: %w", ErrCorruptBatch, int64(be.Uint64(it.Key().Data()[9:])), err)
		}
		if h.LastOffset() < offset {
			v.Free()
			continue
		}
		more := fn(h, v.Data())
		v.Free()
		if !more {
			break
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%w: iterate: %w", ErrStorage, err)
	}
	return nil
}

// OffsetForTimestamp returns the first offset whose record timestamp is at or
// after ts, and that record's timestamp; offset -1 when there is none. The
// time index (running maximum timestamp per batch, in both tiers) finds the
// first batch without a scan; only from there are batches decoded.
func (l *Log) OffsetForTimestamp(topic string, part int32, ts int64) (int64, int64, error) {
	start, err := l.StartOffsetForTimestamp(topic, part, ts)
	if err != nil {
		return -1, -1, err
	}
	for {
		rr, err := l.Read(topic, part, start, 1<<20)
		if err != nil {
			return -1, -1, err
		}
		if len(rr.Batches) == 0 {
			return -1, -1, nil
		}
		for _, b := range rr.Batches {
			if b.MaxTimestamp >= ts {
				_, recs, err := batch.Records(b.Raw, 0)
				if err != nil {
					return -1, -1, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
				}
				for _, r := range recs {
					if r.Offset >= start && r.Timestamp >= ts {
						return r.Offset, r.Timestamp, nil
					}
				}
			}
			start = b.LastOffset + 1
		}
	}
}

// timeIndexLookup returns the base offset of the first batch whose running
// maximum timestamp reaches ts (clamped to the log start), or -1.
func (l *Log) timeIndexLookup(p *partition, ts int64) (int64, error) {
	if err := l.enter(); err != nil {
		return -1, err
	}
	defer l.closeMu.RUnlock()
	// hwm first: every batch below it counts in maxTsPub.
	hwm := p.hwm.Load()
	if ts > p.maxTsPub.Load() {
		return -1, nil
	}
	// The index is sparse: every batch up to the last entry below ts has a
	// running maximum below ts, so the answer is at or after that entry.
	from := p.logStart.Load()
	if k := tsKey(ts); k > 0 {
		prefix := partPrefix(kindTime, p.tid, p.id)
		it := l.db.NewIterator(l.ro)
		defer it.Close()
		it.SeekForPrev(partKey(kindTime, p.tid, p.id, k-1))
		if it.ValidForPrefix(prefix) {
			from = max(from, int64(be.Uint64(it.Value().Data())))
		} else if err := it.Err(); err != nil {
			return -1, fmt.Errorf("%w: time index: %w", ErrStorage, err)
		}
	}
	off := int64(-1)
	err := l.scanHeaders(p, from, hwm, func(h batch.Header, _ []byte) bool {
		if h.MaxTimestamp >= ts {
			off = max(h.BaseOffset, p.logStart.Load())
			return false
		}
		return true
	})
	if err != nil || off >= hwm {
		return -1, err
	}
	return off, nil
}

// StartOffsetForTimestamp returns the offset to start reading from to see
// every record with timestamp >= ts, without decoding: the base of the first
// batch whose running maximum reaches ts, or the high watermark if none does.
func (l *Log) StartOffsetForTimestamp(topic string, part int32, ts int64) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	if c := l.coldTier(); c != nil {
		if _, end, ok := c.Bounds(topic, part); ok && end >= p.logStart.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), coldReadTimeout)
			off, found, err := c.StartForTimestamp(ctx, topic, part, ts)
			cancel()
			if err != nil {
				return 0, fmt.Errorf("%w: %w", ErrColdUnavailable, err)
			}
			if found {
				return off, nil
			}
		}
	}
	off, err := l.timeIndexLookup(p, ts)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return p.hwm.Load(), nil
	}
	return off, nil
}
