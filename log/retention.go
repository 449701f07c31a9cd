package log

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zombi-dev/zombi/log/batch"
)

// retentionLoop applies retention.ms and retention.bytes to the hot log
// every RetentionInterval (Kafka's log.retention.check.interval.ms).
func (l *Log) retentionLoop() {
	t := time.NewTicker(l.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if err := l.ApplyRetention(context.Background(), time.Now()); err != nil && !errors.Is(err, ErrClosed) {
			l.logger.Warn("apply retention", "err", err)
		}
	}
}

// ApplyRetention moves the log start of every partition whose topic has a
// retention.ms or retention.bytes (override or broker value) past the
// leading whole batches Kafka would delete: those whose newest record is
// older than now - retention.ms, and those that keep the partition above
// retention.bytes. Offsets are never reused; the next append continues at
// the high watermark even when every batch went.
//
// With a cold tier installed the pass does nothing: the tier applies the
// same configs to the whole partition (its segments, in offset order, then
// the hot start), and a hot pass alone could move the hot start past cold
// segments that are not expired (timestamps need not grow with offsets).
func (l *Log) ApplyRetention(ctx context.Context, now time.Time) error {
	if l.coldTier() != nil {
		return nil
	}
	type target struct {
		name string
		ms   int64
		b    int64
		ps   []*partition
	}
	l.mu.RLock()
	var ts []target
	for name, t := range l.topics {
		e := t.info.eff
		if (e.RetentionMs < 0 && e.RetentionBytes < 0) || IsInternalTopic(name) {
			continue // internal topics are compacted, as Kafka's: never trimmed by time or size
		}
		ts = append(ts, target{name, e.RetentionMs, e.RetentionBytes, t.parts})
	}
	l.mu.RUnlock()
	var errs []error
	for _, t := range ts {
		for _, p := range t.ps {
			if err := ctx.Err(); err != nil {
				return err
			}
			to, err := l.retentionPoint(p, now, t.ms, t.b)
			if err == nil && to > p.logStart.Load() {
				var start int64
				start, err = l.trimPartition(ctx, p, to)
				if err == nil {
					l.logger.Info("retention: log start moved", "topic", t.name, "partition", p.id, "log_start", start)
				}
			}
			if err != nil && !errors.Is(err, ErrUnknownTopic) {
				errs = append(errs, fmt.Errorf("%s/%d: %w", t.name, p.id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// retentionPoint is the offset the partition's log start may move to: the
// base of the first batch that neither retention.ms (ms, -1: none) nor
// retention.bytes (b, -1: none) deletes, or the high watermark.
func (l *Log) retentionPoint(p *partition, now time.Time, ms, b int64) (int64, error) {
	hwm, start := p.hwm.Load(), p.logStart.Load()
	if hwm <= start {
		return start, nil
	}
	to := start
	if ms >= 0 {
		off, err := l.timeIndexLookup(p, now.UnixMilli()-ms)
		if err != nil {
			return start, err
		}
		if off < 0 {
			off = hwm // every batch is older
		}
		to = max(to, off)
	}
	if b >= 0 {
		off, err := l.sizePoint(p, start, hwm, b)
		if err != nil {
			return start, err
		}
		to = max(to, off)
	}
	return to, nil
}

// sizePoint is where the log starts after deleting the leading batches of
// [start, hwm) as Kafka deletes segments for retention.bytes: while the
// size left without the next one is still at least limit.
func (l *Log) sizePoint(p *partition, start, hwm, limit int64) (int64, error) {
	if err := l.enter(); err != nil {
		return start, err
	}
	defer l.closeMu.RUnlock()
	var total int64
	err := l.scanHeaders(p, start, hwm, func(_ batch.Header, v []byte) bool {
		total += int64(len(v))
		return true
	})
	if err != nil || total <= limit {
		return start, err
	}
	diff, to := total-limit, start
	err = l.scanHeaders(p, start, hwm, func(h batch.Header, v []byte) bool {
		if diff-int64(len(v)) < 0 {
			return false
		}
		diff -= int64(len(v))
		to = h.LastOffset() + 1
		return true
	})
	return to, err
}
