package httpapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func do(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClusterConsumerRoutesReachCoordinator: a commit on node 1 for a group
// node 3 coordinates is written by node 3 only; reads, the group and its
// deletion go there too; GET /consumers merges every node's groups.
func TestClusterConsumerRoutesReachCoordinator(t *testing.T) {
	nodes := newFakeCluster(t, 3, map[int32]int32{0: 1})
	nodes[0].fc.mu.Lock()
	nodes[0].fc.coord["g3"] = 3
	nodes[0].fc.coord["g1"] = 1
	nodes[0].fc.mu.Unlock()

	code, body := do(t, "POST", nodes[0].srv.URL+"/consumers/g3/commit", `{"topic":"t","partition":0,"offset":42}`)
	if code != 200 || !strings.Contains(body, `"offset":42`) {
		t.Fatalf("commit via node 1: %d %s", code, body)
	}
	for i, n := range nodes {
		_, found, err := n.log.FetchOffset("g3", "t", 0)
		if err != nil || found != (i == 2) {
			t.Fatalf("node %d holds the offset: %v (%v); want only the coordinator, node 3", i+1, found, err)
		}
	}
	for _, n := range nodes {
		code, body = do(t, "GET", n.srv.URL+"/consumers/g3/offset?topic=t&partition=0", "")
		if code != 200 || !strings.Contains(body, `"offset":42`) {
			t.Fatalf("offset via %s: %d %s", n.srv.URL, code, body)
		}
		code, body = do(t, "GET", n.srv.URL+"/consumers/g3", "")
		if code != 200 || !strings.Contains(body, `"committed_offset":42`) {
			t.Fatalf("group via %s: %d %s", n.srv.URL, code, body)
		}
	}
	code, body = do(t, "POST", nodes[1].srv.URL+"/consumers/g1/commit", `{"topic":"t","partition":0,"offset":7}`)
	if code != 200 {
		t.Fatalf("commit g1 via node 2: %d %s", code, body)
	}
	// The list merges node 1's g1 and node 3's g3, from any node.
	code, body = do(t, "GET", nodes[1].srv.URL+"/consumers", "")
	if code != 200 || !strings.Contains(body, `"group":"g1"`) || !strings.Contains(body, `"group":"g3"`) || !strings.Contains(body, `"count":2`) {
		t.Fatalf("GET /consumers via node 2: %d %s", code, body)
	}
	code, body = do(t, "DELETE", nodes[1].srv.URL+"/consumers/g3", "")
	if code != 204 {
		t.Fatalf("delete via node 2: %d %s", code, body)
	}
	if _, found, _ := nodes[2].log.FetchOffset("g3", "t", 0); found {
		t.Fatal("the group's offset survived its deletion on the coordinator")
	}
}

// TestClusterConsumerRoutesNoCoordinator: a forwarded request landing on a
// non-coordinator, a group without coordinator and a loading coordinator
// answer 503 retriable, and nothing is written.
func TestClusterConsumerRoutesNoCoordinator(t *testing.T) {
	nodes := newFakeCluster(t, 2, map[int32]int32{0: 1})
	fc := nodes[0].fc
	fc.mu.Lock()
	fc.coord["g2"] = 2
	fc.coord["gl"] = 1
	fc.loading[1] = true
	fc.mu.Unlock()
	commit := `{"topic":"t","partition":0,"offset":1}`
	for _, tc := range []struct {
		name, url string
		hdr       []string
		want      string
	}{
		{"forwarded to a non-coordinator", nodes[0].srv.URL + "/consumers/g2/commit", []string{forwardedHeader, "2"}, `{"error":"not coordinator","retriable":true}`},
		{"no coordinator", nodes[0].srv.URL + "/consumers/nobody/commit", nil, `"retriable":true`},
		{"loading", nodes[1].srv.URL + "/consumers/gl/commit", nil, `"retriable":true`},
	} {
		code, body := do(t, "POST", tc.url, commit, tc.hdr...)
		if code != 503 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 503 with %s", tc.name, code, body, tc.want)
		}
	}
	for i, n := range nodes {
		if all, _ := n.log.AllOffsets(); len(all) != 0 {
			t.Errorf("node %d stored %v", i+1, all)
		}
	}
	// Hostile input is refused by the coordinator, through the forward.
	code, body := do(t, "POST", nodes[0].srv.URL+"/consumers/g2/commit", `{"topic":"t","partition":-1,"offset":1}`)
	if code != 400 || !strings.Contains(body, "partition must be >= 0") {
		t.Fatalf("bad commit via node 1: %d %s", code, body)
	}
}
