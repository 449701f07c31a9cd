package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

type msgRec struct {
	Partition     int32   `json:"partition"`
	Offset        int64   `json:"offset"`
	TimestampMs   int64   `json:"timestamp_ms"`
	Key           *string `json:"key"`
	KeyEncoding   string  `json:"key_encoding"`
	Value         *string `json:"value"`
	ValueEncoding string  `json:"value_encoding"`
	Headers       []struct {
		Key      string  `json:"key"`
		Value    *string `json:"value"`
		Encoding string  `json:"encoding"`
	} `json:"headers"`
	Size int `json:"size"`
}

type msgPage struct {
	Records    []msgRec `json:"records"`
	NextCursor *string  `json:"next_cursor"`
	Scanned    int      `json:"scanned"`
	Partial    bool     `json:"partial"`
	Warning    string   `json:"warning"`
}

func (e *testEnv) messages(path string) msgPage {
	e.t.Helper()
	code, body := e.do("GET", path, "", nil)
	var p msgPage
	if code != 200 {
		e.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return p
}

// allMessages follows next_cursor from path to the end.
func (e *testEnv) allMessages(path string) ([]msgRec, int) {
	e.t.Helper()
	var out []msgRec
	calls := 0
	for next := path; ; calls++ {
		if calls > 1000 {
			e.t.Fatalf("%s: no end after 1000 pages", path)
		}
		p := e.messages(next)
		out = append(out, p.Records...)
		if p.NextCursor == nil {
			return out, calls + 1
		}
		next = path + "&cursor=" + url.QueryEscape(*p.NextCursor)
	}
}

func recKeys(recs []msgRec) string {
	var s []string
	for _, r := range recs {
		k := "-"
		if r.Key != nil {
			k = *r.Key
		}
		s = append(s, k)
	}
	return strings.Join(s, ",")
}

// seedMessages writes 30 records over 3 partitions: record i has key ki,
// timestamp 1000+i, partition i%3, a red or blue JSON value and header
// h: xi.
func seedMessages(t *testing.T, e *testEnv) {
	t.Helper()
	if _, err := e.log.CreateTopic("m", 3, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		color := "blue"
		if i%4 == 0 {
			color = "Red"
		}
		e.write("m", fmt.Sprintf(`{"payload":{"n":%d,"color":%q},"key":"k%d","partition":%d,"timestamp_ms":%d,"headers":{"h":"x%d"}}`, i, color, i, i%3, 1000+i, i))
	}
}

func keysFor(is ...int) string {
	var s []string
	for _, i := range is {
		s = append(s, fmt.Sprintf("k%d", i))
	}
	return strings.Join(s, ",")
}

func seq(from, to, step int) []int {
	var out []int
	for i := from; (step > 0 && i < to) || (step < 0 && i > to); i += step {
		out = append(out, i)
	}
	return out
}

// TestMessagesModes: newest first and oldest first across partitions by
// timestamp, from an offset (clamped) and from a time, paging with the
// cursor through everything exactly once.
func TestMessagesModes(t *testing.T) {
	e := newEnv(t, Config{})
	seedMessages(t, e)

	p := e.messages("/tables/m/messages?limit=5")
	if got := recKeys(p.Records); got != keysFor(29, 28, 27, 26, 25) || p.NextCursor == nil || p.Partial {
		t.Fatalf("newest 5: %s cursor %v partial %v", got, p.NextCursor, p.Partial)
	}
	r := p.Records[0]
	if r.Partition != 2 || r.Offset != 9 || r.TimestampMs != 1029 || *r.Value != `{"n":29,"color":"blue"}` ||
		len(r.Headers) != 1 || r.Headers[0].Key != "h" || *r.Headers[0].Value != "x29" || r.Size != len("k29")+len(*r.Value)+len("h")+len("x29") {
		t.Fatalf("newest record: %+v", r)
	}
	for _, c := range []struct {
		path string
		want []int
	}{
		{"/tables/m/messages?limit=7", seq(29, -1, -1)},
		{"/tables/m/messages?from=newest&limit=4&partition=1", seq(28, -1, -3)},
		{"/tables/m/messages?from=oldest&limit=7", seq(0, 30, 1)},
		{"/tables/m/messages?from=oldest&limit=500", seq(0, 30, 1)},
		{"/tables/m/messages?from=offset&offset=5&partition=1&limit=2", seq(16, 30, 3)},
		{"/tables/m/messages?offset=8&limit=3", append(append([]int{24, 25, 26}, 27, 28), 29)},
		{"/tables/m/messages?from=offset&offset=1000", nil},
		{"/tables/m/messages?from=time&time_ms=1020&limit=4", seq(20, 30, 1)},
		{"/tables/m/messages?time_ms=5000", nil},
		{"/tables/m/messages?from=time&time_ms=0&partition=2", seq(2, 30, 3)},
	} {
		recs, _ := e.allMessages(c.path)
		if got := recKeys(recs); got != keysFor(c.want...) {
			t.Errorf("%s: %s\nwant %s", c.path, got, keysFor(c.want...))
		}
	}
	// A cursor alone continues in its own direction.
	first := e.messages("/tables/m/messages?from=oldest&limit=4")
	next := e.messages("/tables/m/messages?limit=4&cursor=" + url.QueryEscape(*first.NextCursor))
	if got := recKeys(append(first.Records, next.Records...)); got != keysFor(seq(0, 8, 1)...) {
		t.Errorf("oldest, then its cursor alone: %s", got)
	}
	next = e.messages("/tables/m/messages?limit=4&cursor=" + url.QueryEscape(*next.NextCursor))
	if got := recKeys(next.Records); got != keysFor(seq(8, 12, 1)...) {
		t.Errorf("the cursor of a cursor-only call: %s", got)
	}
	// An offset below the log start is clamped to it.
	if _, err := e.log.TrimBefore(context.Background(), "m", 0, 3); err != nil {
		t.Fatal(err)
	}
	recs, _ := e.allMessages("/tables/m/messages?from=offset&offset=0&partition=0")
	if got := recKeys(recs); got != keysFor(seq(9, 30, 3)...) {
		t.Errorf("offset 0 after trimming partition 0 to 3: %s", got)
	}
}

// TestMessagesFilter: q is case-insensitive and looks in key, value and
// headers, or where in says.
func TestMessagesFilter(t *testing.T) {
	e := newEnv(t, Config{})
	seedMessages(t, e)
	for _, c := range []struct {
		query string
		want  []int
	}{
		{"q=RED", seq(28, -1, -4)},
		{"q=red&in=key,headers", nil},
		{"q=k1&in=key", []int{19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1}},
		{"q=X2&in=headers", []int{29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 2}},
		{"q=%22n%22:7,", []int{7}},
		{"q=k2&in=value", nil},
		{"q=&in=value", seq(29, -1, -1)},
	} {
		recs, _ := e.allMessages("/tables/m/messages?limit=3&" + c.query)
		if got := recKeys(recs); got != keysFor(c.want...) {
			t.Errorf("%s: %s\nwant %s", c.query, got, keysFor(c.want...))
		}
	}
	// Non-ASCII text is matched case-insensitively too.
	e.write("m", `{"payload":"Ünïcode Straße","partition":0,"timestamp_ms":2000}`)
	if p := e.messages("/tables/m/messages?q=" + url.QueryEscape("üNÏ")); len(p.Records) != 1 {
		t.Errorf("non-ASCII q: %d records", len(p.Records))
	}
}

// TestMessagesBinary: keys, values and header values that are not UTF-8
// come back as base64 with their encoding; tombstones and missing keys as
// null.
func TestMessagesBinary(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("bin", 1, nil); err != nil {
		t.Fatal(err)
	}
	b := batch.NewBuilder()
	b.Add(5, []byte{0xff, 0x00}, []byte{0xfe, 0x01}, []batch.RecordHeader{{Key: "h", Value: []byte{0xc3}}, {Key: "n", Value: nil}})
	b.Add(6, nil, nil, nil)
	if res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: "bin", Batch: append([]byte(nil), b.Bytes()...)}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	p := e.messages("/tables/bin/messages?from=oldest")
	if len(p.Records) != 2 {
		t.Fatalf("%d records", len(p.Records))
	}
	r := p.Records[0]
	if *r.Key != base64.StdEncoding.EncodeToString([]byte{0xff, 0}) || r.KeyEncoding != "base64" ||
		*r.Value != base64.StdEncoding.EncodeToString([]byte{0xfe, 1}) || r.ValueEncoding != "base64" ||
		*r.Headers[0].Value != "ww==" || r.Headers[0].Encoding != "base64" || r.Headers[1].Value != nil || r.Size != 2+2+1+1+1 {
		t.Fatalf("binary record: %+v", r)
	}
	if r := p.Records[1]; r.Key != nil || r.Value != nil || len(r.Headers) != 0 || r.Size != 0 {
		t.Fatalf("tombstone: %+v", r)
	}
}

// TestMessagesErrors: every bad parameter is a 400 that says what is
// wrong; an unknown table is a 404; nothing changes.
func TestMessagesErrors(t *testing.T) {
	e := newEnv(t, Config{})
	seedMessages(t, e)
	if _, err := e.log.CreateTopic("other", 3, nil); err != nil {
		t.Fatal(err)
	}
	e.write("other", `{"payload":"a","partition":0}`)
	e.write("other", `{"payload":"b","partition":0}`)
	good := *e.messages("/tables/m/messages?limit=1").NextCursor
	other := *e.messages("/tables/other/messages?limit=1&from=oldest").NextCursor
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 0x10
	info, _ := e.log.Topic("m")
	outOfRange := (&msgCursor{topic: info.UUID, parts: []cursorPart{{partition: 7, pos: 0}}}).encode()
	cases := []struct {
		query, want string
	}{
		{"from=latest", "from must be one of"},
		{"from=offset", "from=offset needs"},
		{"from=time&offset=3", "from=time needs"},
		{"from=newest&offset=3", "go with from=offset"},
		{"offset=1&time_ms=2", "exclude each other"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"offset=-1", "offset"},
		{"partition=3", "partition 3 out of range"},
		{"partition=x", "partition"},
		{"in=body", "in:"},
		{"q=" + strings.Repeat("x", 1025), "q is 1025 bytes"},
		{"q=%ff", "UTF-8"},
		{"cursor=!!!", "not base64url"},
		{"cursor=", "too short"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString(flipped), "checksum"},
		{"cursor=" + good[:len(good)-2], "invalid cursor"},
		{"cursor=" + other, "another table"},
		{"cursor=" + outOfRange, "partition 7 out of range"},
	}
	before := e.hwms("m")
	for _, c := range cases {
		code, m := e.doJSON("GET", "/tables/m/messages?"+c.query, "")
		if msg, _ := m["error"].(string); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("?%.40s: %d %v, want 400 with %q", c.query, code, m, c.want)
		}
	}
	if code, m := e.doJSON("GET", "/tables/nope/messages", ""); code != 404 || !strings.Contains(m["error"].(string), "does not exist") {
		t.Errorf("unknown table: %d %v", code, m)
	}
	if code, _ := e.doJSON("GET", "/tables/__consumer_offsets/messages", ""); code != 400 {
		t.Errorf("internal topic: %d", code)
	}
	if got := e.hwms("m"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("high watermarks moved: %v -> %v", before, got)
	}
	// A cursor of a table deleted and created again is refused.
	if err := e.log.DeleteTopic("m"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.CreateTopic("m", 3, nil); err != nil {
		t.Fatal(err)
	}
	if code, m := e.doJSON("GET", "/tables/m/messages?cursor="+good, ""); code != 400 || !strings.Contains(m["error"].(string), "deleted and created again") {
		t.Errorf("cursor of a re-created table: %d %v", code, m)
	}
}

// TestMessagesScanBudget: a filter that matches little stops at the scan
// budget with partial and a cursor, and the cursor goes on to the match.
func TestMessagesScanBudget(t *testing.T) {
	defer func(n int) { scanRecords = n }(scanRecords)
	scanRecords = 100
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("big", 2, nil); err != nil {
		t.Fatal(err)
	}
	// Batches of 10 records: the budget is looked at between reads.
	for p := range int32(2) {
		for i := 0; i < 500; i += 10 {
			b := batch.NewBuilder()
			for j := i; j < i+10; j++ {
				v := "noise"
				if p == 1 && j == 250 {
					v = "needle"
				}
				b.Add(int64(j), nil, []byte(v), nil)
			}
			if res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: "big", Partition: p, Batch: append([]byte(nil), b.Bytes()...)}}); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
		}
	}
	for _, from := range []string{"oldest", "newest"} {
		path := "/tables/big/messages?q=NEEDLE&from=" + from
		p := e.messages(path)
		if !p.Partial || p.NextCursor == nil || len(p.Records) != 0 || p.Scanned < 100 {
			t.Fatalf("%s: first call: partial %v cursor %v records %d scanned %d", from, p.Partial, p.NextCursor != nil, len(p.Records), p.Scanned)
		}
		recs, calls := e.allMessages(path)
		if len(recs) != 1 || *recs[0].Value != "needle" || recs[0].Partition != 1 || recs[0].Offset != 250 {
			t.Fatalf("%s: %+v", from, recs)
		}
		if calls < 3 || calls > 60 {
			t.Errorf("%s: %d calls for 1000 records at ~100 a call", from, calls)
		}
	}
}

// TestMessagesBothTiers: reads below the hot start come from the cold tier
// through the same log calls, both ways; with the cold tier down the hot
// records come with a warning.
func TestMessagesBothTiers(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	cold := &msgCold{}
	for i := int64(0); i < 5; i++ { // cold offsets 0-9, ts 100..109
		b := batch.NewBuilder()
		b.Add(100+2*i, []byte(fmt.Sprintf("k%d", 2*i)), []byte("cold"), nil)
		b.Add(101+2*i, []byte(fmt.Sprintf("k%d", 2*i+1)), []byte("cold"), nil)
		raw := append([]byte(nil), b.Bytes()...)
		batch.SetBaseOffset(raw, 2*i)
		cold.batches = append(cold.batches, plog.Batch{BaseOffset: 2 * i, LastOffset: 2*i + 1, MaxTimestamp: 101 + 2*i, Raw: raw})
	}
	if err := e.log.ResetEmpty("t", 0, 10); err != nil {
		t.Fatal(err)
	}
	e.log.SetColdTier(cold)
	for i := 10; i < 15; i++ {
		e.write("t", fmt.Sprintf(`{"payload":"hot","key":"k%d","timestamp_ms":%d}`, i, 100+i))
	}
	if recs, _ := e.allMessages("/tables/t/messages?from=oldest&limit=4"); recKeys(recs) != keysFor(seq(0, 15, 1)...) {
		t.Errorf("oldest over both tiers: %s", recKeys(recs))
	}
	if recs, _ := e.allMessages("/tables/t/messages?limit=4"); recKeys(recs) != keysFor(seq(14, -1, -1)...) {
		t.Errorf("newest over both tiers: %s", recKeys(recs))
	}
	if recs, _ := e.allMessages("/tables/t/messages?from=time&time_ms=105"); recKeys(recs) != keysFor(seq(5, 15, 1)...) {
		t.Errorf("from time 105: %s", recKeys(recs))
	}
	cold.err = fmt.Errorf("connection refused")
	if code, m := e.doJSON("GET", "/tables/t/messages?from=time&time_ms=105", ""); code != 503 || !strings.Contains(m["error"].(string), "cold tier unavailable") {
		t.Errorf("from time with the cold tier down: %d %v", code, m)
	}
	p := e.messages("/tables/t/messages?from=oldest")
	if recKeys(p.Records) != keysFor(seq(10, 15, 1)...) || !strings.Contains(p.Warning, "cold tier unavailable") {
		t.Errorf("oldest with the cold tier down: %s warning %q", recKeys(p.Records), p.Warning)
	}
	recs, _ := e.allMessages("/tables/t/messages?limit=2")
	if recKeys(recs) != keysFor(seq(14, 9, -1)...) {
		t.Errorf("newest with the cold tier down: %s", recKeys(recs))
	}
}

// msgCold is an in-memory cold tier of one partition.
type msgCold struct {
	batches []plog.Batch
	err     error
}

func (m *msgCold) Bounds(string, int32) (int64, int64, bool) {
	return m.batches[0].BaseOffset, m.batches[len(m.batches)-1].LastOffset + 1, true
}

func (m *msgCold) Read(_ context.Context, _ string, _ int32, offset int64, maxBytes int) ([]plog.Batch, error) {
	if m.err != nil {
		return nil, m.err
	}
	var out []plog.Batch
	for _, b := range m.batches {
		if b.LastOffset < offset {
			continue
		}
		if len(out) > 0 && maxBytes < len(b.Raw) {
			break
		}
		maxBytes -= len(b.Raw)
		out = append(out, b)
	}
	return out, nil
}

func (m *msgCold) StartForTimestamp(_ context.Context, _ string, _ int32, ts int64) (int64, bool, error) {
	if m.err != nil {
		return 0, false, m.err
	}
	for _, b := range m.batches {
		if b.MaxTimestamp >= ts {
			return b.BaseOffset, true, nil
		}
	}
	return 0, false, nil
}

// TestScanShares: many partitions share the call's memory, within bounds.
func TestScanShares(t *testing.T) {
	for _, c := range []struct{ n, chunk, held int }{
		{0, scanChunkBytes, maxHeldBytes},
		{1, scanChunkBytes, maxHeldBytes},
		{100, scanChunkBytes, scanMemory / 100},
		{10000, scanMemory / 10000, minHeld},
		{100000, minScanChunk, minHeld},
	} {
		if chunk, held := scanShares(c.n); chunk != c.chunk || held != c.held {
			t.Errorf("scanShares(%d) = %d, %d; want %d, %d", c.n, chunk, held, c.chunk, c.held)
		}
	}
}

// TestBackwardScanDropsAndRereads: a backward window holding more matched
// bytes than its share drops the oldest and reads them again later: every
// record comes out once, newest first.
func TestBackwardScanDropsAndRereads(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("w", 1, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		e.write("w", fmt.Sprintf(`{"payload":"%040d"}`, i))
	}
	s := newServer(e.log, e.stats, Config{}, discardLogger(), false)
	f, _ := newTextFilter("", "")
	ps := &partScan{s: s, table: "w", f: &f, backward: true, pos: 50, chunk: scanChunkBytes, heldMax: 100}
	b := newScanBudget(time.Now)
	var got []int64
	for {
		if ok, err := ps.fill(b); err != nil || !ok {
			t.Fatalf("fill: %v %v", ok, err)
		}
		if ps.exhausted() {
			break
		}
		got = append(got, ps.pop().r.Offset)
	}
	if len(got) != 50 {
		t.Fatalf("%d records: %v", len(got), got)
	}
	for i, o := range got {
		if o != int64(49-i) {
			t.Fatalf("record %d is offset %d: %v", i, o, got)
		}
	}
}
