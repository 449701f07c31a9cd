package tiering

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

func TestSegmentRoundTrip(t *testing.T) {
	var bs []plog.Batch
	for i := int64(0); i < 5; i++ {
		b := batch.NewBuilder()
		b.Add(1000+i, nil, []byte("a"), nil)
		b.Add(1000+i, nil, []byte("b"), nil)
		raw := append([]byte(nil), b.Bytes()...)
		batch.SetBaseOffset(raw, 10+2*i)
		bs = append(bs, plog.Batch{BaseOffset: 10 + 2*i, LastOffset: 11 + 2*i, MaxTimestamp: 1000 + i, Raw: raw})
	}
	seg := encodeSegment("t", 3, 11, bs, "")
	if seg.meta.Key != "segments/t/3/000000000000000b-0000000000000014.zseg" || seg.meta.End != 20 || seg.meta.BaseOffset != 10 || seg.meta.MaxTimestamp != 1004 {
		t.Fatalf("meta %+v", seg.meta)
	}
	tp, p, s, e, err := ParseSegmentKey(seg.meta.Key)
	if err != nil || tp != "t" || p != 3 || s != 11 || e != 20 {
		t.Fatalf("parse: %s %d %d %d %v", tp, p, s, e, err)
	}
	ix, got, err := decodeSegment(seg.meta.Key, seg.body)
	if err != nil || len(got) != 5 || len(ix.entries) != 5 || ix.find(13) != 1 || string(got[4].Raw) != string(bs[4].Raw) {
		t.Fatalf("decode: %v %d", err, len(got))
	}
	// The index alone, as a ranged GET of the tail returns it.
	if _, err := decodeIndex(seg.body[seg.meta.IndexPos:], seg.meta.IndexPos, seg.meta.Size); err != nil {
		t.Fatal(err)
	}
	// Any flipped byte is caught.
	for _, at := range []int{3, segHeaderSize + 5, int(seg.meta.IndexPos) - 2, int(seg.meta.IndexPos) + 7, len(seg.body) - 1} {
		bad := append([]byte(nil), seg.body...)
		bad[at] ^= 0x40
		if _, _, err := decodeSegment("k", bad); !errors.Is(err, ErrCorruptSegment) {
			t.Fatalf("flip at %d: %v", at, err)
		}
	}
	for _, k := range []string{"segments/t/x/0-1.zseg", "segments/t/0/000000000000000b.zseg", "manifests/t/0.json"} {
		if _, _, _, _, err := ParseSegmentKey(k); err == nil {
			t.Fatalf("parsed %q", k)
		}
	}
}

func startMem(t *testing.T, l *plog.Log, st ObjectStore, cfg Config) *Tier {
	t.Helper()
	tr, err := start(context.Background(), l, cfg, st, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// startEv opens a log, starts a tier on an in-memory store with cfg and
// creates topic "ev" with one partition; both close when the test ends.
func startEv(t *testing.T, cfg Config) (*memStore, *plog.Log, *Tier) {
	t.Helper()
	st := newMemStore()
	l := openLog(t, t.TempDir())
	t.Cleanup(func() { l.Close() })
	tr := startMem(t, l, st, cfg)
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	return st, l, tr
}

// TestFlushTrimAndReadBack: data is flushed, dropped from the hot tier, and
// read back from the cold tier through the log, across the boundary.
func TestFlushTrimAndReadBack(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	st := newMemStore()
	tr := startMem(t, l, st, fastConfig())
	if _, _, err := l.EnsureTopic("ev", 2); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 1000, 7, 1000)
	appendN(t, l, "ev", 1, 0, 50, 1, 5000)
	waitFlushed(t, tr, "ev", 0, 1000)
	waitFlushed(t, tr, "ev", 1, 50)
	waitHotStart(t, l, tr, "ev", 0, 1000)
	appendN(t, l, "ev", 0, 1000, 10, 3, 2000) // hot, above the cold end
	readAll(t, l, "ev", 0, 1010)
	readAll(t, l, "ev", 1, 50)
	if ls, hwm, _ := l.Offsets("ev", 0); ls != 0 || hwm != 1010 {
		t.Fatalf("offsets %d %d", ls, hwm)
	}
	// Segments hold at most FlushMaxSegment (100) records and whole batches.
	m := tr.lookup("ev", 0).man.Load()
	for _, s := range m.Segments {
		if s.End-s.BaseOffset > 100 {
			t.Fatalf("segment %s holds %d records", s.Key, s.End-s.BaseOffset)
		}
	}
	if got := len(st.keys("segments/ev/0/")); got != len(m.Segments) {
		t.Fatalf("%d objects, %d in the manifest", got, len(m.Segments))
	}
	// Time lookups span the tiers.
	if off, ts, err := l.OffsetForTimestamp("ev", 0, 1500); err != nil || off != 500 || ts != 1500 {
		t.Fatalf("cold timestamp lookup: %d %d %v", off, ts, err)
	}
	if off, _, err := l.OffsetForTimestamp("ev", 0, 2000+1003); err != nil || off != 1003 {
		t.Fatalf("hot timestamp lookup: %d %v", off, err)
	}
	// A read from the middle of a cold batch starts with that batch.
	rr, err := l.Read("ev", 0, 10, 1)
	if err != nil || len(rr.Batches) != 1 || rr.Batches[0].BaseOffset != 7 {
		t.Fatalf("mid-batch cold read: %v %+v", err, rr.Batches)
	}
}

// TestEmptyDiskRestart: a node with an empty data directory rebuilds the
// topics from the manifests and continues offsets after the cold end.
func TestEmptyDiskRestart(t *testing.T) {
	st := newMemStore()
	l := openLog(t, t.TempDir())
	tr := startMem(t, l, st, fastConfig())
	if _, _, err := l.EnsureTopic("ev", 3); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 1, 0, 300, 10, 1)
	waitFlushed(t, tr, "ev", 1, 300)
	tr.Close()
	l.Close()

	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	tr2 := startMem(t, l2, st, fastConfig())
	info, ok := l2.Topic("ev")
	if !ok || info.Partitions != 3 {
		t.Fatalf("topic not rebuilt: %+v", info)
	}
	readAll(t, l2, "ev", 1, 300)
	appendN(t, l2, "ev", 1, 300, 5, 1, 1)
	readAll(t, l2, "ev", 1, 305)
	waitFlushed(t, tr2, "ev", 1, 305)
	tr2.Close()
	// A restart on the same (now non-empty) disk keeps it all: the manifest
	// adopted the rebuilt topic's identity.
	tr3 := startMem(t, l2, st, fastConfig())
	readAll(t, l2, "ev", 1, 305)
	if _, _, ok := tr3.Bounds("ev", 1); !ok {
		t.Fatal("cold data dropped after restart")
	}
}

// TestS3DownThenBack: writes and hot reads go on while the store fails;
// past HotMaxBytes writes are refused; when it is back everything is
// flushed exactly once.
func TestS3DownThenBack(t *testing.T) {
	cfg := fastConfig()
	cfg.HotMaxBytes = 20 << 10
	st, l, tr := startEv(t, cfg)
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	st.down.Store(true)
	n := 100
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := batch.NewBuilder()
		b.Add(1, nil, []byte("p0-"+strconv.Itoa(n)), nil)
		res := l.Append(context.Background(), []plog.AppendRequest{{Topic: "ev", Batch: append([]byte(nil), b.Bytes()...)}})
		if errors.Is(res[0].Err, plog.ErrHotTierFull) {
			break
		}
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		n++
		if time.Now().After(deadline) {
			t.Fatalf("writes never refused; pending %d", tr.PendingBytes())
		}
		if n%50 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Hot reads go on; cold reads fail as unavailable, never wrongly.
	if rr, err := l.Read("ev", 0, 100, 1<<20); err != nil || len(rr.Batches) == 0 || rr.Batches[0].BaseOffset != 100 {
		t.Fatalf("hot read during the outage: %v", err)
	}
	if _, err := l.Read("ev", 0, 0, 1<<20); !errors.Is(err, plog.ErrColdUnavailable) {
		t.Fatalf("cold read during the outage: %v", err)
	}
	st.down.Store(false)
	waitFlushed(t, tr, "ev", 0, int64(n))
	readAll(t, l, "ev", 0, n)
	if !eventually(5*time.Second, func() bool { return tr.gate("ev", 0) == nil }) {
		t.Fatalf("gate still closed, pending %d", tr.PendingBytes())
	}
	checkExactlyOnce(t, st, tr, "ev", 0, int64(n))
}

// checkExactlyOnce: the manifest's segments tile [0, end) and are the only
// objects of the partition.
func checkExactlyOnce(t *testing.T, st ObjectStore, tr *Tier, topic string, part int32, end int64) {
	t.Helper()
	m := tr.lookup(topic, part).man.Load()
	if err := m.check(); err != nil || m.LogStart != 0 || m.End != end {
		t.Fatalf("manifest [%d, %d): %v", m.LogStart, m.End, err)
	}
	listed := map[string]bool{}
	for _, s := range m.Segments {
		listed[s.Key] = true
	}
	_ = st.List(context.Background(), segmentPrefix(topic, part), "", func(k string, _ int64) bool {
		if !listed[k] {
			// An orphan is allowed only until the partition's next job.
			t.Logf("orphan %s", k)
		}
		return true
	})
}

// TestCorruptSegmentNotServed: a flipped byte in a segment is detected by
// its checksum and the read fails with ErrColdUnavailable.
func TestCorruptSegmentNotServed(t *testing.T) {
	st, l, tr := startEv(t, fastConfig())
	appendN(t, l, "ev", 0, 0, 250, 5, 1)
	waitFlushed(t, tr, "ev", 0, 250)
	waitHotStart(t, l, tr, "ev", 0, 250)
	m := tr.lookup("ev", 0).man.Load()
	seg := m.Segments[1]
	st.corrupt(seg.Key, segHeaderSize+100)
	_, err := l.Read("ev", 0, seg.Start, 1<<20)
	if !errors.Is(err, plog.ErrColdUnavailable) || !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("corrupt read: %v", err)
	}
	// Other segments still read.
	if rr, err := l.Read("ev", 0, 0, 100); err != nil || len(rr.Batches) == 0 {
		t.Fatalf("good segment: %v", err)
	}
	// A corrupt index is caught too.
	seg2 := m.Segments[2]
	st.corrupt(seg2.Key, int(seg2.IndexPos)+3)
	if _, err := l.Read("ev", 0, seg2.Start, 1<<20); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("corrupt index read: %v", err)
	}
}

// TestOrphansIgnoredAndCleaned: an object no manifest lists (an upload a
// crash cut off before the manifest) is never read and is deleted.
func TestOrphansIgnoredAndCleaned(t *testing.T) {
	st, l, tr := startEv(t, fastConfig())
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	tr.Close()
	// A crash after uploading [100, 150) but before the manifest said so.
	orphan := segmentKey("ev", 0, 100, 150, "")
	if err := st.Put(context.Background(), orphan, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	tr2 := startMem(t, l, st, fastConfig())
	appendN(t, l, "ev", 0, 100, 60, 10, 1)
	waitFlushed(t, tr2, "ev", 0, 160)
	readAll(t, l, "ev", 0, 160)
	for _, k := range st.keys("segments/") {
		if k == orphan {
			t.Fatal("orphan not cleaned")
		}
	}
	checkExactlyOnce(t, st, tr2, "ev", 0, 160)
}

// TestColdRetention deletes expired segments and moves the log start.
func TestColdRetention(t *testing.T) {
	cfg := fastConfig()
	cfg.Retention = time.Hour
	st, l, tr := startEv(t, cfg)
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	appendN(t, l, "ev", 0, 0, 200, 10, old)
	appendN(t, l, "ev", 0, 200, 100, 10, time.Now().UnixMilli())
	waitFlushed(t, tr, "ev", 0, 300)
	ps := tr.lookup("ev", 0)
	ps.flushMu.Lock()
	ps.nextRet = time.Time{}
	ps.flushMu.Unlock()
	if !eventually(10*time.Second, func() bool { ls, _, _ := l.Offsets("ev", 0); return ls == 200 }) {
		ls, _, _ := l.Offsets("ev", 0)
		t.Fatalf("log start %d after retention", ls)
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

// TestTopicDeletedDropsColdData: deleting a topic deletes its cold data, so
// a topic recreated with the same name starts clean.
func TestTopicDeletedDropsColdData(t *testing.T) {
	st, l, tr := startEv(t, fastConfig())
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	if err := l.DeleteTopic("ev"); err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool { return len(st.keys("segments/ev/"))+len(st.keys("manifests/ev/")) == 0 }) {
		t.Fatalf("cold data of a deleted topic remains: %v", st.keys(""))
	}
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 30, 10, 1)
	if !eventually(10*time.Second, func() bool {
		ps := tr.lookup("ev", 0)
		return ps != nil && ps.man.Load() != nil && ps.man.Load().End == 30
	}) {
		t.Fatal("recreated topic not flushed")
	}
	readAll(t, l, "ev", 0, 30)
}

// A clone shares its manifest's segment array, so appending a segment does
// not copy a long list; the manifest it came from never sees the append.
func TestManifestCloneAppendsWithoutCopying(t *testing.T) {
	m := &Manifest{End: 5, Segments: make([]SegmentMeta, 0, 8)}
	for i := int64(0); i < 5; i++ {
		m.Segments = append(m.Segments, SegmentMeta{Start: i, End: i + 1})
	}
	c := m.clone()
	c.Segments = append(c.Segments, SegmentMeta{Start: 5, End: 6})
	if len(m.Segments) != 5 || &c.Segments[0] != &m.Segments[0] {
		t.Fatalf("clone: m has %d segments, shared array %v", len(m.Segments), &c.Segments[0] == &m.Segments[0])
	}
	// A clone whose save failed is dropped; the next one from m takes its slot.
	d := m.clone()
	d.Segments = append(d.Segments, SegmentMeta{Start: 5, End: 7})
	if len(m.Segments) != 5 || d.Segments[5].End != 7 || m.check() != nil {
		t.Fatalf("second clone: %+v / %+v", m.Segments, d.Segments)
	}
	// Past the capacity the clone moves to its own array.
	e := d.clone()
	for i := int64(7); i < 20; i++ {
		e.Segments = append(e.Segments, SegmentMeta{Start: i, End: i + 1})
	}
	if len(d.Segments) != 6 || d.Segments[5].End != 7 {
		t.Fatalf("d changed by e: %+v", d.Segments)
	}
}
