package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
)

func TestConsumerOffsets(t *testing.T) {
	e := newEnv(t, Config{})
	// Spec example, in order.
	code, body := e.do("POST", "/consumers/my-group/commit", "application/json", []byte(`{"topic": "events", "partition": 0, "offset": 100}`))
	if code != 200 || string(body) != `{"group":"my-group","topic":"events","partition":0,"offset":100}`+"\n" {
		t.Fatalf("%d %s", code, body)
	}
	code, body = e.do("GET", "/consumers/my-group/offset?topic=events&partition=0", "", nil)
	if code != 200 || string(body) != `{"group":"my-group","topic":"events","partition":0,"offset":100}`+"\n" {
		t.Fatalf("%d %s", code, body)
	}
	// The store is the log's: what a Kafka OffsetFetch would read.
	co, ok, err := e.log.FetchOffset("my-group", "events", 0)
	if err != nil || !ok || co.Offset != 100 {
		t.Fatalf("%+v %v %v", co, ok, err)
	}
	// Partition defaults to 0; a later commit replaces (also backwards).
	e.do("POST", "/consumers/my-group/commit", "", []byte(`{"topic": "events", "partition": 0, "offset": 7}`))
	if code, body = e.do("GET", "/consumers/my-group/offset?topic=events", "", nil); code != 200 || !strings.Contains(string(body), `"offset":7`) {
		t.Fatalf("%d %s", code, body)
	}
	// A Kafka-side commit is visible over HTTP.
	if err := e.log.CommitOffsets([]plog.CommittedOffset{{Group: "kg", Topic: "events", Partition: 3, Offset: 42}}); err != nil {
		t.Fatal(err)
	}
	if code, body = e.do("GET", "/consumers/kg/offset?topic=events&partition=3", "", nil); code != 200 || !strings.Contains(string(body), `"offset":42`) {
		t.Fatalf("%d %s", code, body)
	}
}

func TestConsumerErrors(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 2})
	e.write("two", `{"payload":"x"}`)
	tests := []struct {
		method, path, contentType, body string
		status                          int
		errContains                     string
	}{
		{"GET", "/consumers/g/offset?topic=events&partition=0", "", "", 404, "no offset committed for group g on events/0"},
		{"GET", "/consumers/g/offset", "", "", 400, "topic is required"},
		{"GET", "/consumers/g/offset?topic=bad$", "", "", 400, "invalid topic name"},
		{"GET", "/consumers/g/offset?topic=t&partition=x", "", "", 400, "partition must be"},
		{"GET", "/consumers/g/offset?topic=t&partition=-1", "", "", 400, "partition must be"},
		{"POST", "/consumers/g/commit", "application/json", `{"partition":0,"offset":1}`, 400, "topic is required"},
		{"POST", "/consumers/g/commit", "application/json", `{"topic":"t","offset":1}`, 400, "partition is required"},
		{"POST", "/consumers/g/commit", "application/json", `{"topic":"t","partition":0}`, 400, "offset is required"},
		{"POST", "/consumers/g/commit", "application/json", `{"topic":"t","partition":0,"offset":-1}`, 400, "offset must be >= 0"},
		{"POST", "/consumers/g/commit", "application/json", `{"topic":"t","partition":-1,"offset":1}`, 400, "partition must be >= 0"},
		{"POST", "/consumers/g/commit", "application/json", `{"topic":"a b","partition":0,"offset":1}`, 400, "invalid topic name"},
		{"POST", "/consumers/g/commit", "application/json", `{"topic":"two","partition":2,"offset":1}`, 400, "partition 2 out of range"},
		{"POST", "/consumers/g/commit", "application/json", `{"topic":"t","partition":0,"offset":"1"}`, 400, `field "offset" must be an integer`},
		{"POST", "/consumers/g/commit", "application/json", `nope`, 400, "invalid JSON"},
		{"POST", "/consumers/g/commit", "text/csv", `{}`, 415, "unsupported Content-Type"},
		{"POST", "/consumers/g/commit", "application/x-protobuf", `{}`, 415, "unsupported Content-Type"},
		{"DELETE", "/consumers/g/commit", "", "", 405, "not allowed"},
	}
	for _, tc := range tests {
		var b []byte
		if tc.body != "" {
			b = []byte(tc.body)
		}
		code, body := e.do(tc.method, tc.path, tc.contentType, b)
		m := decodeMap(t, body)
		if code != tc.status || len(m) != 1 || !strings.Contains(m["error"].(string), tc.errContains) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", tc.method, tc.path, tc.body, code, body, tc.status, tc.errContains)
		}
	}
	if groups, _ := e.log.Groups(); len(groups) != 0 {
		t.Fatalf("bad commits stored: %v", groups)
	}
}

func TestHealthStatsMetrics(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("h", `{"payload":"abc"}`)
	e.read("/tables/h")
	e.do("GET", "/tables/h?limit=x", "", nil)
	code, body := e.do("GET", "/health", "", nil)
	if code != 200 || string(body) != `{"status":"healthy"}`+"\n" {
		t.Fatalf("%d %s", code, body)
	}
	code, body = e.do("GET", "/stats", "", nil)
	m := decodeMap(t, body)
	w, r := m["writes"].(map[string]any), m["reads"].(map[string]any)
	if code != 200 || num(w["total"]) != 1 || num(w["bytes_total"]) != 3 || num(r["total"]) != 1 || num(r["records_total"]) != 1 ||
		num(m["errors_total"]) != 1 || m["uptime_secs"] == nil || w["rate_per_sec"] == nil || w["avg_latency_us"] == nil {
		t.Fatalf("%d %s", code, body)
	}
	req, _ := http.NewRequest("GET", "/metrics", nil)
	rec := newRecorder()
	e.h.ServeHTTP(rec, req)
	text := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	for _, line := range []string{"zombi_writes_total 1\n", "zombi_write_bytes_total 3\n", "zombi_reads_total 1\n", "zombi_read_records_total 1\n",
		"zombi_errors_total 1\n", "# TYPE zombi_writes_total counter\n", "# TYPE zombi_uptime_seconds gauge\n"} {
		if !strings.Contains(text, line) {
			t.Errorf("metrics lack %q:\n%s", line, text)
		}
	}
	// Unhealthy once the log is closed; writes then answer 503.
	_ = e.log.Close()
	code, body = e.do("GET", "/health", "", nil)
	if m := decodeMap(t, body); code != 503 || m["status"] != "unhealthy" || !strings.Contains(m["reason"].(string), "closed") {
		t.Fatalf("%d %s", code, body)
	}
	code, body = e.do("POST", "/tables/h", "application/json", []byte(`{"payload":"x"}`))
	if code != 503 || !strings.Contains(string(body), "log is closed") {
		t.Fatalf("%d %s", code, body)
	}
	code, body = e.do("POST", "/consumers/g/commit", "application/json", []byte(`{"topic":"h","partition":0,"offset":1}`))
	if code != 503 {
		t.Fatalf("%d %s", code, body)
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{plog.ErrInvalidTopic, 400},
		{plog.ErrOffsetOutOfRange, 400},
		{plog.ErrStorage, 503},
		{plog.ErrClosed, 503},
		{errors.New("surprise"), 500},
		{&http.MaxBytesError{Limit: 1}, 413},
		{errUnsupportedMediaType, 415},
		{badRequest("x"), 400},
	} {
		if got := statusOf(tc.err); got != tc.status {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.status)
		}
	}
}

func TestRecoveryAnswersJSON500(t *testing.T) {
	e := newEnv(t, Config{})
	s := &server{log: e.log, stats: e.stats, logger: discardLogger()}
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.Use(s.recovery)
	g.GET("/boom", func(*gin.Context) { panic("boom") })
	req, _ := http.NewRequest("GET", "/boom", nil)
	rec := newRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != 500 || rec.Body.String() != `{"error":"internal error"}`+"\n" || e.stats.Snapshot().ErrorsTotal != 1 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
