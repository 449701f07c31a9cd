package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

type bodyFormat int

const (
	formatJSON bodyFormat = iota
	formatProtobuf
)

// formatOf maps a Content-Type to a body format. JSON is also assumed for a
// missing Content-Type and for curl's default form type (users forget -H).
func formatOf(contentType string) (bodyFormat, error) {
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	switch {
	case mt == "", strings.EqualFold(mt, "application/json"), strings.EqualFold(mt, "application/x-www-form-urlencoded"):
		return formatJSON, nil
	case strings.EqualFold(mt, "application/x-protobuf"), strings.EqualFold(mt, "application/protobuf"):
		return formatProtobuf, nil
	}
	return 0, errUnsupportedMediaType
}

// tableParam returns the :table path parameter, checked.
func tableParam(c *gin.Context) (string, error) {
	t := c.Param("table")
	if !plog.ValidTopicName(t) {
		return "", badRequest("invalid table name %q: must match [a-zA-Z0-9._-]{1,249} and not be '.' or '..'", t)
	}
	return t, nil
}

var builderPool = sync.Pool{New: func() any { return batch.NewBuilder() }}

// buildBatch encodes records as one batch in a fresh slice (Append takes
// ownership of it).
func buildBatch(evs []*event, now int64) []byte {
	b := builderPool.Get().(*batch.Builder)
	b.Reset()
	for _, ev := range evs {
		ts := ev.ts
		if ts < 0 {
			ts = now
		}
		b.Add(ts, ev.key, ev.value, ev.headers)
	}
	raw := b.Bytes()
	out := make([]byte, len(raw))
	copy(out, raw)
	if cap(raw) <= 64<<10 {
		builderPool.Put(b)
	}
	return out
}

// target returns the table's partition count, creating nothing. For a table
// that does not exist yet it is the count it will be created with.
func (s *server) partitionCount(table string) int32 {
	if info, ok := s.log.Topic(table); ok {
		return info.Partitions
	}
	return s.cfg.DefaultPartitions
}

// choosePartition applies the partition rules: explicit (checked), else
// murmur2 of the key as Kafka's default partitioner, else round-robin.
// idx numbers the record of a bulk write in errors (-1: single write).
func (s *server) choosePartition(table string, n int32, ev *event, idx int) (int32, error) {
	switch {
	case ev.partition >= 0:
		if ev.partition >= n {
			return 0, badRequest("%spartition %d out of range: table %s has %d partition(s)", recordPrefix(idx), ev.partition, table, n)
		}
		return ev.partition, nil
	case ev.key != nil:
		return keyPartition(ev.key, n), nil
	case s.cfg.Cluster != nil && ev.idemKey != "":
		// Cluster mode: a retry of a keyless record sent to another node
		// must reach the same partition (and leader) to be deduplicated.
		return keyPartition([]byte(ev.idemKey), n), nil
	default:
		return s.rr.next(table, n), nil
	}
}

// ensureTable creates the table if needed and returns it (in cluster
// mode through the cluster's catalog).
func (s *server) ensureTable(ctx context.Context, table string) (plog.TopicInfo, error) {
	if s.cfg.Cluster != nil {
		return s.ensureTableCluster(ctx, table)
	}
	info, _, err := s.log.EnsureTopic(table, s.cfg.DefaultPartitions)
	return info, err
}

// checkRecordSize refuses (413) a record whose one-record batch is larger
// than the table's max.message.bytes, as the Kafka door refuses a batch.
// idx numbers the record of a bulk write (-1: single write).
func checkRecordSize(info plog.TopicInfo, ev *event, idx int) error {
	limit := info.Effective().MaxMessageBytes
	if n := batch.OneRecordSize(ev.key, ev.value, ev.headers); n > limit {
		plog.CountRefused("record_too_large")
		return &apiError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("%srecord of %d bytes (as a record batch) is larger than max.message.bytes=%d of table %s", recordPrefix(idx), n, limit, info.Name)}
	}
	return nil
}

// postEvent: POST /tables/{t}, one event.
func (s *server) postEvent(c *gin.Context) {
	start := time.Now()
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	format, err := formatOf(c.Request.Header.Get("Content-Type"))
	if err != nil {
		s.fail(c, err)
		return
	}
	bp, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var ev event
	if format == formatJSON {
		ev, err = decodeJSONEvent(*bp)
	} else {
		ev, err = decodeProtobufEvent(*bp, c.Request.Header.Get("X-Partition"))
	}
	releaseBody(bp)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Check the partition against the count the table has or will have,
	// before creating it: bad input creates nothing.
	if _, err := s.choosePartitionCheck(table, &ev); err != nil {
		s.fail(c, err)
		return
	}
	if !s.authorizeCreate(c, table) {
		return
	}
	info, err := s.ensureTable(c.Request.Context(), table)
	if err == nil {
		err = checkRecordSize(info, &ev, -1)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	part, err := s.choosePartition(table, info.Partitions, &ev, -1)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ev.ts < 0 {
		ev.ts = start.UnixMilli()
	}
	var res plog.AppendResult
	if s.cfg.Cluster != nil {
		r := s.routeWrites(c, table, []*event{&ev}, []int32{part})[0]
		res = plog.AppendResult{BaseOffset: r.offset, Partition: r.part, Err: r.err}
	} else if s.co != nil {
		res = s.co.write(table, part, &ev)
	} else { // benchmarks' baseline: one Append per request
		evs := [1]*event{&ev}
		res = s.log.Append(c.Request.Context(), []plog.AppendRequest{{Topic: table, Partition: part, Batch: buildBatch(evs[:], 0), IdempotencyKey: ev.idemKey}})[0]
	}
	if res.Err != nil {
		s.fail(c, fmt.Errorf("append to %s/%d: %w", table, part, res.Err))
		return
	}
	b := make([]byte, 0, 64+len(table))
	b = appendIntField(append(b, '{'), "offset", res.BaseOffset)
	b = appendIntField(append(b, ','), "partition", int64(res.Partition))
	b = append(b, `,"table":"`...)
	b = append(b, table...) // valid table names need no escaping
	b = append(b, '"', '}', '\n')
	writeJSON(c, 202, b)
	s.stats.Write(1, len(ev.value), time.Since(start))
}

// choosePartitionCheck validates an explicit partition against the table's
// partition count before anything is created.
func (s *server) choosePartitionCheck(table string, ev *event) (int32, error) {
	if ev.partition < 0 {
		return -1, nil
	}
	return s.choosePartition(table, s.partitionCount(table), ev, -1)
}

// postBulk: POST /tables/{t}/bulk. Records without an idempotency key go as
// one batch per partition; each record with a key goes as its own batch (the
// log dedupes per batch); all batches in one Append, so one fsync.
func (s *server) postBulk(c *gin.Context) {
	start := time.Now()
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	format, err := formatOf(c.Request.Header.Get("Content-Type"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if format != formatJSON {
		s.fail(c, errJSONOnly)
		return
	}
	bp, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	evs, err := decodeJSONBulk(*bp)
	releaseBody(bp)
	if err != nil {
		s.fail(c, err)
		return
	}
	n := s.partitionCount(table)
	for i := range evs {
		if evs[i].partition >= 0 {
			if _, err := s.choosePartition(table, n, &evs[i], i); err != nil {
				s.fail(c, err)
				return
			}
		}
	}
	if !s.authorizeCreate(c, table) {
		return
	}
	info, err := s.ensureTable(c.Request.Context(), table)
	if err != nil {
		s.fail(c, err)
		return
	}
	n = info.Partitions
	for i := range evs {
		if err := checkRecordSize(info, &evs[i], i); err != nil {
			s.fail(c, err)
			return
		}
	}

	if s.cfg.Cluster != nil {
		s.postBulkCluster(c, table, n, evs, start, payload(evs))
		return
	}
	// Group records into requests; where[i] locates record i.
	type loc struct{ req, pos int32 }
	where := make([]loc, len(evs))
	var reqs []plog.AppendRequest
	var groups [][]*event
	byPart := map[int32]int{} // partition -> index in reqs of its shared batch
	payload := 0
	for i := range evs {
		ev := &evs[i]
		payload += len(ev.value)
		part, err := s.choosePartition(table, n, ev, i)
		if err != nil {
			s.fail(c, err)
			return
		}
		if ev.idemKey != "" {
			where[i] = loc{int32(len(reqs)), 0}
			reqs = append(reqs, plog.AppendRequest{Topic: table, Partition: part, IdempotencyKey: ev.idemKey})
			groups = append(groups, []*event{ev})
			continue
		}
		ri, ok := byPart[part]
		if !ok {
			ri = len(reqs)
			byPart[part] = ri
			reqs = append(reqs, plog.AppendRequest{Topic: table, Partition: part})
			groups = append(groups, nil)
		}
		where[i] = loc{int32(ri), int32(len(groups[ri]))}
		groups[ri] = append(groups[ri], ev)
	}
	now := start.UnixMilli()
	for i := range reqs {
		reqs[i].Batch = buildBatch(groups[i], now)
	}
	res := s.log.Append(c.Request.Context(), reqs)
	for i := range res {
		if res[i].Err != nil {
			s.fail(c, fmt.Errorf("bulk append to %s/%d: %w", table, reqs[i].Partition, res[i].Err))
			return
		}
	}
	b := make([]byte, 0, 32+len(evs)*16)
	b = append(b, `{"offsets":[`...)
	for i, w := range where {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, res[w.req].BaseOffset+int64(w.pos), 10)
	}
	b = append(b, `],"partitions":[`...)
	for i, w := range where {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(res[w.req].Partition), 10)
	}
	b = append(b, `],"count":`...)
	b = strconv.AppendInt(b, int64(len(evs)), 10)
	b = append(b, `,"table":"`...)
	b = append(b, table...)
	b = append(b, '"', '}', '\n')
	writeJSON(c, 202, b)
	s.stats.Write(len(evs), payload, time.Since(start))
}

func payload(evs []event) int {
	n := 0
	for i := range evs {
		n += len(evs[i].value)
	}
	return n
}

// postBulkCluster: the records of a bulk write routed to their partitions'
// leaders (forward.go), answered in the client's order.
func (s *server) postBulkCluster(c *gin.Context, table string, n int32, evs []event, start time.Time, size int) {
	ptrs := make([]*event, len(evs))
	parts := make([]int32, len(evs))
	now := start.UnixMilli()
	for i := range evs {
		ev := &evs[i]
		part, err := s.choosePartition(table, n, ev, i)
		if err != nil {
			s.fail(c, err)
			return
		}
		if ev.ts < 0 {
			ev.ts = now
		}
		ptrs[i], parts[i] = ev, part
	}
	res := s.routeWrites(c, table, ptrs, parts)
	for i := range res {
		if res[i].err != nil {
			s.fail(c, fmt.Errorf("records[%d]: bulk append to %s/%d: %w", i, table, parts[i], res[i].err))
			return
		}
	}
	b := make([]byte, 0, 32+len(evs)*16)
	b = append(b, `{"offsets":[`...)
	for i := range res {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, res[i].offset, 10)
	}
	b = append(b, `],"partitions":[`...)
	for i := range res {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(res[i].part), 10)
	}
	b = append(b, `],"count":`...)
	b = strconv.AppendInt(b, int64(len(evs)), 10)
	b = append(b, `,"table":"`...)
	b = append(b, table...)
	b = append(b, '"', '}', '\n')
	writeJSON(c, 202, b)
	s.stats.Write(len(evs), size, time.Since(start))
}
