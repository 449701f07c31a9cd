package httpapi

import (
	"cmp"
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Read limits (documented in README.md).
const (
	DefaultReadLimit = 100
	MaxReadLimit     = 10000
	// readChunkBytes is how much one log Read fetches at a time.
	readChunkBytes = 256 << 10
)

// readParams are the query parameters of GET /tables/{t}.
type readParams struct {
	limit     int
	since     int64 // 0: no lower bound
	partition int32 // -1: merged read
	offset    int64 // -1: not given
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(c *gin.Context, name string, min, max int64) (int64, bool, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, false, badRequest("query parameter %s must be an integer in [%d, %d], got %q", name, min, max, v)
	}
	return n, true, nil
}

func parseReadParams(c *gin.Context) (readParams, error) {
	p := readParams{limit: DefaultReadLimit, partition: -1, offset: -1}
	if v, ok, err := queryInt(c, "limit", 1, MaxReadLimit); err != nil {
		return p, err
	} else if ok {
		p.limit = int(v)
	}
	if v, ok, err := queryInt(c, "since", 0, math.MaxInt64); err != nil {
		return p, err
	} else if ok {
		p.since = v
	}
	if v, ok, err := queryInt(c, "partition", 0, plog.MaxPartitions-1); err != nil {
		return p, err
	} else if ok {
		p.partition = int32(v)
	}
	if v, ok, err := queryInt(c, "offset", 0, math.MaxInt64); err != nil {
		return p, err
	} else if ok {
		if p.partition < 0 {
			return p, badRequest("query parameter offset needs partition")
		}
		p.offset = v
	}
	return p, nil
}

// rec is one record found by a read.
type rec struct {
	part int32
	r    batch.Record
}

// getTable: GET /tables/{t}, merged over partitions or one partition.
func (s *server) getTable(c *gin.Context) {
	start := time.Now()
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, err := parseReadParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var body []byte
	var n int
	if p.partition >= 0 {
		base, lerr := s.remoteLeader(c, table, p.partition)
		if lerr != nil {
			s.fail(c, lerr)
			return
		}
		if base != "" { // cluster mode: another node leads it
			s.proxyRead(c, base)
			return
		}
		body, n, err = s.readPartition(table, p)
	} else {
		body, n, err = s.readMerged(c, table, p)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, 200, body)
	s.stats.Read(n, time.Since(start))
	if n > 0 {
		s.log.CountServed(table, n, len(body))
	}
}

// readMerged reads every partition from since (at most limit records each,
// in offset order), then orders all by (timestamp, partition, offset) and
// keeps the first limit.
// In cluster mode a partition led by another node is read there.
func (s *server) readMerged(c *gin.Context, table string, p readParams) ([]byte, int, error) {
	info, ok := s.log.Topic(table)
	if !ok {
		return appendRecords(nil, nil, false, -1), 0, nil
	}
	// Partitions are read one at a time and merged into the best limit
	// records so far, so memory stays O(limit) whatever the partition count.
	var acc, spare []rec
	more := false
	var coldErr error
	for part := int32(0); part < info.Partitions; part++ {
		base, err := s.remoteLeader(c, table, part)
		if err != nil {
			return nil, 0, err
		}
		var list []rec
		var m bool
		if base != "" {
			list, m, err = s.remotePartition(c, base, table, part, p)
		} else {
			list, m, err = s.collectFrom(table, part, p)
		}
		if errors.Is(err, plog.ErrColdUnavailable) {
			// The cold tier is down: serve what the hot tier has and say so.
			coldErr = err
			list, m, err = s.collectHot(table, part, p)
		}
		if err != nil {
			return nil, 0, err
		}
		more = more || m
		if len(list) == 0 {
			continue
		}
		// Offset order is almost always timestamp order; sort when not.
		if !slices.IsSortedFunc(list, compareRecs) {
			slices.SortStableFunc(list, compareRecs)
		}
		var dropped bool
		spare, dropped = mergeRecs(spare[:0], acc, list, p.limit)
		acc, spare = spare, acc
		more = more || dropped
	}
	body := appendRecords(nil, acc, more, -1)
	if coldErr != nil {
		// {..."has_more":x} + ,"partial":true,"warning":"..."}
		body = append(body[:len(body)-2], `,"partial":true,"warning":`...)
		body = appendString(body, "cold tier unavailable, only hot records returned: "+coldErr.Error())
		body = append(body, '}', '\n')
	}
	return body, len(acc), nil
}

// collectFrom collects up to limit records of one partition with timestamp
// >= since, from wherever they start (cold tier included).
func (s *server) collectFrom(table string, part int32, p readParams) ([]rec, bool, error) {
	from, err := s.startOffset(table, part, p.since)
	if err != nil {
		return nil, false, err
	}
	return s.collectRange(table, part, from, p)
}

// collectHot is collectFrom limited to the hot tier.
func (s *server) collectHot(table string, part int32, p readParams) ([]rec, bool, error) {
	hot, err := s.log.HotStart(table, part)
	if err != nil {
		return nil, false, err
	}
	from, err := s.log.StartOffsetForTimestamp(table, part, p.since)
	if err != nil || from < hot {
		from = hot
	}
	return s.collectRange(table, part, from, p)
}

func (s *server) collectRange(table string, part int32, from int64, p readParams) ([]rec, bool, error) {
	_, hwm, err := s.log.Offsets(table, part)
	if err != nil {
		return nil, false, err
	}
	list := make([]rec, 0, max(0, min(int64(p.limit), hwm-from)))
	list, _, more, err := s.collect(list, table, part, from, p.since, p.limit)
	return list, more, err
}

// compareRecs orders records of one partition by timestamp, then offset.
func compareRecs(a, b rec) int {
	if c := cmp.Compare(a.r.Timestamp, b.r.Timestamp); c != 0 {
		return c
	}
	return cmp.Compare(a.r.Offset, b.r.Offset)
}

// mergeRecs appends to dst the first limit records of a and b, both sorted
// by (timestamp, offset), where a holds lower partitions than b: on equal
// timestamps a's record comes first. dropped reports records left out.
func mergeRecs(dst, a, b []rec, limit int) ([]rec, bool) {
	i, j := 0, 0
	for len(dst) < limit && (i < len(a) || j < len(b)) {
		if j == len(b) || (i < len(a) && a[i].r.Timestamp <= b[j].r.Timestamp) {
			dst = append(dst, a[i])
			i++
		} else {
			dst = append(dst, b[j])
			j++
		}
	}
	return dst, i < len(a) || j < len(b)
}

// startOffset is where to start reading a partition to see every record
// with timestamp >= since.
func (s *server) startOffset(table string, part int32, since int64) (int64, error) {
	if since > 0 {
		return s.log.StartOffsetForTimestamp(table, part, since)
	}
	logStart, _, err := s.log.Offsets(table, part)
	return logStart, err
}

// maxReadBytes bounds the keys and values one read collects per partition:
// past it the read stops early with has_more (limit alone would let 10,000
// large records build gigabytes).
var maxReadBytes = 32 << 20 // a variable for tests

// collect appends to out up to limit records of a partition with offset >=
// from and timestamp >= since. It returns the offset after the last record
// examined and whether records remain after it.
func (s *server) collect(out []rec, table string, part int32, from, since int64, limit int) ([]rec, int64, bool, error) {
	n, bytes := 0, 0
	next := from
	for {
		// Committed records only: a transaction's records appear once it
		// commits, aborted ones and markers never.
		rr, err := s.log.ReadIsolated(table, part, next, readChunkBytes, plog.ReadCommitted)
		if errors.Is(err, plog.ErrOffsetOutOfRange) && rr.LogStartOffset > next && next == from && n == 0 {
			// Trimmed under us: what was asked for is gone; start at the new start.
			next, from = rr.LogStartOffset, rr.LogStartOffset
			continue
		}
		if err != nil {
			return out, next, false, err
		}
		if len(rr.Batches) == 0 {
			return out, next, false, nil
		}
		for _, b := range rr.Batches {
			if !rr.Keeps(b) {
				next = max(next, b.LastOffset+1)
				continue
			}
			_, recs, err := batch.Records(b.Raw, 0)
			if err != nil {
				return out, next, false, err
			}
			for _, r := range recs {
				if r.Offset < next {
					continue
				}
				if r.Timestamp < since {
					next = r.Offset + 1
					continue
				}
				if n == limit || bytes >= maxReadBytes {
					return out, next, true, nil // has_more: a matching record is left
				}
				next = r.Offset + 1
				out = append(out, rec{part: part, r: r})
				n++
				bytes += len(r.Value) + len(r.Key)
			}
			if b.LastOffset+1 > next {
				next = b.LastOffset + 1 // records compacted away or control records
			}
		}
		if next >= rr.LastStableOffset {
			return out, next, false, nil
		}
	}
}

// readPartition reads one partition from an offset (default: the log start,
// or where since begins).
func (s *server) readPartition(table string, p readParams) ([]byte, int, error) {
	info, ok := s.log.Topic(table)
	if !ok {
		from := max(p.offset, 0)
		return appendRecords(nil, nil, false, from), 0, nil
	}
	if p.partition >= info.Partitions {
		return nil, 0, badRequest("partition %d out of range: table %s has %d partition(s)", p.partition, table, info.Partitions)
	}
	from := p.offset
	if from < 0 {
		var err error
		if from, err = s.startOffset(table, p.partition, p.since); err != nil {
			return nil, 0, err
		}
	} else {
		logStart, hwm, err := s.log.Offsets(table, p.partition)
		if err != nil {
			return nil, 0, err
		}
		if from < logStart || from > hwm {
			return nil, 0, badRequest("offset %d out of range for %s/%d: valid offsets are %d to %d (the high watermark)", from, table, p.partition, logStart, hwm)
		}
		if p.since > 0 {
			// Skip what the time index says is older than since.
			start, err := s.log.StartOffsetForTimestamp(table, p.partition, p.since)
			if err != nil {
				return nil, 0, err
			}
			from = max(from, start)
		}
	}
	recs, next, more, err := s.collect(nil, table, p.partition, from, p.since, p.limit)
	if err != nil {
		return nil, 0, err
	}
	return appendRecords(nil, recs, more, next), len(recs), nil
}

// appendRecords renders a read response. nextOffset < 0 leaves next_offset out.
func appendRecords(b []byte, recs []rec, more bool, nextOffset int64) []byte {
	if b == nil {
		size := 64
		for i := range recs {
			size += 96 + len(recs[i].r.Value) + len(recs[i].r.Key)
		}
		b = make([]byte, 0, size)
	}
	b = append(b, `{"records":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendRecord(b, recs[i].part, &recs[i].r)
	}
	b = append(b, `],"count":`...)
	b = strconv.AppendInt(b, int64(len(recs)), 10)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, more)
	if nextOffset >= 0 {
		b = append(b, ',')
		b = appendIntField(b, "next_offset", nextOffset)
	}
	return append(b, '}', '\n')
}

// AppendRecord appends r as JSON, as the REST API's reads render each
// record, for tools that print records the same way (zombi segments cat).
func AppendRecord(b []byte, part int32, r *batch.Record) []byte {
	b = append(b, '{')
	b = appendBytesField(b, "payload", r.Value)
	b = append(b, ',')
	b = appendIntField(b, "timestamp_ms", r.Timestamp)
	b = append(b, ',')
	b = appendIntField(b, "offset", r.Offset)
	b = append(b, ',')
	b = appendIntField(b, "partition", int64(part))
	b = append(b, ',')
	b = appendBytesField(b, "key", r.Key)
	return append(appendHeaders(b, r.Headers), '}')
}

// appendHeaders appends `,"headers":{...}`. Values render as strings; when
// any value is not valid UTF-8, all values of the record are base64 and
// `"headers_encoding":"base64"` follows. A key repeated in a record (Kafka
// allows it) keeps its last value, as Kafka's Headers.lastHeader does.
func appendHeaders(b []byte, hs []batch.RecordHeader) []byte {
	b = append(b, `,"headers":{`...)
	binary := false
	for _, h := range hs {
		if !utf8.Valid(h.Value) {
			binary = true
			break
		}
	}
	var seen map[string]int // key -> index of its last occurrence, for long lists
	if len(hs) > 16 {
		seen = make(map[string]int, len(hs))
		for i, h := range hs {
			seen[h.Key] = i
		}
	}
	first := true
	for i, h := range hs {
		if laterDuplicate(hs, i, seen) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, h.Key)
		b = append(b, ':')
		switch {
		case h.Value == nil:
			b = append(b, "null"...)
		case binary:
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, h.Value)
			b = append(b, '"')
		default:
			b = appendString(b, h.Value)
		}
	}
	b = append(b, '}')
	if binary {
		b = append(b, `,"headers_encoding":"base64"`...)
	}
	return b
}

func laterDuplicate(hs []batch.RecordHeader, i int, seen map[string]int) bool {
	if seen != nil {
		return seen[hs[i].Key] != i
	}
	for j := i + 1; j < len(hs); j++ {
		if hs[j].Key == hs[i].Key {
			return true
		}
	}
	return false
}
