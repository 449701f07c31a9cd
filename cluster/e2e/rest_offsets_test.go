package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/internal/clustertest"
)

// restCall sends one REST request and returns its status and body.
func restCall(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// restUntil retries a REST call while it answers 503 (the coordinator
// moving or loading: retriable), until want or the context ends.
func restUntil(ctx context.Context, t *testing.T, method, url, body string, want int, contains string) string {
	t.Helper()
	var code int
	var got string
	for ctx.Err() == nil {
		code, got = restCall(t, method, url, body)
		if code == want && strings.Contains(got, contains) {
			return got
		}
		if code != http.StatusServiceUnavailable && code != 0 && code != http.StatusNotFound {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s %s: %d %s, want %d with %s", method, url, code, got, want, contains)
	return ""
}

// TestClusterRESTOffsetsOnCoordinator (issue 19 point 6): a commit over
// REST on node 2 for a group whose coordinator is node 3 is written by
// node 3 into __consumer_offsets; node 1 reads it over REST and Kafka's
// OffsetFetch sees it; after node 3 is killed with SIGKILL the new
// coordinator still has it.
func TestClusterRESTOffsetsOnCoordinator(t *testing.T) {
	const topic = "rest-offsets"
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if r, err := c.Admin(t).CreateTopic(ctx, 1, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	c.WaitISR(t, topic, 0, 3)
	// The first FindCoordinator creates __consumer_offsets; then pick a
	// group whose partition node 3 leads with every replica in sync.
	findCoordinator(ctx, t, c, "any", -1)
	group := ""
	for i := 0; group == "" && i < 2000; i++ {
		g := fmt.Sprintf("rest-group-%d", i)
		pi, ok := c.Partition(coordlog.OffsetsTopic, coordlog.Partition(g))
		if ok && pi.Leader == 3 && len(pi.ISR) == 3 {
			group = g
		}
		if i%50 == 49 {
			time.Sleep(500 * time.Millisecond) // the ISR still growing
		}
	}
	if group == "" {
		t.Fatal("no group whose __consumer_offsets partition node 3 leads with 3 in-sync replicas")
	}
	if co := findCoordinator(ctx, t, c, group, -1); co != 3 {
		t.Fatalf("FindCoordinator %s: node %d, want 3", group, co)
	}
	commit := fmt.Sprintf(`{"topic":%q,"partition":0,"offset":42}`, topic)
	restUntil(ctx, t, "POST", c.Node(2).HTTPBase+"/consumers/"+group+"/commit", commit, 200, `"offset":42`)
	restUntil(ctx, t, "GET", c.Node(1).HTTPBase+"/consumers/"+group+"/offset?topic="+topic+"&partition=0", "", 200, `"offset":42`)
	code, body := restCall(t, "GET", c.Node(1).HTTPBase+"/consumers", "")
	if code != 200 || !strings.Contains(body, `"group":"`+group+`"`) {
		t.Fatalf("GET /consumers on node 1: %d %s, want the group", code, body)
	}
	// The internal topics are real on every node now, and no table.
	for _, id := range c.IDs() {
		code, body := restCall(t, "GET", c.Node(id).HTTPBase+"/tables", "")
		if code != 200 || strings.Contains(body, "__consumer_offsets") || !strings.Contains(body, topic) {
			t.Fatalf("GET /tables on node %d: %d %s, want %s and no internal topic", id, code, body, topic)
		}
	}
	fetch := func(what string) {
		t.Helper()
		adm := kadm.NewClient(c.Client(t, kgo.SeedBrokers(c.LiveSeeds()...)))
		for ctx.Err() == nil {
			offs, err := adm.FetchOffsets(ctx, group)
			if err == nil {
				if o, ok := offs.Lookup(topic, 0); ok && o.Err == nil && o.At == 42 {
					return
				}
				err = fmt.Errorf("%+v", offs)
			}
			t.Logf("%s: OffsetFetch: %v", what, err)
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("%s: OffsetFetch never returned offset 42", what)
	}
	fetch("before the kill")

	killed := time.Now()
	c.Kill(3)
	newCoord := findCoordinator(ctx, t, c, group, 3)
	t.Logf("new coordinator node %d after %s", newCoord, time.Since(killed).Round(time.Millisecond))
	for _, id := range []int32{1, 2} {
		restUntil(ctx, t, "GET", c.Node(id).HTTPBase+"/consumers/"+group+"/offset?topic="+topic+"&partition=0", "", 200, `"offset":42`)
	}
	fetch("after the kill")
	// The new coordinator takes commits.
	restUntil(ctx, t, "POST", c.Node(1).HTTPBase+"/consumers/"+group+"/commit", strings.Replace(commit, "42", "43", 1), 200, `"offset":43`)
	restUntil(ctx, t, "GET", c.Node(2).HTTPBase+"/consumers/"+group+"/offset?topic="+topic+"&partition=0", "", 200, `"offset":43`)
}
