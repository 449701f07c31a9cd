package httpapi

import (
	"strings"
	"testing"
)

// TestInternalTopicsAreNotTables: every /tables/{t} route refuses Kafka's
// internal topics with 400 and a message saying why; none becomes a table.
func TestInternalTopicsAreNotTables(t *testing.T) {
	e := newEnv(t, Config{})
	for _, name := range []string{"__consumer_offsets", "__transaction_state"} {
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/tables/" + name, `{"payload":"x"}`},
			{"POST", "/tables/" + name + "/bulk", `{"records":[{"payload":"x"}]}`},
			{"GET", "/tables/" + name, ""},
			{"GET", "/tables/" + name + "?partition=0&offset=0", ""},
			{"GET", "/tables/" + name + "/info", ""},
			{"PUT", "/tables/" + name, `{"partitions":1}`},
			{"DELETE", "/tables/" + name, ""},
			{"PATCH", "/tables/" + name + "/configs", `{"retention.ms":"1000"}`},
		} {
			ct := ""
			if r.body != "" {
				ct = "application/json"
			}
			code, body := e.do(r.method, r.path, ct, []byte(r.body))
			if code != 400 || !strings.Contains(string(body), "internal topic") {
				t.Errorf("%s %s: %d %s, want 400 naming the internal topic", r.method, r.path, code, body)
			}
		}
	}
	code, body := e.do("GET", "/tables", "", nil)
	if code != 200 || strings.Contains(string(body), "__") {
		t.Fatalf("GET /tables: %d %s", code, body)
	}
	if n := len(e.log.Topics()); n != 0 {
		t.Fatalf("%d tables created", n)
	}
}

// TestRealInternalTopicsStayOutOfListings: in cluster mode the log holds
// the coordinators' partitions as real topics; GET /tables and the
// console's overview still list and count only the users' tables.
func TestRealInternalTopicsStayOutOfListings(t *testing.T) {
	e := newEnv(t, Config{})
	e.log.SetClusterMode()
	for _, name := range []string{"__consumer_offsets", "__transaction_state"} {
		if err := e.log.MakeInternalReal(name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.log.CreateTopic("orders", 2, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(e.log.Topics()); n != 3 {
		t.Fatalf("log has %d topics, want 3 (2 internal + orders)", n)
	}
	code, body := e.do("GET", "/tables", "", nil)
	if code != 200 || strings.Contains(string(body), "__") || !strings.Contains(string(body), "orders") {
		t.Fatalf("GET /tables: %d %s, want only orders", code, body)
	}
	code, body = e.do("GET", "/tables?prefix=__", "", nil)
	if code != 200 || strings.Contains(string(body), "__consumer") {
		t.Fatalf("GET /tables?prefix=__: %d %s", code, body)
	}
	code, body = e.do("GET", "/overview", "", nil)
	if code != 200 || !strings.Contains(string(body), `"topics":1,`) || !strings.Contains(string(body), `"partitions":2,`) {
		t.Fatalf("GET /overview: %d %s, want 1 topic of 2 partitions", code, body)
	}
}
