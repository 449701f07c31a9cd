package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/stats"
)

// fakeCluster is a cluster of in-process nodes: one leader map shared by
// all (or one per node, to model stale views), topics created on every
// node's log.
type fakeCluster struct {
	id    int32
	mu    *sync.Mutex
	lead  map[int32]int32 // partition -> leader (every table)
	urls  map[int32]string
	logs  []*plog.Log
	waits *int // AwaitReplicated calls
	// coord is each group's coordinator (node id; absent: none), loading
	// the nodes whose view is not loaded.
	coord   map[string]int32
	loading map[int32]bool
}

func (f *fakeCluster) LocalID() int32 { return f.id }
func (f *fakeCluster) Leader(topic string, p int32) (int32, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.lead[p]
	if !ok {
		return -1, "", false
	}
	return l, f.urls[l], true
}
func (f *fakeCluster) CheckWrite(string, int32) error { return nil }
func (f *fakeCluster) AwaitReplicated(context.Context, string, int32, int64) error {
	f.mu.Lock()
	*f.waits++
	f.mu.Unlock()
	return nil
}
func (f *fakeCluster) CreateTopic(_ context.Context, name string, parts int32, _ int16, configs map[string]string) error {
	for _, l := range f.logs {
		if _, err := l.CreateTopic(name, parts, configs); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeCluster) DeleteTopic(context.Context, string) error                        { return nil }
func (f *fakeCluster) AddPartitions(context.Context, string, int32) error               { return nil }
func (f *fakeCluster) SetTopicConfigs(context.Context, string, map[string]string) error { return nil }
func (f *fakeCluster) Describe() ClusterInfo                                            { return ClusterInfo{} }
func (f *fakeCluster) GroupCoordinator(group string) (GroupCoord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.coord[group]
	if !ok {
		return GroupCoord{}, fmt.Errorf("no leader: %w", ErrCoordinatorNotAvailable)
	}
	gc := GroupCoord{Node: n, Local: n == f.id, Epoch: 1}
	gc.Loaded = gc.Local && !f.loading[n]
	if !gc.Local {
		gc.URL = f.urls[n]
	}
	return gc, nil
}

// The fake's internal partition is the coordinator's own log: it checks
// the coordinator is still this node, as the epoch fence would.
func (f *fakeCluster) CommitGroupOffsets(_ context.Context, gc GroupCoord, offs []plog.CommittedOffset) error {
	if now, err := f.GroupCoordinator(offs[0].Group); err != nil || now.Node != gc.Node || !gc.Local {
		return ErrNotCoordinator
	}
	return f.logs[f.id-1].CommitOffsets(offs)
}
func (f *fakeCluster) DeleteGroupOffsets(_ context.Context, gc GroupCoord, group string, _ []plog.OffsetKey, _ bool) error {
	if now, err := f.GroupCoordinator(group); err != nil || now.Node != gc.Node || !gc.Local {
		return ErrNotCoordinator
	}
	return f.logs[f.id-1].DeleteOffsets(group, "", nil)
}
func (f *fakeCluster) LiveNodes() map[int32]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.urls)
}

type fakeNode struct {
	log *plog.Log
	srv *httptest.Server
	fc  *fakeCluster
}

// newFakeCluster starts n nodes (ids 1..n) over their own logs; lead maps
// partitions to leaders in every node's view.
func newFakeCluster(t *testing.T, n int, lead map[int32]int32) []*fakeNode {
	t.Helper()
	mu, waits := &sync.Mutex{}, new(int)
	urls := map[int32]string{}
	coord, loading := map[string]int32{}, map[int32]bool{}
	var logs []*plog.Log
	nodes := make([]*fakeNode, n)
	for i := range nodes {
		l, err := plog.Open(plog.Options{Dir: t.TempDir(), SyncWrites: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		logs = append(logs, l)
		nodes[i] = &fakeNode{log: l}
	}
	for i, nd := range nodes {
		nd.fc = &fakeCluster{id: int32(i + 1), mu: mu, lead: lead, urls: urls, logs: logs, waits: waits, coord: coord, loading: loading}
		nd.srv = httptest.NewServer(New(nd.log, stats.New(), Config{Cluster: nd.fc, DefaultPartitions: 3}, slog.New(slog.NewTextHandler(io.Discard, nil))))
		t.Cleanup(nd.srv.Close)
		mu.Lock()
		urls[int32(i+1)] = nd.srv.URL
		mu.Unlock()
	}
	return nodes
}

func post(t *testing.T, url, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST %s: %d %q", url, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// records reads a partition's records from a node's log.
func records(t *testing.T, l *plog.Log, table string, p int32) []string {
	t.Helper()
	r, err := l.Read(table, p, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range r.Batches {
		_, recs, err := batch.Records(b.Raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			out = append(out, string(rec.Value))
		}
	}
	return out
}

func TestClusterBulkRoutedToLeaders(t *testing.T) {
	nodes := newFakeCluster(t, 3, map[int32]int32{0: 1, 1: 2, 2: 3})
	body := `{"records":[{"payload":"a","partition":2},{"payload":"b","partition":0},{"payload":"c","partition":1},{"payload":"d","partition":2},{"payload":"e","partition":1,"key":"","headers":{"h":"v"}}]}`
	code, m := post(t, nodes[0].srv.URL+"/tables/t/bulk", body)
	if code != 202 {
		t.Fatalf("bulk on node 1: %d %v", code, m)
	}
	got, _ := json.Marshal([]any{m["offsets"], m["partitions"]})
	if want := `[[0,0,0,1,1],[2,0,1,2,1]]`; string(got) != want {
		t.Fatalf("offsets and partitions in the client's order: got %s, want %s", got, want)
	}
	for p, want := range map[int32]string{0: "b", 1: "c,e", 2: "a,d"} {
		leader := nodes[p]
		if g := strings.Join(records(t, leader.log, "t", p), ","); g != want {
			t.Errorf("partition %d on its leader (node %d): %q, want %q", p, p+1, g, want)
		}
		for i, nd := range nodes {
			if int32(i) != p && len(records(t, nd.log, "t", p)) != 0 {
				t.Errorf("partition %d written on node %d, which does not lead it", p, i+1)
			}
		}
	}
}

func TestClusterSingleWriteForwardedIdempotent(t *testing.T) {
	nodes := newFakeCluster(t, 3, map[int32]int32{0: 1, 1: 2, 2: 3})
	var first map[string]any
	for i, nd := range nodes { // the same key retried on every node
		code, m := post(t, nd.srv.URL+"/tables/idem", `{"payload":"x","idempotency_key":"k-1"}`)
		if code != 202 {
			t.Fatalf("write on node %d: %d %v", i+1, code, m)
		}
		if first == nil {
			first = m
		} else if m["offset"] != first["offset"] || m["partition"] != first["partition"] {
			t.Fatalf("retry on node %d answered %v, the first write %v", i+1, m, first)
		}
	}
	total := 0
	for p := range int32(3) {
		total += len(records(t, nodes[p].log, "idem", p))
	}
	if total != 1 {
		t.Fatalf("%d records written for one idempotency key, want 1", total)
	}
}

func TestClusterForwardLoopRefused(t *testing.T) {
	old := routeRetryFor
	routeRetryFor = 300 * time.Millisecond
	t.Cleanup(func() { routeRetryFor = old })
	nodes := newFakeCluster(t, 2, map[int32]int32{0: 2})
	// Node 2 believes node 1 leads: a stale view on the receiving side.
	stale := *nodes[0].fc
	stale.lead = map[int32]int32{0: 1}
	stale.id = 2
	nodes[1].srv.Config.Handler = New(nodes[1].log, stats.New(), Config{Cluster: &stale, DefaultPartitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	start := time.Now()
	code, m := post(t, nodes[0].srv.URL+"/tables/loop", `{"payload":"x","partition":0}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(m["error"].(string), "leader moved, retry") {
		t.Fatalf("write whose leader says another node leads: %d %v, want 503 leader moved", code, m)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s: retries not bounded", d)
	}
	for i, nd := range nodes {
		if n := len(records(t, nd.log, "loop", 0)); n != 0 {
			t.Fatalf("node %d wrote %d records", i+1, n)
		}
	}
}

func TestClusterAloneDescribe(t *testing.T) {
	e := newEnv(t, Config{LocalHTTP: "http://localhost:8080", LocalListeners: []ClusterListener{{Name: "PLAINTEXT", Host: "localhost", Port: 9092}}})
	if code, _ := e.doJSON("PUT", "/tables/three", `{"partitions":3}`); code != 201 {
		t.Fatalf("create: %d", code)
	}
	code, b := e.do("GET", "/cluster", "", nil)
	if code != 200 {
		t.Fatalf("GET /cluster: %d %s", code, b)
	}
	want := `{"cluster_id":"zombi","controller":1,"nodes":[{"id":1,"kafka":[{"name":"PLAINTEXT","host":"localhost","port":9092}],"http":"http://localhost:8080","alive":true}],` +
		`"topics":[{"name":"three","partitions":[{"partition":0,"leader":1,"leader_epoch":0,"replicas":[1],"isr":[1],"offline":[]},{"partition":1,"leader":1,"leader_epoch":0,"replicas":[1],"isr":[1],"offline":[]},{"partition":2,"leader":1,"leader_epoch":0,"replicas":[1],"isr":[1],"offline":[]}]}]}`
	if string(b) != want {
		t.Fatalf("GET /cluster alone:\n got %s\nwant %s", b, want)
	}
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func payloads(m map[string]any) string {
	var out []string
	recs, _ := m["records"].([]any)
	for _, r := range recs {
		out = append(out, r.(map[string]any)["payload"].(string))
	}
	return strings.Join(out, ",")
}

func TestClusterReadsWhereLed(t *testing.T) {
	nodes := newFakeCluster(t, 3, map[int32]int32{0: 1, 1: 2, 2: 3})
	body := `{"records":[{"payload":"a","partition":2,"timestamp_ms":1},{"payload":"b","partition":0,"timestamp_ms":2},{"payload":"c","partition":1,"timestamp_ms":3},{"payload":"d","partition":2,"timestamp_ms":4}]}`
	if code, m := post(t, nodes[1].srv.URL+"/tables/r/bulk", body); code != 202 {
		t.Fatalf("bulk: %d %v", code, m)
	}
	for i, nd := range nodes {
		code, m := get(t, nd.srv.URL+"/tables/r?limit=10")
		if code != 200 || payloads(m) != "a,b,c,d" {
			t.Errorf("merged read on node %d: %d %q, want a,b,c,d", i+1, code, payloads(m))
		}
		code, m = get(t, nd.srv.URL+"/tables/r?partition=2")
		if code != 200 || payloads(m) != "a,d" || m["next_offset"] != float64(2) {
			t.Errorf("partition 2 read on node %d: %d %v, want a,d next_offset 2", i+1, code, m)
		}
	}
}

func TestClusterNoLeaderRetryAfter(t *testing.T) {
	old := routeRetryFor
	routeRetryFor = 200 * time.Millisecond
	t.Cleanup(func() { routeRetryFor = old })
	nodes := newFakeCluster(t, 2, map[int32]int32{0: -1}) // offline
	if _, err := nodes[0].log.CreateTopic("off", 1, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, nodes[0].srv.URL+"/tables/off", strings.NewReader(`{"payload":"x"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), "leader is not available") {
		t.Fatalf("write to an offline partition: %d Retry-After %q %s, want 503 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if n := len(records(t, nodes[0].log, "off", 0)); n != 0 {
		t.Fatalf("%d records written to an offline partition", n)
	}
	code, m := get(t, nodes[1].srv.URL+"/tables/off?partition=0")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("read of an offline partition: %d %v, want 503", code, m)
	}
}

func TestClusterTableInfoLeadersOffsets(t *testing.T) {
	nodes := newFakeCluster(t, 3, map[int32]int32{0: 1, 1: 2, 2: 3})
	body := `{"records":[{"payload":"a","partition":2},{"payload":"b","partition":2},{"payload":"c","partition":1}]}`
	if code, m := post(t, nodes[0].srv.URL+"/tables/inf/bulk", body); code != 202 {
		t.Fatalf("bulk: %d %v", code, m)
	}
	for i, nd := range nodes {
		code, m := get(t, nd.srv.URL+"/tables/inf/info")
		offs, _ := m["partition_offsets"].([]any)
		var hwms []float64
		for _, o := range offs {
			hwms = append(hwms, o.(map[string]any)["high_watermark"].(float64))
		}
		if code != 200 || m["records"] != float64(3) || len(hwms) != 3 || hwms[0] != 0 || hwms[1] != 1 || hwms[2] != 2 {
			t.Errorf("GET /tables/inf/info on node %d: %d records %v hwms %v, want 3 records, hwms [0 1 2]", i+1, code, m["records"], hwms)
		}
	}
}

func TestClusterConcurrentWritesEveryNode(t *testing.T) {
	nodes := newFakeCluster(t, 3, map[int32]int32{0: 1, 1: 2, 2: 3})
	var wg sync.WaitGroup
	const writers, each = 6, 30
	errs := make(chan string, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := nodes[w%3]
			for i := range each {
				body := fmt.Sprintf(`{"payload":"w%d-%d","key":"k%d"}`, w, i, i)
				if i%5 == 0 {
					body = fmt.Sprintf(`{"records":[{"payload":"w%d-%d","key":"k%d"}]}`, w, i, i)
					resp, err := http.Post(nd.srv.URL+"/tables/cc/bulk", "application/json", strings.NewReader(body))
					if err != nil || resp.StatusCode != 202 {
						errs <- fmt.Sprint("bulk ", err)
					}
					if resp != nil {
						resp.Body.Close()
					}
					continue
				}
				resp, err := http.Post(nd.srv.URL+"/tables/cc", "application/json", strings.NewReader(body))
				if err != nil || resp.StatusCode != 202 {
					errs <- fmt.Sprint("single ", err)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	seen := map[string]int{}
	for p := range int32(3) {
		for _, v := range records(t, nodes[p].log, "cc", p) {
			seen[v]++
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct records on the leaders, want %d", len(seen), writers*each)
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s written %d times", v, n)
		}
	}
}
