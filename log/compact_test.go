package log

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
)

// internalLog opens a cluster-mode log whose __consumer_offsets-0 this node
// leads, with n batches of 2 records (batch i holds offsets 2i, 2i+1).
func internalLog(t *testing.T, dir string, n int) *Log {
	t.Helper()
	l := openTest(t, dir)
	l.SetClusterMode()
	if err := l.MakeInternalReal(offsetsTopic); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader(offsetsTopic, 0, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, _, err := l.AppendInternal(context.Background(), offsetsTopic, 0, internalBatch(2)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func basesOf(bs []Batch) []int64 {
	var out []int64
	for _, b := range bs {
		out = append(out, b.BaseOffset)
	}
	return out
}

func sameBases(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: bases %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: bases %v, want %v", what, got, want)
		}
	}
}

func TestDeleteBatchesLeavesGaps(t *testing.T) {
	dir := t.TempDir()
	l := internalLog(t, dir, 10)
	if err := l.DeleteBatches(offsetsTopic, 0, []int64{6, 4, 8, 4}); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log, when string) {
		t.Helper()
		rr, err := l.Read(offsetsTopic, 0, 0, 1<<20)
		if err != nil {
			t.Fatalf("%s: read: %v", when, err)
		}
		sameBases(t, when+": read from 0", basesOf(rr.Batches), []int64{0, 2, 10, 12, 14, 16, 18})
		for _, off := range []int64{4, 5, 7, 9} { // in the gap
			for name, read := range map[string]func(string, int32, int64, int) (ReadResult, error){"Read": l.Read, "ReadReplica": l.ReadReplica} {
				rr, err := read(offsetsTopic, 0, off, 1)
				if err != nil {
					t.Fatalf("%s: %s at %d in the gap: %v", when, name, off, err)
				}
				sameBases(t, when+": "+name+" in the gap", basesOf(rr.Batches), []int64{10})
			}
		}
		start, hwm, err := l.Offsets(offsetsTopic, 0)
		if err != nil || start != 0 || hwm != 20 {
			t.Fatalf("%s: offsets [%d, %d) %v, want [0, 20)", when, start, hwm, err)
		}
		if leo, err := l.LogEndOffset(offsetsTopic, 0); err != nil || leo != 20 {
			t.Fatalf("%s: log end %d %v", when, leo, err)
		}
		if e, end, err := l.EndOffsetForEpoch(offsetsTopic, 0, 1); err != nil || e != 1 || end != 20 {
			t.Fatalf("%s: end offset for epoch 1: %d %d %v", when, e, end, err)
		}
	}
	check(l, "open")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	l.SetClusterMode()
	if err := l.MakeInternalReal(offsetsTopic); err != nil {
		t.Fatal(err)
	}
	check(l, "reopened")
	if err := l.BecomeLeader(offsetsTopic, 0, 2); err != nil {
		t.Fatal(err)
	}
	if base, _, err := l.AppendInternal(context.Background(), offsetsTopic, 0, internalBatch(1)); err != nil || base != 20 {
		t.Fatalf("append after the gap: base %d %v, want 20", base, err)
	}
}

func TestDeleteBatchesRefusals(t *testing.T) {
	l := internalLog(t, "", 5)
	if _, err := l.CreateTopic("orders", 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		topic string
		bases []int64
		want  error
	}{
		{"user topic", "orders", []int64{0}, ErrUnknownTopic},
		{"no such partition", offsetsTopic, []int64{0}, nil}, // partition 60: below
		{"the last batch", offsetsTopic, []int64{0, 8}, ErrInvalidOffset},
		{"not a batch base", offsetsTopic, []int64{0, 3}, ErrInvalidOffset},
		{"past the log end", offsetsTopic, []int64{0, 40}, ErrInvalidOffset},
		{"negative", offsetsTopic, []int64{-2, 0}, ErrInvalidOffset},
	} {
		part := int32(0)
		want := c.want
		if c.name == "no such partition" {
			part, want = 60, ErrUnknownTopic
		}
		if err := l.DeleteBatches(c.topic, part, c.bases); !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", c.name, err, want)
		}
	}
	// Nothing was removed by a refused call.
	rr, err := l.Read(offsetsTopic, 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sameBases(t, "after refusals", basesOf(rr.Batches), []int64{0, 2, 4, 6, 8})
	// Below the high watermark only.
	if err := l.SetReplicated(offsetsTopic, 0, true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // batches at 10 and 12, above the high watermark (10)
		if _, _, err := l.AppendInternal(context.Background(), offsetsTopic, 0, internalBatch(2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteBatches(offsetsTopic, 0, []int64{10}); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("a batch at the high watermark: %v", err)
	}
}

// A follower fetching across the leader's gaps stores the same batches, also
// when its log end falls in a gap.
func TestFollowerFetchesAcrossGaps(t *testing.T) {
	leader := internalLog(t, "", 10)
	follower := internalLog(t, "", 0)
	if err := follower.BecomeFollower(offsetsTopic, 0); err != nil {
		t.Fatal(err)
	}
	// The follower has the first three batches.
	rr, err := leader.ReadReplica(offsetsTopic, 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var first [][]byte
	for _, b := range rr.Batches[:3] {
		first = append(first, b.Raw)
	}
	if _, err := follower.AppendReplica(context.Background(), offsetsTopic, 0, first); err != nil {
		t.Fatal(err)
	}
	// The leader compacts around the follower's log end (6).
	if err := leader.DeleteBatches(offsetsTopic, 0, []int64{2, 6, 8, 14}); err != nil {
		t.Fatal(err)
	}
	copyReplica(t, leader, follower, offsetsTopic, 30)
	want := rawLog(t, leader, offsetsTopic)
	got := rawLog(t, follower, offsetsTopic)
	// The follower keeps the batch at 2 that it had before the leader
	// deleted it: its own cleaner removes it.
	if len(got) != len(want)+1 || !bytes.Equal(got[1], first[1]) {
		t.Fatalf("follower has %d batches, leader %d", len(got), len(want))
	}
	got = append(got[:1], got[2:]...)
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	if leo, _ := follower.LogEndOffset(offsetsTopic, 0); leo != 20 {
		t.Fatalf("follower log end %d, want 20", leo)
	}
	// A user topic still refuses a gap.
	if _, err := follower.CreateTopic("orders", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := follower.BecomeFollower("orders", 0); err != nil {
		t.Fatal(err)
	}
	gap := append([]byte(nil), internalBatch(1)...)
	if _, err := follower.AppendReplica(context.Background(), "orders", 0, [][]byte{stamped(t, gap, 5, 1)}); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("gap in a user topic: %v", err)
	}
}

func TestTruncateAcrossGap(t *testing.T) {
	l := internalLog(t, "", 10)
	if err := l.DeleteBatches(offsetsTopic, 0, []int64{6, 8, 10, 12}); err != nil {
		t.Fatal(err)
	}
	// Offset 9 is in the gap [6, 14): the log ends there.
	if leo, err := l.TruncateTo(context.Background(), offsetsTopic, 0, 9); err != nil || leo != 9 {
		t.Fatalf("truncate to 9: %d %v", leo, err)
	}
	rr, err := l.ReadReplica(offsetsTopic, 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sameBases(t, "after truncation", basesOf(rr.Batches), []int64{0, 2, 4})
	if base, _, err := l.AppendInternal(context.Background(), offsetsTopic, 0, internalBatch(2)); err != nil || base != 9 {
		t.Fatalf("append after truncation: %d %v, want 9", base, err)
	}
	// Into a batch after a gap: that batch goes whole.
	if err := l.DeleteBatches(offsetsTopic, 0, []int64{4}); err != nil {
		t.Fatal(err)
	}
	if leo, err := l.TruncateTo(context.Background(), offsetsTopic, 0, 10); err != nil || leo != 9 {
		t.Fatalf("truncate to 10: %d %v", leo, err)
	}
	rr, err = l.ReadReplica(offsetsTopic, 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sameBases(t, "after the second truncation", basesOf(rr.Batches), []int64{0, 2})
}

// stamped sets a batch's base offset and leader epoch, as a leader's.
func stamped(t *testing.T, b []byte, base int64, epoch int32) []byte {
	t.Helper()
	batch.SetBaseOffset(b, base)
	batch.SetLeaderEpoch(b, epoch)
	return b
}
