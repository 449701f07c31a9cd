package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzMessagesQuery: whatever the query and the cursor hold, the message
// browser answers 200 or 400 (404 for the path's table), never panics and
// never 500; a cursor that decodes encodes back to the same thing. The
// cursor body is fuzzed under a valid checksum, so that the fuzzer gets
// past the CRC into the structure; the raw query may carry a cursor of
// its own.
//
//	go test -run '^$' -fuzz FuzzMessagesQuery -fuzztime 60s ./httpapi/
func FuzzMessagesQuery(f *testing.F) {
	e := newEnv(f, Config{})
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if _, _, err := e.log.EnsureTopicWithID("m", 3, id); err != nil {
		f.Fatal(err)
	}
	for i := range 40 {
		e.write("m", `{"payload":{"n":`+string(rune('0'+i%10))+`},"key":"k","headers":{"h":"v"},"partition":`+string(rune('0'+i%3))+`}`)
	}
	h := New(e.log, e.stats, Config{}, discardLogger()) // no openapi check: it reports through the F
	body := func(backward bool, parts ...cursorPart) []byte {
		s, _ := base64.RawURLEncoding.DecodeString((&msgCursor{backward: backward, topic: id, parts: parts}).encode())
		return s[:len(s)-4]
	}
	for _, seed := range []struct {
		query  string
		cursor []byte
	}{
		{"", nil},
		{"limit=5", body(true, cursorPart{0, 3}, cursorPart{2, 9})},
		{"from=oldest&q=k&in=key,value", body(false, cursorPart{0, 0}, cursorPart{1, 1}, cursorPart{2, 2})},
		{"from=offset&offset=3&partition=1", body(false, cursorPart{1, 1 << 62})},
		{"from=time&time_ms=0&limit=500", nil},
		{"time_ms=9223372036854775807", []byte{1, 0}},
		{"from=newest&q=%C3%BC&in=headers", body(true)},
		{"limit=501&partition=10000", []byte{2, 1, 0}},
		{"cursor=AQA&from=oldest", nil},
		{"q=%ff", nil},
		{"in=,", nil},
		{"partition=2&cursor=" + (&msgCursor{topic: id, parts: []cursorPart{{2, 5}}}).encode(), nil},
	} {
		f.Add(seed.query, seed.cursor)
	}
	f.Fuzz(func(t *testing.T, rawQuery string, cursorBody []byte) {
		cur := base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint32(append([]byte(nil), cursorBody...), crc32.Checksum(cursorBody, castagnoli)))
		for _, s := range []string{cur, string(cursorBody)} {
			c, err := decodeCursor(s)
			if err != nil {
				if statusOf(err) != 400 {
					t.Fatalf("cursor error with status %d: %v", statusOf(err), err)
				}
				continue
			}
			back, err := decodeCursor(c.encode())
			if err != nil || !reflect.DeepEqual(c, back) {
				t.Fatalf("cursor %+v encodes to one that decodes to %+v, %v", c, back, err)
			}
		}
		if v, err := url.ParseQuery(rawQuery); err == nil {
			if _, err := parseMessagesQuery(v); err != nil && statusOf(err) != 400 {
				t.Fatalf("query error with status %d: %v", statusOf(err), err)
			}
		}
		q := rawQuery
		if !strings.Contains(q, "cursor=") && len(cursorBody) > 0 {
			q += "&cursor=" + cur
		}
		req := httptest.NewRequest("GET", "/tables/m/messages", nil)
		req.URL.RawQuery = q
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200:
			var p struct {
				Records    []json.RawMessage `json:"records"`
				NextCursor *string           `json:"next_cursor"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || len(p.Records) > MaxMessagesLimit {
				t.Fatalf("?%s: 200 with %d records, %v: %s", q, len(p.Records), err, w.Body.Bytes())
			}
			if p.NextCursor != nil {
				next, err := decodeCursor(*p.NextCursor)
				if err != nil {
					t.Fatalf("?%s: next_cursor does not decode: %v", q, err)
				}
				// A cursor's answer goes on in the cursor's direction.
				if mq, err := parseMessagesQuery(req.URL.Query()); err == nil && mq.cursor != nil && mq.cursor.backward != next.backward {
					t.Fatalf("?%s: next_cursor backward %v after a cursor backward %v", q, next.backward, mq.cursor.backward)
				}
			}
		case 400:
			var m struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(w.Body.Bytes(), &m) != nil || m.Error == "" {
				t.Fatalf("?%s: 400 without an error message: %s", q, w.Body.Bytes())
			}
		default:
			t.Fatalf("?%s: %d %s", q, w.Code, w.Body.Bytes())
		}
	})
}
