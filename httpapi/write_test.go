package httpapi

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
	eventpb "github.com/zombi-dev/zombi/proto"
	"google.golang.org/protobuf/proto"
)

// readBack returns the records of one partition.
func (e *testEnv) readBack(table string, part int32) []batch.Record {
	e.t.Helper()
	var out []batch.Record
	for off := int64(0); ; {
		rr, err := e.log.Read(table, part, off, 1<<20)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(rr.Batches) == 0 {
			return out
		}
		for _, b := range rr.Batches {
			_, recs, err := batch.Records(b.Raw, 0)
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, recs...)
			off = b.LastOffset + 1
		}
	}
}

func TestPostEventStoresRecord(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		value, key  string
		nilKey      bool
		headers     []batch.RecordHeader
		ts          int64 // 0: server time
	}{
		{name: "spec example", contentType: "application/json", body: `{"payload": "hello world"}`, value: "hello world", nilKey: true},
		{name: "no content type", contentType: "-", body: `{"payload": "x"}`, value: "x", nilKey: true},
		{name: "curl form default", contentType: "application/x-www-form-urlencoded", body: `{"payload": "x"}`, value: "x", nilKey: true},
		{name: "json charset", contentType: "Application/JSON; charset=utf-8", body: `{"payload": "x"}`, value: "x", nilKey: true},
		{name: "object payload compacted", contentType: "application/json", body: `{"payload": {"a": 1, "b": [1, 2]}}`, value: `{"a":1,"b":[1,2]}`, nilKey: true},
		{name: "array payload", contentType: "application/json", body: `{"payload": [ 1 , "x" ]}`, value: `[1,"x"]`, nilKey: true},
		{name: "number payload", contentType: "application/json", body: `{"payload": 42}`, value: `42`, nilKey: true},
		{name: "escaped string", contentType: "application/json", body: `{"payload": "a\"b\n\u00e9"}`, value: "a\"b\né", nilKey: true},
		{name: "empty string payload", contentType: "application/json", body: `{"payload": ""}`, value: "", nilKey: true},
		{name: "all fields", contentType: "application/json",
			body:  `{"payload":"v","key":"k","headers":{"b":"2","a":"1"},"timestamp_ms":1234,"idempotency_key":"id-1","partition":0}`,
			value: "v", key: "k", headers: []batch.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}, ts: 1234},
		{name: "unknown fields ignored", contentType: "application/json", body: `{"payload":"v","extra":{"x":[1]}}`, value: "v", nilKey: true},
		{name: "null key", contentType: "application/json", body: `{"payload":"v","key":null}`, value: "v", nilKey: true},
		{name: "empty key", contentType: "application/json", body: `{"payload":"v","key":""}`, value: "v", key: ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			table := fmt.Sprintf("t%d", i)
			code, body := e.do("POST", "/tables/"+table, tc.contentType, []byte(tc.body))
			if code != 202 {
				t.Fatalf("status %d: %s", code, body)
			}
			if want := fmt.Sprintf(`{"offset":0,"partition":0,"table":"%s"}`+"\n", table); string(body) != want {
				t.Fatalf("body %s, want %s", body, want)
			}
			recs := e.readBack(table, 0)
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			r := recs[0]
			if string(r.Value) != tc.value {
				t.Errorf("value %q, want %q", r.Value, tc.value)
			}
			if tc.nilKey != (r.Key == nil) || string(r.Key) != tc.key {
				t.Errorf("key %q (nil %v), want %q (nil %v)", r.Key, r.Key == nil, tc.key, tc.nilKey)
			}
			if !slices.EqualFunc(r.Headers, tc.headers, func(a, b batch.RecordHeader) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
				t.Errorf("headers %v, want %v", r.Headers, tc.headers)
			}
			if tc.ts != 0 && r.Timestamp != tc.ts {
				t.Errorf("timestamp %d, want %d", r.Timestamp, tc.ts)
			}
			if tc.ts == 0 && r.Timestamp < 1e12 {
				t.Errorf("server timestamp %d", r.Timestamp)
			}
		})
	}
}

func TestPostProtobuf(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 3})
	msg, err := proto.Marshal(&eventpb.Event{Payload: []byte{0xff, 0, 1}, TimestampMs: 777, IdempotencyKey: "pb-1", Headers: map[string]string{"h": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	code, body := e.do("POST", "/tables/pb", "application/x-protobuf", msg, "X-Partition", "2")
	if code != 202 || string(body) != `{"offset":0,"partition":2,"table":"pb"}`+"\n" {
		t.Fatalf("%d %s", code, body)
	}
	recs := e.readBack("pb", 2)
	if len(recs) != 1 || !bytes.Equal(recs[0].Value, []byte{0xff, 0, 1}) || recs[0].Timestamp != 777 || len(recs[0].Headers) != 1 || recs[0].Key != nil {
		t.Fatalf("%+v", recs)
	}
	// Same idempotency key: same offset and partition, nothing appended.
	code, body = e.do("POST", "/tables/pb", "application/x-protobuf", msg)
	if code != 202 || string(body) != `{"offset":0,"partition":2,"table":"pb"}`+"\n" {
		t.Fatalf("%d %s", code, body)
	}
	if h := e.hwms("pb"); !slices.Equal(h, []int64{0, 0, 1}) {
		t.Fatalf("hwms %v", h)
	}
}

// TestWriteErrors: every error status of the write endpoints, with its
// body, and that nothing was appended or created.
func TestWriteErrors(t *testing.T) {
	long := strings.Repeat("k", MaxIdempotencyKeyBytes+1)
	tests := []struct {
		name, path, contentType, body string
		hdr                           []string
		status                        int
		errContains                   string
	}{
		{"invalid table", "/tables/bad%20name", "application/json", `{"payload":"x"}`, nil, 400, "invalid table name"},
		{"dotdot table", "/tables/..", "application/json", `{"payload":"x"}`, nil, 400, ""},
		{"table too long", "/tables/" + strings.Repeat("a", 250), "application/json", `{"payload":"x"}`, nil, 400, "invalid table name"},
		{"bad content type", "/tables/t", "text/plain", `{"payload":"x"}`, nil, 415, "unsupported Content-Type"},
		{"bad content type bulk", "/tables/t/bulk", "application/x-protobuf", `{}`, nil, 415, "unsupported Content-Type"},
		{"empty body", "/tables/t", "application/json", ``, nil, 400, "empty request body"},
		{"not json", "/tables/t", "application/json", `hello`, nil, 400, "invalid JSON body"},
		{"trailing garbage", "/tables/t", "application/json", `{"payload":"x"} x`, nil, 400, "invalid JSON body"},
		{"json array body", "/tables/t", "application/json", `[1]`, nil, 400, "invalid JSON body"},
		{"missing payload", "/tables/t", "application/json", `{"key":"k"}`, nil, 400, "payload is required"},
		{"null payload", "/tables/t", "application/json", `{"payload":null}`, nil, 400, "payload is required"},
		{"key not string", "/tables/t", "application/json", `{"payload":"x","key":5}`, nil, 400, `field "key" must be a string`},
		{"headers not strings", "/tables/t", "application/json", `{"payload":"x","headers":{"a":1}}`, nil, 400, "invalid JSON body"},
		{"negative timestamp", "/tables/t", "application/json", `{"payload":"x","timestamp_ms":-5}`, nil, 400, "timestamp_ms must be >= 0"},
		{"fractional timestamp", "/tables/t", "application/json", `{"payload":"x","timestamp_ms":1.5}`, nil, 400, "timestamp_ms"},
		{"negative partition", "/tables/t", "application/json", `{"payload":"x","partition":-1}`, nil, 400, "partition must be >= 0"},
		{"partition out of range", "/tables/t", "application/json", `{"payload":"x","partition":1}`, nil, 400, "partition 1 out of range"},
		{"partition overflow", "/tables/t", "application/json", `{"payload":"x","partition":99999999999}`, nil, 400, "partition"},
		{"idempotency key too long", "/tables/t", "application/json", `{"payload":"x","idempotency_key":"` + long + `"}`, nil, 400, "idempotency_key longer"},
		{"too large", "/tables/t", "application/json", `{"payload":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, "larger than 4096 bytes"},
		{"bulk too large", "/tables/t/bulk", "application/json", `{"records":[{"payload":"` + strings.Repeat("x", 5000) + `"}]}`, nil, 413, "larger than"},
		{"bad protobuf", "/tables/t", "application/x-protobuf", "\xff\xff\xff", nil, 400, "invalid protobuf"},
		{"empty protobuf", "/tables/t", "application/x-protobuf", "", nil, 400, "empty request body"},
		{"bad X-Partition", "/tables/t", "application/x-protobuf", "\x0a\x01x", []string{"X-Partition", "abc"}, 400, "X-Partition"},
		{"X-Partition out of range", "/tables/t", "application/x-protobuf", "\x0a\x01x", []string{"X-Partition", "3"}, 400, "out of range"},
		{"bulk empty", "/tables/t/bulk", "application/json", `{"records":[]}`, nil, 400, "non-empty array"},
		{"bulk missing records", "/tables/t/bulk", "application/json", `{}`, nil, 400, "non-empty array"},
		{"bulk bad record", "/tables/t/bulk", "application/json", `{"records":[{"payload":"a"},{"key":"k"}]}`, nil, 400, "records[1].payload is required"},
		{"bulk bad partition", "/tables/t/bulk", "application/json", `{"records":[{"payload":"a"},{"payload":"b","partition":7}]}`, nil, 400, "records[1].partition 7 out of range"},
		{"bulk records not array", "/tables/t/bulk", "application/json", `{"records":{}}`, nil, 400, `field "records" must be an array`},
		{"GET unknown route", "/tables/t/nope", "", "", nil, 404, "no such endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{MaxRequestBytes: 4096})
			code, body := e.do("POST", tc.path, tc.contentType, []byte(tc.body), tc.hdr...)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			m := decodeMap(t, body)
			msg, _ := m["error"].(string)
			if len(m) != 1 || msg == "" || !strings.Contains(msg, tc.errContains) {
				t.Fatalf("body %s, want error containing %q", body, tc.errContains)
			}
			if topics := e.log.Topics(); len(topics) != 0 {
				t.Fatalf("bad input created %v", topics)
			}
			if s := e.stats.Snapshot(); s.ErrorsTotal != 1 || s.Writes.Total != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestBadInputAppendsNothing: on an existing table, errors leave every
// high watermark where it was.
func TestBadInputAppendsNothing(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 2, MaxRequestBytes: 4096})
	e.write("t", `{"payload":"a","partition":0}`)
	e.write("t", `{"payload":"b","partition":1}`)
	before := e.hwms("t")
	for _, body := range []string{
		`{"payload":"x","partition":2}`,
		`{"payload":"x","timestamp_ms":-1}`,
		`{"records":[{"payload":"ok"},{"payload":"x","partition":5}]}`,
		`{"records":[{"payload":"ok"},{"nopayload":1}]}`,
		`{"payload":"` + strings.Repeat("x", 5000) + `"}`,
	} {
		for _, path := range []string{"/tables/t", "/tables/t/bulk"} {
			if code, b := e.do("POST", path, "application/json", []byte(body)); code < 400 {
				t.Fatalf("%s %s: %d %s", path, body, code, b)
			}
		}
	}
	if after := e.hwms("t"); !slices.Equal(before, after) {
		t.Fatalf("hwms moved: %v -> %v", before, after)
	}
}

func TestPartitionChoice(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 4})
	// Round-robin without key.
	var got []int32
	for range 8 {
		p, _ := e.write("rr", `{"payload":"x"}`)
		got = append(got, p)
	}
	if !slices.Equal(got, []int32{0, 1, 2, 3, 0, 1, 2, 3}) {
		t.Fatalf("round robin %v", got)
	}
	// Keyed: the Kafka default partitioner's choice, always the same (INV-5).
	for _, key := range []string{"user-1", "user-2", "", "a-much-longer-key-for-hashing"} {
		want := keyPartition([]byte(key), 4)
		for range 3 {
			if p, _ := e.write("keyed", fmt.Sprintf(`{"payload":"x","key":%q}`, key)); p != want {
				t.Fatalf("key %q -> %d, want %d", key, p, want)
			}
		}
		for _, r := range e.readBack("keyed", want) {
			if p := keyPartition(r.Key, 4); p != want {
				t.Fatalf("record with key %q in partition %d", r.Key, want)
			}
		}
	}
	// Explicit partition wins over the key.
	if p, _ := e.write("keyed", `{"payload":"x","key":"user-1","partition":3}`); p != 3 {
		t.Fatalf("explicit partition -> %d", p)
	}
}

func TestOffsetsContiguous(t *testing.T) {
	e := newEnv(t, Config{})
	for i := range 5 {
		if _, off := e.write("c", `{"payload":"x"}`); off != int64(i) {
			t.Fatalf("offset %d, want %d", off, i)
		}
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 4})
	p1, o1 := e.write("idem", `{"payload":"first","idempotency_key":"k1"}`)
	// A repeat returns the first write's offset and partition even though
	// round-robin would pick another partition, and appends nothing.
	before := e.hwms("idem")
	for range 3 {
		p, o := e.write("idem", `{"payload":"second","idempotency_key":"k1"}`)
		if p != p1 || o != o1 {
			t.Fatalf("repeat -> %d/%d, want %d/%d", p, o, p1, o1)
		}
	}
	if after := e.hwms("idem"); !slices.Equal(before, after) {
		t.Fatalf("repeat appended: %v -> %v", before, after)
	}
	// Other tables have their own keys.
	if _, o := e.write("idem2", `{"payload":"x","idempotency_key":"k1"}`); o != 0 {
		t.Fatal(o)
	}
	// The record is the first one.
	recs := e.readBack("idem", p1)
	if len(recs) != 1 || string(recs[0].Value) != "first" {
		t.Fatalf("%+v", recs)
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 3})
	const n = 32
	type res struct {
		code int
		body string
	}
	out := make([]res, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, b := e.do("POST", "/tables/cidem", "application/json", []byte(fmt.Sprintf(`{"payload":"w%d","idempotency_key":"same"}`, i)))
			out[i] = res{code, string(b)}
		}()
	}
	wg.Wait()
	for _, r := range out {
		if r.code != 202 || r.body != out[0].body {
			t.Fatalf("responses differ: %+v vs %+v", r, out[0])
		}
	}
	var total int64
	for _, h := range e.hwms("cidem") {
		total += h
	}
	if total != 1 {
		t.Fatalf("%d records appended, want 1", total)
	}
}

func TestBulk(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 3})
	e.write("b", `{"payload":"pre","partition":1}`) // partition 1 starts at offset 1
	body := `{"records":[
		{"payload":"r0","partition":1},
		{"payload":"r1","partition":0},
		{"payload":"r2","partition":1,"idempotency_key":"bk"},
		{"payload":"r3","partition":1},
		{"payload":{"j":1},"partition":2,"headers":{"h":"v"},"timestamp_ms":99},
		{"payload":"r5","partition":0,"idempotency_key":"bk"}
	]}`
	code, m := e.doJSON("POST", "/tables/b/bulk", body)
	if code != 202 {
		t.Fatalf("%d %v", code, m)
	}
	var offs, parts []int64
	for _, v := range m["offsets"].([]any) {
		offs = append(offs, num(v))
	}
	for _, v := range m["partitions"].([]any) {
		parts = append(parts, num(v))
	}
	// Partition 1: batch [r0, r3] then r2's own batch, or r2 first: offsets
	// within one partition are distinct and contiguous from 1.
	if num(m["count"]) != 6 || !slices.Equal(parts, []int64{1, 0, 1, 1, 2, 1}) {
		t.Fatalf("%v", m)
	}
	// r5 repeats r2's idempotency key: same offset and partition as r2.
	if offs[5] != offs[2] || offs[1] != 0 || offs[4] != 0 {
		t.Fatalf("offsets %v", offs)
	}
	p1 := []int64{offs[0], offs[2], offs[3]}
	slices.Sort(p1)
	if !slices.Equal(p1, []int64{1, 2, 3}) || offs[3] != offs[0]+1 && offs[2] != offs[0]+1 {
		t.Fatalf("partition 1 offsets %v", offs)
	}
	if h := e.hwms("b"); !slices.Equal(h, []int64{1, 4, 1}) {
		t.Fatalf("hwms %v", h)
	}
	// Values are where the offsets say.
	for i, want := range []string{"r0", "r1", "r2", "r3", `{"j":1}`} {
		recs := e.readBack("b", int32(parts[i]))
		idx := slices.IndexFunc(recs, func(r batch.Record) bool { return r.Offset == offs[i] })
		if idx < 0 || string(recs[idx].Value) != want {
			t.Fatalf("record %d at %d/%d: %+v", i, parts[i], offs[i], recs)
		}
	}
	if s := e.stats.Snapshot(); s.Writes.Total != 7 || s.Writes.Requests != 2 {
		t.Fatalf("stats %+v", s.Writes)
	}
}

func TestBulkTooManyRecords(t *testing.T) {
	e := newEnv(t, Config{MaxRequestBytes: 1 << 20})
	body := `{"records":[` + strings.Repeat(`{"payload":"x"},`, MaxBulkRecords) + `{"payload":"x"}]}`
	code, m := e.doJSON("POST", "/tables/big/bulk", body)
	if code != 400 || !strings.Contains(m["error"].(string), "too many records") {
		t.Fatalf("%d %v", code, m)
	}
	body = `{"records":[` + strings.Repeat(`{"payload":"x"},`, MaxBulkRecords-1) + `{"payload":"x"}]}`
	if code, m = e.doJSON("POST", "/tables/big/bulk", body); code != 202 || num(m["count"]) != MaxBulkRecords {
		t.Fatalf("%d %v", code, m)
	}
}

func TestWriteStats(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("s", `{"payload":"12345"}`)
	e.do("POST", "/tables/s", "text/plain", []byte("x"))
	s := e.stats.Snapshot()
	if s.Writes.Total != 1 || s.Writes.BytesTotal != 5 || s.Writes.Requests != 1 || s.ErrorsTotal != 1 || s.Writes.AvgLatencyUs <= 0 {
		t.Fatalf("%+v", s)
	}
}

func TestTooLargeChunkedBody(t *testing.T) {
	e := newEnv(t, Config{MaxRequestBytes: 100})
	req := httptest.NewRequest("POST", "/tables/big", strings.NewReader(`{"payload":"`+strings.Repeat("x", 200)+`"}`))
	req.ContentLength = -1 // as with Transfer-Encoding: chunked
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != 413 || w.Body.String() != `{"error":"request body larger than 100 bytes"}`+"\n" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if e.hwms("big") != nil {
		t.Fatal("table created")
	}
	// Exactly at the limit is fine.
	body := `{"payload":"` + strings.Repeat("x", 100-14) + `"}`
	if code, b := e.do("POST", "/tables/big", "application/json", []byte(body)); code != 202 {
		t.Fatalf("%d %s (len %d)", code, b, len(body))
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct{ method, path string }{{"PATCH", "/tables/t"}, {"GET", "/tables/t/bulk"}, {"PUT", "/tables/t/configs"}, {"POST", "/health"}} {
		code, b := e.do(tc.method, tc.path, "", nil)
		if m := decodeMap(t, b); code != 405 || !strings.Contains(m["error"].(string), "not allowed") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, b)
		}
	}
}
