package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
)

type tablesPage struct {
	Tables []struct {
		Name       string `json:"name"`
		Partitions int32  `json:"partitions"`
	} `json:"tables"`
	Count int `json:"count"`
	Total int `json:"total"`
}

func (e *testEnv) tablesPage(path string) tablesPage {
	e.t.Helper()
	code, body := e.do("GET", path, "", nil)
	var p tablesPage
	if code != 200 || json.Unmarshal(body, &p) != nil {
		e.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return p
}

func (p tablesPage) names() []string {
	var out []string
	for _, t := range p.Tables {
		out = append(out, t.Name)
	}
	return out
}

// TestTablesSearchAndPaging: q filters by a case-insensitive substring,
// offset and limit page in name order, total counts the matches, and
// without them the whole list comes back as before.
func TestTablesSearchAndPaging(t *testing.T) {
	e := newEnv(t, Config{})
	for _, n := range []string{"Orders", "orders-eu", "payments", "refunds", "ORDERS.dlq", "zeta"} {
		if _, err := e.log.CreateTopic(n, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	all := e.tablesPage("/tables")
	if all.Count != 6 || all.Total != 6 || len(all.Tables) != 6 {
		t.Fatalf("GET /tables: count %d total %d %v", all.Count, all.Total, all.names())
	}
	cases := []struct {
		path  string
		want  string
		total int
	}{
		{"/tables?q=order", "ORDERS.dlq,Orders,orders-eu", 3},
		{"/tables?q=ORDER&limit=2", "ORDERS.dlq,Orders", 3},
		{"/tables?q=order&offset=2&limit=2", "orders-eu", 3},
		{"/tables?q=order&offset=3", "", 3},
		{"/tables?offset=100&limit=5", "", 6},
		{"/tables?limit=1&offset=5", "zeta", 6},
		{"/tables?q=nothing-like-it", "", 0},
		{"/tables?prefix=o&q=EU", "orders-eu", 1},
	}
	for _, c := range cases {
		p := e.tablesPage(c.path)
		if got := strings.Join(p.names(), ","); got != c.want || p.Total != c.total || p.Count != len(p.Tables) {
			t.Errorf("GET %s: %q count %d total %d, want %q total %d", c.path, got, p.Count, p.Total, c.want, c.total)
		}
		for _, tb := range p.Tables {
			if tb.Partitions != 2 {
				t.Errorf("GET %s: %s has %d partitions in the view", c.path, tb.Name, tb.Partitions)
			}
		}
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "offset=-1", "q=" + strings.Repeat("a", 1025), "q=%FF"} {
		code, m := e.doJSON("GET", "/tables?"+bad, "")
		if msg, _ := m["error"].(string); code != 400 || msg == "" {
			t.Errorf("GET /tables?%.30s: %d %v, want 400 with a message", bad, code, m)
		}
	}
}

// BenchmarkTablesPage: one page of 50 of 10,000 topics, with and without a
// search (the console's topic list).
func BenchmarkTablesPage(b *testing.B) {
	l, err := plog.Open(plog.Options{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	for i := range 10000 {
		if _, err := l.CreateTopic(fmt.Sprintf("topic-%05d", i), 3, nil); err != nil {
			b.Fatal(err)
		}
	}
	h := New(l, stats.New(), Config{}, discardLogger())
	for _, path := range []string{"/tables?offset=5000&limit=50", "/tables?q=TOPIC-0&offset=50&limit=50", "/tables"} {
		b.Run(strings.TrimPrefix(path, "/tables"), func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body.Bytes())
				}
			}
		})
	}
}
