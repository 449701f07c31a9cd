package icebergread

import (
	"context"
	"encoding/json"
	"fmt"
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
// GET /tables/{t}/iceberg, then the README's DuckDB line and the three
// independent readers: every record exactly once with key, value, headers
// and timestamp.
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
	var st struct {
		Location   string `json:"location"`
		Records    int64  `json:"records"`
		LagRecords int64  `json:"lag_records"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.HTTPBase + "/tables/orders/iceberg")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && st.Records == int64(len(recs)) && st.LagRecords == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("table not caught up after 60 s: %+v (%v)", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !filepath.IsAbs(st.Location) {
		t.Fatalf("location %q: want an absolute path a reader can use from anywhere", st.Location)
	}

	cmd := exec.CommandContext(ctx, "sh", "-c", strings.Replace(readmeQuery, "TABLE_PATH", "'"+st.Location+"'", 1))
	cmd.Dir = t.TempDir() // not the data directory: the path must stand alone
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(py)+":"+os.Getenv("PATH"), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README command: %v\n%s", err, out)
	}
	checkTable(t, "README command", string(out), want)

	got, err := ReadAll(ctx, st.Location, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, rows := range got {
		if _, err := ByOffset(rows); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		checkRows(t, name, rows, want)
	}
}
