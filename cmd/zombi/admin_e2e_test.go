package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// call sends a request to the real server and decodes a JSON answer (nil
// for an empty body).
func call(t *testing.T, method, url, body string) (int, map[string]any) {
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
	resp, err := e2eClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return resp.StatusCode, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %q", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// The admin routes against a real Zombi with a real S3 server: readiness,
// the hot and cold ranges of GET /tables/{t}/info, DELETE /tables/{t}
// removing the cold data too, and readiness falling to 503 while the cold
// tier cannot be loaded (liveness stays 200).
func TestAdminRESTWithColdTier(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and an S3 server")
	}
	s3 := startS3Server(t)
	env := append(s3.env("admin"), "ZOMBI_FLUSH_INTERVAL_SECS=1")
	dir := t.TempDir()
	p := startZombi(t, dir, env...)
	if code, m := call(t, "GET", p.HTTPBase+"/health/ready", ""); code != 200 || m["status"] != "ready" {
		t.Fatalf("ready: %d %v", code, m)
	}
	const n = 50
	for _, table := range []string{"cold", "keep"} {
		for i := range n {
			if a, ok := postEvent(t, e2eClient, p.HTTPBase, table, fmt.Sprintf("e%d", i)); !ok || a.offset != int64(i) {
				t.Fatalf("write %s %d: %+v", table, i, a)
			}
		}
	}
	waitColdEnd(t, env, "cold", 0, n)
	code, m := call(t, "GET", p.HTTPBase+"/tables/cold/info", "")
	if code != 200 || m["records"] != float64(n) || m["partitions"] != float64(1) {
		t.Fatalf("info: %d %v", code, m)
	}
	po := m["partition_offsets"].([]any)[0].(map[string]any)
	if po["cold_start"] != float64(0) || po["cold_end"] != float64(n) || po["high_watermark"] != float64(n) || po["log_start"] != float64(0) {
		t.Fatalf("cold range: %v", po)
	}
	if hs := po["hot_start"].(float64); hs < 0 || hs > n {
		t.Fatalf("hot_start %v", hs)
	}
	if code, m := call(t, "GET", p.HTTPBase+"/tables", ""); code != 200 || m["count"] != float64(2) {
		t.Fatalf("list: %d %v", code, m)
	}

	// Deleting the table deletes its cold segments as well.
	if code, m := call(t, "DELETE", p.HTTPBase+"/tables/cold", ""); code != 204 {
		t.Fatalf("delete: %d %v", code, m)
	}
	if code, _ := call(t, "GET", p.HTTPBase+"/tables/cold/info", ""); code != 404 {
		t.Fatalf("info after delete: %d", code)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		left := 0
		for _, s := range segmentsLs(t, env) {
			if s["table"] == "cold" {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d cold segments of the deleted table left", left)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// S3 gone at start-up: the server serves the hot tier but is not ready.
	_ = p.Kill()
	_ = s3.cmd.Process.Kill()
	<-s3.done
	p2 := startZombi(t, dir, env...)
	code, m = call(t, "GET", p2.HTTPBase+"/health/ready", "")
	if reason, _ := m["reason"].(string); code != 503 || m["status"] != "not ready" || !strings.Contains(reason, "cold tier") {
		t.Fatalf("ready without S3: %d %v", code, m)
	}
	if code, m := call(t, "GET", p2.HTTPBase+"/health/live", ""); code != 200 || m["status"] != "live" {
		t.Fatalf("live without S3: %d %v", code, m)
	}
}

// POST /consumers/{g}/reset and DELETE /consumers/{g} against a group of
// real Kafka consumers (kgo): refused while a member is in the group; once
// it left, a dry run changes nothing, an executed reset moves the offsets
// and a new member resumes from them.
func TestConsumerResetWithKafkaGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	p := startZombi(t, t.TempDir())
	const n = 10
	for i := range n {
		if a, ok := postEvent(t, e2eClient, p.HTTPBase, "rs", fmt.Sprintf("e%d", i)); !ok || a.offset != int64(i) {
			t.Fatalf("write %d: %+v", i, a)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	consume := func(want int) (*kgo.Client, []int64) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.ConsumerGroup("grp"), kgo.ConsumeTopics("rs"),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		var offs []int64
		for len(offs) < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %v: %v", offs, fs.Errors())
			}
			fs.EachRecord(func(r *kgo.Record) { offs = append(offs, r.Offset) })
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		return cl, offs
	}
	committed := func() float64 {
		t.Helper()
		code, m := call(t, "GET", p.HTTPBase+"/consumers/grp/offset?topic=rs&partition=0", "")
		if code != 200 {
			t.Fatalf("offset: %d %v", code, m)
		}
		return m["offset"].(float64)
	}
	cl, offs := consume(n)
	if offs[0] != 0 || committed() != n {
		t.Fatalf("first member: %v, committed %v", offs, committed())
	}
	reset := p.HTTPBase + "/consumers/grp/reset"
	for _, body := range []string{`{"to":"3","execute":true}`, `{"to":"3"}`} {
		if code, m := call(t, "POST", reset, body); code != 409 || m["error"] == nil {
			t.Fatalf("reset with a member: %d %v", code, m)
		}
	}
	if code, _ := call(t, "DELETE", p.HTTPBase+"/consumers/grp", ""); code != 409 {
		t.Fatalf("delete with a member: %d", code)
	}
	if committed() != n {
		t.Fatal("a refused request moved the offset")
	}
	cl.Close() // leaves the group

	var code int
	var m map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, m = call(t, "POST", reset, `{"to":"3"}`); code != 409 || time.Now().After(deadline) {
			break
		}
	}
	plan, _ := m["plan"].([]any)
	if code != 200 || m["executed"] != false || len(plan) != 1 || plan[0].(map[string]any)["current"] != float64(n) || plan[0].(map[string]any)["target"] != float64(3) {
		t.Fatalf("dry run: %d %v", code, m)
	}
	if committed() != n {
		t.Fatal("the dry run moved the offset")
	}
	if code, m := call(t, "POST", reset, `{"to":"3","execute":true}`); code != 200 || m["executed"] != true {
		t.Fatalf("execute: %d %v", code, m)
	}
	if committed() != 3 {
		t.Fatalf("after execute: %v", committed())
	}
	cl, offs = consume(n - 3)
	cl.Close()
	if offs[0] != 3 {
		t.Fatalf("the next member resumed at %v, want 3", offs)
	}
	// Deleted once empty: its offsets go.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, m = call(t, "DELETE", p.HTTPBase+"/consumers/grp", ""); code != 409 || time.Now().After(deadline) {
			break
		}
	}
	if code != 204 {
		t.Fatalf("delete: %d %v", code, m)
	}
	if code, _ := call(t, "GET", p.HTTPBase+"/consumers/grp", ""); code != 404 {
		t.Fatalf("group after delete: %d", code)
	}
}
