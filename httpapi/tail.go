package httpapi

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// GET /tables/{t}/tail: the console's live tail, server-sent events from
// the current end of each partition (README.md, "Console routes"). It
// waits on the log's Watch channels (no polling): a goroutine per 64
// partitions selects on their channels and marks the partitions that
// moved; the handler reads them up to the last stable offset (committed
// records only), and waits on WatchTopics to notice new partitions and a
// deleted table.

const (
	// MaxTailRate is how many records a tail sends per second; the rest
	// are counted in "skipped" events.
	MaxTailRate = 500
	// watchGroupSize is how many partitions one watcher goroutine selects
	// on.
	watchGroupSize = 64
	// tailReadBytes is how much one pass reads of a partition before the
	// handler looks at the client and the clock again.
	tailReadBytes = 1 << 20
)

// tailPingInterval is how often an idle stream gets a ": ping" comment
// (proxies close silent connections); a variable for tests.
var tailPingInterval = 15 * time.Second

// tailer is one tail stream.
type tailer struct {
	s     *server
	table string
	uuid  [16]byte
	all   bool // every partition, new ones included
	f     textFilter
	w     gin.ResponseWriter
	sw    streamWriter // the write deadline of each event
	ctx   context.Context
	wg    sync.WaitGroup
	pos   map[int32]int64 // next offset to send per partition
	buf   []byte

	mu      sync.Mutex
	pending map[int32]bool // partitions whose high watermark moved
	wake    chan struct{}  // cap 1: pending has entries

	// rate cap: sent in the current one-second window, skipped since the
	// last skipped event.
	window  time.Time
	sent    int
	skipped int
	skipC   <-chan time.Time
	served  int // records and bytes sent since the last CountServed
	bytes   int
}

// getTail: GET /tables/{t}/tail.
func (s *server) getTail(c *gin.Context) {
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	v := c.Request.URL.Query()
	part := int64(-1)
	if ps, ok := v["partition"]; ok {
		n, err := strconv.ParseInt(ps[0], 10, 32)
		if err != nil || n < 0 || n >= plog.MaxPartitions {
			s.fail(c, badRequest("query parameter partition must be an integer in [0, %d], got %q", plog.MaxPartitions-1, ps[0]))
			return
		}
		part = n
	}
	f, err := newTextFilter(v.Get("q"), v.Get("in"))
	if err != nil {
		s.fail(c, err)
		return
	}
	after, err := parseTailAfter(v.Get("after"))
	if err != nil {
		s.fail(c, err)
		return
	}
	topics := s.log.WatchTopics() // before reading the table: no change is missed
	info, ok := s.log.Topic(table)
	if !ok {
		s.fail(c, errNoTable(table))
		return
	}
	if part >= int64(info.Partitions) {
		s.fail(c, badRequest("partition %d out of range: table %s has %d partition(s)", part, table, info.Partitions))
		return
	}
	// gin's Flush panics when what it wraps cannot flush (a middleware's
	// writer without Flush): refuse the stream instead.
	if !canFlush(c.Writer) {
		s.fail(c, errors.New("this server cannot stream: its response writer does not flush"))
		return
	}
	if isHead(c) {
		// HEAD: the headers a GET would have, no stream (net/http would eat
		// the events of a stream that never ends).
		setStreamHeaders(c)
		c.Status(http.StatusOK)
		return
	}
	ctx, cancel := context.WithCancel(c.Request.Context())
	t := &tailer{s: s, table: table, uuid: info.UUID, all: part < 0, f: f, w: c.Writer, sw: newStreamWriter(c.Writer), ctx: ctx,
		pos: map[int32]int64{}, pending: map[int32]bool{}, wake: make(chan struct{}, 1)}
	defer func() {
		t.sw.disarm()
		cancel()
		t.wg.Wait() // the watchers are gone when the handler returns
		t.countServed()
	}()
	parts := []int32{int32(part)}
	if t.all {
		parts = partitionRange(0, info.Partitions)
	}
	if err := t.follow(parts, false); err != nil {
		s.fail(c, err)
		return
	}
	if err := t.resume(after); err != nil {
		s.fail(c, err)
		return
	}
	setStreamHeaders(c)
	c.Status(http.StatusOK)
	if !t.write([]byte(": tail of " + table + "\n\n")) {
		return
	}
	t.run(topics)
}

// maxTailAfter bounds the after parameter (about 64 KiB: thousands of
// partitions).
const maxTailAfter = 64 << 10

// parseTailAfter reads after=P:O,P:O...: where a reconnecting tail goes on
// (the offset after the last record it showed, per partition), so that the
// records written while it was away are not lost.
func parseTailAfter(s string) (map[int32]int64, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxTailAfter {
		return nil, badRequest("query parameter after is longer than %d bytes", maxTailAfter)
	}
	out := map[int32]int64{}
	for _, e := range strings.Split(s, ",") {
		ps, offs, ok := strings.Cut(e, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(offs, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || p >= plog.MaxPartitions || o < 0 {
			return nil, badRequest("query parameter after must be PARTITION:OFFSET[,PARTITION:OFFSET...] with integers >= 0, got %q", e)
		}
		out[int32(p)] = o
	}
	return out, nil
}

// resume moves the followed partitions named in after back to the offsets
// given, never below the log start nor past where the tail starts anyway.
// Partitions the tail does not follow are ignored (a tail narrowed to one
// partition since).
func (t *tailer) resume(after map[int32]int64) error {
	for p, o := range after {
		cur, ok := t.pos[p]
		if !ok || o >= cur {
			continue
		}
		start, _, err := t.s.log.Offsets(t.table, p)
		if err != nil {
			return err
		}
		t.pos[p] = max(o, start)
	}
	return nil
}

func canFlush(w gin.ResponseWriter) bool {
	u, ok := w.(interface{ Unwrap() http.ResponseWriter })
	if !ok {
		return true // gin's own Flush
	}
	_, ok = u.Unwrap().(http.Flusher)
	return ok
}

func setStreamHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
}

func partitionRange(from, to int32) []int32 {
	out := make([]int32, 0, to-from)
	for p := from; p < to; p++ {
		out = append(out, p)
	}
	return out
}

// follow starts following parts: from their last stable offset (fromStart
// false: the tail's start) or from their log start (new partitions, all of
// whose records are new). The Watch channels are taken before the first
// read (every partition starts pending), so nothing appended in between is
// missed.
func (t *tailer) follow(parts []int32, fromStart bool) error {
	chans := make([]<-chan struct{}, 0, len(parts))
	for _, p := range parts {
		ch, _, err := t.s.log.Watch(t.table, p)
		if err != nil {
			return err
		}
		var pos int64
		if fromStart {
			pos, _, err = t.s.log.Offsets(t.table, p)
		} else {
			pos, err = t.s.log.LastStable(t.table, p)
		}
		if err != nil {
			return err
		}
		t.pos[p] = pos
		chans = append(chans, ch)
	}
	for i := 0; i < len(parts); i += watchGroupSize {
		j := min(i+watchGroupSize, len(parts))
		t.wg.Add(1)
		go t.watch(parts[i:j], chans[i:j])
	}
	for _, p := range parts {
		t.mark(p)
	}
	return nil
}

// watch waits on the Watch channels of a group of partitions and marks the
// ones that move, until the stream ends.
func (t *tailer) watch(parts []int32, chans []<-chan struct{}) {
	defer t.wg.Done()
	cases := make([]reflect.SelectCase, 1+len(parts))
	cases[0] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.ctx.Done())}
	for i, ch := range chans {
		cases[1+i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
	}
	for {
		chosen, _, _ := reflect.Select(cases)
		if chosen == 0 {
			return
		}
		i := chosen - 1
		ch, _, err := t.s.log.Watch(t.table, parts[i])
		if err != nil {
			// Gone with its topic: WatchTopics tells the handler.
			cases[chosen].Chan = reflect.Value{} // a zero Chan is never chosen
			continue
		}
		cases[chosen].Chan = reflect.ValueOf(ch)
		t.mark(parts[i]) // after taking the new channel: no move is missed
	}
}

func (t *tailer) mark(p int32) {
	t.mu.Lock()
	t.pending[p] = true
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run sends events until the client goes, the table is deleted or a write
// fails.
func (t *tailer) run(topics <-chan struct{}) {
	ping := time.NewTicker(tailPingInterval)
	defer ping.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.s.cfg.StreamsDone:
			return // shutting down: the client reconnects to the next server
		case <-t.wake:
			if !t.drain() {
				return
			}
		case <-topics:
			topics = t.s.log.WatchTopics()
			if !t.topicChanged() {
				return
			}
		case <-ping.C:
			if !t.write([]byte(": ping\n\n")) {
				return
			}
		case <-t.skipC:
			t.skipC = nil
			// The timer fires once the window is over.
			now := time.Now()
			if end := t.window.Add(time.Second); now.Before(end) {
				now = end
			}
			if !t.flushSkipped(now) {
				return
			}
		}
	}
}

// topicChanged follows new partitions, or ends the stream when the table
// is gone (or deleted and created again).
func (t *tailer) topicChanged() bool {
	info, ok := t.s.log.Topic(t.table)
	if !ok || info.UUID != t.uuid {
		t.end("table deleted")
		return false
	}
	if !t.all || int(info.Partitions) <= len(t.pos) {
		return true
	}
	if err := t.follow(partitionRange(int32(len(t.pos)), info.Partitions), true); err != nil {
		return t.failed(err)
	}
	return true
}

// drain sends what the pending partitions hold past their positions.
func (t *tailer) drain() bool {
	t.mu.Lock()
	parts := make([]int32, 0, len(t.pending))
	for p := range t.pending {
		parts = append(parts, p)
	}
	clear(t.pending)
	t.mu.Unlock()
	for _, p := range parts {
		more, err := t.readPartition(p)
		if err != nil {
			return t.failed(err)
		}
		if more {
			t.mark(p) // the rest in the next pass, after a look at the client
		}
		if t.ctx.Err() != nil {
			return false
		}
	}
	t.countServed()
	return true
}

// readPartition sends the committed records of p from its position, up to
// tailReadBytes; more reports that some are left.
func (t *tailer) readPartition(p int32) (bool, error) {
	read := 0
	for read < tailReadBytes {
		pos := t.pos[p]
		rr, err := t.s.log.ReadIsolated(t.table, p, pos, readChunkBytes, plog.ReadCommitted)
		if errors.Is(err, plog.ErrOffsetOutOfRange) && rr.LogStartOffset > pos {
			t.pos[p] = rr.LogStartOffset // trimmed by retention meanwhile
			continue
		}
		if err != nil {
			return false, err
		}
		if len(rr.Batches) == 0 {
			return false, nil // at the last stable offset: wait for the next move
		}
		for _, b := range rr.Batches {
			read += len(b.Raw)
			if rr.Keeps(b) {
				_, recs, err := batch.Records(b.Raw, 0)
				if err != nil {
					return false, err
				}
				for i := range recs {
					if recs[i].Offset < pos || !t.f.matches(&recs[i]) {
						continue
					}
					if !t.send(p, &recs[i]) {
						return false, t.ctx.Err()
					}
				}
			}
			t.pos[p] = max(t.pos[p], b.LastOffset+1)
		}
	}
	return true, nil
}

// send sends one record event, or counts it as skipped past MaxTailRate in
// the current second.
func (t *tailer) send(p int32, r *batch.Record) bool {
	now := time.Now()
	if now.Sub(t.window) >= time.Second {
		if !t.flushSkipped(now) {
			return false
		}
	}
	if t.sent >= MaxTailRate {
		t.skipped++
		if t.skipC == nil {
			t.skipC = time.After(time.Until(t.window.Add(time.Second)))
		}
		return true
	}
	t.sent++
	t.buf = append(t.buf[:0], "event: record\ndata: "...)
	t.buf = appendMessage(t.buf, p, r)
	t.buf = append(t.buf, '\n', '\n')
	t.served++
	t.bytes += len(t.buf)
	return t.write(t.buf)
}

// flushSkipped sends the skipped count of the window that ended, if any,
// and starts a new window at now.
func (t *tailer) flushSkipped(now time.Time) bool {
	if now.Sub(t.window) < time.Second {
		return true
	}
	t.window, t.sent = now, 0
	if t.skipped == 0 {
		return true
	}
	t.buf = append(t.buf[:0], "event: skipped\ndata: {\"count\":"...)
	t.buf = strconv.AppendInt(t.buf, int64(t.skipped), 10)
	t.buf = append(t.buf, "}\n\n"...)
	t.skipped = 0
	return t.write(t.buf)
}

// end sends the end event with its reason.
func (t *tailer) end(reason string) {
	t.buf = append(t.buf[:0], "event: end\ndata: {\"reason\":"...)
	t.buf = appendString(t.buf, reason)
	t.buf = append(t.buf, "}\n\n"...)
	t.write(t.buf)
}

// failed ends the stream on a read error (false: stop).
func (t *tailer) failed(err error) bool {
	if errors.Is(err, plog.ErrUnknownTopic) {
		t.end("table deleted")
		return false
	}
	if t.ctx.Err() == nil {
		t.s.logger.Warn("tail ended by an error", "table", t.table, "err", err)
		t.end("error: " + err.Error())
	}
	return false
}

// write writes and flushes one event; false when the client is gone.
func (t *tailer) write(b []byte) bool {
	t.sw.arm()
	if _, err := t.w.Write(b); err != nil {
		return false
	}
	t.w.Flush()
	return t.ctx.Err() == nil
}

func (t *tailer) countServed() {
	if t.served > 0 {
		t.s.log.CountServed(t.table, t.served, t.bytes)
		t.served, t.bytes = 0, 0
	}
}
