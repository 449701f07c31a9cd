package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/history"
	"github.com/zombi-dev/zombi/stats"
)

// fakeHistory serves what the test put in it and counts subscriptions.
type fakeHistory struct {
	mu       sync.Mutex
	samples  []history.Sample
	lags     map[string][]history.LagSeries
	rates    map[string][]float64
	live     history.Live
	watchers map[chan history.Sample]bool
}

func newFakeHistory() *fakeHistory {
	return &fakeHistory{lags: map[string][]history.LagSeries{}, rates: map[string][]float64{}, watchers: map[chan history.Sample]bool{}}
}

func (f *fakeHistory) Interval() time.Duration     { return 2 * time.Second }
func (f *fakeHistory) SlowInterval() time.Duration { return 10 * time.Second }
func (f *fakeHistory) Live() history.Live          { return f.live }

func (f *fakeHistory) Samples(since int64) []history.Sample {
	var out []history.Sample
	for _, s := range f.samples {
		if s.T > since {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeHistory) TopicRates(topic string) []float64 {
	if r, ok := f.rates[topic]; ok {
		return r
	}
	return make([]float64, history.RatePoints)
}

func (f *fakeHistory) LagHistory(group string) []history.LagSeries {
	return append([]history.LagSeries{}, f.lags[group]...)
}

func (f *fakeHistory) Subscribe() (<-chan history.Sample, func()) {
	ch := make(chan history.Sample, 4)
	f.mu.Lock()
	f.watchers[ch] = true
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.watchers, ch)
		f.mu.Unlock()
	}
}

func (f *fakeHistory) send(s history.Sample) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.watchers {
		ch <- s
	}
}

func (f *fakeHistory) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

func sampleAt(t int64, recordsIn float64) history.Sample {
	return history.Sample{T: t, RecordsIn: recordsIn, ProduceP50: 1.5, ProduceP99: 4, FetchP50: math.NaN(), FetchP99: math.NaN(), Connections: 3, HotBytes: 10}
}

func TestOverview(t *testing.T) {
	h := newFakeHistory()
	h.live = history.Live{KafkaConnections: 2, HTTPConnections: 1, HotBytes: 500, ColdPendingBytes: 7, S3Reachable: true}
	e := newEnv(t, Config{History: h, Overview: OverviewInfo{Version: "v1.2.3", Commit: "abc", HotMaxBytes: 1000, Bucket: "bkt"}})
	for _, tbl := range []string{"a", "b"} {
		if code, body := e.do("POST", "/tables/"+tbl, "application/json", []byte(`{"payload":"x"}`)); code != 202 {
			t.Fatalf("write %s: %d %s", tbl, code, body)
		}
	}
	if code, body := e.do("POST", "/consumers/g1/commit", "application/json", []byte(`{"topic":"a","partition":0,"offset":0}`)); code != 200 {
		t.Fatalf("commit: %d %s", code, body)
	}
	code, body := e.do("GET", "/overview", "", nil)
	if code != 200 {
		t.Fatalf("GET /overview: %d %s", code, body)
	}
	var o struct {
		V                          string `json:"version"`
		StartedMs                  int64  `json:"started_ms"`
		Health                     struct{ Status string }
		Ready                      bool
		Topics, Partitions, Groups int
		Hot                        struct {
			Bytes    int64 `json:"bytes"`
			MaxBytes int64 `json:"max_bytes"`
		}
		Cold struct {
			Enabled      bool   `json:"enabled"`
			Bucket       string `json:"bucket"`
			PendingBytes int64  `json:"pending_bytes"`
			S3Reachable  bool   `json:"s3_reachable"`
		}
		Connections struct{ Kafka, HTTP int }
	}
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	if o.V != "v1.2.3" || o.Health.Status != "healthy" || !o.Ready || o.Topics != 2 || o.Partitions != 2 || o.Groups != 1 ||
		o.Hot.Bytes != 500 || o.Hot.MaxBytes != 1000 || !o.Cold.Enabled || o.Cold.Bucket != "bkt" || o.Cold.PendingBytes != 7 ||
		!o.Cold.S3Reachable || o.Connections.Kafka != 2 || o.Connections.HTTP != 1 || o.StartedMs > now || o.StartedMs < now-60_000 {
		t.Fatalf("GET /overview = %s", body)
	}
	// Without the history the overview still answers, its live figures 0.
	plain := newEnv(t, Config{})
	if code, body := plain.do("GET", "/overview", "", nil); code != 200 || !strings.Contains(string(body), `"connections":{"kafka":0,"http":0}`) {
		t.Fatalf("GET /overview without history: %d %s", code, body)
	}
}

func TestStatsHistory(t *testing.T) {
	h := newFakeHistory()
	h.samples = []history.Sample{sampleAt(1000, 5), sampleAt(3000, 7.25)}
	e := newEnv(t, Config{History: h})
	code, body := e.do("GET", "/stats/history", "", nil)
	if code != 200 {
		t.Fatalf("GET /stats/history: %d %s", code, body)
	}
	var got struct {
		IntervalMs int64            `json:"interval_ms"`
		WindowMs   int64            `json:"window_ms"`
		Samples    []map[string]any `json:"samples"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.IntervalMs != 2000 || got.WindowMs != 900_000 || len(got.Samples) != 2 || got.Samples[1]["records_in"] != 7.25 ||
		got.Samples[0]["fetch_p99_ms"] != nil || got.Samples[0]["produce_p50_ms"] != 1.5 {
		t.Fatalf("GET /stats/history = %s", body)
	}
	if code, body := e.do("GET", "/stats/history?since=1000", "", nil); code != 200 || strings.Count(string(body), `"t":`) != 1 || !strings.Contains(string(body), `"t":3000`) {
		t.Fatalf("since=1000: %d %s", code, body)
	}
	for _, bad := range []string{"abc", "-1", "99999999999999999999"} {
		if code, _ := e.do("GET", "/stats/history?since="+bad, "", nil); code != 400 {
			t.Fatalf("since=%s: %d, want 400", bad, code)
		}
	}
	off := newEnv(t, Config{})
	for _, path := range []string{"/stats/history", "/stats/stream", "/consumers/g/lag-history"} {
		if code, body := off.do("GET", path, "", nil); code != 404 || !strings.Contains(string(body), "history is not enabled") {
			t.Fatalf("GET %s without history: %d %s", path, code, body)
		}
	}
}

// The stream sends each sample as an event and pings, and its handler ends
// (the subscription goes) once the client disconnects.
func TestStatsStreamEndsWithClient(t *testing.T) {
	old := streamPing
	streamPing = 50 * time.Millisecond
	t.Cleanup(func() { streamPing = old })
	h := newFakeHistory()
	l := newEnv(t, Config{}).log
	srv := httptest.NewServer(New(l, stats.New(), Config{History: h}, discardLogger()))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/stats/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /stats/stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if h.open() != 1 {
		t.Fatalf("%d subscriptions for one stream", h.open())
	}
	h.send(sampleAt(42, 9))
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var sawEvent, sawData, sawPing bool
	deadline := time.After(5 * time.Second)
	for !(sawEvent && sawData && sawPing) {
		select {
		case ln := <-lines:
			switch {
			case ln == "event: sample":
				sawEvent = true
			case strings.HasPrefix(ln, "data: "):
				var m map[string]any
				if err := json.Unmarshal([]byte(ln[6:]), &m); err != nil || m["t"] != 42.0 || m["records_in"] != 9.0 {
					t.Fatalf("data line %q", ln)
				}
				sawData = true
			case ln == ": ping":
				sawPing = true
			}
		case <-deadline:
			t.Fatalf("in 5 s: event %v, data %v, ping %v", sawEvent, sawData, sawPing)
		}
	}
	cancel() // the client goes
	for end := time.Now().Add(5 * time.Second); h.open() != 0; {
		if time.Now().After(end) {
			t.Fatal("the stream's handler still runs 5 s after its client went")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTablesWithRates(t *testing.T) {
	h := newFakeHistory()
	want := make([]float64, history.RatePoints)
	want[29] = 12.5
	h.rates["a"] = want
	e := newEnv(t, Config{History: h})
	if code, _ := e.do("POST", "/tables/a", "application/json", []byte(`{"payload":"x"}`)); code != 202 {
		t.Fatal("write")
	}
	var got struct {
		Tables []struct {
			Name  string    `json:"name"`
			Rates []float64 `json:"rates"`
		} `json:"tables"`
	}
	_, body := e.do("GET", "/tables?with=rates", "", nil)
	if err := json.Unmarshal(body, &got); err != nil || len(got.Tables) != 1 || len(got.Tables[0].Rates) != 30 || got.Tables[0].Rates[29] != 12.5 {
		t.Fatalf("GET /tables?with=rates = %s", body)
	}
	if _, body := e.do("GET", "/tables", "", nil); strings.Contains(string(body), `"rates"`) {
		t.Fatalf("GET /tables without with=rates has rates: %s", body)
	}
}

func TestConsumersTotalLagAndLagHistory(t *testing.T) {
	h := newFakeHistory()
	h.lags["g"] = []history.LagSeries{{Topic: "a", Partition: 0, Points: [][2]int64{{1000, 3}, {11000, 2}}}}
	e := newEnv(t, Config{History: h})
	for range 5 {
		if code, _ := e.do("POST", "/tables/a", "application/json", []byte(`{"payload":"x"}`)); code != 202 {
			t.Fatal("write")
		}
	}
	e.do("POST", "/consumers/g/commit", "application/json", []byte(`{"topic":"a","partition":0,"offset":2}`))
	e.do("POST", "/consumers/h/commit", "application/json", []byte(`{"topic":"a","partition":0,"offset":5}`))
	code, list := e.doJSON("GET", "/consumers", "")
	if code != 200 {
		t.Fatalf("GET /consumers: %d %v", code, list)
	}
	lags := map[string]string{}
	for _, g := range list["groups"].([]any) {
		m := g.(map[string]any)
		lags[m["group"].(string)] = m["total_lag"].(json.Number).String()
	}
	if lags["g"] != "3" || lags["h"] != "0" {
		t.Fatalf("total_lag = %v, want g 3, h 0", lags)
	}
	_, detail := e.doJSON("GET", "/consumers/g", "")
	if detail["total_lag"].(json.Number).String() != lags["g"] {
		t.Fatalf("GET /consumers/g total_lag %v differs from the list's %s", detail["total_lag"], lags["g"])
	}
	code, body := e.do("GET", "/consumers/g/lag-history", "", nil)
	if code != 200 || string(body) != `{"interval_ms":10000,"series":[{"topic":"a","partition":0,"points":[[1000,3],[11000,2]]}]}` {
		t.Fatalf("GET /consumers/g/lag-history: %d %s", code, body)
	}
	if code, body := e.do("GET", "/consumers/nobody/lag-history", "", nil); code != 200 || !strings.Contains(string(body), `"series":[]`) {
		t.Fatalf("unknown group: %d %s", code, body)
	}
}

// With authentication on: 401 without credentials, 403 without DESCRIBE on
// the cluster (group for the lag history), and the lag history hides the
// topics the caller may not DESCRIBE.
func TestConsoleRoutesAuth(t *testing.T) {
	h := newFakeHistory()
	h.samples = []history.Sample{sampleAt(1000, 1)}
	h.lags["g"] = []history.LagSeries{{Topic: "open", Points: [][2]int64{{1, 1}}}, {Topic: "secret", Points: [][2]int64{{1, 1}}}}
	e := newAuthEnv(t, authOpts{authorization: true, requireAuth: true, public: []string{"/health"}})
	e.h = validating(t, New(e.log, e.stats, Config{Auth: e.svc, RequireAuth: true, PublicPaths: []string{"/health"}, History: h}, discardLogger()))
	bob := basic("bob", "bob-pw")
	routes := []string{"/overview", "/stats/history", "/stats/stream", "/consumers/g/lag-history"}
	for _, p := range routes {
		if w := e.req("GET", p, "", nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("GET %s without credentials: %d, want 401", p, w.Code)
		}
		if w := e.req("GET", p, "", bob); w.Code != http.StatusForbidden || !strings.Contains(errorBody(t, w), "User:bob") {
			t.Fatalf("GET %s without ACLs: %d %s, want 403", p, w.Code, w.Body)
		}
	}
	e.allow("User:bob", kmsg.ACLResourceTypeCluster, auth.ClusterName, kmsg.ACLOperationDescribe)
	e.allow("User:bob", kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationDescribe)
	e.allow("User:bob", kmsg.ACLResourceTypeTopic, "open", kmsg.ACLOperationDescribe)
	for _, p := range []string{"/overview", "/stats/history"} {
		if w := e.req("GET", p, "", bob); w.Code != 200 {
			t.Fatalf("GET %s with DESCRIBE Cluster: %d %s", p, w.Code, w.Body)
		}
	}
	w := e.req("GET", "/consumers/g/lag-history", "", bob)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"open"`) || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("lag history for bob: %d %s, want topic open only", w.Code, w.Body)
	}
}

// A real sampler over the test's log: a write shows in the history.
func TestHistoryWithRealSampler(t *testing.T) {
	e := newEnv(t, Config{})
	smp := history.New(history.Config{Traffic: e.log, Offsets: e.log, Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); smp.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e.h = validating(t, New(e.log, e.stats, Config{History: smp}, discardLogger()))
	// After the first sample: the one before only sets the baselines.
	first, unsubscribe := smp.Subscribe()
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("no sample within 5 s at a 20 ms interval")
	}
	unsubscribe()
	if code, _ := e.do("POST", "/tables/live", "application/json", []byte(`{"payload":"hello"}`)); code != 202 {
		t.Fatal("write")
	}
	for end := time.Now().Add(5 * time.Second); ; {
		_, body := e.do("GET", "/stats/history", "", nil)
		var got struct {
			Samples []struct {
				RecordsIn float64 `json:"records_in"`
			} `json:"samples"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		for _, s := range got.Samples {
			if s.RecordsIn > 0 {
				return
			}
		}
		if time.Now().After(end) {
			t.Fatalf("no sample with records_in > 0 within 5 s: %.300s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
