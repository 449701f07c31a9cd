package log

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestSetTopicConfigsPersisted: configs set on a topic are what Topic
// returns at once, what appends apply, and what a reopened log has.
func TestSetTopicConfigsPersisted(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	info, err := l.CreateTopic("c", 2, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetTopicConfigs("c", info.UUID, map[string]string{"message.timestamp.type": "LogAppendTime", "max.message.bytes": "500"}); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Topic("c")
	if len(got.Configs) != 2 || got.Configs["retention.ms"] != "" || got.Effective().MaxMessageBytes != 500 || !got.Effective().LogAppendTime || got.Partitions != 2 {
		t.Fatalf("after set: %+v %+v", got, got.Effective())
	}
	if r := appendOne(t, l, "c", 1, oneRecord(5, "", "x")); r.LogAppendTime == 0 {
		t.Fatal("append did not apply LogAppendTime at once")
	}
	if _, err := l.AddPartitions("c", 3); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2 := openTest(t, dir)
	got, _ = l2.Topic("c")
	if got.Configs["max.message.bytes"] != "500" || got.Partitions != 3 || !got.Effective().LogAppendTime {
		t.Fatalf("after reopen: %+v", got)
	}
	// Deleting every override goes back to the defaults.
	if _, err := l2.SetTopicConfigs("c", got.UUID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ = l2.Topic("c"); got.Configs != nil || got.Effective().LogAppendTime {
		t.Fatalf("after clearing: %+v", got)
	}
	if r := appendOne(t, l2, "c", 0, oneRecord(5, "", "x")); r.LogAppendTime != 0 {
		t.Fatal("CreateTime topic stamped")
	}
}

// TestSetTopicConfigsIncarnation: a change meant for a topic that was
// deleted and recreated under the same name does not land on the new one.
func TestSetTopicConfigsIncarnation(t *testing.T) {
	l := openTest(t, "")
	old, _ := l.CreateTopic("c", 1, nil)
	if err := l.DeleteTopic("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetTopicConfigs("c", old.UUID, map[string]string{"retention.ms": "1"}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("deleted topic: %v", err)
	}
	if _, err := l.CreateTopic("c", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetTopicConfigs("c", old.UUID, map[string]string{"retention.ms": "1"}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("recreated topic: %v", err)
	}
	if info, _ := l.Topic("c"); info.Configs != nil {
		t.Fatalf("recreated topic got the old one's change: %+v", info.Configs)
	}
}

// TestSetTopicConfigsRacingDelete: a config change racing a delete either
// lands before it or fails; the deleted topic never comes back on reopen.
func TestSetTopicConfigsRacingDelete(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for i := 0; i < 20; i++ {
		info, err := l.CreateTopic("r", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := l.SetTopicConfigs("r", info.UUID, map[string]string{"retention.ms": "5"})
			done <- err
		}()
		if err := l.DeleteTopic("r"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil && !errors.Is(err, ErrUnknownTopic) {
			t.Fatal(err)
		}
	}
	l.Close()
	if _, ok := openTest(t, dir).Topic("r"); ok {
		t.Fatal("a deleted topic came back")
	}
}

// TestRetentionMs: the pass moves the log start past the leading batches
// older than retention.ms; with every batch expired the log is empty and
// the next append continues at the high watermark.
func TestRetentionMs(t *testing.T) {
	l := openTest(t, "")
	info, _ := l.CreateTopic("r", 1, nil)
	now := time.Now()
	old := now.Add(-time.Hour).UnixMilli()
	for i := 0; i < 5; i++ {
		appendOne(t, l, "r", 0, oneRecord(old, "", "old"))
	}
	for i := 0; i < 3; i++ {
		appendOne(t, l, "r", 0, oneRecord(now.UnixMilli(), "", "new"))
	}
	ctx := context.Background()
	if err := l.ApplyRetention(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ls, _, _ := l.Offsets("r", 0); ls != 0 {
		t.Fatalf("no retention set: log start %d", ls)
	}
	if _, err := l.SetTopicConfigs("r", info.UUID, map[string]string{"retention.ms": "60000"}); err != nil {
		t.Fatal(err)
	}
	if err := l.ApplyRetention(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ls, hwm, _ := l.Offsets("r", 0); ls != 5 || hwm != 8 {
		t.Fatalf("after retention: [%d, %d), want [5, 8)", ls, hwm)
	}
	if recs := readAll(t, l, "r", 0, 5); len(recs) != 3 || string(recs[0].Value) != "new" {
		t.Fatalf("kept %d records", len(recs))
	}
	// Everything expired: empty, offsets not reused.
	if err := l.ApplyRetention(ctx, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ls, hwm, _ := l.Offsets("r", 0); ls != 8 || hwm != 8 {
		t.Fatalf("all expired: [%d, %d), want [8, 8)", ls, hwm)
	}
	if r := appendOne(t, l, "r", 0, oneRecord(now.UnixMilli(), "", "next")); r.BaseOffset != 8 {
		t.Fatalf("next append at %d, want 8", r.BaseOffset)
	}
}

// TestRetentionBytes: leading batches go while what is left is at least
// retention.bytes, as Kafka deletes segments.
func TestRetentionBytes(t *testing.T) {
	l := openTest(t, "")
	b := oneRecord(time.Now().UnixMilli(), "", "0123456789")
	size := len(b)
	info, _ := l.CreateTopic("r", 1, map[string]string{"retention.bytes": "0"})
	if _, err := l.SetTopicConfigs("r", info.UUID, map[string]string{"retention.bytes": itoa(3*size + size/2)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		appendOne(t, l, "r", 0, oneRecord(time.Now().UnixMilli(), "", "0123456789"))
	}
	if err := l.ApplyRetention(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	// 10 batches, 3.5 allowed: 6 go, 4 stay (3 would be under the limit).
	if ls, hwm, _ := l.Offsets("r", 0); ls != 6 || hwm != 10 {
		t.Fatalf("after retention.bytes: [%d, %d), want [6, 10)", ls, hwm)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
