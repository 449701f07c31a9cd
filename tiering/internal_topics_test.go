package tiering

import (
	"context"
	"io"
	"log/slog"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// TestInternalTopicsNeverWaitForTheTier: in cluster mode the coordinators'
// partitions are real log topics, never tiered; what they hold is not
// counted as waiting for the tier, so it can neither fill the hot-tier
// gate nor show as pending.
func TestInternalTopicsNeverWaitForTheTier(t *testing.T) {
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetClusterMode()
	const topic = "__consumer_offsets"
	if err := l.MakeInternalReal(topic); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader(topic, 0, 0); err != nil {
		t.Fatal(err)
	}
	b := batch.NewBuilder()
	for range 50 {
		b.Add(1, []byte("key"), make([]byte, 100), nil)
	}
	if _, _, err := l.AppendInternal(context.Background(), topic, 0, append([]byte(nil), b.Bytes()...)); err != nil {
		t.Fatal(err)
	}
	if n, err := l.AppendedBytes(topic, 0); err != nil || n == 0 {
		t.Fatalf("the internal partition took %d bytes (%v): the test needs some", n, err)
	}
	r := &retrying{l: l, cfg: Config{HotMaxBytes: 1}}
	if n := r.appended(); n != 0 {
		t.Fatalf("pending bytes %d, want 0: internal partitions never wait for the tier", n)
	}
	r.measure()
	if r.full.Load() {
		t.Fatal("the hot-tier gate closed on an internal partition's bytes")
	}
}
