package httpapi

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

type readRec struct {
	Payload         json.RawMessage   `json:"payload"`
	PayloadEncoding string            `json:"payload_encoding"`
	TimestampMs     int64             `json:"timestamp_ms"`
	Offset          int64             `json:"offset"`
	Partition       int32             `json:"partition"`
	Key             *string           `json:"key"`
	KeyEncoding     string            `json:"key_encoding"`
	Headers         map[string]string `json:"headers"`
	HeadersEncoding string            `json:"headers_encoding"`
}

type readResp struct {
	Records    []readRec `json:"records"`
	Count      int       `json:"count"`
	HasMore    bool      `json:"has_more"`
	NextOffset *int64    `json:"next_offset"`
}

func (e *testEnv) read(path string) readResp {
	e.t.Helper()
	code, b := e.do("GET", path, "", nil)
	if code != 200 {
		e.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	var r readResp
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	if r.Count != len(r.Records) {
		e.t.Fatalf("count %d, %d records", r.Count, len(r.Records))
	}
	return r
}

func TestReadSpecExample(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("events", `{"payload": "hello world"}`)
	code, b := e.do("GET", "/tables/events", "", nil)
	m := decodeMap(t, b)
	recs := m["records"].([]any)
	r := recs[0].(map[string]any)
	if code != 200 || len(recs) != 1 || r["payload"] != "hello world" || num(r["timestamp_ms"]) < 1e12 ||
		num(m["count"]) != 1 || m["has_more"] != false || r["key"] != nil || num(r["offset"]) != 0 || num(r["partition"]) != 0 {
		t.Fatalf("%d %s", code, b)
	}
	if s := e.stats.Snapshot(); s.Reads.Total != 1 || s.Reads.RecordsTotal != 1 {
		t.Fatalf("%+v", s.Reads)
	}
}

func TestReadUnknownTable(t *testing.T) {
	e := newEnv(t, Config{})
	for _, path := range []string{"/tables/nothing", "/tables/nothing?since=5&limit=3", "/tables/nothing?partition=0", "/tables/nothing?partition=2&offset=7"} {
		r := e.read(path)
		if len(r.Records) != 0 || r.HasMore {
			t.Fatalf("%s: %+v", path, r)
		}
	}
	if e.log.Topics() != nil && len(e.log.Topics()) != 0 {
		t.Fatal("read created a table")
	}
}

// TestMergedOrder: INV-3, timestamp order across partitions, ties by
// partition then offset, since inclusive, limit and has_more.
func TestMergedOrder(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 3})
	writes := []struct {
		part int
		ts   int64
	}{
		{2, 100}, {0, 100}, {1, 50}, {0, 100}, {1, 300}, {2, 200}, {0, 150}, {1, 100}, {2, 100},
	}
	for i, w := range writes {
		e.write("m", fmt.Sprintf(`{"payload":"w%d","partition":%d,"timestamp_ms":%d}`, i, w.part, w.ts))
	}
	type key struct {
		ts   int64
		part int32
		off  int64
	}
	want := []key{{50, 1, 0}, {100, 0, 0}, {100, 0, 1}, {100, 1, 2}, {100, 2, 0}, {100, 2, 2}, {150, 0, 2}, {200, 2, 1}, {300, 1, 1}}
	check := func(path string, want []key, more bool) {
		t.Helper()
		r := e.read(path)
		var got []key
		for _, rec := range r.Records {
			got = append(got, key{rec.TimestampMs, rec.Partition, rec.Offset})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || r.HasMore != more {
			t.Fatalf("%s:\n got %v more=%v\nwant %v more=%v", path, got, r.HasMore, want, more)
		}
	}
	check("/tables/m", want, false)
	check("/tables/m?limit=9", want, false)
	check("/tables/m?limit=4", want[:4], true)
	check("/tables/m?since=100", want[1:], false)
	check("/tables/m?since=101", want[6:], false)
	check("/tables/m?since=150&limit=2", want[6:8], true)
	check("/tables/m?since=301", nil, false)
	// The payloads are the right ones.
	r := e.read("/tables/m?limit=1")
	if string(r.Records[0].Payload) != `"w2"` {
		t.Fatalf("%s", r.Records[0].Payload)
	}
}

func TestReadPartition(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 2})
	for i := range 5 {
		e.write("p", fmt.Sprintf(`{"payload":"r%d","partition":1,"timestamp_ms":%d}`, i, 1000+i))
	}
	r := e.read("/tables/p?partition=1&offset=1&limit=2")
	if len(r.Records) != 2 || r.Records[0].Offset != 1 || r.Records[1].Offset != 2 || *r.NextOffset != 3 || !r.HasMore {
		t.Fatalf("%+v", r)
	}
	r = e.read("/tables/p?partition=1&offset=3")
	if len(r.Records) != 2 || *r.NextOffset != 5 || r.HasMore || string(r.Records[1].Payload) != `"r4"` {
		t.Fatalf("%+v", r)
	}
	// At the high watermark: empty, next_offset stays.
	r = e.read("/tables/p?partition=1&offset=5")
	if len(r.Records) != 0 || *r.NextOffset != 5 || r.HasMore {
		t.Fatalf("%+v", r)
	}
	// Without offset: from the start; with since: from that time.
	if r = e.read("/tables/p?partition=1"); len(r.Records) != 5 || *r.NextOffset != 5 {
		t.Fatalf("%+v", r)
	}
	if r = e.read("/tables/p?partition=1&since=1003"); len(r.Records) != 2 || r.Records[0].Offset != 3 {
		t.Fatalf("%+v", r)
	}
	if r = e.read("/tables/p?partition=0"); len(r.Records) != 0 || *r.NextOffset != 0 {
		t.Fatalf("%+v", r)
	}
	// A batch of several records read from its middle skips the ones before.
	code, _ := e.doJSON("POST", "/tables/p/bulk", `{"records":[{"payload":"b0","partition":0},{"payload":"b1","partition":0},{"payload":"b2","partition":0}]}`)
	if code != 202 {
		t.Fatal(code)
	}
	if r = e.read("/tables/p?partition=0&offset=1&limit=1"); len(r.Records) != 1 || string(r.Records[0].Payload) != `"b1"` || *r.NextOffset != 2 || !r.HasMore {
		t.Fatalf("%+v", r)
	}
}

func TestReadErrors(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 2})
	e.write("r", `{"payload":"x","partition":0}`)
	tests := []struct {
		path, errContains string
	}{
		{"/tables/r?limit=abc", "limit must be an integer"},
		{"/tables/r?limit=-1", "limit must be an integer"},
		{"/tables/r?limit=0", "limit must be an integer in [1, 10000]"},
		{"/tables/r?limit=10001", "limit must be an integer in [1, 10000]"},
		{"/tables/r?since=-5", "since must be"},
		{"/tables/r?since=1.5", "since must be"},
		{"/tables/r?partition=x", "partition must be"},
		{"/tables/r?partition=-1", "partition must be"},
		{"/tables/r?partition=2", "partition 2 out of range"},
		{"/tables/r?offset=0", "offset needs partition"},
		{"/tables/r?partition=0&offset=-1", "offset must be"},
		{"/tables/r?partition=0&offset=2", "offset 2 out of range for r/0: valid offsets are 0 to 1"},
		{"/tables/bad$name", "invalid table name"},
	}
	for _, tc := range tests {
		code, b := e.do("GET", tc.path, "", nil)
		m := decodeMap(t, b)
		if code != 400 || len(m) != 1 || !strings.Contains(fmt.Sprint(m["error"]), tc.errContains) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.path, code, b, tc.errContains)
		}
	}
	if s := e.stats.Snapshot(); s.ErrorsTotal != int64(len(tests)) || s.Reads.Total != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestReadEncodings(t *testing.T) {
	e := newEnv(t, Config{})
	if _, _, err := e.log.EnsureTopic("enc", 1); err != nil {
		t.Fatal(err)
	}
	b := batch.NewBuilder()
	b.Add(10, []byte{0xfe, 0x01}, []byte{0xff, 0x00, 'a'}, []batch.RecordHeader{{Key: "bin", Value: []byte{0x80}}, {Key: "txt", Value: []byte("t")}})
	b.Add(11, []byte("ké\"y\n"), []byte("vä\u2028lue<>&\x01"), []batch.RecordHeader{{Key: "d", Value: []byte("1")}, {Key: "d", Value: []byte("2")}, {Key: "n", Value: nil}})
	b.Add(12, nil, nil, nil) // tombstone
	res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: "enc", Partition: 0, Batch: append([]byte(nil), b.Bytes()...)}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	_, body := e.do("GET", "/tables/enc", "", nil)
	want := `{"records":[` +
		`{"payload":"/wBh","payload_encoding":"base64","timestamp_ms":10,"offset":0,"partition":0,"key":"/gE=","key_encoding":"base64","headers":{"bin":"gA==","txt":"dA=="},"headers_encoding":"base64"},` +
		`{"payload":"vä\u2028lue<>&\u0001","timestamp_ms":11,"offset":1,"partition":0,"key":"ké\"y\n","headers":{"d":"2","n":null}},` +
		`{"payload":null,"timestamp_ms":12,"offset":2,"partition":0,"key":null,"headers":{}}` +
		`],"count":3,"has_more":false}` + "\n"
	if string(body) != want {
		t.Fatalf("got\n%s\nwant\n%s", body, want)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
}

// gzipBatch builds a gzip-compressed v2 batch as a Kafka client would.
func gzipBatch(t *testing.T, ts int64, values ...string) []byte {
	t.Helper()
	b := batch.NewBuilder()
	for i, v := range values {
		b.Add(ts+int64(i), nil, []byte(v), nil)
	}
	raw := b.Bytes()
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	if _, err := zw.Write(raw[batch.HeaderSize:]); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), raw[:batch.HeaderSize]...), zbuf.Bytes()...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint16(out[21:], batch.CodecGzip)
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

func TestReadCompressedBatch(t *testing.T) {
	e := newEnv(t, Config{})
	if _, _, err := e.log.EnsureTopic("z", 1); err != nil {
		t.Fatal(err)
	}
	e.write("z", `{"payload":"plain","timestamp_ms":5}`)
	res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: "z", Partition: 0, Batch: gzipBatch(t, 10, "c1", "c2", "c3")}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	r := e.read("/tables/z")
	var got []string
	for _, rec := range r.Records {
		got = append(got, fmt.Sprintf("%d:%s", rec.Offset, rec.Payload))
	}
	if fmt.Sprint(got) != `[0:"plain" 1:"c1" 2:"c2" 3:"c3"]` {
		t.Fatal(got)
	}
	if r = e.read("/tables/z?partition=0&offset=2"); len(r.Records) != 2 || string(r.Records[0].Payload) != `"c2"` {
		t.Fatalf("%+v", r)
	}
}

func TestMergedOutOfOrderTimestamps(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 2})
	for _, w := range []string{
		`{"payload":"a","partition":0,"timestamp_ms":300}`,
		`{"payload":"b","partition":0,"timestamp_ms":100}`,
		`{"payload":"c","partition":1,"timestamp_ms":200}`,
		`{"payload":"d","partition":0,"timestamp_ms":200}`,
	} {
		e.write("ooo", w)
	}
	var got []string
	for _, r := range e.read("/tables/ooo").Records {
		got = append(got, fmt.Sprintf("%d/%d/%s", r.TimestampMs, r.Partition, r.Payload))
	}
	if want := `[100/0/"b" 200/0/"d" 200/1/"c" 300/0/"a"]`; fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	r := e.read("/tables/ooo?since=150&limit=2")
	if len(r.Records) != 2 || r.Records[0].TimestampMs != 200 || r.Records[1].TimestampMs != 200 || !r.HasMore {
		t.Fatalf("%+v", r)
	}
}

// TestMergedMatchesModel compares merged reads against a direct model of
// the documented rule over random (also out-of-order) timestamps.
func TestMergedMatchesModel(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 4})
	rng := rand.New(rand.NewPCG(1, 2))
	type mrec struct {
		ts, off int64
		part    int32
	}
	parts := make([][]mrec, 4)
	var sb strings.Builder
	sb.WriteString(`{"records":[`)
	for i := range 400 {
		p := int32(rng.IntN(4))
		ts := int64(1000 + rng.IntN(50))
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"payload":"x","partition":%d,"timestamp_ms":%d}`, p, ts)
		parts[p] = append(parts[p], mrec{ts, int64(len(parts[p])), p})
	}
	sb.WriteString(`]}`)
	if code, m := e.doJSON("POST", "/tables/model/bulk", sb.String()); code != 202 {
		t.Fatalf("%d %v", code, m)
	}
	for range 60 {
		limit, since := 1+rng.IntN(150), int64(990+rng.IntN(70))
		var all []mrec
		more := false
		for _, pr := range parts {
			n := 0
			for _, r := range pr {
				if r.ts < since {
					continue
				}
				if n == limit {
					more = true
					break
				}
				all = append(all, r)
				n++
			}
		}
		slices.SortFunc(all, func(a, b mrec) int {
			return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.part, b.part), cmp.Compare(a.off, b.off))
		})
		if len(all) > limit {
			all, more = all[:limit], true
		}
		r := e.read(fmt.Sprintf("/tables/model?limit=%d&since=%d", limit, since))
		var got []mrec
		for _, rec := range r.Records {
			got = append(got, mrec{rec.TimestampMs, rec.Offset, rec.Partition})
		}
		if !slices.Equal(got, all) {
			t.Fatalf("limit=%d since=%d:\n got %v\nwant %v", limit, since, got, all)
		}
		// has_more may also be true when only records below since remain
		// after a partition's limit; it is never false when some were cut.
		if more && !r.HasMore {
			t.Fatalf("limit=%d since=%d: has_more false, records were left out", limit, since)
		}
	}
}
