package tiering

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Transactions across the tiers: abort markers' index entries travel with
// the segments (in their manifest entries), and read_committed cold reads
// drop what was aborted.

// txnRecords is a transactional batch of n records of producer pid, values
// "tx{pid}-{i}".
func txnRecords(pid int64, n int) []byte {
	b := batch.NewBuilder()
	b.SetProducer(pid, 0, 0)
	for i := 0; i < n; i++ {
		b.Add(1000, nil, []byte(fmt.Sprintf("tx%d-%d", pid, i)), nil)
	}
	raw := append([]byte(nil), b.Bytes()...)
	batch.SetTransactional(raw)
	return raw
}

func appendRaw(t *testing.T, l *plog.Log, topic string, raw []byte) {
	t.Helper()
	res := l.Append(context.Background(), []plog.AppendRequest{{Topic: topic, Partition: 0, Batch: raw}})
	if res[0].Err != nil {
		t.Fatalf("append: %v", res[0].Err)
	}
}

func endTxn(t *testing.T, l *plog.Log, topic string, pid int64, commit bool) {
	t.Helper()
	err := l.EndTxn(context.Background(), plog.EndTxnRequest{ProducerID: pid, Commit: commit, Partitions: []plog.TopicPartition{{Topic: topic, Partition: 0}}})
	if err != nil {
		t.Fatalf("end transaction of %d: %v", pid, err)
	}
}

// readCommitted reads partition 0 from offset 0 at ReadCommitted through the
// log and returns "offset=value" of every record log.Committed keeps, and
// every aborted transaction the reads listed.
func readCommitted(t *testing.T, l *plog.Log, topic string) ([]string, []plog.AbortedTxn) {
	t.Helper()
	var recs []string
	var aborted []plog.AbortedTxn
	seen := map[int64]bool{}
	for from := int64(0); ; {
		rr, err := l.ReadIsolated(topic, 0, from, 1<<20, plog.ReadCommitted)
		if err != nil {
			t.Fatalf("read_committed at %d: %v", from, err)
		}
		for _, a := range rr.Aborted {
			if !seen[a.LastOffset] {
				seen[a.LastOffset] = true
				aborted = append(aborted, a)
			}
		}
		if len(rr.Batches) == 0 {
			if from != rr.LastStableOffset {
				t.Fatalf("read_committed stopped at %d, last stable offset %d", from, rr.LastStableOffset)
			}
			return recs, aborted
		}
		for _, b := range plog.Committed(rr) {
			h, rs, err := batch.Records(b.Raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			if h.IsControl() {
				t.Fatalf("Committed kept a control batch at %d", b.BaseOffset)
			}
			for _, r := range rs {
				if r.Offset >= from {
					recs = append(recs, fmt.Sprintf("%d=%s", r.Offset, r.Value))
				}
			}
		}
		from = rr.Batches[len(rr.Batches)-1].LastOffset + 1
	}
}

// TestS3TxnColdReadCommitted: committed and aborted transactions flushed to
// S3 and dropped from the hot tier are read back read_committed from the
// cold tier (aborted records and markers dropped), also when a transaction's
// batches are cold and its abort marker hot, and after an empty-disk rebuild.
func TestS3TxnColdReadCommitted(t *testing.T) {
	v := startVersity(t)
	cfg := v.config("zombi-txn")
	cfg.FlushMaxSegment = 4 // several segments, transactions across them
	l := openLog(t, t.TempDir())
	defer l.Close()
	if _, err := l.CreateTopic("tx", 1, nil); err != nil {
		t.Fatal(err)
	}
	appendPad(t, l, "tx", 0, 0, 2, 2, 1, "")  // 0-1 plain
	appendRaw(t, l, "tx", txnRecords(7, 3))   // 2-4 pid 7
	appendRaw(t, l, "tx", txnRecords(8, 2))   // 5-6 pid 8
	endTxn(t, l, "tx", 7, false)              // 7 abort 7
	endTxn(t, l, "tx", 8, true)               // 8 commit 8
	appendRaw(t, l, "tx", txnRecords(9, 2))   // 9-10 pid 9
	endTxn(t, l, "tx", 9, false)              // 11 abort 9
	appendPad(t, l, "tx", 0, 12, 3, 3, 1, "") // 12-14 plain
	appendRaw(t, l, "tx", txnRecords(10, 2))  // 15-16 pid 10, still open

	// Everything goes cold; the hot copy and its index entries go.
	tr := startS3(t, l, cfg)
	waitFlushed(t, tr, "tx", 0, 17)
	waitHotStart(t, l, tr, "tx", 0, 17)
	if hot, err := l.AbortedIn("tx", 0, 0, 17); err != nil || len(hot) != 0 {
		t.Fatalf("hot aborted index below the hot start after the trim: %+v %v", hot, err)
	}
	var inManifest []int64
	for _, s := range tr.lookup("tx", 0).man.Load().Segments {
		for _, a := range s.Aborted {
			inManifest = append(inManifest, a.LastOffset)
		}
	}
	if !reflect.DeepEqual(inManifest, []int64{7, 11}) {
		t.Fatalf("abort markers in the manifest: %v, want [7 11]", inManifest)
	}
	tr.Close()

	// Abort pid 10 (marker 17) while its batches are cold, and keep it hot:
	// this tier only flushes after an hour.
	endTxn(t, l, "tx", 10, false)
	appendPad(t, l, "tx", 0, 18, 2, 2, 1, "") // 18-19 plain
	slow := cfg
	slow.FlushInterval, slow.FlushBatchSize = time.Hour, 1<<30
	tr = startS3(t, l, slow)
	if hs, _ := l.HotStart("tx", 0); hs != 17 {
		t.Fatalf("hot start %d, want 17", hs)
	}

	wantRecs := []string{"0=p0-0", "1=p0-1", "5=tx8-0", "6=tx8-1", "12=p0-12", "13=p0-13", "14=p0-14", "18=p0-18", "19=p0-19"}
	wantAborted := []plog.AbortedTxn{
		{ProducerID: 7, FirstOffset: 2, LastOffset: 7, StableAt: 5},
		{ProducerID: 9, FirstOffset: 9, LastOffset: 11, StableAt: 12},
		{ProducerID: 10, FirstOffset: 15, LastOffset: 17, StableAt: 18},
	}
	check := func(stage string, l *plog.Log) {
		t.Helper()
		recs, aborted := readCommitted(t, l, "tx")
		if !reflect.DeepEqual(recs, wantRecs) {
			t.Fatalf("%s: read_committed records\n got %v\nwant %v", stage, recs, wantRecs)
		}
		if !reflect.DeepEqual(aborted, wantAborted) {
			t.Fatalf("%s: aborted transactions\n got %+v\nwant %+v", stage, aborted, wantAborted)
		}
		// read_uncommitted still sees every record, markers included.
		n := 0
		for from := int64(0); from < 20; {
			rr, err := l.Read("tx", 0, from, 1<<20)
			if err != nil || len(rr.Batches) == 0 {
				t.Fatalf("%s: read_uncommitted at %d: %v", stage, from, err)
			}
			for _, b := range rr.Batches {
				n += int(b.LastOffset + 1 - max(b.BaseOffset, from))
			}
			from = rr.Batches[len(rr.Batches)-1].LastOffset + 1
		}
		if n != 20 {
			t.Fatalf("%s: read_uncommitted saw %d offsets, want 20", stage, n)
		}
	}
	check("cold batches, hot abort marker", l)

	// Now the marker goes cold too.
	tr.Close()
	tr = startS3(t, l, cfg)
	waitFlushed(t, tr, "tx", 0, 20)
	waitHotStart(t, l, tr, "tx", 0, 20)
	check("all cold", l)

	// The head says it lists aborted transactions (older Zombis refuse it).
	body, err := tr.st.Get(context.Background(), manifestKey("tx", 0), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var h manifestHead
	if err := json.Unmarshal(body, &h); err != nil || h.Version != abortedManifestVersion || !strings.Contains(string(body), `"aborted":[[10,15,17,18]]`) {
		t.Fatalf("manifest head (version %d, %v): %s", h.Version, err, body)
	}
	tr.Close()

	// Empty-disk rebuild: the index comes back with the manifests.
	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	startS3(t, l2, cfg)
	check("after an empty-disk rebuild", l2)
}

// TestAbortedTxnsLookup: the cold lookup filters by range and stops at the
// first entry whose StableAt reaches upTo.
func TestAbortedTxnsLookup(t *testing.T) {
	tr := &Tier{parts: map[tpKey]*partState{}}
	ps := &partState{topic: "t"}
	m := &Manifest{LogStart: 0, End: 40, Segments: []SegmentMeta{
		{Key: "a", Start: 0, End: 10, Aborted: AbortedList{{ProducerID: 1, FirstOffset: 0, LastOffset: 5, StableAt: 6}}},
		{Key: "b", Start: 10, End: 20},
		{Key: "c", Start: 20, End: 30, Aborted: AbortedList{
			{ProducerID: 2, FirstOffset: 8, LastOffset: 21, StableAt: 12},
			{ProducerID: 3, FirstOffset: 22, LastOffset: 25, StableAt: 26},
			{ProducerID: 4, FirstOffset: 26, LastOffset: 27, StableAt: 28},
		}},
		{Key: "d", Start: 30, End: 40, Aborted: AbortedList{{ProducerID: 5, FirstOffset: 29, LastOffset: 35, StableAt: 36}}},
	}}
	if err := m.check(); err != nil {
		t.Fatal(err)
	}
	ps.man.Store(m)
	tr.parts[tpKey{"t", 0}] = ps
	pids := func(from, upTo int64) []int64 {
		got, err := tr.AbortedTxns(context.Background(), "t", 0, from, upTo)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, a := range got {
			out = append(out, a.ProducerID)
		}
		return out
	}
	for _, c := range []struct {
		from, upTo int64
		want       []int64
	}{
		{0, 3, []int64{1}},           // pid 1's StableAt 6 >= 3: stop
		{0, 10, []int64{1, 2}},       // pid 2's StableAt 12 >= 10: stop
		{6, 10, []int64{2}},          // pid 1's marker is below 6
		{6, 30, []int64{2, 3, 4, 5}}, // up to pid 5, StableAt 36
		{26, 40, []int64{4, 5}},      // markers at or after 26
		{36, 50, nil},                // nothing after the last marker
		{0, 100, []int64{1, 2, 3, 4, 5}},
	} {
		if got := pids(c.from, c.upTo); !reflect.DeepEqual(got, c.want) {
			t.Errorf("AbortedTxns(%d, %d) = %v, want %v", c.from, c.upTo, got, c.want)
		}
	}
	// A new manifest (retention dropped the first three segments) is what
	// the next lookup sees, not the index of the old one.
	m2 := m.clone()
	m2.Segments, m2.LogStart = m.Segments[3:], 30
	ps.man.Store(m2)
	if got := pids(0, 100); !reflect.DeepEqual(got, []int64{5}) {
		t.Errorf("after retention: AbortedTxns(0, 100) = %v, want [5]", got)
	}
	if got, err := tr.AbortedTxns(context.Background(), "other", 0, 0, 10); err != nil || got != nil {
		t.Fatalf("unknown partition: %v %v", got, err)
	}
}

// TestManifestAbortedChecked: a manifest whose aborted list does not fit its
// segment is refused; one without the field reads with none.
func TestManifestAbortedChecked(t *testing.T) {
	st := newMemStore()
	seg := `{"key":"segments/t/0/0000000000000000-000000000000000a.zseg","start":0,"end":10,"base_offset":0,"batches":1,"bytes":1,"size":1,"index_pos":1}`
	head := func(version int, aborted string) []byte {
		s := seg
		if aborted != "" {
			s = strings.TrimSuffix(seg, "}") + `,"aborted":` + aborted + `}`
		}
		return []byte(fmt.Sprintf(`{"version":%d,"topic":"t","partition":0,"partitions":1,"log_start":0,"end":10,"segments":[%s]}`, version, s))
	}
	for _, c := range []struct {
		name    string
		body    []byte
		wantErr string
		want    int
	}{
		{"old, no list", head(2, ""), "", 0},
		{"list", head(3, `[[7,2,7,5]]`), "", 1},
		{"marker past the segment", head(3, `[[7,2,10,11]]`), "not understood", 0},
		{"first after the marker", head(3, `[[7,8,7,9]]`), "not understood", 0},
		{"out of order", head(3, `[[7,2,7,8],[8,1,5,8]]`), "not understood", 0},
		{"not an array of four", head(3, `[[7,2]]`), "aborted", 0},
		{"unknown version", head(4, ""), "version 4", 0},
	} {
		if err := st.Put(context.Background(), manifestKey("t", 0), c.body); err != nil {
			t.Fatal(err)
		}
		ms, err := loadManifests(context.Background(), st)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(ms) != 1 || len(ms[0].Segments[0].Aborted) != c.want {
			t.Errorf("%s: %v, %d manifests", c.name, err, len(ms))
		}
	}
}

// TestManifestAbortedChunks: aborted lists survive sealing into chunks and
// loading back; a chunk that holds some is version 2, one without stays 1,
// and the head is version 3 while any segment lists some.
func TestManifestAbortedChunks(t *testing.T) {
	setChunkSegments(t, 2)
	st := newMemStore()
	m := &Manifest{Topic: "t", Partition: 0, Partitions: 1}
	for i := int64(0); i < 5; i++ {
		s := SegmentMeta{Key: segmentKey("t", 0, i*10, i*10+10, ""), Start: i * 10, End: i*10 + 10}
		if i < 2 { // the first chunk's
			s.Aborted = AbortedList{{ProducerID: i, FirstOffset: i * 10, LastOffset: i*10 + 3, StableAt: i*10 + 4}}
		}
		m.Segments = append(m.Segments, s)
		m.End = s.End
		if _, err := saveManifest(context.Background(), st, m); err != nil {
			t.Fatal(err)
		}
	}
	h := &manifestHead{}
	body, _ := st.Get(context.Background(), manifestKey("t", 0), 0, -1)
	if err := json.Unmarshal(body, h); err != nil || h.Version != abortedManifestVersion || len(h.Chunks) != 2 {
		t.Fatalf("head: version %d, %d chunks (%v)", h.Version, len(h.Chunks), err)
	}
	for i, want := range []int{abortedChunkVersion, chunkVersion} {
		var c manifestChunk
		body, _ := st.Get(context.Background(), h.Chunks[i].Key, 0, -1)
		if err := json.Unmarshal(body, &c); err != nil || c.Version != want {
			t.Fatalf("chunk %d: version %d, want %d (%v)", i, c.Version, want, err)
		}
	}
	ms, err := loadManifests(context.Background(), st)
	if err != nil || len(ms) != 1 {
		t.Fatalf("load: %v", err)
	}
	if !reflect.DeepEqual(ms[0].Segments, m.Segments) {
		t.Fatalf("loaded segments\n got %+v\nwant %+v", ms[0].Segments, m.Segments)
	}
	// Once the segments that list some expire, the head is version 2 again.
	m.Segments = append([]SegmentMeta(nil), m.Segments[2:]...)
	m.LogStart = 20
	if dropped, err := saveManifest(context.Background(), st, m); err != nil || m.Version != manifestVersion || len(dropped) != 1 {
		t.Fatalf("save after expiry: version %d, %d chunks dropped, %v", m.Version, len(dropped), err)
	}
}

// TestManifestAbortedSealsEarly: a head tail listing sealAbortedEntries
// aborted transactions is sealed whole, so the head stays small; the
// manifest reads back the same.
func TestManifestAbortedSealsEarly(t *testing.T) {
	old := sealAbortedEntries
	sealAbortedEntries = 3
	t.Cleanup(func() { sealAbortedEntries = old })
	st := newMemStore()
	m := &Manifest{Topic: "t", Partition: 0, Partitions: 1}
	for i := int64(0); i < 4; i++ {
		s := SegmentMeta{Key: segmentKey("t", 0, i*10, i*10+10, ""), Start: i * 10, End: i*10 + 10}
		if i != 1 {
			s.Aborted = AbortedList{{ProducerID: 1, FirstOffset: i * 10, LastOffset: i*10 + 1, StableAt: i*10 + 2}}
		}
		m.Segments = append(m.Segments, s)
		m.End = s.End
		if _, err := saveManifest(context.Background(), st, m); err != nil {
			t.Fatal(err)
		}
	}
	// Sealed after the fourth segment (the third entry): [0, 40) in one chunk.
	h := &manifestHead{}
	body, _ := st.Get(context.Background(), manifestKey("t", 0), 0, -1)
	if err := json.Unmarshal(body, h); err != nil || len(h.Chunks) != 1 || h.Chunks[0].Start != 0 || h.Chunks[0].End != 40 || len(h.Segments) != 0 {
		t.Fatalf("head: %v, chunks %+v, %d segments in the tail", err, h.Chunks, len(h.Segments))
	}
	ms, err := loadManifests(context.Background(), st)
	if err != nil || len(ms) != 1 || !reflect.DeepEqual(ms[0].Segments, m.Segments) {
		t.Fatalf("load: %v", err)
	}
}
