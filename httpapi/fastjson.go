package httpapi

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zombi-dev/zombi/log/batch"
)

// fastDecodeJSONEvent decodes the common shape of a single JSON write
// without reflection: known fields only, each once, strings without escapes,
// plain integers, a string payload. ok is false for anything else (including
// invalid input), and the caller falls back to encoding/json, which decides.
// FuzzDecodeJSONEvent checks that both agree whenever ok is true.
func fastDecodeJSONEvent(body []byte) (fastEvent, bool) {
	d := scanner{b: body}
	d.ws()
	fe, ok := d.object()
	return fe, ok && d.end()
}

// fastDecodeJSONBulk is the fast path for {"records": [...]}: ok is false
// unless the body is exactly that with every record in the fast shape.
func fastDecodeJSONBulk(body []byte) ([]fastEvent, bool) {
	d := scanner{b: body}
	d.ws()
	if !d.byte('{') {
		return nil, false
	}
	d.ws()
	if name, ok := d.simpleString(); !ok || string(name) != "records" {
		return nil, false
	}
	d.ws()
	if !d.byte(':') {
		return nil, false
	}
	d.ws()
	if !d.byte('[') {
		return nil, false
	}
	var out []fastEvent
	for {
		d.ws()
		fe, ok := d.object()
		if !ok || len(out) == MaxBulkRecords {
			return nil, false
		}
		out = append(out, fe)
		d.ws()
		if d.byte(',') {
			continue
		}
		if !d.byte(']') {
			return nil, false
		}
		break
	}
	d.ws()
	if !d.byte('}') || !d.end() {
		return nil, false
	}
	return out, true
}

// object reads one event object in the fast shape.
func (d *scanner) object() (je fastEvent, ok bool) {
	if !d.byte('{') {
		return je, false
	}
	d.ws()
	if d.byte('}') {
		return je, true
	}
	var seen uint8
	for {
		d.ws()
		name, ok := d.simpleString()
		if !ok {
			return je, false
		}
		d.ws()
		if !d.byte(':') {
			return je, false
		}
		d.ws()
		var bit uint8
		switch string(name) {
		case "payload":
			bit = 1
			s, ok := d.simpleString()
			if !ok {
				return je, false
			}
			je.payload, je.hasPayload = s, true
		case "key":
			bit = 2
			if d.null() {
				break
			}
			s, ok := d.simpleString()
			if !ok {
				return je, false
			}
			je.key, je.hasKey = s, true
		case "timestamp_ms":
			bit = 4
			if d.null() {
				break
			}
			n, ok := d.int(1<<63 - 1)
			if !ok {
				return je, false
			}
			je.ts, je.hasTS = n, true
		case "partition":
			bit = 8
			if d.null() {
				break
			}
			n, ok := d.int(1<<31 - 1)
			if !ok {
				return je, false
			}
			je.partition, je.hasPartition = int32(n), true
		case "idempotency_key":
			bit = 16
			if d.null() {
				break
			}
			s, ok := d.simpleString()
			if !ok {
				return je, false
			}
			je.idemKey = string(s)
		case "headers":
			bit = 32
			if d.null() {
				break
			}
			if !d.headers(&je) {
				return je, false
			}
		default:
			return je, false
		}
		if seen&bit != 0 {
			return je, false // duplicate field: let encoding/json apply its rules
		}
		seen |= bit
		d.ws()
		if d.byte(',') {
			continue
		}
		return je, d.byte('}')
	}
}

// fastEvent is what the fast path found; slices alias the body.
type fastEvent struct {
	payload, key              []byte
	hasPayload, hasKey, hasTS bool
	hasPartition              bool
	ts                        int64
	partition                 int32
	idemKey                   string
	headers                   []batch.RecordHeader
}

// event validates like jsonEvent.event and copies what aliases the body;
// idx numbers a bulk record in errors (-1: single write).
func (fe *fastEvent) event(idx int) (event, error) {
	ev := event{ts: -1, partition: -1, idemKey: fe.idemKey}
	if !fe.hasPayload {
		return ev, badRequest("%spayload is required (a string, object or array)", recordPrefix(idx))
	}
	ev.value = append([]byte{}, fe.payload...)
	if fe.hasKey {
		ev.key = append([]byte{}, fe.key...)
	}
	if len(fe.headers) > 0 {
		slices.SortFunc(fe.headers, func(a, b batch.RecordHeader) int { return strings.Compare(a.Key, b.Key) })
		ev.headers = fe.headers
	}
	var ts *int64
	if fe.hasTS {
		ts = &fe.ts
	}
	var part *int32
	if fe.hasPartition {
		part = &fe.partition
	}
	return ev, checkEvent(&ev, ts, part, idx)
}

func (d *scanner) headers(je *fastEvent) bool {
	if !d.byte('{') {
		return false
	}
	d.ws()
	if d.byte('}') {
		return true
	}
	for {
		d.ws()
		k, ok := d.simpleString()
		if !ok {
			return false
		}
		d.ws()
		if !d.byte(':') {
			return false
		}
		d.ws()
		v, ok := d.simpleString()
		if !ok {
			return false
		}
		for _, h := range je.headers {
			if h.Key == string(k) {
				return false // duplicate key: encoding/json's rules apply
			}
		}
		je.headers = append(je.headers, batch.RecordHeader{Key: string(k), Value: append([]byte(nil), v...)})
		d.ws()
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

type scanner struct {
	b []byte
	i int
}

func (d *scanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *scanner) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *scanner) end() bool {
	d.ws()
	return d.i == len(d.b)
}

func (d *scanner) null() bool {
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// simpleString reads a JSON string without escapes or control characters
// that is valid UTF-8, returning its contents (aliasing the input).
func (d *scanner) simpleString() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// int reads a JSON integer in [-max-1, max] (no fraction or exponent).
func (d *scanner) int(max int64) (int64, bool) {
	neg := d.byte('-')
	start := d.i
	var n uint64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		n = n*10 + uint64(d.b[d.i]-'0')
		d.i++
		if d.i-start > 18 {
			return 0, false // may overflow: leave it to encoding/json
		}
	}
	digits := d.i - start
	if digits == 0 || (digits > 1 && d.b[start] == '0') {
		return 0, false
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		if n > uint64(max)+1 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > uint64(max) {
		return 0, false
	}
	return int64(n), true
}
