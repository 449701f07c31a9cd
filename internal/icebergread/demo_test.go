package icebergread

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/iceberg"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestREADMEDemo is the README's demo end to end: the real binary on the
// embedded default (a local warehouse under the data directory), records
// produced through the Kafka door, the table's path from
// GET /tables/{t}/iceberg, then the README's DuckDB line, the three
// independent readers, and pyiceberg through Zombi's REST catalog: every
// record exactly once with key, value, headers and timestamp.
func TestREADMEDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	t.Parallel()
	py, err := Python()
	if err != nil {
		t.Skip(err)
	}
	p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), "ZOMBI_ICEBERG_DEFAULT=true")
	req, _ := http.NewRequest(http.MethodPut, p.HTTPBase+"/tables/orders", strings.NewReader(`{"partitions":2,"configs":{"zombi.iceberg.commit.interval.ms":"200"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create topic: %v %v", err, resp)
	}
	resp.Body.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	at := time.Date(2026, 12, 5, 23, 59, 59, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 10 {
		r := &kgo.Record{Topic: "orders", Partition: int32(i % 2), Timestamp: at.Add(time.Duration(i) * 250 * time.Millisecond),
			Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		switch i {
		case 1:
			r.Key = nil
		case 2:
			r.Headers = []kgo.RecordHeader{{Key: "bin", Value: []byte{0xff, 0x00}}, {Key: "empty", Value: []byte{}}}
		case 3:
			r.Value = []byte{}
		case 5:
			r.Value = nil
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := make([]iceberg.Record, 0, len(recs))
	for _, r := range recs {
		w := iceberg.Record{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			w.Headers = append(w.Headers, iceberg.Header{Key: h.Key, Value: h.Value})
		}
		want = append(want, w)
	}
	sortRecords(want)

	// The path the demo queries.
	location := waitIceberg(t, p.HTTPBase, "orders", map[string]int64{"0": 5, "1": 5})
	if !filepath.IsAbs(location) {
		t.Fatalf("location %q: want an absolute path a reader can use from anywhere", location)
	}

	cmd := exec.CommandContext(ctx, "sh", "-c", strings.Replace(readmeQuery, "TABLE_PATH", "'"+location+"'", 1))
	cmd.Dir = t.TempDir() // not the data directory: the path must stand alone
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(py)+":"+os.Getenv("PATH"), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README command: %v\n%s", err, out)
	}
	checkTable(t, "README command", string(out), want)

	got, err := ReadAll(ctx, location, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The REST catalog answers a load-table request that pyiceberg follows.
	if got["pyiceberg-rest"], err = ReadPyIcebergREST(ctx, p.HTTPBase+"/iceberg", "zombi.orders", nil); err != nil {
		t.Fatal(err)
	}
	for name, rows := range got {
		if _, err := ByOffset(rows); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		checkRows(t, name, rows, want)
	}
}

// TestDemoJSON: a json-mode topic (zombi.iceberg.mode=json with typed
// columns) fed through the Kafka door with one value that is not JSON: the
// table holds the JSON text and the typed values, {topic}_dlq the bad
// record with its _error, in every reader, each record exactly once.
func TestDemoJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	t.Parallel()
	if _, err := Python(); err != nil {
		t.Skip(err)
	}
	p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), "ZOMBI_ICEBERG_DEFAULT=true")
	req, _ := http.NewRequest(http.MethodPut, p.HTTPBase+"/tables/events", strings.NewReader(`{"partitions":1,"configs":{`+
		`"zombi.iceberg.commit.interval.ms":"200","zombi.iceberg.mode":"json","zombi.iceberg.columns":"user:string,n:long,at:timestamp"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create topic: %v %v", err, resp)
	}
	resp.Body.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ts := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	values := []string{`{"user":"ann","n":9007199254740993,"at":"2026-12-06T11:59:59.000001Z"}`, `{"n":"not a long"}`, `not json`, `{"user":"bob"}`}
	for i, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "events", Timestamp: ts.Add(time.Duration(i) * time.Millisecond), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	location := waitIceberg(t, p.HTTPBase, "events", map[string]int64{"0": int64(len(values))})
	got, err := ReadAll(ctx, location, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantExtra := []map[string]any{
		{"user": "ann", "n": int64(9007199254740993), "at": time.Date(2026, 12, 6, 11, 59, 59, 1000, time.UTC)},
		{"user": nil, "n": nil, "at": nil}, // a field of the wrong type is null
		{"user": "bob", "n": nil, "at": nil},
	}
	wantOffsets := []int64{0, 1, 3}
	for name, rows := range got {
		sortRows(rows)
		if len(rows) != len(wantOffsets) {
			t.Fatalf("%s: %d rows, want %d: %+v", name, len(rows), len(wantOffsets), rows)
		}
		for i, r := range rows {
			o := wantOffsets[i]
			if r.Offset != o || r.Text == nil || *r.Text != values[o] || r.TimestampMs != ts.Add(time.Duration(o)*time.Millisecond).UnixMilli() {
				t.Errorf("%s: row %d: %+v, want offset %d text %s", name, i, r, o, values[o])
			}
			if fmt.Sprint(r.Extra) != fmt.Sprint(wantExtra[i]) {
				t.Errorf("%s: offset %d: columns %v, want %v", name, o, r.Extra, wantExtra[i])
			}
		}
	}

	dlq := filepath.Join(filepath.Dir(location), iceberg.DLQName("events"))
	got, err = ReadAll(ctx, dlq, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, rows := range got {
		if len(rows) != 1 || rows[0].Offset != 2 || string(rows[0].Value) != "not json" || rows[0].Extra["_error"] == nil || rows[0].Extra["_error"] == "" {
			t.Errorf("%s: dlq rows %+v, want offset 2 with its value and an _error", name, rows)
		}
	}
}

// waitIceberg polls GET /tables/{topic}/iceberg until the table's
// committed offsets are next and nothing lags, and returns its location.
func waitIceberg(t *testing.T, base, topic string, next map[string]int64) string {
	t.Helper()
	var st struct {
		Location   string           `json:"location"`
		LagRecords int64            `json:"lag_records"`
		Committed  map[string]int64 `json:"committed_offsets"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/tables/" + topic + "/iceberg")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && maps.Equal(st.Committed, next) && st.LagRecords == 0 {
			return st.Location
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: table not caught up after 60 s: %+v (%v)", topic, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
