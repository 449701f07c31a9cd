package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/syncbuf"
	"github.com/zombi-dev/zombi/log/batch"
)

const offsetsTopic, txnTopic = OffsetsTopicName, TxnTopicName

// groupOf returns a group id whose internal partition is p.
func groupOf(t testing.TB, p int32, prefix string) string {
	t.Helper()
	for i := 0; i < 100000; i++ {
		g := prefix + strconv.Itoa(i)
		if InternalPartition(g) == p {
			return g
		}
	}
	t.Fatalf("no id of partition %d", p)
	return ""
}

func TestApplyViewWritesChangeAndApplied(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if n, err := l.ViewApplied(offsetsTopic, 3); err != nil || n != 0 {
		t.Fatalf("nothing applied yet: %d %v", n, err)
	}
	g := groupOf(t, 3, "g")
	o := CommittedOffset{Group: g, Topic: "orders", Partition: 1, Offset: 40, LeaderEpoch: 2, CommitTimeMs: 5}
	if err := l.CommitOffsets([]CommittedOffset{{Group: g, Topic: "orders", Partition: 2, Offset: 1}}); err != nil {
		t.Fatal(err)
	}
	ch := ViewChange{
		Offsets: []CommittedOffset{o},
		Deleted: []OffsetKey{{Group: g, Topic: "orders", Partition: 2}},
		Meta:    []MetaKV{{Key: "coord/pend/3/77", Value: []byte(`[]`)}},
	}
	if err := l.ApplyView(offsetsTopic, 3, 12, ch); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log) {
		t.Helper()
		if n, err := l.ViewApplied(offsetsTopic, 3); err != nil || n != 12 {
			t.Fatalf("applied %d %v, want 12", n, err)
		}
		if n, _ := l.ViewApplied(offsetsTopic, 4); n != 0 {
			t.Fatalf("another partition's applied offset moved: %d", n)
		}
		if got, ok, err := l.FetchOffset(g, "orders", 1); err != nil || !ok || got != o {
			t.Fatalf("offset %+v %v %v", got, ok, err)
		}
		if _, ok, _ := l.FetchOffset(g, "orders", 2); ok {
			t.Fatal("deleted offset still there")
		}
		if v, _ := l.Meta("coord/pend/3/77"); string(v) != `[]` {
			t.Fatalf("meta %q", v)
		}
	}
	check(l)
	// Meta deletes, and the same applied offset again is allowed.
	if err := l.ApplyView(offsetsTopic, 3, 12, ViewChange{Meta: []MetaKV{{Key: "coord/pend/3/77"}}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := l.Meta("coord/pend/3/77"); v != nil {
		t.Fatalf("meta not deleted: %q", v)
	}
	if err := l.ApplyView(offsetsTopic, 3, 12, ViewChange{Meta: []MetaKV{{Key: "coord/pend/3/77", Value: []byte(`[]`)}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, dir))
}

// A refused ApplyView writes nothing: neither the change nor the offset.
func TestApplyViewRefusedChangesNothing(t *testing.T) {
	l := openTest(t, "")
	g := groupOf(t, 0, "g")
	if err := l.ApplyView(txnTopic, 0, 10, ViewChange{Meta: []MetaKV{{Key: "txn/" + g, Value: []byte("{}")}}}); err != nil {
		t.Fatal(err)
	}
	put := []CommittedOffset{{Group: g, Topic: "t", Offset: 1}}
	for _, c := range []struct {
		name  string
		topic string
		part  int32
		at    int64
		ch    ViewChange
		want  error
	}{
		{"backwards", txnTopic, 0, 9, ViewChange{Offsets: put}, ErrInvalidOffset},
		{"negative", txnTopic, 0, -1, ViewChange{Offsets: put}, ErrInvalidOffset},
		{"not internal", "orders", 0, 20, ViewChange{Offsets: put}, ErrUnknownTopic},
		{"partition 50", txnTopic, 50, 20, ViewChange{Offsets: put}, ErrUnknownTopic},
		{"bad offset", txnTopic, 0, 20, ViewChange{Offsets: append(put, CommittedOffset{Group: g, Topic: "bad topic"})}, ErrInvalidTopic},
		{"bad delete", txnTopic, 0, 20, ViewChange{Offsets: put, Deleted: []OffsetKey{{Topic: "t"}}}, ErrInvalidGroup},
		{"foreign meta", txnTopic, 0, 20, ViewChange{Offsets: put, Meta: []MetaKV{{Key: "auth/users/x", Value: []byte("x")}}}, nil},
	} {
		err := l.ApplyView(c.topic, c.part, c.at, c.ch)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Fatalf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if n, _ := l.ViewApplied(txnTopic, 0); n != 10 {
		t.Fatalf("applied %d after refusals, want 10", n)
	}
	if _, ok, _ := l.FetchOffset(g, "t", 0); ok {
		t.Fatal("a refused change was written")
	}
	if v, _ := l.Meta("auth/users/x"); v != nil {
		t.Fatal("a refused meta entry was written")
	}
}

// TestApplyViewCrashAtomic kills (SIGKILL) a process applying view changes
// without fsync: after the restart the view holds exactly the change of the
// applied offset it reports, never one without the other.
func TestApplyViewCrashAtomic(t *testing.T) {
	if dir := os.Getenv("ZOMBI_VIEW_CRASH_DIR"); dir != "" {
		applyForever(dir)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplyViewCrashAtomic$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ZOMBI_VIEW_CRASH_DIR="+dir)
	var out syncbuf.Buffer // written by exec's copier goroutine
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "applying") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few hundred changes in flight
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !strings.Contains(out.String(), "applying") {
		t.Fatalf("the child never started applying: %s", out.String())
	}
	l := openTest(t, dir)
	n, err := l.ViewApplied(offsetsTopic, 0)
	if err != nil || n == 0 {
		t.Fatalf("applied %d %v: the child applied nothing durable", n, err)
	}
	g := groupOf(t, 0, "crash")
	o, ok, err := l.FetchOffset(g, "t", 0)
	if err != nil || !ok || o.Offset != n {
		t.Fatalf("applied %d but the view holds %+v (%v %v): not one write", n, o, ok, err)
	}
	v, _ := l.Meta("coord/pend/0/1")
	if string(v) != strconv.FormatInt(n, 10) {
		t.Fatalf("applied %d but the pending key holds %q", n, v)
	}
	t.Logf("applied %d when killed", n)
}

// applyForever is the child of TestApplyViewCrashAtomic: change i puts
// offset i and pending value i, at applied offset i.
func applyForever(dir string) {
	l, err := Open(Options{Dir: dir, SyncWrites: false})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	g := ""
	for i := 0; ; i++ {
		if InternalPartition("crash"+strconv.Itoa(i)) == 0 {
			g = "crash" + strconv.Itoa(i)
			break
		}
	}
	fmt.Println("applying")
	for i := int64(1); ; i++ {
		ch := ViewChange{
			Offsets: []CommittedOffset{{Group: g, Topic: "t", Offset: i}},
			Meta:    []MetaKV{{Key: "coord/pend/0/1", Value: []byte(strconv.FormatInt(i, 10))}},
		}
		if err := l.ApplyView(offsetsTopic, 0, i, ch); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
}

func TestResetView(t *testing.T) {
	l := openTest(t, "")
	g5, g6 := groupOf(t, 5, "g"), groupOf(t, 6, "g")
	tx5, tx6 := groupOf(t, 5, "tx"), groupOf(t, 6, "tx")
	ch := func(p int32) ViewChange {
		g := map[int32]string{5: g5, 6: g6}[p]
		return ViewChange{
			Offsets: []CommittedOffset{{Group: g, Topic: "a", Offset: 1}, {Group: g, Topic: "b", Partition: 3, Offset: 2}},
			Meta:    []MetaKV{{Key: fmt.Sprintf("coord/pend/%d/7", p), Value: []byte("[]")}, {Key: fmt.Sprintf("coord/pend/%d/8", p), Value: []byte("[]")}},
		}
	}
	for _, p := range []int32{5, 6} {
		if err := l.ApplyView(offsetsTopic, p, 100, ch(p)); err != nil {
			t.Fatal(err)
		}
	}
	// coord/pend/50/ must not be taken for coord/pend/5/ (no such partition,
	// but the prefix must end at the slash).
	if err := l.SetMeta("coord/pend/55/1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	txn := ViewChange{Meta: []MetaKV{{Key: "txn/" + tx5, Value: []byte("{}")}, {Key: "txn/" + tx6, Value: []byte("{}")}}}
	if err := l.ApplyView(txnTopic, 5, 30, txn); err != nil {
		t.Fatal(err)
	}

	if err := l.ResetView(offsetsTopic, 5); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.ViewApplied(offsetsTopic, 5); n != 0 {
		t.Fatalf("applied %d after reset", n)
	}
	if offs, _ := l.GroupOffsets(g5); len(offs) != 0 {
		t.Fatalf("offsets of a group of 5 left: %+v", offs)
	}
	if kv, _ := l.MetaList("coord/pend/5/"); len(kv) != 0 {
		t.Fatalf("pending of 5 left: %+v", kv)
	}
	// Partition 6, the other topic's 5 and a longer prefix are untouched.
	if n, _ := l.ViewApplied(offsetsTopic, 6); n != 100 {
		t.Fatalf("applied of 6: %d", n)
	}
	if offs, _ := l.GroupOffsets(g6); len(offs) != 2 {
		t.Fatalf("offsets of 6: %+v", offs)
	}
	if kv, _ := l.MetaList("coord/pend/"); len(kv) != 3 {
		t.Fatalf("pending left: %+v", kv)
	}
	if n, _ := l.ViewApplied(txnTopic, 5); n != 30 {
		t.Fatalf("txn applied of 5: %d", n)
	}
	if kv, _ := l.MetaList("txn/"); len(kv) != 2 {
		t.Fatalf("txn ids: %+v", kv)
	}

	if err := l.ResetView(txnTopic, 5); err != nil {
		t.Fatal(err)
	}
	if kv, _ := l.MetaList("txn/"); len(kv) != 1 || kv[0].Key != "txn/"+tx6 {
		t.Fatalf("txn ids after reset of 5: %+v", kv)
	}
	if n, _ := l.ViewApplied(txnTopic, 5); n != 0 {
		t.Fatalf("txn applied %d after reset", n)
	}
	// The view starts over: applied offsets from 0 are accepted again.
	if err := l.ApplyView(offsetsTopic, 5, 1, ch(5)); err != nil {
		t.Fatal(err)
	}
	if err := l.ResetView("orders", 0); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("reset of a user topic: %v", err)
	}
}

func internalBatch(n int) []byte {
	b := batch.NewBuilder()
	for i := 0; i < n; i++ {
		b.Add(int64(1000+i), []byte{0, 1, byte(i)}, []byte("value"), nil)
	}
	return append([]byte(nil), b.Bytes()...)
}

func TestMakeInternalRealAndAppendInternal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir)
	if err := l.MakeInternalReal(offsetsTopic); err == nil {
		t.Fatal("MakeInternalReal on a node alone: want an error")
	}
	if _, ok := l.Topic(offsetsTopic); ok {
		t.Fatal("a node alone got a real internal topic")
	}
	l.SetClusterMode()
	if err := l.MakeInternalReal("orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("a user topic: %v", err)
	}
	for i := 0; i < 2; i++ { // the second time changes nothing
		if err := l.MakeInternalReal(offsetsTopic); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := LookupInternalTopic(offsetsTopic)
	info, ok := l.Topic(offsetsTopic)
	if !ok || info.UUID != want.UUID || info.Partitions != 50 || info.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("topic %+v", info)
	}

	// The guards stay.
	if _, err := l.CreateTopic(offsetsTopic, 50, nil); !errors.Is(err, ErrInternalTopic) {
		t.Fatalf("CreateTopic: %v", err)
	}
	if _, _, err := l.EnsureTopic(offsetsTopic, 50); !errors.Is(err, ErrInternalTopic) {
		t.Fatalf("EnsureTopic: %v", err)
	}
	if _, _, err := l.EnsureTopicWithID(offsetsTopic, 50, want.UUID); !errors.Is(err, ErrInternalTopic) {
		t.Fatalf("EnsureTopicWithID: %v", err)
	}
	if err := l.BecomeLeader(offsetsTopic, 2, 4); err != nil {
		t.Fatal(err)
	}
	if res := l.Append(ctx, []AppendRequest{{Topic: offsetsTopic, Partition: 2, Batch: internalBatch(1)}}); !errors.Is(res[0].Err, ErrInternalTopic) {
		t.Fatalf("Append: %v", res[0].Err)
	}
	if _, _, err := l.AppendInternal(ctx, offsetsTopic, 3, internalBatch(1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("AppendInternal on a follower: %v", err)
	}
	if _, _, err := l.AppendInternal(ctx, "orders", 0, internalBatch(1)); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("AppendInternal to a user topic: %v", err)
	}
	if _, _, err := l.AppendInternal(ctx, offsetsTopic, 2, batch.Marker(1, 0, true, 0, 1)); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("AppendInternal of a marker: %v", err)
	}
	if _, _, err := l.AppendInternal(ctx, offsetsTopic, 2, []byte("junk")); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("AppendInternal of junk: %v", err)
	}

	var sent [][]byte
	for i, n := range []int{3, 1, 2} {
		raw := internalBatch(n)
		base, last, err := l.AppendInternal(ctx, offsetsTopic, 2, raw)
		if err != nil {
			t.Fatal(err)
		}
		wantBase := map[int]int64{0: 0, 1: 3, 2: 4}[i]
		if base != wantBase || last != wantBase+int64(n)-1 {
			t.Fatalf("batch %d at %d..%d, want %d..%d", i, base, last, wantBase, wantBase+int64(n)-1)
		}
		sent = append(sent, raw)
	}
	rr, err := l.ReadReplica(offsetsTopic, 2, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Batches) != 3 {
		t.Fatalf("read %d batches", len(rr.Batches))
	}
	for i, b := range rr.Batches {
		h, err := batch.Validate(b.Raw)
		if err != nil || h.LeaderEpoch != 4 || !bytes.Equal(b.Raw, sent[i]) {
			t.Fatalf("batch %d: epoch %d, err %v, same bytes %v", i, h.LeaderEpoch, err, bytes.Equal(b.Raw, sent[i]))
		}
	}

	// A restart keeps the topic real (and fenced until led again).
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	l.SetClusterMode()
	if info, ok := l.Topic(offsetsTopic); !ok || info.UUID != want.UUID {
		t.Fatalf("after a restart: %+v %v", info, ok)
	}
	if end, _ := l.LogEndOffset(offsetsTopic, 2); end != 6 {
		t.Fatalf("log end %d after a restart", end)
	}
	if _, _, err := l.AppendInternal(ctx, offsetsTopic, 2, internalBatch(1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("after a restart, before leading: %v", err)
	}
}

// A coordinator's transactional batches carry no sequence and are not
// verified: two of the same size are two appends, not a duplicate.
func TestAppendInternalTransactional(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, "")
	l.SetClusterMode()
	if err := l.MakeInternalReal(offsetsTopic); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader(offsetsTopic, 0, 1); err != nil {
		t.Fatal(err)
	}
	l.SetTxnVerifier(func(int64, int16, string, int32) error { return errors.New("the verifier was asked") })
	txnBatch := func(epoch int16) []byte {
		b := batch.NewBuilder()
		b.SetProducer(9, epoch, -1)
		b.Add(1, []byte{0, 1}, []byte("v"), nil)
		b.Add(1, []byte{0, 1, 2}, []byte("v"), nil)
		raw := append([]byte(nil), b.Bytes()...)
		batch.SetTransactional(raw)
		return raw
	}
	for i := int64(0); i < 2; i++ {
		base, _, err := l.AppendInternal(ctx, offsetsTopic, 0, txnBatch(2))
		if err != nil || base != 2*i {
			t.Fatalf("append %d: base %d, %v", i, base, err)
		}
	}
	if lso, _ := l.LastStable(offsetsTopic, 0); lso != 0 {
		t.Fatalf("last stable %d: the transaction is open from 0", lso)
	}
	// An older producer epoch is fenced, as for any append.
	if _, _, err := l.AppendInternal(ctx, offsetsTopic, 0, txnBatch(1)); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("older epoch: %v", err)
	}
}

// The tiering's append gate (hot tier full) is not the internal
// partitions': they are never flushed.
func TestAppendInternalPastTheGate(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, "")
	l.SetClusterMode()
	if err := l.MakeInternalReal(txnTopic); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader(txnTopic, 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("user", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader("user", 0, 0); err != nil {
		t.Fatal(err)
	}
	l.SetAppendGate(func(string, int32) error { return ErrHotTierFull })
	if res := l.Append(ctx, []AppendRequest{{Topic: "user", Partition: 0, Batch: internalBatch(1)}}); !errors.Is(res[0].Err, ErrHotTierFull) {
		t.Fatalf("user topic behind a closed gate: %v", res[0].Err)
	}
	if _, _, err := l.AppendInternal(ctx, txnTopic, 1, internalBatch(1)); err != nil {
		t.Fatalf("internal append behind a closed gate: %v", err)
	}
}
