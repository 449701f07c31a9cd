package replica

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// The cleaner over real RocksDB logs in cluster mode holding the real
// __consumer_offsets, with the real coordlog codec: a view applied as the
// apply loop does (Decode, ApplyView), compacted, then rebuilt from the
// compacted log, on the node and on a follower that copies it.

const cleanTopic = plog.OffsetsTopicName

// cleanNode opens a cluster-mode log whose __consumer_offsets it leads
// (or follows).
func cleanNode(t *testing.T, leader bool) *plog.Log {
	t.Helper()
	return cleanNodeOf(t, leader, cleanTopic)
}

func cleanNodeOf(t *testing.T, leader bool, topic string) *plog.Log {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: t.TempDir()}) // no fsync: 100k appends
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	l.SetClusterMode()
	if err := l.MakeInternalReal(topic); err != nil {
		t.Fatal(err)
	}
	if leader {
		if err := l.BecomeLeader(topic, cleanPart, 1); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// cleanPart is the partition of the groups the tests use.
const cleanPart = 0

func groupsOf(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := 0; len(out) < n && i < 1_000_000; i++ {
		if g := "g" + strconv.Itoa(i); plog.InternalPartition(g) == cleanPart {
			out = append(out, g)
		}
	}
	if len(out) < n {
		t.Fatal("not enough groups of partition 0")
	}
	return out
}

// replay applies the log's records above the view's applied offset up to
// the high watermark, as the apply loop does.
func replay(t *testing.T, l *plog.Log) { t.Helper(); replayOf(t, l, cleanTopic, coordlog.Group) }

func replayOf(t *testing.T, l *plog.Log, topic string, kind coordlog.Kind) {
	t.Helper()
	for {
		applied, err := l.ViewApplied(topic, cleanPart)
		if err != nil {
			t.Fatal(err)
		}
		logStart, hwm, err := l.Offsets(topic, cleanPart)
		if err != nil {
			t.Fatal(err)
		}
		from := max(applied, logStart)
		if from >= hwm {
			return
		}
		rr, err := l.ReadReplica(topic, cleanPart, from, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", from, err)
		}
		var bs []plog.Batch
		for _, b := range rr.Batches {
			if b.LastOffset < hwm && b.BaseOffset >= from {
				bs = append(bs, b)
			}
		}
		if len(bs) == 0 {
			t.Fatalf("nothing to apply in [%d, %d)", from, hwm)
		}
		ch, err := coordlog.Decode(kind, cleanPart, bs, func(pid int64) []plog.CommittedOffset {
			raw, err := l.Meta(coordlog.PendingKey(cleanPart, pid))
			if err != nil || raw == nil {
				return nil
			}
			offs, err := coordlog.DecodePending(raw)
			if err != nil {
				t.Fatalf("pending of %d: %v", pid, err)
			}
			return offs
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.ApplyView(topic, cleanPart, bs[len(bs)-1].LastOffset+1, ch); err != nil {
			t.Fatal(err)
		}
	}
}

// dump is the view: every group's committed offsets and the pending ones.
func dump(t *testing.T, l *plog.Log, groups []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range groups {
		offs, err := l.GroupOffsets(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range offs {
			out[fmt.Sprintf("C %s/%s/%d", g, o.Topic, o.Partition)] = fmt.Sprintf("%d %q", o.Offset, o.Metadata)
		}
	}
	kvs, err := l.MetaList(coordlog.PendingPrefix(cleanPart))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		out["X "+kv.Key] = string(kv.Value)
	}
	return out
}

func sameDump(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		keys := slices.Sorted(maps.Keys(want))
		t.Fatalf("%s: view differs\n got %v\nwant %v (keys %v)", what, got, want, keys)
	}
}

func storedBatches(t *testing.T, l *plog.Log) []plog.Batch {
	t.Helper()
	var out []plog.Batch
	_, hwm, err := l.Offsets(cleanTopic, cleanPart)
	if err != nil {
		t.Fatal(err)
	}
	leo, _ := l.LogEndOffset(cleanTopic, cleanPart)
	for off := int64(0); off < max(hwm, leo); {
		rr, err := l.ReadReplica(cleanTopic, cleanPart, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(rr.Batches) == 0 {
			break
		}
		out = append(out, rr.Batches...)
		off = rr.Batches[len(rr.Batches)-1].LastOffset + 1
	}
	return out
}

// follow copies the leader's partition from the follower's log end, as
// its fetcher does, and sets the follower's high watermark to the leader's.
func follow(t *testing.T, leader, follower *plog.Log) {
	t.Helper()
	if err := follower.SetReplicated(cleanTopic, cleanPart, true); err != nil {
		t.Fatal(err)
	}
	for {
		leo, err := follower.LogEndOffset(cleanTopic, cleanPart)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := leader.ReadReplica(cleanTopic, cleanPart, leo, 64<<10)
		if err != nil {
			t.Fatalf("leader read at %d: %v", leo, err)
		}
		if len(rr.Batches) == 0 {
			break
		}
		var raws [][]byte
		for _, b := range rr.Batches {
			raws = append(raws, b.Raw)
		}
		if _, err := follower.AppendReplica(context.Background(), cleanTopic, cleanPart, raws); err != nil {
			t.Fatalf("append replica at %d: %v", leo, err)
		}
	}
	_, hwm, err := leader.Offsets(cleanTopic, cleanPart)
	if err != nil {
		t.Fatal(err)
	}
	if err := follower.AdvanceHighWatermark(cleanTopic, cleanPart, hwm); err != nil {
		t.Fatal(err)
	}
}

// clean runs a pass up to the view's applied offset.
func clean(t *testing.T, l *plog.Log) CleanResult {
	t.Helper()
	return cleanOf(t, l, cleanTopic)
}

func cleanOf(t *testing.T, l *plog.Log, topic string) CleanResult {
	t.Helper()
	applied, err := l.ViewApplied(topic, cleanPart)
	if err != nil {
		t.Fatal(err)
	}
	_, hwm, err := l.Offsets(topic, cleanPart)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := pendingProducers(l, cleanPart)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cleanLog(l, topic, cleanPart, applied, hwm, hwm, pending, cleanerDirtyRatio, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func appendInternal(t *testing.T, l *plog.Log, raw []byte) {
	t.Helper()
	if _, _, err := l.AppendInternal(context.Background(), cleanTopic, cleanPart, raw); err != nil {
		t.Fatal(err)
	}
}

func TestCleanerCompactsOffsetCommits(t *testing.T) {
	start := time.Now()
	leader := cleanNode(t, true)
	groups := groupsOf(t, 2)
	const commits = 100_000
	for i := 0; i < commits; i++ {
		o := plog.CommittedOffset{Group: groups[i%2], Topic: "orders", Partition: int32(i/2) % 5, Offset: int64(i), LeaderEpoch: -1}
		appendInternal(t, leader, coordlog.OffsetBatch([]plog.CommittedOffset{o}, nil, 1000))
		if i%20_000 == 19_999 {
			replay(t, leader)
			// Cleaning up to the applied offset, as the cleaner does midway.
			clean(t, leader)
		}
	}
	replay(t, leader)
	want := dump(t, leader, groups)
	if len(want) != 10 {
		t.Fatalf("view has %d entries, want 10: %v", len(want), want)
	}
	res := clean(t, leader)
	bs := storedBatches(t, leader)
	if len(bs) > 10 {
		t.Fatalf("after compaction %d batches are left (pass: %+v)", len(bs), res)
	}
	// The newest offset of each key is kept.
	if o, ok, err := leader.FetchOffset(groups[1], "orders", 4); err != nil || !ok || o.Offset != commits-1 {
		t.Fatalf("last commit: %+v %v %v", o, ok, err)
	}
	sameDump(t, "after compaction", dump(t, leader, groups), want)

	// The same node rebuilds its view from the compacted log.
	if err := leader.ResetView(cleanTopic, cleanPart); err != nil {
		t.Fatal(err)
	}
	if len(dump(t, leader, groups)) != 0 {
		t.Fatal("the reset left offsets")
	}
	replay(t, leader)
	sameDump(t, "replayed from the start", dump(t, leader, groups), want)

	// A new replica fetches the compacted log from the start: it stores
	// the same batches and builds the same view.
	follower := cleanNode(t, false)
	follow(t, leader, follower)
	fb := storedBatches(t, follower)
	if len(fb) != len(bs) {
		t.Fatalf("follower has %d batches, leader %d", len(fb), len(bs))
	}
	for i := range bs {
		if fb[i].BaseOffset != bs[i].BaseOffset || string(fb[i].Raw) != string(bs[i].Raw) {
			t.Fatalf("batch %d differs: at %d, leader's at %d", i, fb[i].BaseOffset, bs[i].BaseOffset)
		}
	}
	replay(t, follower)
	sameDump(t, "new replica", dump(t, follower, groups), want)

	// More commits after the compaction reach the follower across the gaps.
	appendInternal(t, leader, coordlog.OffsetBatch([]plog.CommittedOffset{{Group: groups[0], Topic: "orders", Partition: 0, Offset: 7, LeaderEpoch: -1}}, nil, 1000))
	replay(t, leader)
	follow(t, leader, follower)
	replay(t, follower)
	sameDump(t, "after one more commit", dump(t, follower, groups), dump(t, leader, groups))
	t.Logf("100k commits, compaction and replays in %v", time.Since(start).Round(time.Millisecond))
}

func TestCleanerKeepsTransactionsRight(t *testing.T) {
	ctx := context.Background()
	leader := cleanNode(t, true)
	groups := groupsOf(t, 1)
	g := groups[0]
	off := func(p int32, o int64) []plog.CommittedOffset {
		return []plog.CommittedOffset{{Group: g, Topic: "orders", Partition: p, Offset: o, LeaderEpoch: -1}}
	}
	marker := func(pid int64, commit bool) {
		t.Helper()
		if _, err := leader.WriteMarker(ctx, cleanTopic, cleanPart, plog.MarkerRequest{ProducerID: pid, ProducerEpoch: 0, Commit: commit}); err != nil {
			t.Fatal(err)
		}
	}
	plain := func(p int32, o int64) { appendInternal(t, leader, coordlog.OffsetBatch(off(p, o), nil, 1000)) }

	plain(0, 1)
	appendInternal(t, leader, coordlog.TxnOffsetBatch(7, 0, off(0, 100), 1000)) // committed
	marker(7, true)
	appendInternal(t, leader, coordlog.TxnOffsetBatch(8, 0, off(0, 200), 1000)) // aborted
	marker(8, false)
	appendInternal(t, leader, coordlog.TxnOffsetBatch(9, 0, off(1, 300), 1000))  // open
	appendInternal(t, leader, coordlog.TxnOffsetBatch(10, 0, off(2, 400), 1000)) // committed, superseded below
	marker(10, true)
	plain(2, 401)
	for i := int64(0); i < 50; i++ { // churn: the ratio passes 0.5
		plain(3, i)
	}
	replay(t, leader)
	check := func(l *plog.Log, what string) {
		t.Helper()
		for p, want := range map[int32]int64{0: 100, 2: 401, 3: 49} {
			if o, ok, err := l.FetchOffset(g, "orders", p); err != nil || !ok || o.Offset != want {
				t.Fatalf("%s: orders-%d at %d (%v %v), want %d", what, p, o.Offset, ok, err, want)
			}
		}
		if _, ok, _ := l.FetchOffset(g, "orders", 1); ok {
			t.Fatalf("%s: the open transaction's offset is visible", what)
		}
		if raw, _ := l.Meta(coordlog.PendingKey(cleanPart, 9)); raw == nil {
			t.Fatalf("%s: pid 9's pending offsets are gone", what)
		}
	}
	check(leader, "before compaction")
	want := dump(t, leader, groups)
	res := clean(t, leader)
	if res.Deleted == 0 {
		t.Fatalf("nothing compacted: %+v", res)
	}
	left := map[int64]int{} // producer id -> batches left (markers included)
	for _, b := range storedBatches(t, leader) {
		h, err := batch.ReadHeader(b.Raw)
		if err != nil {
			t.Fatal(err)
		}
		left[h.ProducerID]++
	}
	// 7: its commit (the newest of orders-0: the aborted 200 supersedes
	// nothing) and marker stay; 8 (aborted) and 10 (superseded) go with
	// their markers; 9's open batch stays.
	if left[7] != 2 || left[8] != 0 || left[10] != 0 || left[9] != 1 {
		t.Fatalf("batches left by producer: %v", left)
	}
	check(leader, "after compaction")
	if err := leader.ResetView(cleanTopic, cleanPart); err != nil {
		t.Fatal(err)
	}
	replay(t, leader)
	check(leader, "replayed")
	sameDump(t, "replayed", dump(t, leader, groups), want)

	follower := cleanNode(t, false)
	follow(t, leader, follower)
	replay(t, follower)
	check(follower, "new replica")
	sameDump(t, "new replica", dump(t, follower, groups), want)

	// The open transaction commits after the compaction: its offset shows
	// on both.
	marker(9, true)
	replay(t, leader)
	follow(t, leader, follower)
	replay(t, follower)
	for _, l := range []*plog.Log{leader, follower} {
		if o, ok, err := l.FetchOffset(g, "orders", 1); err != nil || !ok || o.Offset != 300 {
			t.Fatalf("pid 9's commit: %+v %v %v", o, ok, err)
		}
	}
}

// __transaction_state: the latest state of each transactional id stays,
// a tombstone ("Dead") stays until the id is used again, and a replay of
// the compacted log gives the same txn/ keys.
func TestCleanerCompactsTxnState(t *testing.T) {
	topic := plog.TxnTopicName
	l := cleanNodeOf(t, true, topic)
	var ids []string
	for i := 0; len(ids) < 3; i++ {
		if id := "tx" + strconv.Itoa(i); plog.InternalPartition(id) == cleanPart {
			ids = append(ids, id)
		}
	}
	put := func(id string, state string, epoch int16) {
		t.Helper()
		st := coordlog.TxnState{ProducerID: 42, Epoch: epoch, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 60000, State: state, StartMs: 1, UpdateMs: 2}
		if _, _, err := l.AppendInternal(context.Background(), topic, cleanPart, coordlog.TxnStateBatch(id, st, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	for e := int16(0); e < 100; e++ {
		put(ids[0], "Ongoing", e)
		put(ids[0], "CompleteCommit", e)
		put(ids[1], "Empty", e)
	}
	put(ids[2], "Empty", 0)
	put(ids[2], "Dead", 0) // a tombstone: stays
	put(ids[1], "Empty", 100)
	txnDump := func() map[string]string {
		kvs, err := l.MetaList(coordlog.TxnPrefix)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, kv := range kvs {
			out[kv.Key] = string(kv.Value)
		}
		return out
	}
	replayOf(t, l, topic, coordlog.Transaction)
	want := txnDump()
	if len(want) != 2 {
		t.Fatalf("view %v, want ids 0 and 1", want)
	}
	res := cleanOf(t, l, topic)
	if res.Deleted == 0 {
		t.Fatalf("nothing compacted: %+v", res)
	}
	var n int
	var tombstone bool
	for off := int64(0); ; {
		rr, err := l.ReadReplica(topic, cleanPart, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(rr.Batches) == 0 {
			break
		}
		for _, b := range rr.Batches {
			_, recs, err := batch.Records(b.Raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				tombstone = tombstone || r.Value == nil
			}
		}
		n += len(rr.Batches)
		off = rr.Batches[len(rr.Batches)-1].LastOffset + 1
	}
	if n > 4 || !tombstone {
		t.Fatalf("%d batches left (want at most 4), tombstone kept: %v", n, tombstone)
	}
	if err := l.ResetView(topic, cleanPart); err != nil {
		t.Fatal(err)
	}
	replayOf(t, l, topic, coordlog.Transaction)
	sameDump(t, "txn state replayed", txnDump(), want)
}
