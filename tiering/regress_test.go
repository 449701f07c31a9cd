package tiering

// Regression tests for defects found in review: topic deletion and
// re-creation, interrupted rebuilds, the append gate, S3 that never answers,
// reads racing the flusher at the hot/cold boundary.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

func TestRecreatedTopicNotServedFromStaleCache(t *testing.T) {
	cfg := fastConfig()
	cfg.FlushInterval = time.Hour
	cfg.FlushBatchSize = 100
	st, l, tr := startEv(t, cfg)
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	waitHotStart(t, l, tr, "ev", 0, 100)
	readAll(t, l, "ev", 0, 100) // populates caches
	t.Log(st.keys("segments/"))
	if err := l.DeleteTopic("ev"); err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool { return len(st.keys("segments/ev/"))+len(st.keys("manifests/ev/")) == 0 }) {
		t.Fatal("not deleted")
	}
	time.Sleep(1500 * time.Millisecond) // let refreshTopics re-track
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendPad(t, l, "ev", 0, 0, 100, 10, 1, "NEW")
	if !eventually(10*time.Second, func() bool { ps := tr.lookup("ev", 0); return ps != nil && ps.trimmedTo.Load() >= 100 }) {
		t.Fatal("recreated topic not flushed")
	}
	t.Log(st.keys("segments/"))
	readPad(t, l, "ev", 0, 100, "NEW")
}

// A deleted topic's unflushed bytes leave the append gate's total.
func TestDeletedTopicLeavesAppendGate(t *testing.T) {
	st := newMemStore()
	l := openLog(t, t.TempDir())
	defer l.Close()
	cfg := fastConfig()
	cfg.HotMaxBytes = 20 << 10
	tr := startMem(t, l, st, cfg)
	if _, _, err := l.EnsureTopic("big", 1); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	appendPad(t, l, "big", 0, 0, 300, 10, 1, strings.Repeat("x", 100))
	time.Sleep(500 * time.Millisecond)
	t.Logf("pending while down: %d", tr.PendingBytes())
	if err := l.DeleteTopic("big"); err != nil {
		t.Fatal(err)
	}
	st.down.Store(false)
	time.Sleep(3 * time.Second)
	t.Logf("pending after delete + S3 back: %d", tr.PendingBytes())
	if err := tr.gate("other", 0); err != nil {
		t.Fatalf("writes to any topic still refused: %v", err)
	}
}

// failingStore fails Puts of one key a number of times.
type failingStore struct {
	*memStore
	key   string
	fails atomic.Int32
}

func (f *failingStore) Put(ctx context.Context, key string, body []byte) error {
	if key == f.key && f.fails.Add(-1) >= 0 {
		return errDown
	}
	return f.memStore.Put(ctx, key, body)
}

// An empty-disk rebuild cut short by an S3 error must not delete the cold
// data at the next start (the rebuilt topic keeps the manifests' id).
func TestInterruptedRebuildKeepsColdData(t *testing.T) {
	st := newMemStore()
	l := openLog(t, t.TempDir())
	tr := startMem(t, l, st, fastConfig())
	if _, _, err := l.EnsureTopic("ev", 3); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		appendN(t, l, "ev", p, 0, 100, 10, 1)
		waitFlushed(t, tr, "ev", p, 100)
	}
	tr.Close()
	l.Close()

	dir := t.TempDir()
	l2 := openLog(t, dir)
	fs := &failingStore{memStore: st, key: "manifests/ev/0.json"}
	fs.fails.Store(1)
	if tr, err := start(context.Background(), l2, fastConfig(), fs, testLogger(t)); err == nil {
		tr.Close()
	} else {
		t.Logf("first start: %v", err)
	}
	// operator / supervisor restarts
	tr2 := startMem(t, l2, st, fastConfig())
	time.Sleep(2 * time.Second)
	t.Logf("manifests: %v", st.keys("manifests/"))
	t.Logf("segments: %d", len(st.keys("segments/")))
	for p := int32(0); p < 3; p++ {
		if _, _, ok := tr2.Bounds("ev", p); !ok {
			t.Errorf("partition %d: cold data lost", p)
		}
	}
	l2.Close()
}

// A topic deleted shortly before a shutdown must not come back from its cold
// data at the next start.
func TestDeletedTopicNotRebuiltAfterRestart(t *testing.T) {
	st := newMemStore()
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	tr := startMem(t, l, st, fastConfig())
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	if err := l.DeleteTopic("ev"); err != nil {
		t.Fatal(err)
	}
	tr.Close() // shutdown right after the delete
	startMem(t, l, st, fastConfig())
	if info, ok := l.Topic("ev"); ok {
		t.Errorf("deleted topic came back: %+v", info)
		readAll(t, l, "ev", 0, 100)
	}
}

func TestSilentS3EndpointFailsStartup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c // hold open, never answer
		}
	}()
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	done := make(chan error, 1)
	go func() {
		_, err := OpenS3(context.Background(), Config{Bucket: "b", Endpoint: "http://" + ln.Addr().String()})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("OpenS3 succeeded against an endpoint that never answers")
		}
	case <-time.After(20 * time.Second):
		t.Errorf("OpenS3 still blocked after 20s against a silent endpoint")
	}
}

// Reads racing the flusher across the hot/cold boundary never skip or
// repeat an offset.
func TestReadsAcrossBoundaryWhileFlushing(t *testing.T) {
	st := newMemStore()
	l := openLog(t, t.TempDir())
	defer l.Close()
	cfg := fastConfig()
	cfg.FlushMaxSegment = 37
	cfg.FlushBatchSize = 10
	cfg.ReadAheadBytes = 2048
	startMem(t, l, st, cfg)
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	total := 6000
	appended := make(chan error, 1)
	go func() {
		// Not appendN: t.Fatal must not run outside the test's goroutine.
		for i := 0; i < total; i += 3 {
			b := batch.NewBuilder()
			for k := i; k < i+3; k++ {
				b.Add(1+int64(k), []byte("k"+strconv.Itoa(k)), []byte(fmt.Sprintf("p0-%d", k)), nil)
			}
			res := l.Append(context.Background(), []plog.AppendRequest{{Topic: "ev", Partition: 0, Batch: append([]byte(nil), b.Bytes()...)}})
			if res[0].Err != nil {
				appended <- fmt.Errorf("append at %d: %w", i, res[0].Err)
				return
			}
		}
		appended <- nil
	}()
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; round < 5; round++ {
		next := int64(0)
		for next < int64(total) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: read only to %d of %d in 30s", round, next, total)
			}
			rr, err := l.Read("ev", 0, next, 700)
			if err != nil {
				t.Fatalf("round %d: read at %d: %v", round, next, err)
			}
			if len(rr.Batches) == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			next = checkRecords(t, "ev", 0, next, rr.Batches, "")
		}
	}
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
}

// A topic deleted and recreated between two topic refreshes keeps its new
// data (the old incarnation's flusher state must not trim it).
func TestRecreateWithinRefreshKeepsNewData(t *testing.T) {
	cfg := fastConfig()
	cfg.FlushInterval = time.Hour
	cfg.FlushMaxSegment = 100000
	_, l, tr := startEv(t, cfg)
	appendN(t, l, "ev", 0, 0, 1000, 100, 1)
	waitFlushed(t, tr, "ev", 0, 1000)
	time.Sleep(1100 * time.Millisecond) // right after a refresh is best; just try
	if err := l.DeleteTopic("ev"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendPad(t, l, "ev", 0, 0, 2100, 300, 1, "NEW")
	time.Sleep(4 * time.Second)
	readPad(t, l, "ev", 0, 2100, "NEW")
}
