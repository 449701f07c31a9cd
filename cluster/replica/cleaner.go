package replica

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// The log cleaner of the internal partitions (the coordinators' design,
// section 5): every replica compacts its own copy, as Kafka's cleaner
// does, on its own schedule. A pass reads the partition's batches below
// the high watermark this node may trust (the leader's, on a follower),
// selects (cleaner_select.go) and deletes whole batches below the view's
// applied offset, when they are more than half of the bytes.

// Cleaner defaults: Kafka's log.cleaner.backoff.ms is 15 s; a coordinator
// partition grows slowly, so a check every 5 minutes, at most one pass a
// minute per partition.
const (
	DefaultCleanerInterval    = 5 * time.Minute
	DefaultCleanerMinInterval = time.Minute
	// cleanerDirtyRatio is Kafka's min.cleanable.dirty.ratio of the
	// internal topics (0.5): a pass deletes when more than this share of
	// the bytes can go.
	cleanerDirtyRatio = 0.5
	cleanerReadBytes  = 1 << 20
)

// CleanResult is what one cleaner pass of a partition did.
type CleanResult struct {
	Deleted        int   // batches deleted (0: below the ratio, or nothing to do)
	DeletableBytes int64 // bytes the selection found deletable
	TotalBytes     int64 // bytes of the batches read
}

// cleanLog runs one pass over an internal partition of l: batches in
// [logStart, hwm) are read, those the selection picks below cleanEnd
// (markers: below markerEnd) go when they are more than ratio of the
// bytes. pending are the producers
// with transactional offsets awaiting their marker. lock, when not nil,
// is held around the deletion (the partition's logMu: no truncation
// between the check of the log end and the delete).
func cleanLog(l *plog.Log, topic string, part int32, cleanEnd, markerEnd, hwm int64, pending map[int64]bool, ratio float64, lock func() func()) (CleanResult, error) {
	logStart, _, err := l.Offsets(topic, part)
	if err != nil {
		return CleanResult{}, fmt.Errorf("offsets: %w", err)
	}
	leo, err := l.LogEndOffset(topic, part)
	if err != nil {
		return CleanResult{}, fmt.Errorf("log end: %w", err)
	}
	hwm = min(hwm, leo)
	cleanEnd = min(cleanEnd, hwm)
	if cleanEnd <= logStart {
		return CleanResult{}, nil
	}
	var bs []cleanBatch
	for off := logStart; off < hwm; {
		rr, err := l.ReadReplica(topic, part, off, cleanerReadBytes)
		if err != nil {
			return CleanResult{}, fmt.Errorf("read at %d: %w", off, err)
		}
		if len(rr.Batches) == 0 {
			break
		}
		for _, b := range rr.Batches {
			if b.LastOffset >= hwm {
				off = hwm
				break
			}
			cb, err := cleanBatchOf(b)
			if err != nil {
				return CleanResult{}, err
			}
			bs = append(bs, cb)
			off = b.LastOffset + 1
		}
	}
	plan := selectClean(bs, cleanEnd, markerEnd, leo, pending)
	res := CleanResult{DeletableBytes: plan.deletable, TotalBytes: plan.total}
	if len(plan.bases) == 0 || plan.ratio() <= ratio {
		return res, nil
	}
	if lock != nil {
		defer lock()()
	}
	// A truncation since the read (none should reach below the high
	// watermark) would make the selection stale.
	if now, err := l.LogEndOffset(topic, part); err != nil || now < leo {
		return res, fmt.Errorf("log end moved from %d to %d during the pass: %v", leo, now, err)
	}
	if err := l.DeleteBatches(topic, part, plan.bases); err != nil {
		return res, err
	}
	res.Deleted = len(plan.bases)
	return res, nil
}

// pendingProducers are the producers with transactional offsets of
// internal partition part in the view (coord/pend/{p}/{pid}).
func pendingProducers(l *plog.Log, part int32) (map[int64]bool, error) {
	prefix := coordlog.PendingPrefix(part)
	kvs, err := l.MetaList(prefix)
	if err != nil {
		return nil, fmt.Errorf("pending offsets: %w", err)
	}
	out := map[int64]bool{}
	for _, kv := range kvs {
		pid, err := strconv.ParseInt(strings.TrimPrefix(kv.Key, prefix), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("pending offsets key %q: %w", kv.Key, err)
		}
		out[pid] = true
	}
	return out, nil
}

// Clean runs one cleaner pass over internal partition topic-part now (the
// periodic cleaner calls it; tests too). A node that plays no role in the
// partition, or a follower that has not heard its leader's high watermark
// yet, does nothing.
func (m *Manager) Clean(topic string, part int32) (CleanResult, error) {
	kind, ok := m.internalKind(topic)
	if !ok {
		return CleanResult{}, fmt.Errorf("%s is not an internal topic", topic)
	}
	p := m.part(topic, part)
	if p == nil {
		return CleanResult{}, nil
	}
	_, hwm, err := m.cfg.Log.Offsets(topic, part)
	if err != nil {
		return CleanResult{}, fmt.Errorf("offsets: %w", err)
	}
	// Markers go only on a leader, below every replica's log end: a
	// replica that has a transaction's batches but not yet its marker
	// must get the marker (its view and its log close the transaction
	// there; a later marker of the producer would close it with the wrong
	// outcome). Kafka keeps them for delete.retention.ms instead; a
	// follower keeps them all, and compacts them once it leads.
	p.mu.Lock()
	r := p.role
	markerEnd := int64(-1)
	if r == roleLeader {
		markerEnd = hwm
		for _, id := range p.state.Replicas {
			if id == m.cfg.NodeID {
				continue
			}
			if f := p.followers[id]; f == nil || f.leo < 0 {
				markerEnd = -1
				break
			} else {
				markerEnd = min(markerEnd, f.leo)
			}
		}
	}
	p.mu.Unlock()
	if hwm = committedEnd(p, r, hwm); hwm < 0 {
		return CleanResult{}, nil
	}
	applied, err := m.viewStore().ViewApplied(topic, part)
	if err != nil {
		return CleanResult{}, fmt.Errorf("applied offset: %w", err)
	}
	pending := map[int64]bool{}
	if kind == coordlog.Group {
		if pending, err = pendingProducers(m.cfg.Log, part); err != nil {
			return CleanResult{}, err
		}
	}
	lock := func() func() {
		p.logMu.Lock()
		return p.logMu.Unlock
	}
	res, err := cleanLog(m.cfg.Log, topic, part, min(applied, hwm), markerEnd, hwm, pending, cleanerDirtyRatio, lock)
	if err != nil {
		return res, fmt.Errorf("clean %s-%d: %w", topic, part, err)
	}
	if res.Deleted > 0 {
		m.logger.Info("internal partition compacted", "topic", topic, "partition", part,
			"batches_deleted", res.Deleted, "bytes_deleted", res.DeletableBytes, "bytes_before", res.TotalBytes)
	}
	return res, nil
}

// runCleaner checks the internal partitions every CleanerInterval, each at
// most once per CleanerMinInterval, until ctx ends.
func (m *Manager) runCleaner(ctx context.Context) {
	every, minGap := m.cfg.CleanerInterval, m.cfg.CleanerMinInterval
	if every <= 0 {
		every = DefaultCleanerInterval
	}
	if minGap <= 0 {
		minGap = DefaultCleanerMinInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := map[tp]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range m.internalParts() {
			k := tp{p.topic, p.part}
			if time.Since(last[k]) < minGap {
				continue
			}
			last[k] = time.Now()
			if _, err := m.Clean(p.topic, p.part); err != nil && ctx.Err() == nil {
				m.logger.Warn("internal partition cleaner", "topic", p.topic, "partition", p.part, "err", err)
			}
		}
	}
}
