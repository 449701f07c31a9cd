package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

func init() {
	// The tail's body is checked against openapi.json as text.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
}

// sseEvent is one server-sent event, or a comment (typ "comment").
type sseEvent struct {
	typ, data string
}

// tailStream is an open GET /tables/{t}/tail.
type tailStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent // closed at the end of the stream
}

// serveEnv serves e over a real listener (streams need one).
func serveEnv(t testing.TB, e *testEnv) string {
	t.Helper()
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close) // waits for the handlers: registered first, runs last
	return srv.URL
}

// openTail opens a tail and waits for the stream to start.
func openTail(t testing.TB, base, path string) *tailStream {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	h := resp.Header
	if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("GET %s: headers %v", path, h)
	}
	s := &tailStream{t: t, resp: resp, events: make(chan sseEvent, 10000)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.typ != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{typ: "comment", data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "event: "):
				ev.typ = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			}
		}
	}()
	if ev := s.next(2 * time.Second); ev.typ != "comment" || !strings.HasPrefix(ev.data, "tail of") {
		t.Fatalf("first event %+v, want the opening comment", ev)
	}
	return s
}

// next returns the next event other than a ping, or fails after d.
func (s *tailStream) next(d time.Duration) sseEvent {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return sseEvent{typ: "eof"}
			}
			if ev.typ == "comment" && ev.data == "ping" {
				continue
			}
			return ev
		case <-deadline:
			s.t.Fatalf("no event within %v", d)
			return sseEvent{}
		}
	}
}

// quiet fails if an event other than a ping comes within d.
func (s *tailStream) quiet(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-s.events:
			if ev.typ == "comment" && ev.data == "ping" {
				continue
			}
			s.t.Fatalf("unexpected event %+v", ev)
		case <-deadline:
			return
		}
	}
}

func (s *tailStream) record(d time.Duration) msgRec {
	s.t.Helper()
	ev := s.next(d)
	if ev.typ != "record" {
		s.t.Fatalf("event %+v, want a record", ev)
	}
	var r msgRec
	if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
		s.t.Fatalf("record data %q: %v", ev.data, err)
	}
	return r
}

// TestTailKafkaProduce: a record produced through the Kafka door (franz-go)
// reaches an open tail within 2 s; what was there before the tail opened
// is not sent.
func TestTailKafkaProduce(t *testing.T) {
	e := newEnv(t, Config{})
	base := serveEnv(t, e)
	ks := kafka.NewServer(e.log, e.stats, kafka.Config{AutoCreateTopics: true, DefaultPartitions: 1}, discardLogger())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ks.Serve(ln) }()
	t.Cleanup(func() { _ = ks.Close(); <-served })
	if _, err := e.log.CreateTopic("live", 2, nil); err != nil {
		t.Fatal(err)
	}
	e.write("live", `{"payload":"before","partition":1}`)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A first produce, before the tail, connects the client.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "live", Partition: 0, Value: []byte("warm-up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tail := openTail(t, base, "/tables/live/tail")
	start := time.Now()
	rec := &kgo.Record{Topic: "live", Partition: 1, Key: []byte("k"), Value: []byte(`{"via":"kafka"}`), Headers: []kgo.RecordHeader{{Key: "src", Value: []byte("franz-go")}}}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := tail.record(2 * time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("record reached the tail after %v", took)
	}
	if r.Partition != 1 || r.Offset != 1 || *r.Key != "k" || *r.Value != `{"via":"kafka"}` || len(r.Headers) != 1 || *r.Headers[0].Value != "franz-go" {
		t.Fatalf("tail record %+v", r)
	}
	t.Logf("produced through Kafka, on the tail after %v", time.Since(start))
}

// TestTailFilterAndPartition: partition, q and in choose what is sent.
func TestTailFilterAndPartition(t *testing.T) {
	e := newEnv(t, Config{})
	base := serveEnv(t, e)
	if _, err := e.log.CreateTopic("f", 2, nil); err != nil {
		t.Fatal(err)
	}
	tail := openTail(t, base, "/tables/f/tail?partition=1&q=RED&in=value,headers")
	e.write("f", `{"payload":"red","partition":0}`)                        // other partition
	e.write("f", `{"payload":"blue","key":"red","partition":1}`)           // key not searched
	e.write("f", `{"payload":"blue","partition":1,"headers":{"c":"Red"}}`) // header value
	e.write("f", `{"payload":"dark red","partition":1}`)
	for _, want := range []string{"blue", "dark red"} {
		if r := tail.record(2 * time.Second); *r.Value != want || r.Partition != 1 {
			t.Fatalf("record %+v, want value %q", r, want)
		}
	}
	tail.quiet(100 * time.Millisecond)
}

// TestTailResumeAfter: a reconnecting tail names where it was (after=P:O)
// and gets the records written while it was away; an offset below the log
// start starts at the log start, partitions it does not follow are ignored.
func TestTailResumeAfter(t *testing.T) {
	e := newEnv(t, Config{})
	base := serveEnv(t, e)
	if _, err := e.log.CreateTopic("r", 2, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.write("r", fmt.Sprintf(`{"payload":"p0-%d","partition":0}`, i))
		e.write("r", fmt.Sprintf(`{"payload":"p1-%d","partition":1}`, i))
	}
	tail := openTail(t, base, "/tables/r/tail?after=0:1,1:3")
	if r := tail.record(2 * time.Second); *r.Value != "p0-1" || r.Offset != 1 {
		t.Fatalf("first record %+v, want p0-1 at offset 1", r)
	}
	if r := tail.record(2 * time.Second); *r.Value != "p0-2" {
		t.Fatalf("second record %+v, want p0-2", r)
	}
	tail.quiet(100 * time.Millisecond) // partition 1 was seen to its end
	e.write("r", `{"payload":"new","partition":1}`)
	if r := tail.record(2 * time.Second); *r.Value != "new" || r.Partition != 1 || r.Offset != 3 {
		t.Fatalf("record %+v, want the new one at 1/3", r)
	}
	one := openTail(t, base, "/tables/r/tail?partition=1&after=0:0,1:2")
	if r := one.record(2 * time.Second); *r.Value != "p1-2" {
		t.Fatalf("record %+v, want p1-2 (partition 0 is not followed)", r)
	}
}

// TestTailAndBrowserCommittedOnly: an open transaction holds the tail
// back, an aborted one never shows (records nor markers), a committed one
// shows once committed; the message browser agrees.
func TestTailAndBrowserCommittedOnly(t *testing.T) {
	e := newEnv(t, Config{})
	base := serveEnv(t, e)
	if _, err := e.log.CreateTopic("tx", 1, nil); err != nil {
		t.Fatal(err)
	}
	txn := func(pid int64, values ...string) []byte { return txnBatch(pid, 0, values...) }
	app := func(raw []byte) { e.appendRaw("tx", raw) }
	end := func(pid int64, commit bool) { e.endTxn("tx", pid, commit) }
	tail := openTail(t, base, "/tables/tx/tail")
	app(txn(1, "aborted-1", "aborted-2")) // 0-1
	app(txn(2, "committed"))              // 2
	e.write("tx", `{"payload":"plain"}`)  // 3: after both, held back by them
	tail.quiet(300 * time.Millisecond)
	end(1, false) // 4
	tail.quiet(200 * time.Millisecond)
	end(2, true) // 5
	for _, want := range []string{"committed", "plain"} {
		if r := tail.record(2 * time.Second); *r.Value != want {
			t.Fatalf("tail: %+v, want %q", r, want)
		}
	}
	e.write("tx", `{"payload":"last"}`) // 6
	if r := tail.record(2 * time.Second); *r.Value != "last" || r.Offset != 6 {
		t.Fatalf("tail: %+v, want last at 6", r)
	}
	tail.quiet(100 * time.Millisecond)
	for _, path := range []string{"/tables/tx/messages?from=oldest", "/tables/tx/messages", "/tables/tx/messages?from=offset&offset=0&limit=1"} {
		recs, _ := e.allMessages(path)
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d:%s", r.Offset, *r.Value))
		}
		want := "2:committed,3:plain,6:last"
		if !strings.HasPrefix(path, "/tables/tx/messages?from=") {
			want = "6:last,3:plain,2:committed"
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: %v, want %s", path, got, want)
		}
	}
}

// TestTailRateCap: past 500 records in a second the rest are counted in a
// skipped event.
func TestTailRateCap(t *testing.T) {
	e := newEnv(t, Config{})
	base := serveEnv(t, e)
	if _, err := e.log.CreateTopic("fast", 1, nil); err != nil {
		t.Fatal(err)
	}
	tail := openTail(t, base, "/tables/fast/tail")
	b := batch.NewBuilder()
	for i := range 1500 {
		b.Add(int64(i), nil, []byte("v"), nil)
	}
	if res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: "fast", Batch: append([]byte(nil), b.Bytes()...)}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	records, skipped := 0, 0
	for records+skipped < 1500 {
		ev := tail.next(3 * time.Second)
		switch ev.typ {
		case "record":
			records++
		case "skipped":
			var s struct {
				Count int `json:"count"`
			}
			if err := json.Unmarshal([]byte(ev.data), &s); err != nil || s.Count <= 0 {
				t.Fatalf("skipped event %q", ev.data)
			}
			skipped += s.Count
		default:
			t.Fatalf("event %+v", ev)
		}
	}
	if records != MaxTailRate || skipped != 1500-MaxTailRate {
		t.Fatalf("%d records and %d skipped, want %d and %d", records, skipped, MaxTailRate, 1500-MaxTailRate)
	}
}

// TestTailNewPartitionsAndDelete: partitions added while tailing are
// followed from their start; deleting the table ends the stream with an
// end event.
func TestTailNewPartitionsAndDelete(t *testing.T) {
	e := newEnv(t, Config{})
	base := serveEnv(t, e)
	if _, err := e.log.CreateTopic("grow", 1, nil); err != nil {
		t.Fatal(err)
	}
	tail := openTail(t, base, "/tables/grow/tail")
	if _, err := e.log.AddPartitions("grow", 3); err != nil {
		t.Fatal(err)
	}
	e.write("grow", `{"payload":"new","partition":2}`)
	if r := tail.record(2 * time.Second); r.Partition != 2 || *r.Value != "new" {
		t.Fatalf("record %+v, want one of partition 2", r)
	}
	if err := e.log.DeleteTopic("grow"); err != nil {
		t.Fatal(err)
	}
	if ev := tail.next(2 * time.Second); ev.typ != "end" || !strings.Contains(ev.data, "deleted") {
		t.Fatalf("after delete: %+v, want an end event", ev)
	}
	if ev := tail.next(2 * time.Second); ev.typ != "eof" {
		t.Fatalf("after the end event: %+v, want the stream closed", ev)
	}
}

// TestTailGoroutinesEnd: when the client goes, the handler and its
// watchers end (the goroutine count comes back).
func TestTailGoroutinesEnd(t *testing.T) {
	defer func(d time.Duration) { tailPingInterval = d }(tailPingInterval)
	tailPingInterval = 20 * time.Millisecond
	e := newEnv(t, Config{})
	base := serveEnv(t, e)
	if _, err := e.log.CreateTopic("many", 130, nil); err != nil { // three watcher goroutines
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	tail := openTail(t, base, "/tables/many/tail")
	// Pings come while nothing else does.
	if ev := <-tail.events; ev.typ != "comment" || ev.data != "ping" {
		t.Fatalf("event %+v, want a ping", ev)
	}
	if n := runtime.NumGoroutine(); n < before+3 {
		t.Fatalf("%d goroutines while tailing, %d before", n, before)
	}
	_ = tail.resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 3 s after the client left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTailErrors: the errors come before the stream starts, as JSON.
func TestTailErrors(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("t", 2, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/tables/nope/tail", 404, "does not exist"},
		{"/tables/t/tail?partition=2", 400, "out of range"},
		{"/tables/t/tail?partition=-1", 400, "partition"},
		{"/tables/t/tail?in=nothing", 400, "in:"},
		{"/tables/t/tail?q=" + strings.Repeat("q", 2000), 400, "q is"},
		{"/tables/bad%20name/tail", 400, ""},
		{"/tables/t/tail?after=0", 400, "PARTITION:OFFSET"},
		{"/tables/t/tail?after=0:-1", 400, "PARTITION:OFFSET"},
		{"/tables/t/tail?after=x:1", 400, "PARTITION:OFFSET"},
		{"/tables/t/tail?after=" + strings.Repeat("0:1,", 20000), 400, "longer than"},
	} {
		code, m := e.doJSON("GET", c.path, "")
		if msg, _ := m["error"].(string); code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%.40s: %d %v, want %d with %q", c.path, code, m, c.code, c.want)
		}
	}
}

// TestTailHead: HEAD answers the stream's headers at once instead of a
// stream that would never end.
func TestTailHead(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(e.log, e.stats, Config{}, discardLogger()))
	t.Cleanup(srv.Close)
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Head(srv.URL + "/tables/t/tail")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, err = cl.Head(srv.URL + "/tables/nope/tail"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("HEAD of an unknown table: %v %v", resp, err)
	}
	_ = resp.Body.Close()
}

// TestTailOutlivesReadTimeout: a server's ReadTimeout (cmd/zombi sets 2
// minutes) does not end a stream (net/http clears the read deadline once
// a request without a body is read; this keeps it so).
func TestTailOutlivesReadTimeout(t *testing.T) {
	e := newEnv(t, Config{})
	srv := httptest.NewUnstartedServer(e.h)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	if _, err := e.log.CreateTopic("slow", 1, nil); err != nil {
		t.Fatal(err)
	}
	tail := openTail(t, srv.URL, "/tables/slow/tail")
	tail.quiet(600 * time.Millisecond)
	e.write("slow", `{"payload":"still here"}`)
	if r := tail.record(2 * time.Second); *r.Value != "still here" {
		t.Fatalf("record %+v", r)
	}
}

// TestTailEndsOnShutdown: closing Config.StreamsDone ends open streams
// (http.Server.Shutdown would wait for them otherwise).
func TestTailEndsOnShutdown(t *testing.T) {
	done := make(chan struct{})
	e := newEnv(t, Config{StreamsDone: done})
	base := serveEnv(t, e)
	if _, err := e.log.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	tail := openTail(t, base, "/tables/t/tail")
	close(done)
	if ev := tail.next(2 * time.Second); ev.typ != "eof" {
		t.Fatalf("after shutdown: %+v, want the stream closed", ev)
	}
}

// noFlush is a response writer that cannot flush (a middleware's).
type noFlush struct{ http.ResponseWriter }

// TestTailWithoutFlush: behind a writer that cannot flush, the tail is a
// 500 with a message, not a panic in the middle of a stream.
func TestTailWithoutFlush(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	h := New(e.log, e.stats, Config{}, discardLogger())
	w := httptest.NewRecorder()
	h.ServeHTTP(noFlush{w}, httptest.NewRequest("GET", "/tables/t/tail", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "cannot stream") {
		t.Fatalf("%d %s", w.Code, w.Body.Bytes())
	}
}
