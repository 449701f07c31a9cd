package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/stats"
)

type testEnv struct {
	t     testing.TB
	log   *plog.Log
	stats *stats.Stats
	h     http.Handler
}

func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), SyncWrites: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	st := stats.New()
	// Every response of the package's tests is checked against openapi.json.
	return &testEnv{t: t, log: l, stats: st, h: validating(t, New(l, st, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))))}
}

// do sends a request; contentType "-" sends none.
func (e *testEnv) do(method, path, contentType string, body []byte, hdr ...string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if contentType != "-" && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// doJSON sends a JSON body and decodes the JSON answer.
func (e *testEnv) doJSON(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	code, out := e.do(method, path, "application/json", b)
	return code, decodeMap(e.t, out)
}

func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, b)
	}
	return m
}

// hwms returns the high watermarks of a table's partitions (nil: no table).
func (e *testEnv) hwms(table string) []int64 {
	e.t.Helper()
	info, ok := e.log.Topic(table)
	if !ok {
		return nil
	}
	var out []int64
	for p := int32(0); p < info.Partitions; p++ {
		_, hwm, err := e.log.Offsets(table, p)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, hwm)
	}
	return out
}

// write posts one JSON event and returns partition and offset.
func (e *testEnv) write(table, body string) (int32, int64) {
	e.t.Helper()
	code, m := e.doJSON("POST", "/tables/"+table, body)
	if code != 202 {
		e.t.Fatalf("write %s: %d %v", body, code, m)
	}
	p, _ := m["partition"].(json.Number).Int64()
	o, _ := m["offset"].(json.Number).Int64()
	return int32(p), o
}

func num(v any) int64 {
	n, err := v.(json.Number).Int64()
	if err != nil {
		panic(err)
	}
	return n
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// txnBatch is a transactional batch of producer pid (epoch 0) from
// sequence seq holding values.
func txnBatch(pid int64, seq int32, values ...string) []byte {
	b := batch.NewBuilder()
	b.SetProducer(pid, 0, seq)
	for _, v := range values {
		b.Add(1000, nil, []byte(v), nil)
	}
	raw := append([]byte(nil), b.Bytes()...)
	batch.SetTransactional(raw)
	return raw
}

// appendRaw appends one raw batch to partition 0 of topic.
func (e *testEnv) appendRaw(topic string, raw []byte) {
	e.t.Helper()
	if res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: topic, Batch: raw}}); res[0].Err != nil {
		e.t.Fatal(res[0].Err)
	}
}

// endTxn commits or aborts producer pid's transaction on partition 0 of
// topic.
func (e *testEnv) endTxn(topic string, pid int64, commit bool) {
	e.t.Helper()
	if err := e.log.EndTxn(context.Background(), plog.EndTxnRequest{ProducerID: pid, Commit: commit, Partitions: []plog.TopicPartition{{Topic: topic}}}); err != nil {
		e.t.Fatal(err)
	}
}
