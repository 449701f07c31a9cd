package tiering

import (
	"errors"
	"strconv"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// setConfigs overrides a topic's configs as AlterConfigs does.
func setConfigs(t *testing.T, l *plog.Log, topic string, cfgs map[string]string) {
	t.Helper()
	info, _ := l.Topic(topic)
	if _, err := l.SetTopicConfigs(topic, info.UUID, cfgs); err != nil {
		t.Fatal(err)
	}
}

// effOf is the effective configs the tier holds for ev/0 (nil: none yet).
func effOf(tr *Tier) *topicconfig.Effective {
	if ps := tr.lookup("ev", 0); ps != nil {
		return ps.eff.Load()
	}
	return nil
}

// expireNow makes the partition's next job apply cold retention.
func expireNow(tr *Tier, topic string) {
	ps := tr.lookup(topic, 0)
	ps.flushMu.Lock()
	ps.nextRet = time.Time{}
	ps.flushMu.Unlock()
}

// TestTopicRetentionMs: a topic's retention.ms deletes its expired cold
// segments (objects and manifest) with no tier-wide Retention set.
func TestTopicRetentionMs(t *testing.T) {
	cfg := fastConfig()
	st, l, tr := startEv(t, cfg)
	setConfigs(t, l, "ev", map[string]string{"retention.ms": "3600000"})
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	appendN(t, l, "ev", 0, 0, 200, 10, old)
	appendN(t, l, "ev", 0, 200, 100, 10, time.Now().UnixMilli())
	waitFlushed(t, tr, "ev", 0, 300)
	if !eventually(5*time.Second, func() bool { e := effOf(tr); return e != nil && e.RetentionMsSet }) {
		t.Fatal("the tier did not pick up retention.ms")
	}
	expireNow(tr, "ev")
	if !eventually(10*time.Second, func() bool { ls, _, _ := l.Offsets("ev", 0); return ls == 200 }) {
		ls, _, _ := l.Offsets("ev", 0)
		t.Fatalf("log start %d after retention, want 200", ls)
	}
	if s, _, _ := tr.Bounds("ev", 0); s != 200 {
		t.Fatalf("cold start %d, want 200", s)
	}
	if _, err := l.Read("ev", 0, 100, 100); !errors.Is(err, plog.ErrOffsetOutOfRange) {
		t.Fatalf("expired read: %v", err)
	}
	for _, k := range st.keys("segments/ev/0/") {
		if _, _, s, _, _ := ParseSegmentKey(k); s < 200 {
			t.Fatalf("expired segment %s still stored", k)
		}
	}
}

// TestTopicRetentionBytes: retention.bytes deletes leading cold segments
// while what is left stays at least that size; -1 keeps everything.
func TestTopicRetentionBytes(t *testing.T) {
	cfg := fastConfig()
	st, l, tr := startEv(t, cfg)
	now := time.Now().UnixMilli()
	appendN(t, l, "ev", 0, 0, 500, 10, now) // 5 segments of 100 records
	waitFlushed(t, tr, "ev", 0, 500)
	m := tr.lookup("ev", 0).man.Load()
	if len(m.Segments) != 5 {
		t.Fatalf("%d segments, want 5", len(m.Segments))
	}
	seg := m.Segments[0].Bytes
	// Room for two segments and a half: three stay (Kafka keeps at least
	// retention.bytes).
	setConfigs(t, l, "ev", map[string]string{"retention.bytes": strconv.FormatInt(2*seg+seg/2, 10)})
	if !eventually(5*time.Second, func() bool { e := effOf(tr); return e != nil && e.RetentionBytes >= 0 }) {
		t.Fatal("the tier did not pick up retention.bytes")
	}
	expireNow(tr, "ev")
	if !eventually(10*time.Second, func() bool { s, _, _ := tr.Bounds("ev", 0); return s == 200 }) {
		s, _, _ := tr.Bounds("ev", 0)
		t.Fatalf("cold start %d, want 200", s)
	}
	if n := len(st.keys("segments/ev/0/")); n != 3 {
		t.Fatalf("%d segment objects, want 3", n)
	}
	readFrom(t, l, "ev", 0, 200, 300)
}

// TestTopicLocalRetention: local.retention.ms overrides HotRetention: -1
// keeps flushed data hot, 0 drops it right after the flush.
func TestTopicLocalRetention(t *testing.T) {
	_, l, tr := startEv(t, fastConfig()) // HotRetention 0: dropped after flush
	setConfigs(t, l, "ev", map[string]string{"local.retention.ms": "-1"})
	if !eventually(5*time.Second, func() bool { e := effOf(tr); return e != nil && e.LocalRetentionMsSet }) {
		t.Fatal("the tier did not pick up local.retention.ms")
	}
	appendN(t, l, "ev", 0, 0, 200, 10, 1)
	waitFlushed(t, tr, "ev", 0, 200)
	time.Sleep(200 * time.Millisecond) // a few scheduler rounds
	if hs, _ := l.HotStart("ev", 0); hs != 0 {
		t.Fatalf("hot start %d with local.retention.ms=-1, want 0", hs)
	}
	setConfigs(t, l, "ev", map[string]string{"local.retention.ms": "0"})
	if !eventually(5*time.Second, func() bool { e := effOf(tr); return e != nil && e.LocalRetentionMs == 0 }) {
		t.Fatal("the tier did not pick up local.retention.ms=0")
	}
	appendN(t, l, "ev", 0, 200, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 300)
	waitHotStart(t, l, tr, "ev", 0, 300)
	readAll(t, l, "ev", 0, 300)
}
