package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The real binary's history: records produced with franz-go show in GET
// /stats/history within 5 s (rates and produce latency), on GET
// /stats/stream, in /overview's connections, and a committed group's lag
// in its lag history at the next 10-s pass.
func TestHistoryE2E(t *testing.T) {
	p := startZombi(t, t.TempDir())
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	stream, err := http.NewRequestWithContext(ctx, "GET", p.HTTPBase+"/stats/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET /stats/stream: %d %s", resp.StatusCode, ct)
	}

	for i := range 200 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "hist", Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produced := time.Now()
	for {
		_, h := call(t, "GET", p.HTTPBase+"/stats/history", "")
		var in float64
		var p50 any
		for _, s := range h["samples"].([]any) {
			m := s.(map[string]any)
			if r := m["records_in"].(float64); r > 0 {
				in, p50 = r, m["produce_p50_ms"]
			}
		}
		if in > 0 {
			if p50 == nil {
				t.Fatalf("a sample with records_in %v has no produce latency", in)
			}
			break
		}
		if time.Since(produced) > 5*time.Second {
			t.Fatalf("no sample with records_in > 0 within 5 s of producing: %v", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("records_in shown %v after the last produce ack", time.Since(produced).Round(time.Millisecond))

	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: {\"t\":") {
	}
	if sc.Err() != nil {
		t.Fatalf("stream: %v", sc.Err())
	}

	_, o := call(t, "GET", p.HTTPBase+"/overview", "")
	conns := o["connections"].(map[string]any)
	hot, cold := o["hot"].(map[string]any), o["cold"].(map[string]any)
	if conns["kafka"].(float64) < 1 || o["topics"].(float64) != 1 || o["health"].(map[string]any)["status"] != "healthy" ||
		hot["bytes"].(float64) <= 0 || hot["max_bytes"].(float64) != 0 || cold["enabled"] != false {
		t.Fatalf("GET /overview = %v", o)
	}

	if code, _ := call(t, "POST", p.HTTPBase+"/consumers/hg/commit", `{"topic":"hist","partition":0,"offset":150}`); code != 200 {
		t.Fatalf("commit: %d", code)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		_, lh := call(t, "GET", p.HTTPBase+"/consumers/hg/lag-history", "")
		if series := lh["series"].([]any); len(series) == 1 {
			pts := series[0].(map[string]any)["points"].([]any)
			if len(pts) > 0 {
				if lag := pts[len(pts)-1].([]any)[1].(float64); lag != 50 {
					t.Fatalf("lag history = %v, want lag 50", lh)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lag point within 15 s: %v", lh)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, groups := call(t, "GET", p.HTTPBase+"/consumers", "")
	if g := groups["groups"].([]any)[0].(map[string]any); g["total_lag"].(float64) != 50 {
		t.Fatalf("GET /consumers = %v, want total_lag 50", groups)
	}
}
