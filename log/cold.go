package log

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ColdTier is the cold store below the hot log (tiering/ implements it over
// S3). With one set, reads below the hot log start are served from it, so
// both front doors span the tiers without knowing about them.
type ColdTier interface {
	// Bounds returns the cold range [start, end) of a partition; ok is false
	// when the cold tier holds nothing for it.
	Bounds(topic string, part int32) (start, end int64, ok bool)
	// Read returns whole batches starting with the one that holds offset,
	// up to maxBytes (at least one batch), never past the cold end.
	Read(ctx context.Context, topic string, part int32, offset int64, maxBytes int) ([]Batch, error)
	// StartForTimestamp returns the base offset of the first cold batch whose
	// records may have timestamp >= ts, or ok false when no cold batch has.
	StartForTimestamp(ctx context.Context, topic string, part int32, ts int64) (offset int64, ok bool, err error)
}

// ErrColdUnavailable wraps cold-tier read failures: retriable, and never
// answered with wrong data.
var ErrColdUnavailable = errors.New("cold tier unavailable")

// ErrHotTierFull is returned by Append while the append gate refuses writes
// (too much data not yet flushed to the cold tier).
var ErrHotTierFull = errors.New("hot tier full: too much data not yet flushed to the cold tier")

// coldReadTimeout bounds one cold read.
const coldReadTimeout = 30 * time.Second

type coldHolder struct{ c ColdTier }
type gateHolder struct {
	f func(topic string, part int32) error
}

// SetColdTier installs the cold tier; call it before serving reads.
func (l *Log) SetColdTier(c ColdTier) { l.cold.Store(&coldHolder{c}) }

// SetAppendGate installs a check run before every append; an error refuses
// the append (wrap ErrHotTierFull).
func (l *Log) SetAppendGate(f func(topic string, part int32) error) {
	l.gate.Store(&gateHolder{f})
}

func (l *Log) coldTier() ColdTier {
	if h := l.cold.Load(); h != nil {
		return h.c
	}
	return nil
}

// earliest is the first readable offset across both tiers, given the hot
// log start: the cold start when the cold range reaches the hot one.
func (l *Log) earliest(topic string, part int32, hotStart int64) int64 {
	if c := l.coldTier(); c != nil {
		if start, end, ok := c.Bounds(topic, part); ok && start < hotStart && end >= hotStart {
			return start
		}
	}
	return hotStart
}

// HotStart is the first offset of a partition still in the hot tier: reads
// from it on never touch the cold tier.
func (l *Log) HotStart(topic string, part int32) (int64, error) {
	p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	return p.logStart.Load(), nil
}

// ColdBounds is a partition's cold range [start, end) as the cold tier knows
// it in memory; ok is false without a cold tier or cold data.
func (l *Log) ColdBounds(topic string, part int32) (start, end int64, ok bool) {
	if c := l.coldTier(); c != nil {
		return c.Bounds(topic, part)
	}
	return 0, 0, false
}

// readCold serves an offset below the hot log start from the cold tier.
func (l *Log) readCold(topic string, part int32, offset int64, maxBytes int, res ReadResult) (ReadResult, bool, error) {
	c := l.coldTier()
	if c == nil {
		return res, false, nil
	}
	start, end, ok := c.Bounds(topic, part)
	if !ok || offset < start || offset >= end || end < res.LogStartOffset {
		return res, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldReadTimeout)
	defer cancel()
	bs, err := c.Read(ctx, topic, part, offset, maxBytes)
	if err != nil {
		return res, true, fmt.Errorf("%w: %s/%d at %d: %w", ErrColdUnavailable, topic, part, offset, err)
	}
	res.Batches = bs
	res.LogStartOffset = start
	return res, true, nil
}

// ResetEmpty moves an empty partition (nothing in the hot log) to start at
// offset: used when a node with an empty disk rebuilds from the cold tier,
// so new offsets continue after the last cold one (INV-1).
func (l *Log) ResetEmpty(topic string, part int32, offset int64) error {
	p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: %d", ErrInvalidOffset, offset)
	}
	op := &resetOp{p: p, offset: offset, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return err
	}
	<-op.done
	return op.err
}

type resetOp struct {
	p      *partition
	offset int64
	err    error
	done   chan struct{}
}

func (op *resetOp) size() int { return 0 }
func (op *resetOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}
func (op *resetOp) stage(r *round) {
	st := r.state(op.p)
	if st.next > op.offset {
		op.err = fmt.Errorf("%w: partition already at %d, cannot reset to %d", ErrInvalidOffset, st.next, op.offset)
		return
	}
	st.next, st.logStart = op.offset, op.offset
	st.dirty = true
	if es := r.stagedEpochs(op.p, st); len(es) > 0 {
		r.setEpochs(op.p, st, truncateEpochsFromStart(es, op.offset))
	}
}
