package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// clusterInfo is GET /cluster on p (ok false: not answered 200).
func clusterInfo(t *testing.T, p *zombitest.Proc) (httpapi.ClusterInfo, bool) {
	t.Helper()
	var in httpapi.ClusterInfo
	resp, err := http.Get(p.HTTPBase + "/cluster")
	if err != nil {
		return in, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return in, false
	}
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatalf("GET /cluster: %v", err)
	}
	return in, true
}

func (c httpapiTopics) partition(topic string, p int32) (httpapi.ClusterPartition, bool) {
	for _, t := range c {
		if t.Name == topic && int(p) < len(t.Partitions) {
			return t.Partitions[p], true
		}
	}
	return httpapi.ClusterPartition{}, false
}

type httpapiTopics []httpapi.ClusterTopic

// readPayloads is GET /tables/{t}{query} on p: the payloads in order.
func readPayloads(t *testing.T, p *zombitest.Proc, table, query string) []string {
	t.Helper()
	code, m := call(t, "GET", p.HTTPBase+"/tables/"+table+query, "")
	if code != http.StatusOK {
		t.Fatalf("GET /tables/%s%s on %s: %d %v", table, query, p.HTTPBase, code, m)
	}
	var out []string
	recs, _ := m["records"].([]any)
	for _, r := range recs {
		out = append(out, r.(map[string]any)["payload"].(string))
	}
	return out
}

func metricValue(body, name string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(name)+1:]), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestClusterRESTEveryNode: three real nodes on one etcd, a table with RF
// 3 over three partitions led by the three nodes. A bulk write on one node
// lands on every partition's leader and answers in the client's order; a
// single write to a follower lands on the leader; every node's GET (merged
// and per partition) reads it all; an idempotency key retried on another
// node is deduplicated; GET /cluster and /metrics agree; after a kill -9 of
// a leader GET /cluster shows it dead, its partitions led elsewhere, and
// writes go on through the survivors with nothing lost.
func TestClusterRESTEveryNode(t *testing.T) {
	e := etcdtest.Start(t)
	dir := t.TempDir()
	var nodes []*zombitest.Proc
	for id := 1; id <= 3; id++ {
		nodes = append(nodes, startZombi(t, filepath.Join(dir, fmt.Sprint("n", id), "data"),
			clusterEnv(e, id, "ZOMBI_DEFAULT_PARTITIONS=3")...))
	}
	if !waitFor(15*time.Second, func() bool {
		for _, p := range nodes {
			in, ok := clusterInfo(t, p)
			if !ok || len(in.Nodes) != 3 || in.Controller < 1 {
				return false
			}
		}
		return true
	}) {
		in, _ := clusterInfo(t, nodes[0])
		t.Fatalf("three nodes and a controller not seen by every node within 15 s: %+v", in)
	}
	if code, m := call(t, "PUT", nodes[0].HTTPBase+"/tables/ev", `{"partitions":3}`); code != http.StatusCreated {
		t.Fatalf("PUT /tables/ev: %d %v", code, m)
	}
	var leaders [3]int32
	if !waitFor(15*time.Second, func() bool {
		in, ok := clusterInfo(t, nodes[2])
		if !ok {
			return false
		}
		for p := range int32(3) {
			st, ok := httpapiTopics(in.Topics).partition("ev", p)
			if !ok || st.Leader < 1 || len(st.Replicas) != 3 || len(st.ISR) != 3 {
				return false
			}
			leaders[p] = st.Leader
		}
		return true
	}) {
		in, _ := clusterInfo(t, nodes[2])
		t.Fatalf("table ev not led with RF 3 on node 3 within 15 s: %+v", in.Topics)
	}
	if l := slices.Sorted(slices.Values(leaders[:])); len(slices.Compact(l)) != 3 {
		t.Fatalf("leaders of ev's partitions %v: want three distinct nodes (assignment spreads leaders)", leaders)
	}

	// Bulk across the three leaders, sent to node 2.
	var recs []string
	var want []string
	for i := range 12 {
		recs = append(recs, fmt.Sprintf(`{"payload":"b%02d","partition":%d,"timestamp_ms":%d}`, i, i%3, 1000+i))
		want = append(want, fmt.Sprintf("b%02d", i))
	}
	start := time.Now()
	code, m := call(t, "POST", nodes[1].HTTPBase+"/tables/ev/bulk", `{"records":[`+strings.Join(recs, ",")+`]}`)
	if code != http.StatusAccepted {
		t.Fatalf("bulk on node 2: %d %v", code, m)
	}
	t.Logf("bulk of 12 over three leaders answered in %s", time.Since(start).Round(time.Millisecond))
	parts, _ := m["partitions"].([]any)
	offs, _ := m["offsets"].([]any)
	for i := range 12 {
		if parts[i] != float64(i%3) || offs[i] != float64(i/3) {
			t.Fatalf("bulk answer record %d: partition %v offset %v, want %d %d (%v)", i, parts[i], offs[i], i%3, i/3, m)
		}
	}

	// A single write to a follower of partition 0.
	follower := nodes[leaders[0]%3] // a node that does not lead partition 0
	code, m = call(t, "POST", follower.HTTPBase+"/tables/ev", `{"payload":"single","partition":0,"timestamp_ms":2000}`)
	if code != http.StatusAccepted || m["offset"] != float64(4) || m["partition"] != float64(0) {
		t.Fatalf("single write to a follower of partition 0: %d %v, want 202 offset 4", code, m)
	}
	want = append(want, "single")

	// Every node reads everything, merged and per partition.
	for i, p := range nodes {
		if got := readPayloads(t, p, "ev", "?limit=100"); !slices.Equal(got, want) {
			t.Errorf("merged read on node %d: %v, want %v", i+1, got, want)
		}
		if got := readPayloads(t, p, "ev", "?partition=0"); !slices.Equal(got, []string{"b00", "b03", "b06", "b09", "single"}) {
			t.Errorf("partition 0 read on node %d: %v", i+1, got)
		}
	}

	// An idempotency key retried on every node: one record.
	var first map[string]any
	for i, p := range nodes {
		code, m := call(t, "POST", p.HTTPBase+"/tables/ev", `{"payload":"idem","idempotency_key":"order-17"}`)
		if code != http.StatusAccepted {
			t.Fatalf("idempotent write on node %d: %d %v", i+1, code, m)
		}
		if first == nil {
			first = m
		} else if m["offset"] != first["offset"] || m["partition"] != first["partition"] {
			t.Fatalf("retry on node %d answered %v, first write %v", i+1, m, first)
		}
	}
	if n := strings.Count(strings.Join(readPayloads(t, nodes[0], "ev", "?limit=100"), ","), "idem"); n != 1 {
		t.Fatalf("idempotency key retried on three nodes: %d records, want 1", n)
	}
	want = append(want, "idem")

	// A first write creates the table through the cluster's catalog, with
	// the default replication factor (min(3, live nodes)).
	if code, m := call(t, "POST", nodes[2].HTTPBase+"/tables/auto", `{"payload":"first","key":"k"}`); code != http.StatusAccepted {
		t.Fatalf("first write to a new table on node 3: %d %v", code, m)
	}
	in, _ := clusterInfo(t, nodes[0])
	for p := range int32(3) {
		if st, ok := httpapiTopics(in.Topics).partition("auto", p); !ok || len(st.Replicas) != 3 || st.Leader < 1 {
			t.Fatalf("auto-created table on node 1's GET /cluster: %+v", in.Topics)
		}
	}
	if got := readPayloads(t, nodes[0], "auto", ""); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("auto-created table read on node 1: %v", got)
	}

	// Metrics: one controller, three brokers, every name present.
	ctrl := 0.0
	for i, p := range nodes {
		body := scrape(t, p)
		for _, name := range []string{"zombi_cluster_controller", "zombi_under_replicated_partitions", "zombi_offline_partitions",
			"zombi_isr_shrinks_total", "zombi_isr_expands_total", "zombi_leader_elections_total", "kafka_brokers"} {
			if _, ok := metricValue(body, name); !ok {
				t.Errorf("/metrics on node %d has no %s", i+1, name)
			}
		}
		if v, _ := metricValue(body, "kafka_brokers"); v != 3 {
			t.Errorf("kafka_brokers on node %d = %v, want 3", i+1, v)
		}
		v, _ := metricValue(body, "zombi_cluster_controller")
		ctrl += v
		if int32(i+1) == leaders[0] && !strings.Contains(body, `zombi_replica_lag_records{partition="0",replica=`) {
			t.Errorf("/metrics on node %d (leader of ev/0) has no zombi_replica_lag_records of partition 0", i+1)
		}
	}
	if ctrl != 1 {
		t.Errorf("zombi_cluster_controller summed over the nodes = %v, want 1", ctrl)
	}

	// kill -9 the leader of partition 0.
	victim := leaders[0]
	if err := nodes[victim-1].Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	survivor := nodes[victim%3]
	var after httpapi.ClusterInfo
	if !waitFor(15*time.Second, func() bool {
		in, ok := clusterInfo(t, survivor)
		if !ok {
			return false
		}
		st, ok := httpapiTopics(in.Topics).partition("ev", 0)
		after = in
		return ok && st.Leader >= 1 && st.Leader != victim && slices.Contains(st.Offline, victim)
	}) {
		t.Fatalf("after kill -9 of node %d, GET /cluster on a survivor within 15 s: %+v", victim, after)
	}
	t.Logf("partition 0 led by node %d %s after kill -9 of node %d", mustPartition(t, after, 0).Leader, time.Since(killed).Round(10*time.Millisecond), victim)
	dead := false
	for _, n := range after.Nodes {
		if n.ID == victim {
			dead = !n.Alive && n.HTTP == "" && len(n.Kafka) == 0
		}
	}
	if !dead || len(after.Nodes) != 3 {
		t.Fatalf("nodes after kill -9 of node %d: %+v, want it listed with alive false, id only", victim, after.Nodes)
	}
	checkClusterInfoCommand(t, survivor, victim)
	// Metrics after the kill: every partition under-replicated (counted
	// once, by its leader), the new leaders counted as elections.
	under, elections := 0.0, 0.0
	for _, p := range nodes {
		if p == nodes[victim-1] {
			continue
		}
		body := scrape(t, p)
		u, _ := metricValue(body, "zombi_under_replicated_partitions")
		e, _ := metricValue(body, "zombi_leader_elections_total")
		under, elections = under+u, elections+e
		if v, _ := metricValue(body, "kafka_brokers"); v != 2 {
			t.Errorf("kafka_brokers on %s after the kill = %v, want 2", p.HTTPBase, v)
		}
	}
	if under != 6 || elections < 1 {
		t.Errorf("after the kill: zombi_under_replicated_partitions summed %v (want 6: ev and auto, 3 each), zombi_leader_elections_total summed %v (want >= 1)", under, elections)
	}
	for _, p := range nodes {
		if p == nodes[victim-1] {
			continue
		}
		code, m := call(t, "POST", p.HTTPBase+"/tables/ev", `{"payload":"after-`+strconv.Itoa(int(victim))+`","partition":0,"timestamp_ms":3000}`)
		if code != http.StatusAccepted {
			t.Fatalf("write to partition 0 after the kill, via %s: %d %v", p.HTTPBase, code, m)
		}
		want = append(want, "after-"+strconv.Itoa(int(victim)))
	}
	// min.insync.replicas=3 with an ISR of two: refused before the append,
	// 503 with the reason, nothing written.
	if code, m := call(t, "PATCH", survivor.HTTPBase+"/tables/ev/configs", `{"set":{"min.insync.replicas":"3"}}`); code != http.StatusOK {
		t.Fatalf("PATCH min.insync.replicas=3: %d %v", code, m)
	}
	if !waitFor(5*time.Second, func() bool {
		code, m := call(t, "POST", survivor.HTTPBase+"/tables/ev", `{"payload":"refused","partition":1}`)
		if code == http.StatusAccepted {
			t.Fatalf("write with ISR 2 < min.insync.replicas 3 accepted: %v", m)
		}
		msg, _ := m["error"].(string)
		return code == http.StatusServiceUnavailable && strings.Contains(msg, "in-sync")
	}) {
		code, m := call(t, "POST", survivor.HTTPBase+"/tables/ev", `{"payload":"refused","partition":1}`)
		t.Fatalf("write with ISR 2 < min.insync.replicas 3: %d %v, want 503 naming the in-sync replicas", code, m)
	}
	got := readPayloads(t, survivor, "ev", "?limit=100")
	idem := slices.Index(got, "idem")
	if idem >= 0 { // its timestamp is the server's: order it as the test built want
		got = slices.Delete(got, idem, idem+1)
	}
	wantNoIdem := slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "idem" })
	if !slices.Equal(got, wantNoIdem) || idem < 0 {
		t.Fatalf("after the kill, read on a survivor: %v (idem at %d), want %v", got, idem, want)
	}
}

func mustPartition(t *testing.T, in httpapi.ClusterInfo, p int32) httpapi.ClusterPartition {
	t.Helper()
	st, ok := httpapiTopics(in.Topics).partition("ev", p)
	if !ok {
		t.Fatalf("no partition ev/%d in %+v", p, in.Topics)
	}
	return st
}

// TestClusterRESTAlone: a node alone answers GET /cluster with itself as
// node 1 and controller, every partition led by it with RF 1.
func TestClusterRESTAlone(t *testing.T) {
	p := startZombi(t, t.TempDir())
	if code, m := call(t, "PUT", p.HTTPBase+"/tables/solo", `{"partitions":2}`); code != http.StatusCreated {
		t.Fatalf("PUT: %d %v", code, m)
	}
	resp, err := http.Get(p.HTTPBase + "/cluster")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	host, port, _ := strings.Cut(p.KafkaAddr, ":")
	want := fmt.Sprintf(`{"cluster_id":"zombi","controller":1,"nodes":[{"id":1,"kafka":[{"name":"PLAINTEXT","host":%q,"port":%s}],"http":%q,"alive":true}],`+
		`"topics":[{"name":"solo","partitions":[{"partition":0,"leader":1,"leader_epoch":0,"replicas":[1],"isr":[1],"offline":[]},{"partition":1,"leader":1,"leader_epoch":0,"replicas":[1],"isr":[1],"offline":[]}]}]}`,
		host, port, p.HTTPBase)
	if resp.StatusCode != http.StatusOK || string(b) != want {
		t.Fatalf("GET /cluster alone: %d\n got %s\nwant %s", resp.StatusCode, b, want)
	}
}

// scrape is GET /metrics on p.
func scrape(t *testing.T, p *zombitest.Proc) string {
	t.Helper()
	resp, err := http.Get(p.HTTPBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics on %s: %d %v", p.HTTPBase, resp.StatusCode, err)
	}
	return string(b)
}

// checkClusterInfoCommand runs zombi cluster info against a survivor after
// the kill of victim: from GET /cluster (json and text), then from Kafka
// Metadata when the REST API does not answer.
func checkClusterInfoCommand(t *testing.T, survivor *zombitest.Proc, victim int32) {
	t.Helper()
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"cluster", "info", "--brokers", survivor.KafkaAddr, "--timeout", "10s"}, args...)...).Output()
		if err != nil {
			t.Fatalf("zombi cluster info %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	type info struct {
		Controller int32  `json:"controller"`
		Source     string `json:"source"`
		Brokers    []struct {
			ID    int32  `json:"id"`
			HTTP  string `json:"http"`
			Alive bool   `json:"alive"`
		} `json:"brokers"`
		Partitions []struct {
			Topic    string  `json:"topic"`
			Leader   int32   `json:"leader"`
			Replicas []int32 `json:"replicas"`
			ISR      []int32 `json:"isr"`
			Offline  []int32 `json:"offline"`
		} `json:"partitions"`
	}
	var api info
	if err := json.Unmarshal([]byte(run("--api", survivor.HTTPBase, "-o", "json")), &api); err != nil {
		t.Fatal(err)
	}
	alive := map[int32]bool{}
	for _, b := range api.Brokers {
		alive[b.ID] = b.Alive
	}
	if api.Source != "api" || api.Controller < 1 || len(api.Brokers) != 3 || alive[victim] || len(api.Partitions) != 6 {
		t.Fatalf("zombi cluster info -o json (REST): %+v", api)
	}
	for _, p := range api.Partitions {
		if (p.Topic != "ev" && p.Topic != "auto") || len(p.Replicas) != 3 || p.Leader == victim || !slices.Contains(p.Offline, victim) || slices.Contains(p.ISR, victim) {
			t.Fatalf("zombi cluster info (REST) partition %+v after the kill of node %d", p, victim)
		}
	}
	text := run("--api", survivor.HTTPBase)
	for _, want := range []string{"CONTROLLER", "ALIVE", "LEADER", "REPLICAS", "ISR", survivor.HTTPBase} {
		if !strings.Contains(text, want) {
			t.Fatalf("zombi cluster info (text) has no %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, fmt.Sprintf("\n%d ", victim)) || !strings.Contains(text, " no") {
		t.Fatalf("zombi cluster info (text) does not show node %d dead:\n%s", victim, text)
	}
	var md info
	if err := json.Unmarshal([]byte(run("--api", "http://127.0.0.1:1", "-o", "json")), &md); err != nil {
		t.Fatal(err)
	}
	evParts := 0
	for _, p := range md.Partitions {
		if p.Topic == "ev" {
			evParts++
			if p.Leader == victim || !slices.Contains(p.Offline, victim) {
				t.Fatalf("zombi cluster info (Kafka Metadata) partition %+v after the kill of node %d", p, victim)
			}
		}
	}
	if md.Source != "kafka" || len(md.Brokers) != 2 || evParts != 3 || md.Controller < 1 {
		t.Fatalf("zombi cluster info -o json (Kafka Metadata fallback): source %s, %d brokers, %d partitions of ev, controller %d",
			md.Source, len(md.Brokers), evParts, md.Controller)
	}
	t.Logf("zombi cluster info:\n%s", text)
}
