package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicConfigsSurviveKill9: configs altered through the Kafka door
// (IncrementalAlterConfigs) and the REST door (PATCH) are all there after
// SIGKILL and a restart on the same data directory, and still honoured:
// LogAppendTime stamps the next write, and the retention pass
// (ZOMBI_RETENTION_CHECK_SECS=1) deletes old records.
func TestTopicConfigsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	start := time.Now()
	dir := t.TempDir()
	env := []string{"ZOMBI_RETENTION_CHECK_SECS=1"}
	p := startZombi(t, dir, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"segment.ms": kadm.StringPtr("100000")}, "kc"); err != nil {
		t.Fatal(err)
	}
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: kadm.StringPtr("LogAppendTime")},
		{Op: kadm.DeleteConfig, Name: "segment.ms"},
	}, "kc")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, rs)
	}
	code, body := httpDo(t, "PATCH", p.HTTPBase+"/tables/kc/configs", `{"set":{"max.message.bytes":"100000","retention.ms":"600000"}}`)
	if code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	cl.Close()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}

	p = startZombi(t, dir, env...)
	cl, err = kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.ConsumeTopics("kc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm = kadm.NewClient(cl)
	rcs, err := adm.DescribeTopicConfigs(ctx, "kc")
	if err != nil || rcs[0].Err != nil {
		t.Fatalf("describe: %v %+v", err, rcs)
	}
	want := map[string]string{"message.timestamp.type": "LogAppendTime", "max.message.bytes": "100000", "retention.ms": "600000"}
	got := map[string]string{}
	for _, c := range rcs[0].Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[c.Key] = *c.Value
		}
	}
	if len(got) != len(want) {
		t.Fatalf("overrides after kill -9: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("overrides after kill -9: %v, want %v", got, want)
		}
	}
	// Still honoured: old records go with the next pass, a new one is
	// stamped with the broker's time.
	old := time.Now().Add(-time.Hour)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kc", Value: []byte("old"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// LogAppendTime: that record got the broker's time, so it is not old.
	if !waitFor(5*time.Second, func() bool {
		o, err := adm.ListStartOffsets(ctx, "kc")
		return err == nil && o["kc"][0].Offset == 0
	}) {
		t.Fatal("list start offsets")
	}
	fs := cl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || recs[0].Timestamp.Before(start) {
		t.Fatalf("records %v (%v): want one stamped with the broker's time", recs, fs.Errors())
	}
	// Back to CreateTime over REST; the client's old timestamps now count.
	if code, body := httpDo(t, "PATCH", p.HTTPBase+"/tables/kc/configs", `{"delete":["message.timestamp.type"]}`); code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	for i := 0; i < 2; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kc", Value: []byte("old"), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kc", Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Record 0 (broker time) is within retention, so nothing before it may
	// go: Kafka deletes leading segments only. Make it expire by lowering
	// retention.ms below its age.
	time.Sleep(100 * time.Millisecond)
	if code, body := httpDo(t, "PATCH", p.HTTPBase+"/tables/kc/configs", `{"set":{"retention.ms":"50"}}`); code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if !waitFor(10*time.Second, func() bool {
		o, err := adm.ListStartOffsets(ctx, "kc")
		return err == nil && o["kc"][0].Offset >= 3
	}) {
		o, _ := adm.ListStartOffsets(ctx, "kc")
		t.Fatalf("log start %+v: the retention pass did not delete the expired records\n%s", o, p.Log())
	}
	t.Logf("wall time %v", time.Since(start))
}

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if json.Unmarshal(b, &v) != nil {
		t.Fatalf("%s %s: not JSON: %q", method, url, b)
	}
	return resp.StatusCode, string(b)
}

func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}
