package tiering

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/syncbuf"
	plog "github.com/zombi-dev/zombi/log"
)

// Tests against a real S3-protocol server (versitygw over a directory).

func startS3(t *testing.T, l *plog.Log, cfg Config) *Tier {
	t.Helper()
	tr, err := Start(context.Background(), l, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestS3FlushReadRestart: flush to S3 (with a multipart segment), drop the
// hot data, read everything back from S3, then restart on an empty data
// directory and continue the offsets.
func TestS3FlushReadRestart(t *testing.T) {
	v := startVersity(t)
	cfg := v.config("zombi-test") // created by Start
	cfg.FlushMaxSegment = 100000
	cfg.FlushMaxBytes = 20 << 20 // > multipartThreshold: multipart upload
	cfg.ReadAheadBytes = 1 << 20
	cfg.FlushBatchSize = 1 << 30 // only the interval flushes: one segment
	cfg.FlushInterval = 3 * time.Second
	l := openLog(t, t.TempDir())
	tr := startS3(t, l, cfg)
	if _, _, err := l.EnsureTopic("big", 2); err != nil {
		t.Fatal(err)
	}
	// ~18 MiB in partition 0: one multipart segment.
	pad := strings.Repeat("x", 4000)
	appendPad(t, l, "big", 0, 0, 4500, 50, 1, pad)
	appendN(t, l, "big", 1, 0, 700, 7, 1)
	waitFlushed(t, tr, "big", 0, 4500)
	waitFlushed(t, tr, "big", 1, 700)
	waitHotStart(t, l, tr, "big", 0, 4500)
	m := tr.lookup("big", 0).man.Load()
	if len(m.Segments) != 1 || m.Segments[0].Size <= multipartThreshold {
		t.Fatalf("want one multipart-sized segment, got %d (%d bytes)", len(m.Segments), m.Segments[0].Size)
	}
	readPad(t, l, "big", 0, 4500, pad)
	readAll(t, l, "big", 1, 700)
	tr.Close()
	l.Close()

	l2 := openLog(t, t.TempDir())
	defer l2.Close()
	tr2 := startS3(t, l2, v.config("zombi-test"))
	readPad(t, l2, "big", 0, 4500, pad)
	readAll(t, l2, "big", 1, 700)
	appendN(t, l2, "big", 1, 700, 10, 1, 1)
	readAll(t, l2, "big", 1, 710)
	waitFlushed(t, tr2, "big", 1, 710)

	// zombi segments ls's view.
	segs, err := ListSegments(context.Background(), tr2.st, "big")
	if err != nil || len(segs) < 3 || segs[0].Partition != 0 || segs[len(segs)-1].End != 710 {
		t.Fatalf("ListSegments: %v %+v", err, segs)
	}
	if bs, err := ReadSegment(context.Background(), tr2.st, segs[len(segs)-1].Key); err != nil || len(bs) == 0 {
		t.Fatalf("ReadSegment: %v", err)
	}
}

// TestS3DownMidFlush: the S3 server is killed while writes go on; the
// flusher backs off and logs once; when the server is back every offset is
// in S3 exactly once.
func TestS3DownMidFlush(t *testing.T) {
	v := startVersity(t)
	var logBuf syncbuf.Buffer
	l := openLog(t, t.TempDir())
	defer l.Close()
	cfg := v.config("down")
	cfg.FlushBatchSize = 50
	tr, err := Start(context.Background(), l, cfg, slogTo(&logBuf))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, _, err := l.EnsureTopic("ev", 2); err != nil {
		t.Fatal(err)
	}
	n := 0
	write := func(k int) {
		for p := int32(0); p < 2; p++ {
			appendN(t, l, "ev", p, n, k, 5, 1)
		}
		n += k
	}
	stopWriting := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopWriting:
				return
			default:
			}
			write(20)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	v.stop() // mid-flush: uploads are running all the time
	time.Sleep(1500 * time.Millisecond)
	v.start(t)
	time.Sleep(300 * time.Millisecond)
	close(stopWriting)
	wg.Wait()
	for p := int32(0); p < 2; p++ {
		waitFlushed(t, tr, "ev", p, int64(n))
		waitHotStart(t, l, tr, "ev", p, int64(n))
		readAll(t, l, "ev", p, n)
		m := tr.lookup("ev", p).man.Load()
		if err := m.check(); err != nil || m.LogStart != 0 || m.End != int64(n) {
			t.Fatalf("manifest of ev/%d: [%d, %d) %v", p, m.LogStart, m.End, err)
		}
	}
	logs := logBuf.String()
	if c := strings.Count(logs, "cold tier unreachable"); c != 1 {
		t.Fatalf("outage logged %d times:\n%s", c, logs)
	}
	if !strings.Contains(logs, "cold tier reachable again") {
		t.Fatalf("recovery not logged:\n%s", logs)
	}
	// After a restart (orphan clean-up runs first), the bucket holds exactly
	// the segments the manifests list.
	tr.Close()
	tr2 := startS3(t, l, cfg)
	for p := int32(0); p < 2; p++ {
		appendN(t, l, "ev", p, n, 5, 5, 1)
		waitFlushed(t, tr2, "ev", p, int64(n+5))
		m := tr2.lookup("ev", p).man.Load()
		listed := map[string]bool{}
		for _, s := range m.Segments {
			listed[s.Key] = true
		}
		err := tr2.st.List(context.Background(), segmentPrefix("ev", p), "", func(k string, _ int64) bool {
			if !listed[k] {
				t.Errorf("object %s is not in the manifest", k)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, l, "ev", p, n+5)
	}
}

// TestS3CorruptObject: a segment damaged on the S3 server's disk is
// detected by its checksum and never served.
func TestS3CorruptObject(t *testing.T) {
	v := startVersity(t)
	l := openLog(t, t.TempDir())
	defer l.Close()
	tr := startS3(t, l, v.config("corrupt"))
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 300, 10, 1)
	waitFlushed(t, tr, "ev", 0, 300)
	waitHotStart(t, l, tr, "ev", 0, 300)
	seg := tr.lookup("ev", 0).man.Load().Segments[1]
	file := filepath.Join(v.dir, "corrupt", seg.Key)
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(body, []byte("p0-"+strconv.FormatInt(seg.Start+3, 10)))
	if i < 0 {
		t.Fatal("payload not found in the object")
	}
	body[i] = 'P' // same size, one byte changed
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = l.Read("ev", 0, seg.Start+3, 1<<20)
	if !errors.Is(err, plog.ErrColdUnavailable) || !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("read of a corrupt segment: %v", err)
	}
	if _, err := ReadSegment(context.Background(), tr.st, seg.Key); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("ReadSegment of a corrupt segment: %v", err)
	}
	if rr, err := l.Read("ev", 0, 0, 1<<20); err != nil || len(rr.Batches) == 0 {
		t.Fatalf("intact segment: %v", err)
	}
}
