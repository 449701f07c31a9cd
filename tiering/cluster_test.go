package tiering

// Tests of the cluster's shared cold tier (cluster.go) against versitygw:
// two tiers on one bucket stand for two replicas of a partition.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// fakeLeadership is a replica's view of its leadership, set by the test.
type fakeLeadership struct {
	mu     sync.Mutex
	epoch  int32
	leader bool
}

func (f *fakeLeadership) LeaderEpoch(string, int32) (int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch, f.leader
}

func (f *fakeLeadership) set(epoch int32, leader bool) {
	f.mu.Lock()
	f.epoch, f.leader = epoch, leader
	f.mu.Unlock()
}

var clusterTopicID = [16]byte{0xc0, 0x1d, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}

// replicaLog opens a log holding topic "ev" (one partition) with the same
// topic id on every replica.
func replicaLog(t *testing.T) *plog.Log {
	t.Helper()
	l := openLog(t, t.TempDir())
	t.Cleanup(func() { l.Close() })
	if _, _, err := l.EnsureTopicWithID("ev", 1, clusterTopicID); err != nil {
		t.Fatal(err)
	}
	return l
}

// rawHead is the manifest head in the bucket, as bytes and decoded.
func rawHead(t *testing.T, tr *Tier) ([]byte, manifestHead) {
	t.Helper()
	body, err := tr.st.Get(context.Background(), manifestKey("ev", 0), 0, -1)
	if err != nil {
		t.Fatalf("read head: %v", err)
	}
	var h manifestHead
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	return body, h
}

// TestClusterStaleLeaderFenced: the leader of epoch 1 flushes; the leader
// of epoch 2 takes the manifest over and flushes more; the epoch-1 leader,
// still believing it leads, tries to commit the same range: its commit
// fails, the head in the bucket is byte for byte the epoch-2 one, its own
// hot data stays, and it then follows the epoch-2 manifest.
func TestClusterStaleLeaderFenced(t *testing.T) {
	v := startVersity(t)
	la, lb := replicaLog(t), replicaLog(t)
	fa, fb := &fakeLeadership{epoch: 1, leader: true}, &fakeLeadership{epoch: 1}
	cfga, cfgb := v.config("shared"), v.config("shared")
	cfga.Leadership, cfgb.Leadership = fa, fb
	ta, tb := startS3(t, la, cfga), startS3(t, lb, cfgb)

	appendN(t, la, "ev", 0, 0, 300, 10, 1)
	appendN(t, lb, "ev", 0, 0, 300, 10, 1)
	waitFlushed(t, ta, "ev", 0, 300)
	if _, h := rawHead(t, ta); h.LeaderEpoch != 1 || h.End != 300 {
		t.Fatalf("head after the epoch-1 flush: epoch %d end %d, want 1 and 300", h.LeaderEpoch, h.End)
	}

	// Hold the epoch-1 leader's jobs, as a leader paused mid-way would be.
	psa := ta.lookup("ev", 0)
	psa.flushMu.Lock()
	trimmedA := psa.trimmedTo.Load()

	// Epoch 2: B leads, with 100 more records, and flushes them.
	appendN(t, lb, "ev", 0, 300, 100, 10, 1)
	fb.set(2, true)
	waitFlushed(t, tb, "ev", 0, 400)
	before, h := rawHead(t, tb)
	if h.LeaderEpoch != 2 || h.End != 400 {
		t.Fatalf("head after the epoch-2 flush: epoch %d end %d, want 2 and 400", h.LeaderEpoch, h.End)
	}
	for _, s := range tb.lookup("ev", 0).man.Load().Segments {
		if s.Start >= 300 && keyEpoch(s.Key) != 2 {
			t.Fatalf("segment %s written at epoch 2 has key epoch %d", s.Key, keyEpoch(s.Key))
		}
	}

	// A gets the same records and, still at epoch 1, flushes them.
	appendN(t, la, "ev", 0, 300, 100, 10, 1)
	psa.flushMu.Unlock()
	if !eventually(10*time.Second, func() bool {
		m := psa.man.Load()
		return m != nil && m.LeaderEpoch == 2
	}) {
		t.Fatal("the epoch-1 leader did not learn of epoch 2")
	}
	after, _ := rawHead(t, ta)
	if !bytes.Equal(before, after) {
		t.Fatalf("the epoch-1 leader changed the head:\nbefore %s\nafter  %s", before, after)
	}
	if got := psa.trimmedTo.Load(); got != trimmedA {
		t.Fatalf("the epoch-1 leader trimmed its hot log to %d after a failed commit (was %d)", got, trimmedA)
	}
	// Its upload is an orphan no head lists (epoch 1 in the key), never read.
	var orphans []string
	_ = ta.st.List(context.Background(), segmentPrefix("ev", 0), "", func(k string, _ int64) bool {
		if keyEpoch(k) == 1 && strings.Contains(k, "000000000000012c-") {
			orphans = append(orphans, k)
		}
		return true
	})
	if len(orphans) == 0 {
		t.Fatalf("expected the epoch-1 leader's upload of [300, 400) in the bucket")
	}
	// Every record reads back from both replicas across the tiers.
	readAll(t, la, "ev", 0, 400)
	readAll(t, lb, "ev", 0, 400)
}

// TestClusterFollower: a follower serves the leader's cold segments, reloads
// the manifest as the leader advances, and drops its hot copy below the
// cold end, never above its own high watermark.
func TestClusterFollower(t *testing.T) {
	v := startVersity(t)
	la, lb := replicaLog(t), replicaLog(t)
	fa, fb := &fakeLeadership{epoch: 3, leader: true}, &fakeLeadership{epoch: 3}
	cfga, cfgb := v.config("shared"), v.config("shared")
	cfga.Leadership, cfgb.Leadership = fa, fb
	ta, tb := startS3(t, la, cfga), startS3(t, lb, cfgb)

	appendN(t, la, "ev", 0, 0, 300, 10, 1)
	appendN(t, lb, "ev", 0, 0, 200, 10, 1) // the follower is behind
	waitFlushed(t, ta, "ev", 0, 300)
	waitFlushed(t, tb, "ev", 0, 300) // it sees the leader's manifest
	psb := tb.lookup("ev", 0)
	if !eventually(10*time.Second, func() bool { return psb.trimmedTo.Load() == 200 }) {
		t.Fatalf("follower trimmed to %d, want its high watermark 200", psb.trimmedTo.Load())
	}
	if hs, _ := lb.HotStart("ev", 0); hs != 200 {
		t.Fatalf("follower's hot start %d, want 200", hs)
	}
	readAll(t, lb, "ev", 0, 200)

	appendN(t, lb, "ev", 0, 200, 100, 10, 1)
	waitHotStart(t, lb, tb, "ev", 0, 300)
	readAll(t, lb, "ev", 0, 300)

	// The leader goes on; the follower reloads and trims again.
	appendN(t, la, "ev", 0, 300, 150, 10, 1)
	appendN(t, lb, "ev", 0, 300, 150, 10, 1)
	waitFlushed(t, tb, "ev", 0, 450)
	waitHotStart(t, lb, tb, "ev", 0, 450)
	readAll(t, lb, "ev", 0, 450)

	// The follower never wrote: every key in the bucket has the leader's epoch.
	_ = tb.st.List(context.Background(), "", "", func(k string, _ int64) bool {
		if strings.HasPrefix(k, "segments/") && keyEpoch(k) != 3 {
			t.Errorf("segment %s not written at the leader's epoch 3", k)
		}
		return true
	})
	if _, h := rawHead(t, tb); h.LeaderEpoch != 3 {
		t.Fatalf("head epoch %d, want 3", h.LeaderEpoch)
	}
}

func TestClusterKeys(t *testing.T) {
	uuid := "c01d0102030405060708090a0b0c0d0e"
	k := segmentKey("ev", 2, 300, 400, keySuffix(uuid, 7))
	if want := "segments/ev/2/000000000000012c-0000000000000190-c01d0102-e00000007.zseg"; k != want {
		t.Fatalf("key %s, want %s", k, want)
	}
	topic, part, s, e, err := ParseSegmentKey(k)
	if err != nil || topic != "ev" || part != 2 || s != 300 || e != 400 {
		t.Fatalf("ParseSegmentKey(%s) = %s %d %d %d %v", k, topic, part, s, e, err)
	}
	if keyEpoch(k) != 7 || keyEpoch(segmentKey("ev", 2, 300, 400, "")) != -1 {
		t.Fatalf("keyEpoch: %d, %d", keyEpoch(k), keyEpoch(segmentKey("ev", 2, 300, 400, "")))
	}
	c := chunkRef{Key: chunkKey("ev", 2, 0, 90, keySuffix(uuid, 1)), Start: 0, End: 90}
	if !validChunkKey("ev", 2, c) || keyEpoch(c.Key) != 1 {
		t.Fatalf("chunk key %s not recognised", c.Key)
	}
	for _, bad := range []string{chunkKey("ev", 2, 0, 91, ""), chunkKey("ev", 1, 0, 90, ""), chunkKey("ev", 2, 0, 90, "-zz")} {
		if validChunkKey("ev", 2, chunkRef{Key: bad, Start: 0, End: 90}) {
			t.Fatalf("chunk key %s accepted for [0, 90) of ev/2", bad)
		}
	}
}

// objects lists every key in the bucket under prefix.
func objects(t *testing.T, tr *Tier, prefix string) []string {
	t.Helper()
	var out []string
	if err := tr.st.List(context.Background(), prefix, "", func(k string, _ int64) bool { out = append(out, k); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClusterDeleteByTopicID: a topic deleted from the catalog and created
// again under its name (every replica's log follows the catalog): the old
// topic's cold data is deleted by both replicas, by topic id, while the new
// topic's leader flushes under the same name, which loses nothing; a topic
// deleted for good leaves nothing in the bucket.
func TestClusterDeleteByTopicID(t *testing.T) {
	v := startVersity(t)
	la, lb := replicaLog(t), replicaLog(t)
	for _, l := range []*plog.Log{la, lb} {
		if _, _, err := l.EnsureTopicWithID("gone", 2, [16]byte{0xdd, 1}); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb := &fakeLeadership{epoch: 4, leader: true}, &fakeLeadership{epoch: 4}
	cfga, cfgb := v.config("shared"), v.config("shared")
	cfga.Leadership, cfgb.Leadership = fa, fb
	ta, tb := startS3(t, la, cfga), startS3(t, lb, cfgb)
	for _, l := range []*plog.Log{la, lb} {
		appendN(t, l, "ev", 0, 0, 300, 10, 1)
		appendN(t, l, "gone", 0, 0, 50, 10, 1)
		appendN(t, l, "gone", 1, 0, 50, 10, 1)
	}
	waitFlushed(t, ta, "ev", 0, 300)
	waitFlushed(t, ta, "gone", 0, 50)
	waitFlushed(t, ta, "gone", 1, 50)
	waitFlushed(t, tb, "ev", 0, 300)
	oldID := hexID(clusterTopicID)
	if len(objects(t, ta, "segments/ev/")) == 0 {
		t.Fatal("no segments of ev flushed")
	}

	// The catalog deletes both topics and creates ev again (a new id); the
	// replicas' logs follow, and the new leader (epoch 0 of the new topic)
	// flushes at once.
	newID := [16]byte{0xee, 2}
	fa.set(0, true)
	fb.set(0, false)
	for _, l := range []*plog.Log{la, lb} {
		for _, name := range []string{"ev", "gone"} {
			if err := l.DeleteTopic(name); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := l.EnsureTopicWithID("ev", 1, newID); err != nil {
			t.Fatal(err)
		}
		appendN(t, l, "ev", 0, 0, 120, 10, 1)
	}
	if !eventually(20*time.Second, func() bool {
		body, err := ta.st.Get(context.Background(), manifestKey("ev", 0), 0, -1)
		var h manifestHead
		return err == nil && json.Unmarshal(body, &h) == nil && h.TopicUUID == hexID(newID) && h.End == 120
	}) {
		t.Fatal("the new ev was not flushed to 120")
	}
	if !eventually(20*time.Second, func() bool {
		for _, k := range objects(t, ta, "") {
			if keyUUID(k) == oldID[:8] || strings.HasPrefix(k, "manifests/gone/") || strings.HasPrefix(k, "segments/gone/") || strings.HasPrefix(k, "manifest-chunks/gone/") {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the deleted topics' cold data is still there: %v", objects(t, ta, ""))
	}
	_, h := rawHead(t, ta)
	if h.TopicUUID != hexID(newID) || h.End != 120 {
		t.Fatalf("head of the new ev: uuid %s end %d, want %s and 120", h.TopicUUID, h.End, hexID(newID))
	}
	for _, s := range ta.lookup("ev", 0).man.Load().Segments {
		if _, err := ta.st.Get(context.Background(), s.Key, 0, 1); err != nil {
			t.Fatalf("segment %s of the new topic: %v", s.Key, err)
		}
	}
	if !eventually(20*time.Second, func() bool {
		ps := tb.lookup("ev", 0)
		m := ps.man.Load()
		return ps.uuid == newID && m != nil && m.End == 120
	}) {
		t.Fatal("the follower did not load the new ev's manifest")
	}
	readAll(t, la, "ev", 0, 120)
	readAll(t, lb, "ev", 0, 120)
}

func hexID(id [16]byte) string { return hex.EncodeToString(id[:]) }

// TestClusterUncleanLeaderDoesNotFlush: a leader whose log ends below the
// cold end (elected uncleanly) does not claim the manifest: the bucket
// keeps what the previous leader committed.
func TestClusterUncleanLeaderDoesNotFlush(t *testing.T) {
	v := startVersity(t)
	la, lb := replicaLog(t), replicaLog(t)
	fa, fb := &fakeLeadership{epoch: 1, leader: true}, &fakeLeadership{epoch: 1}
	cfga, cfgb := v.config("shared"), v.config("shared")
	cfga.Leadership, cfgb.Leadership = fa, fb
	ta, tb := startS3(t, la, cfga), startS3(t, lb, cfgb)
	appendN(t, la, "ev", 0, 0, 300, 10, 1)
	appendN(t, lb, "ev", 0, 0, 200, 10, 1)
	waitFlushed(t, ta, "ev", 0, 300)
	before, _ := rawHead(t, ta)

	fa.set(1, false)
	fb.set(2, true) // B leads with 200 records: below the cold end 300
	appendN(t, lb, "ev", 0, 200, 50, 10, 1)
	time.Sleep(500 * time.Millisecond) // ten flush intervals
	after, h := rawHead(t, tb)
	if !bytes.Equal(before, after) || h.LeaderEpoch != 1 {
		t.Fatalf("an unclean leader changed the head (epoch %d):\nbefore %s\nafter  %s", h.LeaderEpoch, before, after)
	}
	ps := tb.lookup("ev", 0)
	ps.flushMu.Lock()
	claimed := ps.claimed
	ps.flushMu.Unlock()
	if claimed != -1 {
		t.Fatalf("the unclean leader claimed the manifest at epoch %d", claimed)
	}
}

// TestClusterForeignHead: a head of another topic id blocks the leader's
// claim while it is recent (a newer topic this node may not know yet), and
// is replaced, its objects deleted, once left alone for foreignHeadAge.
func TestClusterForeignHead(t *testing.T) {
	v := startVersity(t)
	l := replicaLog(t)
	cfg := v.config("shared")
	fl := &fakeLeadership{epoch: 1}
	cfg.Leadership = fl
	tr := startS3(t, l, cfg)
	ctx := context.Background()
	foreign := "ffeeddccbbaa99887766554433221100"
	segKey := segmentKey("ev", 0, 0, 10, keySuffix(foreign, 7))
	putForeign := func(updated time.Time) {
		t.Helper()
		if err := tr.st.Put(ctx, segKey, []byte("not read")); err != nil {
			t.Fatal(err)
		}
		h := manifestHead{Version: manifestVersion, Topic: "ev", TopicUUID: foreign, Partitions: 1, End: 10, UpdatedMs: updated.UnixMilli(), LeaderEpoch: 7,
			Segments: []SegmentMeta{{Key: segKey, Start: 0, End: 10, Batches: 1, Bytes: 1, Size: 8}}}
		body, _ := json.Marshal(&h)
		if err := tr.st.Put(ctx, manifestKey("ev", 0), body); err != nil {
			t.Fatal(err)
		}
	}
	putForeign(time.Now())
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	fl.set(1, true)
	time.Sleep(500 * time.Millisecond) // ten flush intervals
	if _, h := rawHead(t, tr); h.TopicUUID != foreign {
		t.Fatalf("a recent head of another topic id was replaced (now %s)", h.TopicUUID)
	}

	putForeign(time.Now().Add(-2 * time.Minute))
	if !eventually(10*time.Second, func() bool {
		body, err := tr.st.Get(ctx, manifestKey("ev", 0), 0, -1)
		var h manifestHead
		return err == nil && json.Unmarshal(body, &h) == nil && h.TopicUUID == hexID(clusterTopicID) && h.End == 100
	}) {
		t.Fatal("a head of another topic id left alone for minutes was not replaced")
	}
	if _, err := tr.st.Get(ctx, segKey, 0, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the replaced head's segment %s: %v, want deleted", segKey, err)
	}
	readAll(t, l, "ev", 0, 100)
}
