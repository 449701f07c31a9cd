package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/zombi-dev/zombi/iceberg"
	"github.com/zombi-dev/zombi/tiering"
)

// s3Proxy sits between Zombi and the S3 test server: it can hold a request
// whose method and path match (so that the test kills Zombi while it is in
// flight), or fail every request (S3 down).
type s3Proxy struct {
	srv *httptest.Server

	mu      sync.Mutex
	hold    *regexp.Regexp // PUTs whose path matches wait on release
	held    chan string    // the held path, once
	release chan struct{}
	down    bool
}

func newS3Proxy(t *testing.T, target string) *s3Proxy {
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down, hold, held, release := p.down, p.hold, p.held, p.release
		if hold != nil && r.Method == http.MethodPut && hold.MatchString(r.URL.Path) {
			p.hold = nil // hold one request only
		} else {
			hold = nil
		}
		p.mu.Unlock()
		if down {
			http.Error(w, "<Error><Code>ServiceUnavailable</Code><Message>down for the test</Message></Error>", http.StatusServiceUnavailable)
			return
		}
		if hold != nil {
			held <- r.URL.Path
			<-release // the client is killed meanwhile: the request never lands
			http.Error(w, "held", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *s3Proxy) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// holdNext holds the next PUT whose path matches re and returns a channel
// that yields its path.
func (p *s3Proxy) holdNext(re string) <-chan string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = regexp.MustCompile(re)
	p.held = make(chan string, 1)
	p.release = make(chan struct{})
	return p.held
}

func (p *s3Proxy) releaseHeld() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.release != nil {
		close(p.release)
		p.release = nil
	}
}

func (p *s3Proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// icebergStatus is GET /tables/{t}/iceberg.
func icebergStatus(t *testing.T, base, topic string) (iceberg.Status, int) {
	t.Helper()
	resp, err := http.Get(base + "/tables/" + topic + "/iceberg")
	if err != nil {
		return iceberg.Status{}, 0
	}
	defer resp.Body.Close()
	var st iceberg.Status
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st, resp.StatusCode
}

// waitIcebergCaughtUp waits until the topic's table holds its whole log.
func waitIcebergCaughtUp(t *testing.T, base, topic string, records int64) iceberg.Status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, code := icebergStatus(t, base, topic)
		if code == 200 && st.LagRecords == 0 && st.Records == records {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("table not caught up after 60 s: HTTP %d %+v", code, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postN writes n JSON events to a table over HTTP (each acknowledged).
func postN(t *testing.T, base, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		resp, err := http.Post(base+"/tables/"+topic, "application/json", strings.NewReader(fmt.Sprintf(`{"payload":{"n":%d},"key":"k%d"}`, i, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST: HTTP %d", resp.StatusCode)
		}
	}
}

// tableOffsets reads the table on S3 with iceberg-go and counts each
// (partition, offset).
func tableOffsets(t *testing.T, env []string, topic string) map[[2]int64]int {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	c, err := tiering.NewS3Client(ctx, tiering.Config{Bucket: os.Getenv("ZOMBI_S3_BUCKET"), Endpoint: os.Getenv("ZOMBI_S3_ENDPOINT"), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := iceberg.OpenWarehouse("s3://"+os.Getenv("ZOMBI_S3_BUCKET")+"/iceberg", c)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := iceberg.Load(ctx, w.Storage("zombi", topic), table.Identifier{"zombi", topic})
	if err != nil {
		t.Fatal(err)
	}
	at, err := tb.Iceberg().Scan(table.WithSelectedFields("_partition", "_offset")).ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	seen := map[[2]int64]int{}
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		r := tr.RecordBatch()
		part := r.Column(0).(*array.Int32)
		off := r.Column(1).(*array.Int64)
		for i := 0; i < int(r.NumRows()); i++ {
			seen[[2]int64{int64(part.Value(i)), off.Value(i)}]++
		}
	}
	return seen
}

// checkExactlyOnce wants every offset below hwm[p] in the table once.
func checkExactlyOnce(t *testing.T, seen map[[2]int64]int, hwm []int64) {
	t.Helper()
	total := 0
	for p, h := range hwm {
		for o := int64(0); o < h; o++ {
			if n := seen[[2]int64{int64(p), o}]; n != 1 {
				t.Fatalf("partition %d offset %d is in the table %d times", p, o, n)
			}
			total++
		}
	}
	if len(seen) != total {
		t.Fatalf("table has %d distinct offsets, log %d", len(seen), total)
	}
}

// A kill -9 while a data file is being uploaded, and another while the
// next metadata version is being written (the commit itself), then S3
// down and back, then a restart with an empty data directory: every
// offset ends up in the table exactly once.
func TestIcebergKill9DuringUploadAndCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and an S3 server")
	}
	s3 := startS3Server(t)
	proxy := newS3Proxy(t, s3.addr)
	env := append(s3.env("ice"), "ZOMBI_S3_ENDPOINT=http://"+proxy.addr(), "ZOMBI_ICEBERG_DEFAULT=true",
		"ZOMBI_DEFAULT_PARTITIONS=2", "ZOMBI_FLUSH_INTERVAL_SECS=1")
	dir := t.TempDir()
	p := startZombi(t, dir, env...)
	base := p.HTTPBase
	resp, err := http.DefaultClient.Do(mustReq(t, http.MethodPut, base+"/tables/ev", `{"partitions":2,"configs":{"zombi.iceberg.commit.interval.ms":"300"}}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", err, resp)
	}
	resp.Body.Close()
	postN(t, base, "ev", 0, 40)
	waitIcebergCaughtUp(t, base, "ev", 40)

	for i, step := range []struct{ name, path string }{
		{"data file upload", `/ice/iceberg/zombi/ev/data/.*\.parquet$`},
		{"metadata commit", `/ice/iceberg/zombi/ev/metadata/v[0-9]+\.metadata\.json$`},
	} {
		held := proxy.holdNext(step.path)
		postN(t, base, "ev", 40+i*30, 30)
		select {
		case path := <-held:
			t.Logf("%s held (%s): kill -9", step.name, path)
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s within 30 s", step.name)
		}
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		proxy.releaseHeld()
		p = startZombi(t, dir, env...)
		base = p.HTTPBase
		waitIcebergCaughtUp(t, base, "ev", int64(40+(i+1)*30))
	}

	// S3 down: writes go on, the table waits, and catches up when S3 is back.
	proxy.setDown(true)
	postN(t, base, "ev", 100, 20)
	time.Sleep(1500 * time.Millisecond)
	st, _ := icebergStatus(t, base, "ev")
	if st.Error == "" || st.LagRecords != 20 {
		t.Fatalf("with S3 down: status %+v", st)
	}
	// The metrics an alert would watch say the same.
	mresp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mbody, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mbody), `zombi_iceberg_lag_records{topic="ev"} 20`) || !regexp.MustCompile(`zombi_iceberg_errors_total\{topic="ev"\} [1-9]`).Match(mbody) {
		t.Fatalf("with S3 down, /metrics has no lag of 20 or no errors for ev:\n%s", mbody)
	}
	proxy.setDown(false)
	waitIcebergCaughtUp(t, base, "ev", 120)

	// An empty data directory: the log comes back from the cold tier and
	// the materializer from the table, adding nothing twice.
	for part := int32(0); part < 2; part++ {
		waitColdEnd(t, env, "ev", part, int64(len(readPartition(t, base, "ev", part))))
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	p = startZombi(t, dir2, env...)
	// Topic configs live in the data directory: set the interval again
	// (zombi.iceberg.enable comes from ZOMBI_ICEBERG_DEFAULT).
	resp, err = http.DefaultClient.Do(mustReq(t, http.MethodPatch, p.HTTPBase+"/tables/ev/configs", `{"set":{"zombi.iceberg.commit.interval.ms":"300"}}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("patch configs: %v %v", err, resp)
	}
	resp.Body.Close()
	postN(t, p.HTTPBase, "ev", 120, 10)
	waitIcebergCaughtUp(t, p.HTTPBase, "ev", 130)

	hwm := make([]int64, 2)
	for part := range hwm {
		recs := readPartition(t, p.HTTPBase, "ev", int32(part))
		hwm[part] = int64(len(recs))
	}
	checkExactlyOnce(t, tableOffsets(t, env, "ev"), hwm)
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}
