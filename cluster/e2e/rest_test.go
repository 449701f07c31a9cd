package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterREST (issue 19 point 6): POST /tables/{t} on any node is
// acknowledged with acks=all durability (so that a GET right after sees
// the record), a first POST to a new table creates it with the default
// replication factor, and GET /tables/{t} on any node reads it.
func TestClusterREST(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if r, err := c.Admin(t).CreateTopic(ctx, 1, 3, nil, "rest"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	c.WaitISR(t, "rest", 0, 3)
	for _, id := range c.IDs() {
		for _, table := range []string{"rest", "rest-new"} {
			base := c.Node(id).HTTPBase + "/tables/" + table
			resp, err := http.Post(base, "application/json", strings.NewReader(`{"payload": "hello"}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Errorf("node %d: POST /tables/%s: %d %s, want 2xx", id, table, resp.StatusCode, b)
				continue
			}
			var got struct {
				Count int `json:"count"`
			}
			for _, reader := range c.IDs() {
				resp, err := http.Get(c.Node(reader).HTTPBase + "/tables/" + table)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err := json.Unmarshal(b, &got); err != nil || got.Count == 0 {
					t.Errorf("node %d: GET /tables/%s right after a POST on node %d: %d %s, want the record", reader, table, id, resp.StatusCode, b)
				}
			}
		}
	}
}
