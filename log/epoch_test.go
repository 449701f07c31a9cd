package log

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
)

func entries(pairs ...int64) []epochEntry {
	var out []epochEntry
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, epochEntry{int32(pairs[i]), pairs[i+1]})
	}
	return out
}

// EndOffsetForEpoch follows Kafka's LeaderEpochFileCache.endOffsetFor.
func TestEndOffsetForEpochKafkaRules(t *testing.T) {
	cache := entries(1, 0, 2, 10, 4, 25)
	for _, c := range []struct {
		name      string
		es        []epochEntry
		requested int32
		epoch     int32
		end       int64
	}{
		{"latest epoch ends at the log end", cache, 4, 4, 30},
		{"missing epoch: floor epoch, start of the next", cache, 3, 2, 25},
		{"known older epoch: start of the next", cache, 2, 2, 25},
		{"first epoch", cache, 1, 1, 10},
		{"below every epoch: requested, first start", cache, 0, 0, 0},
		{"above every epoch", cache, 5, -1, -1},
		{"undefined epoch", cache, -1, -1, -1},
		{"empty cache is epoch 0", nil, 0, 0, 30},
		{"empty cache, later epoch", nil, 1, -1, -1},
		{"empty cache, undefined epoch", nil, -1, -1, -1},
	} {
		e, off := endOffsetFor(c.es, c.requested, 30)
		if e != c.epoch || off != c.end {
			t.Errorf("%s: endOffsetFor(%v, %d) = (%d, %d), want (%d, %d)", c.name, c.es, c.requested, e, off, c.epoch, c.end)
		}
	}
}

func TestEpochCacheArithmetic(t *testing.T) {
	for _, c := range []struct {
		name string
		got  []epochEntry
		want []epochEntry
	}{
		{"assign a later epoch", assignEpoch(entries(1, 0, 2, 10), 3, 15, 0), entries(1, 0, 2, 10, 3, 15)},
		{"an epoch that wrote nothing is replaced", assignEpoch(entries(1, 0, 2, 10), 3, 10, 0), entries(1, 0, 3, 10)},
		{"empty cache over data gets epoch 0", assignEpoch(nil, 2, 5, 0), entries(0, 0, 2, 5)},
		{"empty cache over nothing", assignEpoch(nil, 2, 5, 5), entries(2, 5)},
		{"trim between entries", truncateEpochsFromStart(cache3(), 12), entries(2, 12, 4, 25)},
		{"trim at an entry", truncateEpochsFromStart(cache3(), 10), entries(2, 10, 4, 25)},
		{"trim at the start", truncateEpochsFromStart(cache3(), 0), cache3()},
		{"trim past every entry", truncateEpochsFromStart(cache3(), 30), entries(4, 30)},
		{"truncate at an entry", truncateEpochsFromEnd(cache3(), 25), entries(1, 0, 2, 10)},
		{"truncate after the last entry", truncateEpochsFromEnd(cache3(), 26), cache3()},
		{"truncate everything", truncateEpochsFromEnd(cache3(), 0), []epochEntry{}},
	} {
		if len(c.got) != len(c.want) || (len(c.got) > 0 && !reflect.DeepEqual(c.got, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

func cache3() []epochEntry { return entries(1, 0, 2, 10, 4, 25) }

func storedEpoch(t *testing.T, l *Log, topic string, part int32, offset int64) int32 {
	t.Helper()
	rr, err := l.ReadReplica(topic, part, offset, 1)
	if err != nil || len(rr.Batches) == 0 {
		t.Fatalf("read %d: %+v %v", offset, rr, err)
	}
	h, err := batch.Validate(rr.Batches[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	return h.LeaderEpoch
}

func wantEpochs(t *testing.T, l *Log, topic string, want ...int64) {
	t.Helper()
	got, err := l.LeaderEpochs(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(pairs(want...)) {
		t.Fatalf("epoch cache = %v, want %v", got, pairs(want...))
	}
}

func pairs(v ...int64) [][2]int64 {
	var out [][2]int64
	for i := 0; i < len(v); i += 2 {
		out = append(out, [2]int64{v[i], v[i+1]})
	}
	return out
}

// A single node's partitions keep epoch 0 and an empty cache; BecomeLeader
// stamps the new epoch, records where it starts (after the implicit epoch
// 0 of the data already there), fences older epochs, and all of it survives
// a restart; trims prune the cache.
func TestBecomeLeaderStampsAndPersists(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		appendOne(t, l, "t", 0, oneRecord(int64(1000+i), "", "a"))
	}
	if e, _ := l.LeaderEpochOf("t", 0); e != 0 {
		t.Fatalf("single-node epoch = %d", e)
	}
	if e, off, _ := l.EndOffsetForEpoch("t", 0, 0); e != 0 || off != 3 {
		t.Fatalf("single node: epoch 0 ends at (%d, %d), want (0, 3)", e, off)
	}
	wantEpochs(t, l, "t")
	if err := l.BecomeLeader("t", 0, 0); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, "t") // epoch 0 again: nothing to record
	if err := l.BecomeLeader("t", 0, 2); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, "t", 0, 0, 2, 3)
	appendOne(t, l, "t", 0, oneRecord(2000, "", "b")) // 3
	if e := storedEpoch(t, l, "t", 0, 3); e != 2 {
		t.Fatalf("append after BecomeLeader(2) stamped %d", e)
	}
	if e := storedEpoch(t, l, "t", 0, 2); e != 0 {
		t.Fatalf("earlier batch changed to epoch %d", e)
	}
	if err := l.BecomeLeader("t", 0, 1); !errors.Is(err, ErrFencedEpoch) {
		t.Fatalf("BecomeLeader(1) after 2: %v, want ErrFencedEpoch", err)
	}
	if err := l.BecomeLeader("t", 0, 2); err != nil {
		t.Fatalf("BecomeLeader(2) again: %v", err)
	}
	if e, off, _ := l.EndOffsetForEpoch("t", 0, 0); e != 0 || off != 3 {
		t.Fatalf("epoch 0 ends at (%d, %d), want (0, 3)", e, off)
	}
	if e, off, _ := l.EndOffsetForEpoch("t", 0, 1); e != 0 || off != 3 {
		t.Fatalf("epoch 1 ends at (%d, %d), want (0, 3)", e, off)
	}
	if e, off, _ := l.EndOffsetForEpoch("t", 0, 2); e != 2 || off != 4 {
		t.Fatalf("epoch 2 ends at (%d, %d), want (2, 4)", e, off)
	}
	if e, off, _ := l.EndOffsetForEpoch("t", 0, 3); e != -1 || off != -1 {
		t.Fatalf("epoch 3 ends at (%d, %d), want (-1, -1)", e, off)
	}
	l.Close()

	l = openTest(t, dir)
	wantEpochs(t, l, "t", 0, 0, 2, 3)
	if e, _ := l.LeaderEpochOf("t", 0); e != 2 {
		t.Fatalf("epoch after restart = %d, want 2", e)
	}
	appendOne(t, l, "t", 0, oneRecord(3000, "", "c")) // 4
	if e := storedEpoch(t, l, "t", 0, 4); e != 2 {
		t.Fatalf("append after restart stamped %d", e)
	}
	if _, err := l.TrimBefore(context.Background(), "t", 0, 2); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, "t", 0, 2, 2, 3)
	if _, err := l.TrimBefore(context.Background(), "t", 0, 4); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, "t", 2, 4)
	l.Close()
	l = openTest(t, dir)
	wantEpochs(t, l, "t", 2, 4)
	if err := l.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, "t")
	if err := l.BecomeLeader("nope", 0, 1); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("BecomeLeader on an unknown topic: %v", err)
	}
}

// A node that became leader and wrote nothing in its epoch, then follows:
// a truncation at (or past) its log end removes no batch but drops that
// epoch's entry (Kafka's truncateTo), so the new leader's batches of an
// older epoch are taken.
func TestTruncateAtLogEndDropsEmptyEpoch(t *testing.T) {
	dir := t.TempDir()
	l, leader := openTest(t, dir), openTest(t, "")
	newTopic(t, "e", l, leader)
	ctx := context.Background()
	if err := leader.BecomeLeader("e", 0, 1); err != nil {
		t.Fatal(err)
	}
	appendOne(t, leader, "e", 0, oneRecord(1000, "", "a")) // 0, epoch 1
	copyReplica(t, leader, l, "e", 1<<20)
	if err := l.BecomeLeader("e", 0, 3); err != nil { // elected, writes nothing
		t.Fatal(err)
	}
	wantEpochs(t, l, "e", 1, 0, 3, 1)
	if err := leader.BecomeLeader("e", 0, 2); err != nil { // a leader the stale node missed
		t.Fatal(err)
	}
	appendOne(t, leader, "e", 0, oneRecord(2000, "", "b")) // 1, epoch 2
	rr, _ := leader.ReadReplica("e", 0, 1, 1<<20)
	if _, err := l.AppendReplica(ctx, "e", 0, [][]byte{rr.Batches[0].Raw}); !errors.Is(err, ErrFencedEpoch) {
		t.Fatalf("epoch 2 batch over an epoch 3 entry: %v, want ErrFencedEpoch", err)
	}
	if leo, err := l.TruncateTo(ctx, "e", 0, 5); err != nil || leo != 1 {
		t.Fatalf("truncate past the log end: %d %v", leo, err)
	}
	wantEpochs(t, l, "e", 1, 0)
	if e, _ := l.LeaderEpochOf("e", 0); e != 3 {
		t.Fatalf("current epoch %d, want 3 (a truncation keeps it)", e)
	}
	copyReplica(t, leader, l, "e", 1<<20)
	wantEpochs(t, l, "e", 1, 0, 2, 1)
	l.Close()
	l = openTest(t, dir)
	wantEpochs(t, l, "e", 1, 0, 2, 1)
	sameSnap(t, "follower", snap(t, l, "e"), snap(t, leader, "e"))
}
