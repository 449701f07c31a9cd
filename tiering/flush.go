package tiering

import (
	"context"
	"errors"
	"fmt"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// pollInterval is how often the scheduler looks at every partition: early
// flushes (FlushBatchSize), hot retention, the append gate's measurements.
const pollInterval = 100 * time.Millisecond

// retentionEvery is how often a partition's cold retention is applied.
const retentionEvery = 30 * time.Second

// hotReadChunk is the byte budget of one hot read by the flusher.
const hotReadChunk = 1 << 20

// schedule queues partition jobs: a flush when the interval has passed or
// FlushBatchSize records wait, cold retention now and then. It also applies
// hot retention and measures unflushed bytes for the append gate.
func (t *Tier) schedule() {
	defer t.wg.Done()
	tick := time.NewTicker(min(pollInterval, t.cfg.FlushInterval))
	defer tick.Stop()
	lastRefresh := time.Time{}
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		if now.Sub(lastRefresh) >= time.Second {
			t.refreshTopics()
			lastRefresh = now
		}
		blocked := t.out.blocked(now)
		t.mu.RLock()
		parts := make([]*partState, 0, len(t.parts))
		for _, ps := range t.parts {
			parts = append(parts, ps)
		}
		t.mu.RUnlock()
		for _, ps := range parts {
			_, hwm, err := t.l.Offsets(ps.topic, ps.part)
			if err != nil {
				continue
			}
			if t.clustered() {
				if _, leader := t.cfg.Leadership.LeaderEpoch(ps.topic, ps.part); !leader {
					// A follower: its unflushed bytes are the leader's to
					// flush; it re-reads the manifest once per interval.
					t.mu.RLock()
					t.dropPendingLocked(ps)
					t.mu.RUnlock()
					t.hotRetention(ps, now)
					if !blocked && !ps.queued.Load() && now.Sub(ps.lastFlushTime()) >= t.cfg.FlushInterval {
						t.queue(ps)
					}
					continue
				}
			}
			if t.cfg.HotMaxBytes > 0 {
				t.measure(ps, hwm)
			}
			t.hotRetention(ps, now)
			if blocked || ps.queued.Load() {
				continue
			}
			end := int64(0)
			if m := ps.man.Load(); m != nil {
				end = m.End
			}
			waiting := hwm - end
			due := waiting > 0 && (waiting >= int64(t.cfg.FlushBatchSize) || now.Sub(ps.lastFlushTime()) >= t.cfg.FlushInterval)
			retain := t.retains(ps) && now.After(ps.retentionDue())
			if due || retain {
				t.queue(ps)
			}
		}
	}
}

// queue hands a partition to the workers (unless the queue is full: the
// next round tries again).
func (t *Tier) queue(ps *partState) {
	if !ps.queued.CompareAndSwap(false, true) {
		return // queued already
	}
	select {
	case t.jobs <- ps:
	default:
		ps.queued.Store(false)
	}
}

// lastFlushTime and retentionDue are read by the scheduler while a job may
// hold flushMu; they are only hints, so a stale value is harmless.
func (ps *partState) lastFlushTime() time.Time {
	if !ps.flushMu.TryLock() {
		return time.Now()
	}
	defer ps.flushMu.Unlock()
	return ps.lastFlush
}

func (ps *partState) retentionDue() time.Time {
	if !ps.flushMu.TryLock() {
		return time.Now().Add(time.Hour)
	}
	defer ps.flushMu.Unlock()
	return ps.nextRet
}

// errHotRead marks flush failures that come from reading the hot log, not
// from S3: they do not count as an S3 outage.
var errHotRead = errors.New("read hot data to flush")

func (t *Tier) worker() {
	defer t.wg.Done()
	for {
		select {
		case <-t.stop:
			return
		case ps := <-t.jobs:
			err := t.runJob(ps)
			ps.queued.Store(false)
			if errors.Is(err, errHotRead) {
				// Not S3: this partition retries at its next turn, the others
				// go on (a DeleteRecords racing the read, say).
				t.logger.Debug("flush: reading the hot log", "topic", ps.topic, "partition", ps.part, "err", err)
			} else if err != nil {
				t.failed(err)
			}
		}
	}
}

// runJob flushes a partition's closed range and applies cold retention.
func (t *Tier) runJob(ps *partState) error {
	ps.flushMu.Lock()
	defer ps.flushMu.Unlock()
	if ps.dead.Load() || !t.current(ps) {
		return nil // deleted or recreated; refreshTopics cleans up
	}
	if t.clustered() {
		return t.runShared(ps)
	}
	return t.flushAndRetain(ps)
}

// flushAndRetain is a job's work on a partition it may write: orphans,
// flush, cold retention. Under flushMu.
func (t *Tier) flushAndRetain(ps *partState) error {
	if !ps.cleaned {
		if err := t.cleanOrphans(ps); err != nil {
			return err
		}
		ps.cleaned = true
	}
	start := time.Now()
	n, err := t.flush(ps)
	observeFlush(start, n, err)
	if err != nil {
		return err
	}
	if n > 0 {
		t.succeeded()
	}
	if t.retains(ps) && time.Now().After(ps.nextRet) {
		if err := t.applyRetention(ps); err != nil {
			return err
		}
		ps.nextRet = time.Now().Add(retentionEvery)
	}
	return nil
}

// flush uploads everything below the high watermark seen at its start as
// segments, recording each in the manifest before the next. It returns the
// number of segments written.
func (t *Tier) flush(ps *partState) (int, error) {
	ctx := t.ctx
	next := int64(0)
	if m := ps.man.Load(); m != nil {
		next = m.End
	}
	target := int64(-1)
	written := 0
	for {
		if ps.dead.Load() {
			return written, nil
		}
		bs, hwm, err := t.collect(ps, next, target)
		if err != nil {
			if errors.Is(err, plog.ErrUnknownTopic) {
				return written, nil // deleted; refreshTopics cleans up
			}
			return written, err
		}
		if target < 0 {
			target = hwm
		}
		if len(bs) == 0 {
			ps.lastFlush = time.Now()
			return written, nil
		}
		if !t.current(ps) {
			return written, nil // recreated while reading: not this manifest's data
		}
		if t.clustered() && !t.leads(ps, ps.claimed) {
			return written, nil // no longer the leader of the epoch claimed: commit nothing
		}
		start := max(next, bs[0].BaseOffset)
		if err := t.writeSegment(ctx, ps, start, bs); err != nil {
			return written, err
		}
		written++
		next = bs[len(bs)-1].LastOffset + 1
		if next >= target {
			ps.lastFlush = time.Now()
			return written, nil
		}
	}
}

// collect reads the hot batches of the next segment from offset next: at
// most FlushMaxSegment records and FlushMaxBytes bytes (at least one batch),
// not past target (the high watermark when the flush began; -1: this one).
// A failed read is errHotRead; a failed moveStart (an S3 PUT) is not.
func (t *Tier) collect(ps *partState, next, target int64) ([]plog.Batch, int64, error) {
	var out []plog.Batch
	size := int64(0)
	start := next
	for {
		rr, err := t.l.Read(ps.topic, ps.part, next, hotReadChunk)
		if target < 0 {
			target = rr.HighWatermark
		}
		if errors.Is(err, plog.ErrOffsetOutOfRange) && len(out) == 0 && rr.LogStartOffset > next && next < rr.HighWatermark {
			// The hot log starts above the cold end: records were deleted
			// (DeleteRecords). The cold range below is dropped with them.
			if err := t.moveStart(ps, rr.LogStartOffset); err != nil {
				return nil, target, err
			}
			next, start = rr.LogStartOffset, rr.LogStartOffset
			continue
		}
		if err != nil {
			return nil, target, fmt.Errorf("%w: %s/%d at %d: %w", errHotRead, ps.topic, ps.part, next, err)
		}
		if len(rr.Batches) == 0 {
			return out, target, nil
		}
		for _, b := range rr.Batches {
			if b.BaseOffset >= target {
				return out, target, nil
			}
			if len(out) > 0 && (b.LastOffset+1-start > int64(t.cfg.FlushMaxSegment) || size+int64(len(b.Raw)) > t.cfg.FlushMaxBytes) {
				return out, target, nil
			}
			out = append(out, b)
			size += int64(len(b.Raw))
			next = b.LastOffset + 1
		}
		if next >= target {
			return out, target, nil
		}
	}
}

// writeSegment uploads one segment, then records it in the manifest. A
// crash between the two leaves an orphan object that no manifest lists:
// never read, deleted by cleanOrphans, or overwritten by the retry. (The
// manifest save may seal a chunk first: the same holds for it.)
func (t *Tier) writeSegment(ctx context.Context, ps *partState, start int64, bs []plog.Batch) error {
	suffix := ""
	if cur := ps.man.Load(); cur != nil {
		suffix = cur.suffix()
	}
	seg := encodeSegment(ps.topic, ps.part, start, bs, suffix)
	seg.meta.FlushedMs = time.Now().UnixMilli()
	// The batches were read first, so every abort marker among them is in
	// the log's index (a marker and its entry are one write).
	aborted, err := t.l.AbortedIn(ps.topic, ps.part, seg.meta.Start, seg.meta.End)
	if err != nil {
		return fmt.Errorf("%w: aborted transactions of %s/%d: %w", errHotRead, ps.topic, ps.part, err)
	}
	if len(aborted) > 0 {
		seg.meta.Aborted = aborted
	}
	// A trim past start (DeleteRecords) since the batches were read may have
	// taken index entries with it: not this segment, then. The next flush
	// moves the cold start past the deleted range.
	if hs, err := t.l.HotStart(ps.topic, ps.part); err != nil || hs > start {
		return fmt.Errorf("%w: %s/%d: hot log start moved past %d while flushing", errHotRead, ps.topic, ps.part, start)
	}
	if err := t.st.Put(ctx, seg.meta.Key, seg.body); err != nil {
		return err
	}
	m := t.nextManifest(ps)
	if m.End != start && len(m.Segments) > 0 {
		return fmt.Errorf("segment %s does not continue the cold range at %d", seg.meta.Key, m.End)
	}
	if len(m.Segments) == 0 {
		m.LogStart = start
	}
	m.Segments = append(m.Segments, seg.meta)
	m.End = seg.meta.End
	dropped, err := saveManifest(ctx, t.st, m)
	if err != nil {
		return err
	}
	ps.man.Store(m)
	t.flushed(ps, seg.meta)
	if t.hotRetentionFor(ps) == 0 {
		t.trimHot(ps, m.End)
	}
	t.deleteChunks(dropped)
	return nil
}

// nextManifest is a copy of the partition's manifest to change and save.
func (t *Tier) nextManifest(ps *partState) *Manifest {
	var m *Manifest
	if cur := ps.man.Load(); cur != nil {
		m = cur.clone()
	} else {
		m = &Manifest{Version: manifestVersion, Topic: ps.topic, Partition: ps.part}
	}
	if info, ok := t.l.Topic(ps.topic); ok {
		m.Partitions = info.Partitions
		t.mu.RLock()
		m.TopicUUID = t.uuids[ps.topic]
		t.mu.RUnlock()
	}
	m.Generation++
	m.UpdatedMs = time.Now().UnixMilli()
	return m
}

// moveStart drops the cold segments below offset (the hot log start moved
// past the cold end) and makes offset the start and end of the cold range.
func (t *Tier) moveStart(ps *partState, offset int64) error {
	m := t.nextManifest(ps)
	old := m.Segments
	m.Segments = nil
	m.LogStart, m.End = offset, offset
	dropped, err := saveManifest(t.ctx, t.st, m)
	if err != nil {
		return err
	}
	ps.man.Store(m)
	t.deleteSegments(old)
	t.deleteChunks(dropped)
	ps.acct.Lock()
	t.pending.Add(-ps.pendB)
	ps.pendB, ps.scanned = 0, offset
	ps.acct.Unlock()
	return nil
}

// applyRetention deletes the leading segments whose newest record is older
// than the retention (the topic's retention.ms, else Retention), and those
// that keep the partition (cold segments and unflushed hot bytes) above
// its retention.bytes, as Kafka deletes whole segments: while what is left
// without the next one is still at least retention.bytes. It moves the
// cold (and, if needed, hot) log start. Manifest chunks whose segments all
// expired leave the head and are deleted after it is saved; a partly
// expired chunk stays (LogStart says where it is valid).
func (t *Tier) applyRetention(ps *partState) error {
	cur := ps.man.Load()
	if cur == nil || len(cur.Segments) == 0 {
		return nil
	}
	k := 0
	if ms := t.retentionMs(ps); ms >= 0 {
		cutoff := time.Now().UnixMilli() - ms
		for k < len(cur.Segments) && cur.Segments[k].MaxTimestamp < cutoff {
			k++
		}
	}
	if limit := t.retentionBytes(ps); limit >= 0 {
		ps.acct.Lock()
		size := ps.pendB
		ps.acct.Unlock()
		for _, s := range cur.Segments {
			size += s.Bytes
		}
		for i := 0; i < len(cur.Segments); i++ {
			if size-cur.Segments[i].Bytes < limit {
				break
			}
			size -= cur.Segments[i].Bytes
			k = max(k, i+1)
		}
	}
	if k == 0 {
		return nil
	}
	m := t.nextManifest(ps)
	expired := m.Segments[:k]
	m.Segments = append([]SegmentMeta(nil), m.Segments[k:]...)
	if len(m.Segments) > 0 {
		m.LogStart = m.Segments[0].Start
	} else {
		m.LogStart = m.End
	}
	dropped, err := saveManifest(t.ctx, t.st, m)
	if err != nil {
		return err
	}
	ps.man.Store(m)
	t.logger.Info("cold retention: segments expired", "topic", ps.topic, "partition", ps.part, "segments", k, "manifest_chunks", len(dropped), "log_start", m.LogStart)
	t.trimHot(ps, m.LogStart)
	t.deleteSegments(expired)
	t.deleteChunks(dropped)
	return nil
}

// deleteSegments removes segment objects no manifest lists any more.
func (t *Tier) deleteSegments(segs []SegmentMeta) {
	keys := make([]string, len(segs))
	for i, s := range segs {
		keys[i] = s.Key
		t.indexes.remove(s.Key)
	}
	t.deleteObjects(keys, "expired segments")
}

// deleteChunks removes manifest chunk objects the head no longer refers to.
func (t *Tier) deleteChunks(refs []chunkRef) {
	keys := make([]string, len(refs))
	for i, c := range refs {
		keys[i] = c.Key
	}
	t.deleteObjects(keys, "dropped manifest chunks")
}

// deleteObjects deletes keys, best effort: what stays is an orphan that
// cleanOrphans removes later.
func (t *Tier) deleteObjects(keys []string, what string) {
	if len(keys) == 0 {
		return
	}
	if err := t.st.Delete(t.ctx, keys...); err != nil {
		t.logger.Warn("delete "+what+" (left as orphans)", "err", err)
	}
}

// cleanOrphans deletes the partition's segment objects that its manifest
// does not list and the manifest chunks its head does not refer to: uploads
// a crash interrupted before the manifest recorded them, and deletions that
// failed. It runs before the partition's first upload, under flushMu, so it
// never races one.
func (t *Tier) cleanOrphans(ps *partState) error {
	listed := map[string]bool{}
	if m := ps.man.Load(); m != nil {
		for _, s := range m.Segments {
			listed[s.Key] = true
		}
		for _, c := range m.chunks {
			listed[c.Key] = true
		}
	}
	for _, prefix := range []string{segmentPrefix(ps.topic, ps.part), chunkPrefix(ps.topic, ps.part)} {
		var orphans []string
		err := t.st.List(t.ctx, prefix, "", func(k string, _ int64) bool {
			if !listed[k] && t.orphanable(ps, k) {
				orphans = append(orphans, k)
			}
			return true
		})
		if err != nil {
			return err
		}
		if len(orphans) > 0 {
			t.logger.Info("deleting orphaned objects", "topic", ps.topic, "partition", ps.part, "prefix", prefix, "count", len(orphans))
			if err := t.st.Delete(t.ctx, orphans...); err != nil {
				return err
			}
		}
	}
	return nil
}

// abandonedUploadAge is how long ago an incomplete multipart upload must have
// started for the start-up sweep to abort it: a younger one may be an upload
// in progress by another process on the same bucket. Tests lower it.
var abandonedUploadAge = time.Hour

// sweepUploads aborts the incomplete multipart uploads under segments/ that
// started more than age ago: what a process killed mid-upload leaves behind
// (its parts stay in the bucket, and are billed on AWS, until aborted). Only
// segments go up in parts (multipartThreshold); manifests and chunks are
// small single PUTs. It runs once per start, in the background, and never
// fails the start: a failure is logged and what is left waits for the next
// start.
func (t *Tier) sweepUploads(age time.Duration) {
	defer t.bg.Done()
	defer close(t.swept)
	us, ok := t.st.(uploadStore)
	if !ok {
		return
	}
	n, err := t.abortAbandoned(us, "segments/", time.Now().Add(-age))
	if n > 0 {
		t.logger.Info("aborted abandoned multipart uploads", "count", n, "older_than", age.String())
	}
	if err != nil && t.ctx.Err() == nil {
		t.logger.Warn("sweeping abandoned multipart uploads failed; the rest wait for the next start", "aborted", n, "err", err)
	}
}

// abortAbandoned aborts the uploads under prefix started before cutoff (not
// those whose start the server does not report) and returns how many. It
// stops at the first failed abort; a failed listing still aborts what it
// listed.
func (t *Tier) abortAbandoned(us uploadStore, prefix string, cutoff time.Time) (int, error) {
	var stale []pendingUpload
	listErr := us.ListUploads(t.ctx, prefix, func(u pendingUpload) bool {
		if !u.Initiated.IsZero() && u.Initiated.Before(cutoff) {
			stale = append(stale, u)
		}
		return true
	})
	for i, u := range stale {
		if err := us.AbortUpload(t.ctx, u.Key, u.ID); err != nil {
			return i, errors.Join(listErr, fmt.Errorf("%d of %d abandoned uploads left: %w", len(stale)-i, len(stale), err))
		}
	}
	return len(stale), listErr
}

// hotRetention drops hot data flushed longer than the hot retention ago
// (the topic's local.retention.ms, else HotRetention).
func (t *Tier) hotRetention(ps *partState, now time.Time) {
	hr := t.hotRetentionFor(ps)
	if hr <= 0 {
		return // 0: trimmed by the flush itself; negative: kept
	}
	m := ps.man.Load()
	if m == nil {
		return
	}
	cutoff := now.Add(-hr).UnixMilli()
	to := int64(-1)
	for i := len(m.Segments) - 1; i >= 0; i-- {
		if m.Segments[i].FlushedMs <= cutoff {
			to = m.Segments[i].End
			break
		}
	}
	if to > ps.trimmedTo.Load() {
		t.trimHot(ps, to)
	}
}

// trimHot drops hot batches below offset, which the manifest already holds.
func (t *Tier) trimHot(ps *partState, offset int64) {
	if offset <= ps.trimmedTo.Load() || !t.current(ps) {
		return
	}
	// A follower may be behind the leader that flushed: never past what
	// it holds committed.
	if _, hwm, err := t.l.Offsets(ps.topic, ps.part); err == nil && offset > hwm {
		offset = hwm
	}
	if offset <= ps.trimmedTo.Load() {
		return
	}
	if _, err := t.l.TrimBefore(t.ctx, ps.topic, ps.part, offset); err != nil {
		if !errors.Is(err, plog.ErrUnknownTopic) && !errors.Is(err, plog.ErrClosed) {
			t.logger.Warn("drop flushed hot data", "topic", ps.topic, "partition", ps.part, "offset", offset, "err", err)
		}
		return
	}
	ps.trimmedTo.Store(offset)
}

// measure adds the bytes appended since the last measurement to the
// unflushed total (the append gate's input). The first measurement of a
// partition reads what is unflushed (data from before a restart); after that
// the log's running count of appended bytes says what arrived, without
// reading it back.
func (t *Tier) measure(ps *partState, hwm int64) {
	count, err := t.l.AppendedBytes(ps.topic, ps.part)
	if err != nil {
		return
	}
	ps.acct.Lock()
	if ps.counting {
		d := count - ps.lastCount
		ps.lastCount = count
		ps.pendB += d
		t.pending.Add(d)
		ps.acct.Unlock()
		return
	}
	from := ps.scanned
	ps.acct.Unlock()
	next, n := from, int64(0)
	for next < hwm {
		rr, err := t.l.Read(ps.topic, ps.part, next, 4<<20)
		if errors.Is(err, plog.ErrOffsetOutOfRange) && rr.LogStartOffset > next {
			next = rr.LogStartOffset
			continue
		}
		if err != nil || len(rr.Batches) == 0 {
			break
		}
		for _, b := range rr.Batches {
			if b.LastOffset >= next {
				n += int64(len(b.Raw))
				next = b.LastOffset + 1
			}
		}
	}
	ps.acct.Lock()
	if ps.scanned == from && next >= hwm {
		// Appends counted from here on; one racing with this scan may be
		// counted twice, which only makes the gate stricter by one round.
		ps.scanned = next
		ps.pendB += n
		t.pending.Add(n)
		ps.counting, ps.lastCount = true, count
	}
	ps.acct.Unlock()
}

// flushed takes a committed segment out of the unflushed total.
func (t *Tier) flushed(ps *partState, seg SegmentMeta) {
	ps.flushedB.Add(seg.Bytes)
	ps.acct.Lock()
	defer ps.acct.Unlock()
	if ps.counting || ps.scanned >= seg.End {
		d := min(seg.Bytes, ps.pendB)
		ps.pendB -= d
		t.pending.Add(-d)
		ps.scanned = max(ps.scanned, seg.End)
		return
	}
	t.pending.Add(-ps.pendB)
	ps.pendB, ps.scanned = 0, seg.End
}
