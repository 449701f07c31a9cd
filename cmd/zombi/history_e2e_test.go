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

// With a cold tier: /overview reports the bucket, the limit and S3's
// reachability from the running tier, and sees S3 go away.
func TestHistoryE2EColdTier(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and an S3 server")
	}
	s3 := startS3Server(t)
	env := append(s3.env("hist"), "ZOMBI_FLUSH_INTERVAL_SECS=1", "ZOMBI_HOT_MAX_BYTES=1000000")
	p := startZombi(t, t.TempDir(), env...)
	for i := range 20 {
		if _, ok := postEvent(t, e2eClient, p.HTTPBase, "cold", fmt.Sprintf("event-%d", i)); !ok {
			t.Fatalf("write %d refused", i)
		}
	}
	_, o := call(t, "GET", p.HTTPBase+"/overview", "")
	hot, cold := o["hot"].(map[string]any), o["cold"].(map[string]any)
	if hot["max_bytes"].(float64) != 1_000_000 || cold["enabled"] != true || cold["bucket"] != "hist" || cold["s3_reachable"] != true {
		t.Fatalf("GET /overview with a bucket = %v", o)
	}
	// S3 gone: the next flush fails and the overview says so.
	_ = s3.cmd.Process.Kill()
	<-s3.done
	if _, ok := postEvent(t, e2eClient, p.HTTPBase, "cold", "after"); !ok {
		t.Fatal("a write while S3 is down was refused")
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		_, o = call(t, "GET", p.HTTPBase+"/overview", "")
		cold = o["cold"].(map[string]any)
		if cold["s3_reachable"] == false && cold["pending_bytes"].(float64) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after S3 went away: %v", cold)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
