package compat

// The scenarios here are Zombi only by nature: they write through one door
// (Zombi's REST API or Kafka) and read the same log or the same consumer
// offsets through the other. What they check of Kafka alone (clients
// producing, consuming and committing) runs on both brokers elsewhere.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type httpEvent struct {
	Payload     json.RawMessage   `json:"payload"`
	Key         *string           `json:"key,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	TimestampMs int64             `json:"timestamp_ms,omitempty"`
	Offset      int64             `json:"offset"`
	Partition   int32             `json:"partition"`
}

func httpPost(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(srv.HTTPBase+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("POST %s: %v: %s", path, err, out)
	}
	return m
}

func httpGetRecords(t *testing.T, table string) []httpEvent {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(srv.HTTPBase + "/tables/" + table + "?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /tables/%s: %d %s", table, resp.StatusCode, out)
	}
	var body struct {
		Records []httpEvent `json:"records"`
	}
	if err := json.Unmarshal(out, &body); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return body.Records
}

// HTTP writes (as curl would send them) are read by kcat and franz-go with
// the same key, value, headers and timestamp.
func TestHTTPWritesReadByKafkaClients(t *testing.T) {
	table := topicName(t, "t")
	const n = 5
	base := int64(1700000000000)
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("user-%d", i)
		res := httpPost(t, "/tables/"+table, map[string]any{
			"payload":      fmt.Sprintf("event %d", i),
			"key":          key,
			"headers":      map[string]string{"source": "http", "i": fmt.Sprint(i)},
			"timestamp_ms": base + int64(i),
		})
		if res["offset"].(float64) != float64(i) {
			t.Fatalf("HTTP write %d at offset %v", i, res["offset"])
		}
	}
	// A JSON object payload is stored as its compact JSON text.
	httpPost(t, "/tables/"+table, map[string]any{"payload": map[string]any{"a": 1}, "timestamp_ms": base + n})

	recs := consume(t, srv.KafkaAddr, table, n+1)
	for i, r := range recs[:n] {
		if string(r.Key) != fmt.Sprintf("user-%d", i) || string(r.Value) != fmt.Sprintf("event %d", i) || r.Timestamp.UnixMilli() != base+int64(i) {
			t.Fatalf("franz-go record %d: key %q value %q ts %d", i, r.Key, r.Value, r.Timestamp.UnixMilli())
		}
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h["source"] != "http" || h["i"] != fmt.Sprint(i) {
			t.Fatalf("franz-go record %d headers %v", i, h)
		}
	}
	if string(recs[n].Value) != `{"a":1}` || recs[n].Key != nil {
		t.Fatalf("object payload: %q key %q", recs[n].Value, recs[n].Key)
	}

	msgs := kcatConsume(t, srv.KafkaAddr, table, n+1)
	for i, m := range msgs[:n] {
		h := map[string]string{}
		for j := 0; j+1 < len(m.Headers); j += 2 {
			h[m.Headers[j]] = m.Headers[j+1]
		}
		if *m.Key != fmt.Sprintf("user-%d", i) || *m.Payload != fmt.Sprintf("event %d", i) || m.Ts != base+int64(i) || h["source"] != "http" {
			t.Fatalf("kcat message %d: %+v", i, m)
		}
	}
}

// kcat and franz-go writes are read over HTTP GET /tables/{t}.
func TestKafkaWritesReadOverHTTP(t *testing.T) {
	table := topicName(t, "t")
	var in strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&in, "k%d:from kcat %d\n", i, i)
	}
	kcat(t, in.String(), "-P", "-b", srv.KafkaAddr, "-t", table, "-p", "0", "-K:", "-H", "via=kcat", "-z", "lz4")
	cl := newClient(t, srv.KafkaAddr)
	ts := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: table, Key: []byte("fg"), Value: []byte("from franz-go"), Timestamp: ts, Headers: []kgo.RecordHeader{{Key: "via", Value: []byte("franz-go")}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	evs := httpGetRecords(t, table)
	if len(evs) != 6 {
		t.Fatalf("HTTP read %d records, want 6: %+v", len(evs), evs)
	}
	for i, e := range evs[:5] {
		var payload string
		if err := json.Unmarshal(e.Payload, &payload); err != nil {
			t.Fatalf("record %d payload %s", i, e.Payload)
		}
		if payload != fmt.Sprintf("from kcat %d", i) || e.Key == nil || *e.Key != fmt.Sprintf("k%d", i) || e.Headers["via"] != "kcat" || e.Offset != int64(i) {
			t.Fatalf("record %d: %+v (payload %q)", i, e, payload)
		}
	}
	last := evs[5]
	if string(last.Payload) != `"from franz-go"` || *last.Key != "fg" || last.Headers["via"] != "franz-go" || last.TimestampMs != ts.UnixMilli() {
		t.Fatalf("franz-go record over HTTP: %+v", last)
	}
}

// Consumer offsets are one store for both doors.
func TestCommittedOffsetsAcrossDoors(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	topic := topicName(t, "t")
	cl := newClient(t, srv.KafkaAddr)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	httpPost(t, "/consumers/g-http/commit", map[string]any{"topic": topic, "partition": 0, "offset": 1})
	got, err := adm.FetchOffsets(ctx, "g-http")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got.Lookup(topic, 0); !ok || o.At != 1 {
		t.Fatalf("Kafka OffsetFetch after HTTP commit: %+v", got)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g-kafka", offs); err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(srv.HTTPBase + "/consumers/g-kafka/offset?topic=" + topic + "&partition=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Offset int64 `json:"offset"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.Offset != 1 {
		t.Fatalf("HTTP offset after Kafka commit: %d %+v %v", resp.StatusCode, body, err)
	}
}
