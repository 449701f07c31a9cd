package tiering

import (
	"context"
	"errors"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// S3 down when a node that knows its cold tier restarts: the hot tier is
// served at once, cold reads fail as retriable (not out of range), and once
// S3 is back the tier starts and the cold data reads again.
func TestStartWhileS3DownServesHotTier(t *testing.T) {
	st := newMemStore()
	dir := t.TempDir()
	l := openLog(t, dir)
	tr := startMem(t, l, st, fastConfig())
	if _, _, err := l.EnsureTopic("ev", 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "ev", 0, 0, 100, 10, 1)
	waitFlushed(t, tr, "ev", 0, 100)
	waitHotStart(t, l, tr, "ev", 0, 100)
	tr.Close()
	l.Close()

	l = openLog(t, dir)
	defer l.Close()
	st.down.Store(true)
	open := func(context.Context) (ObjectStore, error) { return st, nil }
	c, err := startOrRetry(context.Background(), l, fastConfig(), testLogger(t), open)
	if err != nil {
		t.Fatalf("start with S3 down on a known data dir: %v", err)
	}
	defer c.Close()
	appendN(t, l, "ev", 0, 100, 10, 10, 200) // writes go on
	if rr, err := l.Read("ev", 0, 100, 1<<20); err != nil || len(rr.Batches) == 0 {
		t.Fatalf("hot read while S3 is down: %v", err)
	}
	if _, err := l.Read("ev", 0, 0, 1<<20); !errors.Is(err, plog.ErrColdUnavailable) {
		t.Fatalf("cold read while S3 is down: %v (want a retriable cold-tier error)", err)
	}
	st.down.Store(false)
	if !eventually(10*time.Second, func() bool { _, err := l.Read("ev", 0, 0, 1<<20); return err == nil }) {
		t.Fatal("cold tier did not start after S3 came back")
	}
	readAll(t, l, "ev", 0, 110)
}

// A new data directory must load the cold tier before serving: with S3 down
// start-up fails.
func TestStartWhileS3DownOnNewDiskFails(t *testing.T) {
	st := newMemStore()
	st.down.Store(true)
	l := openLog(t, t.TempDir())
	defer l.Close()
	open := func(context.Context) (ObjectStore, error) { return st, nil }
	if c, err := startOrRetry(context.Background(), l, fastConfig(), testLogger(t), open); err == nil {
		c.Close()
		t.Fatal("a new data directory started without its cold tier")
	}
}
