package httpapi

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// GET /tables/{t}/messages: the console's message browser (README.md,
// "Console routes").

// Message browser limits.
const (
	DefaultMessagesLimit = 50
	MaxMessagesLimit     = 500
)

// Where a read starts.
const (
	fromNewest = "newest"
	fromOldest = "oldest"
	fromOffset = "offset"
	fromTime   = "time"
)

// msgQuery is the parsed query of GET /tables/{t}/messages.
type msgQuery struct {
	partition int32 // -1: all
	from      string
	offset    int64
	timeMs    int64
	limit     int
	filter    textFilter
	cursor    *msgCursor // nil: start from the parameters
}

// parseMessagesQuery checks every parameter; any error is a 400 that names
// the parameter. It never panics (FuzzMessagesQuery).
func parseMessagesQuery(v url.Values) (msgQuery, error) {
	q := msgQuery{partition: -1, limit: DefaultMessagesLimit, from: v.Get("from")}
	intParam := func(name string, lo, hi int64) (int64, bool, error) {
		s, ok := v[name]
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(s[0], 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, false, badRequest("query parameter %s must be an integer in [%d, %d], got %q", name, lo, hi, s[0])
		}
		return n, true, nil
	}
	if n, ok, err := intParam("partition", 0, plog.MaxPartitions-1); err != nil {
		return q, err
	} else if ok {
		q.partition = int32(n)
	}
	if n, ok, err := intParam("limit", 1, MaxMessagesLimit); err != nil {
		return q, err
	} else if ok {
		q.limit = int(n)
	}
	offset, hasOffset, err := intParam("offset", 0, math.MaxInt64)
	if err != nil {
		return q, err
	}
	timeMs, hasTime, err := intParam("time_ms", 0, math.MaxInt64)
	if err != nil {
		return q, err
	}
	if q.from == "" {
		// offset or time_ms alone say where to start.
		switch {
		case hasOffset && hasTime:
			return q, badRequest("query parameters offset and time_ms exclude each other: pass from=offset or from=time")
		case hasOffset:
			q.from = fromOffset
		case hasTime:
			q.from = fromTime
		default:
			q.from = fromNewest
		}
	}
	switch q.from {
	case fromNewest, fromOldest:
		if hasOffset || hasTime {
			return q, badRequest("query parameters offset and time_ms go with from=offset and from=time, not from=%s", q.from)
		}
	case fromOffset:
		if !hasOffset || hasTime {
			return q, badRequest("from=offset needs the query parameter offset (and no time_ms)")
		}
		q.offset = offset
	case fromTime:
		if !hasTime || hasOffset {
			return q, badRequest("from=time needs the query parameter time_ms (Unix milliseconds, and no offset)")
		}
		q.timeMs = timeMs
	default:
		return q, badRequest("query parameter from must be one of oldest, newest, offset, time; got %q", q.from)
	}
	if q.filter, err = newTextFilter(v.Get("q"), v.Get("in")); err != nil {
		return q, err
	}
	if c, ok := v["cursor"]; ok {
		if q.cursor, err = decodeCursor(c[0]); err != nil {
			return q, err
		}
	}
	return q, nil
}

// getMessages: GET /tables/{t}/messages.
func (s *server) getMessages(c *gin.Context) {
	start := time.Now()
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q, err := parseMessagesQuery(c.Request.URL.Query())
	if err != nil {
		s.fail(c, err)
		return
	}
	info, ok := s.log.Topic(table)
	if !ok {
		s.fail(c, errNoTable(table))
		return
	}
	scans, err := s.messageScans(info, &q)
	if err != nil {
		s.fail(c, err)
		return
	}
	chunk, held := scanShares(len(scans))
	for _, ps := range scans {
		ps.chunk, ps.heldMax = chunk, held
	}
	budget := newScanBudget(time.Now)
	recs, partial, err := mergeScans(scans, budget, q.limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	backward := q.from == fromNewest
	if q.cursor != nil {
		backward = q.cursor.backward // the cursor's direction, whatever from says
	}
	body := appendMessages(recs, nextCursor(info, scans, backward), budget.scanned, partial, scanWarning(scans))
	writeJSON(c, http.StatusOK, body)
	s.stats.Read(len(recs), time.Since(start))
	if len(recs) > 0 {
		s.log.CountServed(table, len(recs), len(body))
	}
}

// messageScans sets up one partScan per partition read, from the cursor or
// from the parameters.
func (s *server) messageScans(info plog.TopicInfo, q *msgQuery) ([]*partScan, error) {
	if q.cursor != nil {
		return s.cursorScans(info, q)
	}
	parts := []int32{q.partition}
	if q.partition < 0 {
		parts = make([]int32, info.Partitions)
		for i := range parts {
			parts[i] = int32(i)
		}
	} else if q.partition >= info.Partitions {
		return nil, badRequest("partition %d out of range: table %s has %d partition(s)", q.partition, info.Name, info.Partitions)
	}
	scans := make([]*partScan, 0, len(parts))
	for _, p := range parts {
		ps := &partScan{s: s, table: info.Name, part: p, f: &q.filter, backward: q.from == fromNewest}
		logStart, hwm, err := s.log.Offsets(info.Name, p)
		if err != nil {
			return nil, err
		}
		switch q.from {
		case fromNewest:
			lso, err := s.log.LastStable(info.Name, p)
			if err != nil {
				return nil, err
			}
			ps.pos, ps.lo = lso, logStart
		case fromOldest:
			ps.pos = logStart
		case fromOffset:
			ps.pos = min(max(q.offset, logStart), hwm) // clamped to the log
		case fromTime:
			off, _, err := s.log.OffsetForTimestamp(info.Name, p, q.timeMs)
			if err != nil {
				return nil, err
			}
			if off < 0 {
				off = hwm // nothing at or after time_ms yet
			}
			ps.pos = off
		}
		scans = append(scans, ps)
	}
	return scans, nil
}

// cursorScans checks a cursor against the table and sets up its scans.
func (s *server) cursorScans(info plog.TopicInfo, q *msgQuery) ([]*partScan, error) {
	c := q.cursor
	if c.topic != info.UUID {
		return nil, badRequest("invalid cursor: it belongs to another table, or to one deleted and created again; start again without cursor")
	}
	scans := make([]*partScan, 0, len(c.parts))
	for _, cp := range c.parts {
		if cp.partition >= info.Partitions {
			return nil, badRequest("invalid cursor: partition %d out of range: table %s has %d partition(s)", cp.partition, info.Name, info.Partitions)
		}
		logStart, hwm, err := s.log.Offsets(info.Name, cp.partition)
		if err != nil {
			return nil, err
		}
		ps := &partScan{s: s, table: info.Name, part: cp.partition, f: &q.filter, backward: c.backward}
		// Positions are clamped to the log as it is now (it may have been
		// trimmed since).
		ps.pos = min(max(cp.pos, logStart), hwm)
		if c.backward {
			ps.lo = logStart
		}
		scans = append(scans, ps)
	}
	return scans, nil
}

// mergeScans takes up to limit records across the scans, by (timestamp,
// partition, offset), ascending forward and descending backward. partial
// reports a stop on the scan budget before limit records were found.
func mergeScans(scans []*partScan, b *scanBudget, limit int) ([]rec, bool, error) {
	// Every partition needs its head before anything can be taken.
	for _, ps := range scans {
		if ps.ready() {
			continue
		}
		if b.spent() {
			return nil, true, nil
		}
		if ok, err := ps.fill(b); err != nil || !ok {
			return nil, !ok, err
		}
	}
	out := make([]rec, 0, min(limit, 64))
	for len(out) < limit {
		var best *partScan
		for _, ps := range scans {
			if len(ps.buf) == 0 {
				continue
			}
			if best == nil {
				best = ps
				continue
			}
			c := compareRecKey(ps.head(), best.head())
			if (c < 0) != ps.backward && c != 0 {
				best = ps
			}
		}
		if best == nil {
			return out, false, nil // every partition exhausted
		}
		out = append(out, best.pop())
		if !best.ready() && len(out) < limit {
			if ok, err := best.fill(b); err != nil || !ok {
				return out, !ok, err
			}
		}
	}
	return out, false, nil
}

// nextCursor is the cursor after this read, or "" when nothing is left in
// this direction.
func nextCursor(info plog.TopicInfo, scans []*partScan, backward bool) string {
	c := msgCursor{backward: backward, topic: info.UUID}
	left := false
	for _, ps := range scans {
		if !ps.exhausted() {
			left = true
		} else if backward {
			continue // nothing older: no entry
		}
		c.parts = append(c.parts, cursorPart{partition: ps.part, pos: ps.position()})
	}
	if !left {
		return ""
	}
	return c.encode()
}

func scanWarning(scans []*partScan) string {
	for _, ps := range scans {
		if ps.warning != "" {
			return ps.warning
		}
	}
	return ""
}

// appendMessages renders the answer: {"records": [REC...], "next_cursor",
// "scanned", "partial"} and a "warning" when the cold tier was down.
func appendMessages(recs []rec, cursor string, scanned int, partial bool, warning string) []byte {
	size := 128 + len(cursor)
	for i := range recs {
		size += 160 + len(recs[i].r.Value) + len(recs[i].r.Key)
	}
	b := append(make([]byte, 0, size), `{"records":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, recs[i].part, &recs[i].r)
	}
	b = append(b, `],"next_cursor":`...)
	if cursor == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, cursor)
	}
	b = append(b, ',')
	b = appendIntField(b, "scanned", int64(scanned))
	b = append(b, `,"partial":`...)
	b = strconv.AppendBool(b, partial)
	if warning != "" {
		b = append(b, `,"warning":`...)
		b = appendString(b, warning)
	}
	return append(b, '}', '\n')
}

// appendMessage renders one record as the console's REC: key, value and
// header values as strings when they are UTF-8, else base64 with an
// encoding field (the rendering of GET /tables/{t}: appendBytesField).
func appendMessage(b []byte, part int32, r *batch.Record) []byte {
	b = append(b, '{')
	b = appendIntField(b, "partition", int64(part))
	b = append(b, ',')
	b = appendIntField(b, "offset", r.Offset)
	b = append(b, ',')
	b = appendIntField(b, "timestamp_ms", r.Timestamp)
	b = append(b, ',')
	b = appendBytesField(b, "key", r.Key)
	b = append(b, `,"headers":[`...)
	for i, h := range r.Headers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendString(b, h.Key)
		b = append(b, ',')
		b = appendBytesFieldAs(b, "value", "encoding", h.Value)
		b = append(b, '}')
	}
	b = append(b, "],"...)
	b = appendBytesField(b, "value", r.Value)
	b = append(b, ',')
	b = appendIntField(b, "size", int64(recordSize(r)))
	return append(b, '}')
}

// recordSize is what the console shows as a record's size: the bytes of
// its key, value and headers (names and values), as Kafka UIs count it.
func recordSize(r *batch.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// errNoTable is the 404 of the console's data routes for a table that does
// not exist (GET /tables/{t} answers 200 with no records instead).
func errNoTable(name string) error { return notFound("table %s does not exist", name) }
