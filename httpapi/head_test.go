package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zombi-dev/zombi/stats"
)

// TestHeadAnswersAsGet: curl -I and load balancer probes get the GET's
// status and headers, and no body, over a real connection.
func TestHeadAnswersAsGet(t *testing.T) {
	e := newEnv(t, Config{})
	srv := httptest.NewServer(New(e.log, stats.New(), Config{}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		path   string
		status int
		ctype  string
	}{
		{"/health", 200, "application/json"},
		{"/health/live", 200, "application/json"},
		{"/openapi.json", 200, "application/json"},
		{"/metrics", 200, "text/plain"},
		{"/tables/nosuch/info", 404, "application/json"},
	} {
		resp, err := http.Head(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || len(b) != 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("HEAD %s: %d %q, body %q; want %d %s and no body", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, c.status, c.ctype)
		}
	}
	// Methods other than HEAD are routed as they are.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST /health: %d, want 405", resp.StatusCode)
	}
}

// TestJSONOnlyRoutesRefuseOtherBodies: the routes that take JSON refuse
// protobuf, XML and plain text with one 415 that says so, and change nothing.
func TestJSONOnlyRoutesRefuseOtherBodies(t *testing.T) {
	e := newEnv(t, Config{})
	for _, c := range []struct{ method, path, ctype, body string }{
		{"PUT", "/tables/j1", "application/xml", `{"partitions":2}`},
		{"PUT", "/tables/j1", "text/plain", `{"partitions":2}`},
		{"PATCH", "/tables/j1/configs", "application/x-protobuf", `{"set":{"retention.ms":"1"}}`},
		{"POST", "/consumers/g/reset", "application/x-protobuf", `{"to":"start","topics":["j1"]}`},
		{"POST", "/consumers/g/commit", "application/x-protobuf", `{"topic":"j1","partition":0,"offset":1}`},
		{"POST", "/tables/j1/bulk", "application/x-protobuf", `{"records":[{"payload":"x"}]}`},
	} {
		code, b := e.do(c.method, c.path, c.ctype, []byte(c.body))
		if m := decodeMap(t, b); code != 415 || !strings.Contains(m["error"].(string), "takes application/json") {
			t.Errorf("%s %s as %s: %d %s", c.method, c.path, c.ctype, code, b)
		}
	}
	if _, ok := e.log.Topic("j1"); ok {
		t.Error("a refused request created table j1")
	}
}
