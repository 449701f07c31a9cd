package tiering

// Tests of the chunked manifest (version 2) against versitygw: the head
// object stays small, chunks are sealed, rebuilt from, expired, cleaned up
// and checked.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// setChunkSegments lowers manifestChunkSegments for one test. Call it before
// starting a tier: the tier's Close (a later cleanup) runs before the reset.
func setChunkSegments(t *testing.T, n int) {
	t.Helper()
	old := manifestChunkSegments
	manifestChunkSegments = n
	t.Cleanup(func() { manifestChunkSegments = old })
}

// openStore is a second client of the test bucket (created if needed).
func openStore(t *testing.T, cfg Config) ObjectStore {
	t.Helper()
	st, err := OpenS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// headOf reads a partition's head object as stored.
func headOf(t *testing.T, st ObjectStore, topic string, part int32) (manifestHead, int) {
	t.Helper()
	body, err := st.Get(context.Background(), manifestKey(topic, part), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var h manifestHead
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	return h, len(body)
}

// listKeys lists the keys under prefix.
func listKeys(t *testing.T, st ObjectStore, prefix string) []string {
	t.Helper()
	var keys []string
	if err := st.List(context.Background(), prefix, "", func(k string, _ int64) bool { keys = append(keys, k); return true }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// checkChunksStored: the chunk objects of the partition are exactly those
// its head refers to.
func checkChunksStored(t *testing.T, st ObjectStore, topic string, part int32) manifestHead {
	t.Helper()
	h, _ := headOf(t, st, topic, part)
	var refs []string
	for _, c := range h.Chunks {
		refs = append(refs, c.Key)
	}
	sort.Strings(refs)
	stored := listKeys(t, st, chunkPrefix(topic, part))
	if strings.Join(refs, ",") != strings.Join(stored, ",") {
		t.Fatalf("%s/%d: head refers to chunks %v, bucket holds %v", topic, part, refs, stored)
	}
	return h
}

// waitDeleted waits until no object under prefix starts below offset
// (objects are deleted after the head that dropped them is saved).
func waitDeleted(t *testing.T, st ObjectStore, prefix string, offset int64) {
	t.Helper()
	var left []string
	if !eventually(10*time.Second, func() bool {
		left = left[:0]
		for _, k := range listKeys(t, st, prefix) {
			base := k[strings.LastIndex(k, "/")+1:]
			var s int64
			if _, err := fmt.Sscanf(base, "%016x-", &s); err != nil {
				t.Fatalf("key %s: %v", k, err)
			}
			if s < offset {
				left = append(left, k)
			}
		}
		return len(left) == 0
	}) {
		t.Fatalf("objects below %d not deleted: %v", offset, left)
	}
}

// TestS3ManifestChunks: a partition with many segments keeps a small head
// (sealed chunks plus a short tail); `zombi segments ls` sees every segment;
// a node with an empty data directory rebuilds from the head and its chunks
// and reads every record back; deleting the topic deletes the chunks too.
func TestS3ManifestChunks(t *testing.T) {
	setChunkSegments(t, 4)
	v := startVersity(t)
	cfg := v.config("chunks")
	cfg.FlushMaxSegment = 10
	l := openLog(t, t.TempDir())
	tr := startS3(t, l, cfg)
	if _, _, err := l.EnsureTopic("ev", 2); err != nil {
		t.Fatal(err)
	}
	const n = 500 // 50 segments of 10 records: 12 chunks and a tail of 2
	appendN(t, l, "ev", 0, 0, n, 5, 1)
	appendN(t, l, "ev", 1, 0, 30, 30, 1) // one batch, one segment: no chunk
	waitFlushed(t, tr, "ev", 0, n)
	waitFlushed(t, tr, "ev", 1, 30)
	waitHotStart(t, l, tr, "ev", 0, n)
	st := tr.st

	h := checkChunksStored(t, st, "ev", 0)
	if h.Version != manifestVersion || len(h.Segments) >= manifestChunkSegments || len(h.Chunks) < 10 {
		t.Fatalf("head: version %d, %d segments, %d chunks", h.Version, len(h.Segments), len(h.Chunks))
	}
	segs := len(h.Segments)
	for _, c := range h.Chunks {
		if c.Segments != manifestChunkSegments {
			t.Fatalf("chunk %s holds %d segments", c.Key, c.Segments)
		}
		segs += c.Segments
	}
	m := tr.lookup("ev", 0).man.Load()
	if segs != len(m.Segments) || segs < 50 {
		t.Fatalf("head and chunks hold %d segments, the manifest %d", segs, len(m.Segments))
	}
	// The head stays small: well below what one object listing every
	// segment would be.
	_, headSize := headOf(t, st, "ev", 0)
	full, _ := json.Marshal(m)
	if headSize*2 > len(full) {
		t.Fatalf("head is %d bytes, a single manifest %d", headSize, len(full))
	}
	t.Logf("head %d bytes (%d chunks, %d segments in the tail); single manifest %d bytes", headSize, len(h.Chunks), len(h.Segments), len(full))
	if h1 := checkChunksStored(t, st, "ev", 1); len(h1.Chunks) != 0 || len(h1.Segments) != 1 {
		t.Fatalf("ev/1: %d chunks, %d segments", len(h1.Chunks), len(h1.Segments))
	}

	// zombi segments ls's view: every segment, in order.
	infos, err := ListSegments(context.Background(), st, "ev")
	if err != nil {
		t.Fatal(err)
	}
	next := map[int32]int64{}
	for _, s := range infos {
		if s.Start != next[s.Partition] {
			t.Fatalf("ListSegments: %d/%s does not continue at %d", s.Partition, s.Key, next[s.Partition])
		}
		next[s.Partition] = s.End
	}
	if next[0] != n || next[1] != 30 {
		t.Fatalf("ListSegments ends at %v", next)
	}
	tr.Close()
	l.Close()

	// An empty data directory: rebuilt from heads and chunks.
	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	tr2 := startS3(t, l2, cfg)
	m2 := tr2.lookup("ev", 0).man.Load()
	if len(m2.Segments) != len(m.Segments) || m2.LogStart != 0 || m2.End != n {
		t.Fatalf("rebuilt manifest: %d segments [%d, %d)", len(m2.Segments), m2.LogStart, m2.End)
	}
	readAll(t, l2, "ev", 0, n)
	readAll(t, l2, "ev", 1, 30)
	// More segments after the rebuild: the existing chunks are kept as they
	// are, new ones are sealed after them.
	appendN(t, l2, "ev", 0, n, 60, 5, 1)
	waitFlushed(t, tr2, "ev", 0, n+60)
	h2 := checkChunksStored(t, st, "ev", 0)
	for i, c := range h.Chunks {
		if h2.Chunks[i] != c {
			t.Fatalf("chunk %d changed: %+v, was %+v", i, h2.Chunks[i], c)
		}
	}
	if len(h2.Chunks) <= len(h.Chunks) || len(h2.Segments) >= manifestChunkSegments {
		t.Fatalf("after more segments: %d chunks, %d in the tail", len(h2.Chunks), len(h2.Segments))
	}
	readAll(t, l2, "ev", 0, n+60)

	// Deleting the topic deletes heads, chunks and segments.
	if err := l2.DeleteTopic("ev"); err != nil {
		t.Fatal(err)
	}
	left := 0
	if !eventually(10*time.Second, func() bool {
		left = len(listKeys(t, st, "manifests/ev/")) + len(listKeys(t, st, "manifest-chunks/ev/")) + len(listKeys(t, st, "segments/ev/"))
		return left == 0
	}) {
		t.Fatalf("%d objects of the deleted topic remain", left)
	}
}

// TestS3ManifestChunkRetention: cold retention deletes the chunks whose
// segments all expired and keeps a partly expired one; a rebuild starts at
// the right log start.
func TestS3ManifestChunkRetention(t *testing.T) {
	setChunkSegments(t, 4)
	v := startVersity(t)
	cfg := v.config("retention")
	cfg.FlushMaxSegment = 10 // one 10-record batch per segment: chunks of 40 offsets
	cfg.Retention = time.Hour
	l := openLog(t, t.TempDir())
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	// Written before the tier starts, so that its first job flushes it all
	// and then applies retention: [0, 150) expired, [150, 300) not.
	appendN(t, l, "ev", 0, 0, 150, 10, time.Now().Add(-2*time.Hour).UnixMilli())
	appendN(t, l, "ev", 0, 150, 150, 10, time.Now().UnixMilli())
	tr := startS3(t, l, cfg)
	waitFlushed(t, tr, "ev", 0, 300)
	if !eventually(10*time.Second, func() bool { s, _, ok := tr.Bounds("ev", 0); return ok && s == 150 }) {
		s, e, ok := tr.Bounds("ev", 0)
		t.Fatalf("cold range [%d, %d) %v after retention", s, e, ok)
	}
	st := tr.st
	waitDeleted(t, st, segmentPrefix("ev", 0), 150)
	waitDeleted(t, st, chunkPrefix("ev", 0), 120)
	h := checkChunksStored(t, st, "ev", 0)
	var starts []int64
	for _, c := range h.Chunks {
		starts = append(starts, c.Start)
	}
	// [0, 40), [40, 80), [80, 120) expired whole; [120, 160) partly.
	if fmt.Sprint(starts) != "[120 160 200 240]" || h.LogStart != 150 || len(h.Segments) != 2 {
		t.Fatalf("head after retention: log start %d, chunks at %v, %d segments", h.LogStart, starts, len(h.Segments))
	}
	if ls, _, _ := l.Offsets("ev", 0); ls != 150 {
		t.Fatalf("log start %d", ls)
	}
	readFrom(t, l, "ev", 0, 150, 300)
	tr.Close()
	l.Close()

	// The rebuild drops the partly expired chunk's segments below 150.
	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	tr2 := startS3(t, l2, v.config("retention"))
	m := tr2.lookup("ev", 0).man.Load()
	if m.LogStart != 150 || m.End != 300 || len(m.Segments) != 15 || m.Segments[0].Start != 150 {
		t.Fatalf("rebuilt: [%d, %d) with %d segments", m.LogStart, m.End, len(m.Segments))
	}
	if ls, _, _ := l2.Offsets("ev", 0); ls != 150 {
		t.Fatalf("rebuilt log start %d", ls)
	}
	if _, err := l2.Read("ev", 0, 149, 100); !errors.Is(err, plog.ErrOffsetOutOfRange) {
		t.Fatalf("expired read: %v", err)
	}
	readFrom(t, l2, "ev", 0, 150, 300)
}

// TestS3ManifestChunksDeleteRecords: DeleteRecords past the cold end drops
// every chunk with the segments (moveStart).
func TestS3ManifestChunksDeleteRecords(t *testing.T) {
	setChunkSegments(t, 4)
	v := startVersity(t)
	cfg := v.config("moved")
	cfg.FlushMaxSegment = 10
	cfg.FlushInterval = time.Hour
	cfg.FlushBatchSize = 100
	l := openLog(t, t.TempDir())
	defer l.Close()
	tr := startS3(t, l, cfg)
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	st := tr.st
	if h := checkChunksStored(t, st, "ev", 0); len(h.Chunks) != 2 {
		t.Fatalf("%d chunks", len(h.Chunks))
	}
	appendN(t, l, "ev", 0, 100, 50, 10, 1) // below FlushBatchSize: not flushed
	if _, err := l.TrimBefore(context.Background(), "ev", 0, 140); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 150, 90, 10, 1) // 140 waiting: flushed from 140
	waitFlushed(t, tr, "ev", 0, 240)
	waitDeleted(t, st, segmentPrefix("ev", 0), 140)
	waitDeleted(t, st, chunkPrefix("ev", 0), 140)
	h := checkChunksStored(t, st, "ev", 0)
	// [140, 240) in 10 segments: chunks [140, 180), [180, 220), a tail of 2.
	if h.LogStart != 140 || len(h.Chunks) != 2 || h.Chunks[0].Start != 140 || len(h.Segments) != 2 {
		t.Fatalf("head after DeleteRecords: log start %d, chunks %+v", h.LogStart, h.Chunks)
	}
	readFrom(t, l, "ev", 0, 140, 240)
}

// headFailStore passes everything to the real store, except that once armed
// and a chunk has been written, every head PUT fails (a crash or an S3 error
// between the two).
type headFailStore struct {
	ObjectStore
	mu       sync.Mutex
	armed    bool
	orphan   string
	headFail int
}

func (s *headFailStore) Put(ctx context.Context, key string, body []byte) error {
	s.mu.Lock()
	if s.armed && strings.HasPrefix(key, "manifest-chunks/") {
		s.orphan = key
	}
	fail := s.orphan != "" && strings.HasPrefix(key, "manifests/")
	if fail {
		s.headFail++
	}
	s.mu.Unlock()
	if fail {
		return errDown
	}
	return s.ObjectStore.Put(ctx, key, body)
}

func (s *headFailStore) state() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orphan, s.headFail
}

// TestS3HeadPutFailsAfterChunk: the head PUT fails after a chunk was
// written. The bucket stays consistent (the old head, with an orphan chunk
// nobody reads), nothing is lost, and the orphan is deleted after a restart.
func TestS3HeadPutFailsAfterChunk(t *testing.T) {
	setChunkSegments(t, 4)
	v := startVersity(t)
	cfg := v.config("headfail")
	cfg.FlushMaxSegment = 10
	cfg.FlushInterval = time.Hour
	cfg.FlushBatchSize = 10 // [70, 80) is flushed once both its batches are in
	real := openStore(t, cfg)
	fs := &headFailStore{ObjectStore: real}
	l := openLog(t, t.TempDir())
	defer l.Close()
	tr := startMem(t, l, fs, cfg)
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 70, 10, 1) // chunk [0, 40), tail [40, 70)
	waitFlushed(t, tr, "ev", 0, 70)
	fs.mu.Lock()
	fs.armed = true
	fs.mu.Unlock()
	appendN(t, l, "ev", 0, 70, 10, 5, 1) // segment [70, 80): seals [40, 80)
	// The first try and a retry.
	if !eventually(10*time.Second, func() bool { _, n := fs.state(); return n >= 2 }) {
		t.Fatal("no head PUT failed")
	}
	orphan, _ := fs.state()
	if orphan != chunkKey("ev", 0, 40, 80, "") {
		t.Fatalf("chunk written: %s", orphan)
	}
	// Consistent meanwhile: the old head loads, the orphan is stored but not
	// referred to, and every record reads.
	ms, err := loadManifests(context.Background(), real)
	if err != nil || len(ms) != 1 || ms[0].End != 70 || len(ms[0].Segments) != 7 {
		t.Fatalf("loaded while the head fails: %v %+v", err, ms)
	}
	if _, err := real.Get(context.Background(), orphan, 0, -1); err != nil {
		t.Fatalf("orphan chunk: %v", err)
	}
	if _, e, _ := tr.Bounds("ev", 0); e != 70 {
		t.Fatalf("cold end %d", e)
	}
	readAll(t, l, "ev", 0, 80)
	tr.Close()

	// Restart with S3 healthy and smaller segments: the retry cuts [70, 75)
	// and [75, 80), seals [40, 75), and the orphan [40, 80) is deleted.
	cfg.FlushMaxSegment = 5
	tr2 := startMem(t, l, real, cfg)
	waitFlushed(t, tr2, "ev", 0, 80)
	h := checkChunksStored(t, real, "ev", 0)
	if len(h.Chunks) != 2 || h.Chunks[1].Key != chunkKey("ev", 0, 40, 75, "") {
		t.Fatalf("chunks after the retry: %+v", h.Chunks)
	}
	for _, k := range listKeys(t, real, "") {
		if k == orphan || k == segmentKey("ev", 0, 70, 80, "") {
			t.Fatalf("orphan %s not deleted", k)
		}
	}
	readAll(t, l, "ev", 0, 80)
	tr2.Close()

	// And an empty disk rebuilds it all.
	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	startMem(t, l2, real, v.config("headfail"))
	readAll(t, l2, "ev", 0, 80)
}

// TestS3CorruptManifestChunk: a chunk object changed or lost on the server
// is reported at load (start-up and `zombi segments ls` fail), never used.
func TestS3CorruptManifestChunk(t *testing.T) {
	v, l, tr := flushedChunks(t, "corruptchunk")
	st := tr.st
	h := checkChunksStored(t, st, "ev", 0)
	tr.Close()
	l.Close()

	// Same size, one digit changed: a segment's end moves.
	file := filepath.Join(v.dir, "corruptchunk", h.Chunks[1].Key)
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	good := append([]byte(nil), body...)
	i := strings.Index(string(body), `"end":50`)
	if i < 0 {
		t.Fatalf("no segment end 50 in %s", body)
	}
	body[i+len(`"end":5`)] = '1' // 50 -> 51
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadManifests(context.Background(), st); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("load with a corrupt chunk: %v", err)
	}
	if _, err := ListSegments(context.Background(), st, ""); err == nil {
		t.Fatal("ListSegments used a corrupt chunk")
	}
	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	if tr2, err := Start(context.Background(), l2, v.config("corruptchunk"), testLogger(t)); err == nil {
		tr2.Close()
		t.Fatal("started on a corrupt chunk")
	}

	// A chunk that is gone is reported too.
	if err := os.WriteFile(file, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadManifests(context.Background(), st); err != nil {
		t.Fatalf("load with the chunk restored: %v", err)
	}
	if err := st.Delete(context.Background(), h.Chunks[0].Key); err != nil {
		t.Fatal(err)
	}
	if _, err := loadManifests(context.Background(), st); !errors.Is(err, errChunkMissing) {
		t.Fatalf("load with a missing chunk: %v", err)
	}
}

// TestS3ManifestV1Loads: a version 1 manifest (every segment in the one
// object, as written before chunks) loads, and the next save rewrites it as
// version 2 with chunks.
func TestS3ManifestV1Loads(t *testing.T) {
	v, l, tr := flushedChunks(t, "manifest-v1")
	m := tr.lookup("ev", 0).man.Load()
	st := tr.st
	tr.Close()
	l.Close()

	// The version 1 form, by hand: the header fields and all 10 segments.
	v1 := map[string]any{
		"version": 1, "topic": m.Topic, "topic_uuid": m.TopicUUID, "partition": m.Partition,
		"partitions": m.Partitions, "log_start": m.LogStart, "end": m.End,
		"generation": m.Generation, "updated_ms": m.UpdatedMs, "segments": m.Segments,
	}
	body, err := json.Marshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), manifestKey("ev", 0), body); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(context.Background(), listKeys(t, st, "manifest-chunks/")...); err != nil {
		t.Fatal(err)
	}

	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	tr2 := startS3(t, l2, v.config("manifest-v1"))
	m2 := tr2.lookup("ev", 0).man.Load()
	if m2.Version != 1 || len(m2.Segments) != 10 || m2.End != 100 {
		t.Fatalf("v1 loaded as version %d, %d segments, end %d", m2.Version, len(m2.Segments), m2.End)
	}
	readAll(t, l2, "ev", 0, 100)
	appendN(t, l2, "ev", 0, 100, 10, 10, 1)
	waitFlushed(t, tr2, "ev", 0, 110)
	h := checkChunksStored(t, st, "ev", 0)
	if h.Version != manifestVersion || len(h.Chunks) != 2 || len(h.Segments) != 3 {
		t.Fatalf("rewritten head: version %d, %d chunks, %d segments", h.Version, len(h.Chunks), len(h.Segments))
	}
	readAll(t, l2, "ev", 0, 110)
	tr2.Close()

	l3 := openLog(t, t.TempDir())
	defer l3.Close()
	startS3(t, l3, v.config("manifest-v1"))
	readAll(t, l3, "ev", 0, 110)
}

// flushedChunks starts a tier on bucket with chunks of 4 segments and
// flushes 100 records of ev/0 as 10 segments.
func flushedChunks(t *testing.T, bucket string) (*versity, *plog.Log, *Tier) {
	t.Helper()
	setChunkSegments(t, 4)
	v := startVersity(t)
	cfg := v.config(bucket)
	cfg.FlushMaxSegment = 10
	l := openLog(t, t.TempDir())
	tr := startS3(t, l, cfg)
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	return v, l, tr
}

// staleHeadStore answers the first GET of one head with an older body, as a
// loader sees it when a writer saves a new head right after that GET.
type staleHeadStore struct {
	ObjectStore
	key    string
	body   []byte
	served atomic.Bool
}

func (s *staleHeadStore) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if key == s.key && s.served.CompareAndSwap(false, true) {
		return s.body, nil
	}
	return s.ObjectStore.Get(ctx, key, off, n)
}

// TestLoadManifestHeadMovedOn: a loader that read a head just before a
// writer moved the log start and deleted the head's first chunk finds the
// chunk missing, reads the head again and loads the new one, not an error.
func TestLoadManifestHeadMovedOn(t *testing.T) {
	setChunkSegments(t, 2)
	cfg := fastConfig()
	cfg.FlushMaxSegment = 10
	st, l, tr := startEv(t, cfg)
	appendN(t, l, "ev", 0, 0, 60, 10, 1)
	waitFlushed(t, tr, "ev", 0, 60)
	tr.Close()
	ctx := context.Background()
	head := manifestKey("ev", 0)
	old, err := st.Get(ctx, head, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadManifests(ctx, st)
	if err != nil || len(ms) != 1 || len(ms[0].chunks) != 3 {
		t.Fatalf("loaded %d manifests (%v)", len(ms), err)
	}
	m := ms[0].clone()
	m.Segments, m.LogStart = m.Segments[2:], 20
	dropped, err := saveManifest(ctx, st, m)
	if err != nil || len(dropped) != 1 {
		t.Fatalf("save dropped %d chunks (%v)", len(dropped), err)
	}
	if err := st.Delete(ctx, dropped[0].Key); err != nil {
		t.Fatal(err)
	}
	ms, err = loadManifests(ctx, &staleHeadStore{ObjectStore: st, key: head, body: old})
	if err != nil {
		t.Fatalf("load past a moved head: %v", err)
	}
	if got := ms[0]; got.LogStart != 20 || got.End != 60 || len(got.Segments) != 4 {
		t.Fatalf("loaded [%d, %d) with %d segments, want [20, 60) with 4", got.LogStart, got.End, len(got.Segments))
	}
}
