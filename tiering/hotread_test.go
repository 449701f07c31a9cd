package tiering

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/syncbuf"
	plog "github.com/zombi-dev/zombi/log"
)

// queueJob hands a partition to the workers as the scheduler does.
func queueJob(t *testing.T, tr *Tier, ps *partState) {
	t.Helper()
	if !eventually(10*time.Second, func() bool { return ps.queued.CompareAndSwap(false, true) }) {
		t.Fatal("partition job still queued")
	}
	tr.jobs <- ps
}

// Log lines of the worker's two verdicts on a failed job.
const (
	outageLog  = "cold tier unreachable"
	hotReadLog = "flush: reading the hot log"
)

// waitVerdict waits until the worker has logged one of its verdicts on a
// failed job.
func waitVerdict(t *testing.T, buf *syncbuf.Buffer) string {
	t.Helper()
	var s string
	if !eventually(10*time.Second, func() bool {
		s = buf.String()
		return strings.Contains(s, outageLog) || strings.Contains(s, hotReadLog)
	}) {
		t.Fatalf("failed job not logged:\n%s", s)
	}
	return s
}

func (o *outage) isDown() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.down
}

// startDebug starts a tier on st whose log (at debug level) goes to buf, on
// a log with topic ev (1 partition); only queueJob makes it flush.
func startDebug(t *testing.T, st ObjectStore, buf *syncbuf.Buffer) (*Tier, *plog.Log) {
	t.Helper()
	l := openLog(t, t.TempDir())
	t.Cleanup(func() { l.Close() })
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.FlushInterval, cfg.FlushBatchSize = time.Hour, 1<<30
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr, err := start(context.Background(), l, cfg, st, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, l
}

// TestHotReadFailureIsNotAnOutage: a flush whose read of the hot log fails
// (here the log was closed under it, as at shutdown) does not put the tier
// in an S3 outage: no outage warning, no backoff holding up the other
// partitions' flushes. A failing S3 in the same place does.
func TestHotReadFailureIsNotAnOutage(t *testing.T) {
	t.Run("hot read fails", func(t *testing.T) {
		var buf syncbuf.Buffer
		tr, l := startDebug(t, newMemStore(), &buf)
		appendN(t, l, "ev", 0, 0, 50, 10, 1)
		l.Close()
		queueJob(t, tr, tr.lookup("ev", 0))
		logs := waitVerdict(t, &buf)
		if tr.out.isDown() || tr.out.blocked(time.Now()) || strings.Contains(logs, outageLog) {
			t.Fatalf("a hot-log read failure was taken for an S3 outage:\n%s", logs)
		}
		if !strings.Contains(logs, hotReadLog) || !strings.Contains(logs, plog.ErrClosed.Error()) {
			t.Fatalf("not the closed log's error:\n%s", logs)
		}
	})

	t.Run("S3 fails", func(t *testing.T) {
		var buf syncbuf.Buffer
		st := newMemStore()
		tr, l := startDebug(t, st, &buf)
		appendN(t, l, "ev", 0, 0, 50, 10, 1)
		st.down.Store(true)
		queueJob(t, tr, tr.lookup("ev", 0))
		if logs := waitVerdict(t, &buf); !strings.Contains(logs, outageLog) || !tr.out.isDown() {
			t.Fatalf("an S3 failure was not taken for an outage:\n%s", logs)
		}
	})

	// The flush finds the hot log starting above the cold end (DeleteRecords)
	// and must save a manifest moving the cold start: an S3 PUT inside the
	// hot read, whose failure is an outage like any other.
	t.Run("S3 fails moving the cold start", func(t *testing.T) {
		var buf syncbuf.Buffer
		st := newMemStore()
		tr, l := startDebug(t, st, &buf)
		ps := tr.lookup("ev", 0)
		appendN(t, l, "ev", 0, 0, 100, 10, 1)
		queueJob(t, tr, ps)
		waitFlushed(t, tr, "ev", 0, 100)
		appendN(t, l, "ev", 0, 100, 50, 10, 1)
		if _, err := l.TrimBefore(context.Background(), "ev", 0, 140); err != nil {
			t.Fatal(err)
		}
		st.down.Store(true)
		queueJob(t, tr, ps)
		if logs := waitVerdict(t, &buf); !strings.Contains(logs, outageLog) || !tr.out.isDown() {
			t.Fatalf("a failed manifest PUT was not taken for an outage:\n%s", logs)
		}
		st.down.Store(false)
		queueJob(t, tr, ps)
		waitFlushed(t, tr, "ev", 0, 150)
		if m := ps.man.Load(); m.LogStart != 140 {
			t.Fatalf("cold start %d, want 140", m.LogStart)
		}
		readFrom(t, l, "ev", 0, 140, 150)
		waitLogged(t, &buf, "cold tier reachable again")
	})
}

func waitLogged(t *testing.T, buf *syncbuf.Buffer, want string) {
	t.Helper()
	if !eventually(10*time.Second, func() bool { return strings.Contains(buf.String(), want) }) {
		t.Fatalf("no %q in the log:\n%s", want, buf.String())
	}
}
