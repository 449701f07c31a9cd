package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/zombi-dev/zombi/log/batch"
	eventpb "github.com/zombi-dev/zombi/proto"
	"google.golang.org/protobuf/proto"
)

// Limits on write bodies (documented in README.md).
const (
	// MaxBulkRecords bounds the records of one bulk write.
	MaxBulkRecords = 10000
	// MaxIdempotencyKeyBytes bounds an idempotency key.
	MaxIdempotencyKeyBytes = 1024
)

// event is one decoded write, before a partition is chosen.
type event struct {
	value     []byte
	key       []byte // nil: no key
	headers   []batch.RecordHeader
	ts        int64 // -1: server time
	idemKey   string
	partition int32 // -1: not given
}

// jsonEvent is the JSON shape of one event (single writes and bulk records).
type jsonEvent struct {
	Payload        json.RawMessage   `json:"payload"`
	Key            *string           `json:"key"`
	Headers        map[string]string `json:"headers"`
	TimestampMs    *int64            `json:"timestamp_ms"`
	IdempotencyKey string            `json:"idempotency_key"`
	Partition      *int32            `json:"partition"`
}

type jsonBulk struct {
	Records []jsonEvent `json:"records"`
}

// decodeJSONEvent decodes the body of a JSON single write.
func decodeJSONEvent(body []byte) (event, error) {
	if fe, ok := fastDecodeJSONEvent(body); ok {
		return fe.event(-1)
	}
	return slowDecodeJSONEvent(body)
}

// slowDecodeJSONEvent decodes with encoding/json: every valid body.
func slowDecodeJSONEvent(body []byte) (event, error) {
	var je jsonEvent
	if err := unmarshalBody(body, &je); err != nil {
		return event{}, err
	}
	return je.event(-1)
}

// decodeJSONBulk decodes the body of a bulk write.
func decodeJSONBulk(body []byte) ([]event, error) {
	if fes, ok := fastDecodeJSONBulk(body); ok && len(fes) > 0 {
		evs := make([]event, len(fes))
		for i := range fes {
			ev, err := fes[i].event(i)
			if err != nil {
				return nil, err
			}
			evs[i] = ev
		}
		return evs, nil
	}
	return slowDecodeJSONBulk(body)
}

// slowDecodeJSONBulk decodes a bulk body with encoding/json.
func slowDecodeJSONBulk(body []byte) ([]event, error) {
	var jb jsonBulk
	if err := unmarshalBody(body, &jb); err != nil {
		return nil, err
	}
	if len(jb.Records) == 0 {
		return nil, badRequest(`"records" must be a non-empty array`)
	}
	if len(jb.Records) > MaxBulkRecords {
		return nil, badRequest("too many records: %d (at most %d per bulk write)", len(jb.Records), MaxBulkRecords)
	}
	evs := make([]event, len(jb.Records))
	for i := range jb.Records {
		ev, err := jb.Records[i].event(i)
		if err != nil {
			return nil, err
		}
		evs[i] = ev
	}
	return evs, nil
}

// readJSON reads a JSON request body into v with decode (unmarshalBody or
// decodeStrict): 415 for a content type that is not JSON, 400 for a body
// that is not what v expects, 413 over the request limit.
func (s *server) readJSON(c *gin.Context, v any, decode func([]byte, any) error) error {
	if format, err := formatOf(c.Request.Header.Get("Content-Type")); err != nil || format != formatJSON {
		return errJSONOnly
	}
	bp, err := s.readBody(c)
	if err != nil {
		return err
	}
	defer releaseBody(bp)
	return decode(*bp, v)
}

func unmarshalBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("empty request body: expected a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return badRequest("invalid JSON body: field %q must be %s, not %s", ute.Field, jsonTypeName(ute.Type.String()), ute.Value)
		}
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

func jsonTypeName(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "map[string]string":
		return "an object of strings"
	case "[]httpapi.jsonEvent":
		return "an array"
	}
	return goType
}

// recordPrefix names record idx of a bulk write in error messages (idx < 0:
// a single write).
func recordPrefix(idx int) string {
	if idx < 0 {
		return ""
	}
	return fmt.Sprintf("records[%d].", idx)
}

// event validates a decoded JSON event; idx numbers it in errors.
func (je *jsonEvent) event(idx int) (event, error) {
	ev := event{ts: -1, partition: -1, idemKey: je.IdempotencyKey}
	p := je.Payload
	switch {
	case len(p) == 0 || string(p) == "null":
		return ev, badRequest("%spayload is required (a string, object or array)", recordPrefix(idx))
	case p[0] == '"':
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return ev, badRequest("%spayload: %v", recordPrefix(idx), err)
		}
		ev.value = []byte(s)
	case p[0] == '{' || p[0] == '[':
		var buf bytes.Buffer
		buf.Grow(len(p))
		if err := json.Compact(&buf, p); err != nil {
			return ev, badRequest("%spayload: %v", recordPrefix(idx), err)
		}
		ev.value = buf.Bytes()
	default: // number, true, false: stored as their JSON text
		ev.value = append([]byte(nil), p...)
	}
	if je.Key != nil {
		ev.key = []byte(*je.Key)
	}
	ev.headers = headersOf(je.Headers)
	return ev, checkEvent(&ev, je.TimestampMs, je.Partition, idx)
}

// checkEvent validates and sets the optional fields shared by both JSON
// decoders.
func checkEvent(ev *event, ts *int64, partition *int32, idx int) error {
	if ts != nil {
		if *ts < 0 {
			return badRequest("%stimestamp_ms must be >= 0, got %d", recordPrefix(idx), *ts)
		}
		ev.ts = *ts
	}
	if partition != nil {
		if *partition < 0 {
			return badRequest("%spartition must be >= 0, got %d", recordPrefix(idx), *partition)
		}
		ev.partition = *partition
	}
	if len(ev.idemKey) > MaxIdempotencyKeyBytes {
		return badRequest("%sidempotency_key longer than %d bytes", recordPrefix(idx), MaxIdempotencyKeyBytes)
	}
	return nil
}

// headersOf turns a header map into record headers sorted by key, so that
// the stored order does not depend on map iteration.
func headersOf(m map[string]string) []batch.RecordHeader {
	if len(m) == 0 {
		return nil
	}
	hs := make([]batch.RecordHeader, 0, len(m))
	for k, v := range m {
		hs = append(hs, batch.RecordHeader{Key: k, Value: []byte(v)})
	}
	slices.SortFunc(hs, func(a, b batch.RecordHeader) int { return strings.Compare(a.Key, b.Key) })
	return hs
}

// decodeProtobufEvent decodes a proto/event.proto Event; partitionHeader is
// the X-Partition header ("" when absent).
func decodeProtobufEvent(body []byte, partitionHeader string) (event, error) {
	ev := event{ts: -1, partition: -1}
	if len(body) == 0 {
		return ev, badRequest("empty request body: expected a protobuf Event")
	}
	var pe eventpb.Event
	if err := proto.Unmarshal(body, &pe); err != nil {
		return ev, badRequest("invalid protobuf Event: %v", err)
	}
	ev.value = pe.Payload
	if ev.value == nil {
		ev.value = []byte{}
	}
	if pe.TimestampMs != 0 {
		if pe.TimestampMs < 0 {
			return ev, badRequest("timestamp_ms must be >= 0, got %d", pe.TimestampMs)
		}
		ev.ts = pe.TimestampMs
	}
	ev.idemKey = pe.IdempotencyKey
	if len(ev.idemKey) > MaxIdempotencyKeyBytes {
		return ev, badRequest("idempotency_key longer than %d bytes", MaxIdempotencyKeyBytes)
	}
	ev.headers = headersOf(pe.Headers)
	if partitionHeader != "" {
		p, err := strconv.ParseInt(strings.TrimSpace(partitionHeader), 10, 32)
		if err != nil || p < 0 {
			return ev, badRequest("X-Partition must be an integer >= 0, got %q", partitionHeader)
		}
		ev.partition = int32(p)
	}
	return ev, nil
}
