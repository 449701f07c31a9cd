package txn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	plog "github.com/zombi-dev/zombi/log"
)

// fakeStore is the log as the coordinator sees it: Meta entries, the EndTxn
// requests it got, the open transactions it reports.
type fakeStore struct {
	mu               sync.Mutex
	meta             map[string][]byte
	ends             []plog.EndTxnRequest
	open             []plog.OpenTxn
	failSet, failEnd atomic.Bool
	// onEnd runs inside EndTxn, as the log's writer would run the verifier
	// while the coordinator waits.
	onEnd func(plog.EndTxnRequest)
}

func newFakeStore() *fakeStore { return &fakeStore{meta: map[string][]byte{}} }

func (f *fakeStore) MetaList(prefix string) ([]plog.MetaKV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []plog.MetaKV
	for k, v := range f.meta {
		if strings.HasPrefix(k, prefix) {
			out = append(out, plog.MetaKV{Key: k, Value: v})
		}
	}
	return out, nil
}

func (f *fakeStore) SetMeta(key string, v []byte) error {
	if f.failSet.Load() {
		return errors.New("disk on fire")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta[key] = append([]byte(nil), v...)
	return nil
}

func (f *fakeStore) SetMetaLazy(key string, v []byte) error { return f.SetMeta(key, v) }

func (f *fakeStore) DeleteMeta(key string) error {
	if f.failSet.Load() {
		return errors.New("disk on fire")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.meta, key)
	return nil
}

func (f *fakeStore) EndTxn(_ context.Context, req plog.EndTxnRequest) error {
	if f.onEnd != nil {
		f.onEnd(req)
	}
	if f.failEnd.Load() {
		return errors.New("disk on fire")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ends = append(f.ends, req)
	for _, m := range req.Meta {
		f.meta[m.Key] = m.Value
	}
	return nil
}

func (f *fakeStore) OpenTxns() ([]plog.OpenTxn, error) { return f.open, nil }

func (f *fakeStore) record(t *testing.T, id string) record {
	t.Helper()
	f.mu.Lock()
	v := f.meta[metaKey(id)]
	f.mu.Unlock()
	if v == nil {
		t.Fatalf("no stored record for %q", id)
	}
	r, err := decodeRecord(v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fakeStore) lastEnd(t *testing.T) plog.EndTxnRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ends) == 0 {
		t.Fatal("no EndTxn written")
	}
	return f.ends[len(f.ends)-1]
}

func (f *fakeStore) endCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ends)
}

// clock is a settable time.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *clock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type env struct {
	c     *Coordinator
	store *fakeStore
	clk   *clock
}

func newEnv(t *testing.T, store *fakeStore, mods ...func(*Config)) *env {
	t.Helper()
	if store == nil {
		store = newFakeStore()
	}
	clk := &clock{}
	clk.ms.Store(1_000_000)
	var next atomic.Int64
	next.Store(100)
	cfg := Config{
		NewProducerID: func() (int64, error) { return next.Add(1) - 1, nil },
		Now:           clk.now,
		CheckInterval: time.Hour, // tests call expire themselves
		MaxTimeout:    time.Minute,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c := New(store, cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &env{c: c, store: store, clk: clk}
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func (e *env) init(t *testing.T, id string, pid int64, epoch int16) (int64, int16) {
	t.Helper()
	p, ep, ke := e.c.InitProducerID(InitRequest{TransactionalID: id, TimeoutMs: 10_000, ProducerID: pid, ProducerEpoch: epoch})
	if ke != nil {
		t.Fatalf("init %s: %v", id, ke)
	}
	return p, ep
}

var tp0, tp1 = plog.TopicPartition{Topic: "t", Partition: 0}, plog.TopicPartition{Topic: "t", Partition: 1}

func TestInitNewBumpAndTimeout(t *testing.T) {
	e := newEnv(t, nil)
	for _, ms := range []int32{0, -5, 60_001} {
		_, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: ms, ProducerID: -1, ProducerEpoch: -1})
		wantErr(t, fmt.Sprintf("timeout %d", ms), ke, kerr.InvalidTransactionTimeout)
	}
	_, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: 1000, ProducerID: 5, ProducerEpoch: -1})
	wantErr(t, "half an expected producer", ke, kerr.InvalidRequest)
	pid, ep := e.init(t, "a", -1, -1)
	if pid != 100 || ep != 0 {
		t.Fatalf("first init: %d/%d", pid, ep)
	}
	if r := e.store.record(t, "a"); r.ProducerID != 100 || r.Epoch != 0 || r.State != Empty || r.TimeoutMs != 10_000 {
		t.Fatalf("stored: %+v", r)
	}
	pid, ep = e.init(t, "a", -1, -1)
	if pid != 100 || ep != 1 {
		t.Fatalf("re-init: %d/%d", pid, ep)
	}
	if r := e.store.record(t, "a"); r.Epoch != 1 {
		t.Fatalf("stored epoch %d", r.Epoch)
	}
	if _, ok := e.c.Describe("nope"); ok {
		t.Fatal("unknown id described")
	}
}

func TestInitExpectedProducer(t *testing.T) {
	e := newEnv(t, nil)
	pid, _ := e.init(t, "a", -1, -1)
	// KIP-360: the producer bumps its own epoch.
	if p, ep := e.init(t, "a", pid, 0); p != pid || ep != 1 {
		t.Fatalf("bump: %d/%d", p, ep)
	}
	// The answer was lost: the retry gets the same answer.
	if p, ep := e.init(t, "a", pid, 0); p != pid || ep != 1 {
		t.Fatalf("retried bump: %d/%d", p, ep)
	}
	_, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: 1000, ProducerID: pid, ProducerEpoch: 7})
	wantErr(t, "unknown epoch", ke, kerr.ProducerFenced)
	_, _, ke = e.c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: 1000, ProducerID: pid + 50, ProducerEpoch: 1})
	wantErr(t, "other producer id", ke, kerr.ProducerFenced)
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	store := newFakeStore()
	r := record{ProducerID: 7, Epoch: math.MaxInt16 - 1, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 1000, State: CompleteCommit}
	store.meta[metaKey("x")] = r.encode()
	e := newEnv(t, store)
	pid, ep := e.init(t, "x", 7, math.MaxInt16-1)
	if pid == 7 || ep != 0 {
		t.Fatalf("exhausted epoch: got %d/%d, want a new id at epoch 0", pid, ep)
	}
	// A retry with the old id and exhausted epoch gets the same answer.
	if p, ep2 := e.init(t, "x", 7, math.MaxInt16-1); p != pid || ep2 != 0 {
		t.Fatalf("retry after rotation: %d/%d", p, ep2)
	}
	if err := e.c.Verify(7, 0, "t", 0); err == nil {
		t.Fatal("old producer id still verified")
	}
}

func TestTransactionCommit(t *testing.T) {
	e := newEnv(t, nil)
	pid, ep := e.init(t, "a", -1, -1)
	wantErr(t, "end without transaction", e.c.EndTxn("a", pid, ep, true), kerr.InvalidTxnState)
	wantErr(t, "unknown id", e.c.AddPartitions("zz", pid, ep, []plog.TopicPartition{tp0}), kerr.InvalidProducerIDMapping)
	wantErr(t, "other pid", e.c.AddPartitions("a", pid+1, ep, []plog.TopicPartition{tp0}), kerr.InvalidProducerIDMapping)
	wantErr(t, "other epoch", e.c.AddPartitions("a", pid, ep+1, []plog.TopicPartition{tp0}), kerr.ProducerFenced)
	if err := e.c.Verify(pid, ep, "t", 0); !errors.Is(err, plog.ErrInvalidTxnState) {
		t.Fatalf("verify before add: %v", err)
	}
	e.clk.add(time.Second)
	wantErr(t, "add", e.c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp0}), nil)
	if r := e.store.record(t, "a"); r.State != Ongoing || len(r.Partitions) != 1 || r.StartMs != 1_001_000 {
		t.Fatalf("stored after add: %+v", r)
	}
	if err := e.c.Verify(pid, ep, "t", 0); err != nil {
		t.Fatalf("verify added partition: %v", err)
	}
	if err := e.c.Verify(pid, ep, "t", 1); !errors.Is(err, plog.ErrInvalidTxnState) {
		t.Fatalf("verify partition not added: %v", err)
	}
	wantErr(t, "txn offset commit before add offsets", e.c.TxnOffsetCommit("a", pid, ep, "g", []plog.CommittedOffset{{Topic: "in", Offset: 5}}), kerr.InvalidTxnState)
	wantErr(t, "add offsets", e.c.AddOffsets("a", pid, ep, "g"), nil)
	wantErr(t, "txn offset commit", e.c.TxnOffsetCommit("a", pid, ep, "g", []plog.CommittedOffset{{Topic: "in", Offset: 5}}), nil)
	wantErr(t, "txn offset commit again", e.c.TxnOffsetCommit("a", pid, ep, "g", []plog.CommittedOffset{{Topic: "in", Offset: 9}}), nil)
	if !e.c.PendingOffset("g", "in", 0) || e.c.PendingOffset("g", "in", 1) || e.c.PendingOffset("h", "in", 0) {
		t.Fatal("PendingOffset wrong")
	}
	if r := e.store.record(t, "a"); len(r.Offsets) != 1 || r.Offsets[0].Offset != 9 {
		t.Fatalf("pending offsets stored: %+v", r.Offsets)
	}
	info, ok := e.c.Describe("a")
	if !ok || info.State != Ongoing || info.StartMs != 1_001_000 || len(info.Partitions) != 1 || info.Groups[0] != "g" {
		t.Fatalf("describe: %+v", info)
	}
	wantErr(t, "commit", e.c.EndTxn("a", pid, ep, true), nil)
	end := e.store.lastEnd(t)
	if !end.Commit || end.ProducerID != pid || end.ProducerEpoch != ep || len(end.Partitions) != 1 || len(end.Offsets) != 1 ||
		end.Offsets[0].Group != "g" || end.Offsets[0].Offset != 9 || len(end.Meta) != 1 || end.Meta[0].Key != metaKey("a") {
		t.Fatalf("end request: %+v", end)
	}
	if r := e.store.record(t, "a"); r.State != CompleteCommit || len(r.Partitions) != 0 || len(r.Offsets) != 0 {
		t.Fatalf("stored after commit: %+v", r)
	}
	if e.c.PendingOffset("g", "in", 0) {
		t.Fatal("offset still pending after commit")
	}
	if err := e.c.Verify(pid, ep, "t", 0); err == nil {
		t.Fatal("verify after commit accepted")
	}
	n := e.store.endCount()
	wantErr(t, "retried commit", e.c.EndTxn("a", pid, ep, true), nil)
	wantErr(t, "abort after commit", e.c.EndTxn("a", pid, ep, false), kerr.InvalidTxnState)
	if e.store.endCount() != n {
		t.Fatal("a retried EndTxn wrote again")
	}
	// The next transaction of the same producer.
	wantErr(t, "add again", e.c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp1}), nil)
	wantErr(t, "abort", e.c.EndTxn("a", pid, ep, false), nil)
	if end := e.store.lastEnd(t); end.Commit || len(end.Partitions) != 1 || end.Partitions[0] != tp1 || len(end.Offsets) != 0 {
		t.Fatalf("abort request: %+v", end)
	}
}

func TestAbortDropsPendingOffsets(t *testing.T) {
	e := newEnv(t, nil)
	pid, ep := e.init(t, "a", -1, -1)
	wantErr(t, "add offsets", e.c.AddOffsets("a", pid, ep, "g"), nil)
	wantErr(t, "txn offset commit", e.c.TxnOffsetCommit("a", pid, ep, "g", []plog.CommittedOffset{{Topic: "in", Offset: 5}}), nil)
	wantErr(t, "abort", e.c.EndTxn("a", pid, ep, false), nil)
	if end := e.store.lastEnd(t); len(end.Offsets) != 0 {
		t.Fatalf("abort carried offsets: %+v", end.Offsets)
	}
	if e.c.PendingOffset("g", "in", 0) {
		t.Fatal("offset pending after abort")
	}
}

func TestInitAbortsOngoingAndFences(t *testing.T) {
	e := newEnv(t, nil)
	pid, ep := e.init(t, "a", -1, -1)
	wantErr(t, "add", e.c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp0, tp1}), nil)
	// A new instance of the producer: the old one's transaction is aborted
	// with markers at a bumped epoch.
	p2, ep2 := e.init(t, "a", -1, -1)
	end := e.store.lastEnd(t)
	if end.Commit || end.ProducerEpoch != ep+1 || len(end.Partitions) != 2 {
		t.Fatalf("fencing abort: %+v", end)
	}
	if p2 != pid || ep2 != ep+2 {
		t.Fatalf("new instance got %d/%d", p2, ep2)
	}
	wantErr(t, "old producer adds", e.c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp0}), kerr.ProducerFenced)
	wantErr(t, "old producer ends", e.c.EndTxn("a", pid, ep, true), kerr.ProducerFenced)
	if err := e.c.Verify(pid, ep, "t", 0); !errors.Is(err, plog.ErrProducerFenced) {
		t.Fatalf("verify old epoch: %v", err)
	}
	// The old instance trying KIP-360 recovery with its epoch is fenced too.
	_, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: 1000, ProducerID: pid, ProducerEpoch: ep})
	wantErr(t, "old instance re-init", ke, kerr.ProducerFenced)
}

func TestEndTxnWriteFailureKeepsTransaction(t *testing.T) {
	e := newEnv(t, nil)
	pid, ep := e.init(t, "a", -1, -1)
	wantErr(t, "add", e.c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp0}), nil)
	e.store.failEnd.Store(true)
	wantErr(t, "commit on a failing log", e.c.EndTxn("a", pid, ep, true), kerr.CoordinatorNotAvailable)
	if info, _ := e.c.Describe("a"); info.State != Ongoing {
		t.Fatalf("state after a failed end: %s", info.State)
	}
	e.store.failEnd.Store(false)
	wantErr(t, "commit retried", e.c.EndTxn("a", pid, ep, true), nil)
	e.store.failSet.Store(true)
	wantErr(t, "add on a failing log", e.c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp1}), kerr.CoordinatorNotAvailable)
	if err := e.c.Verify(pid, ep, "t", 1); err == nil {
		t.Fatal("a partition whose add was not stored is verified")
	}
}

// TestEndInProgress holds the log write of an EndTxn: other requests of the
// transactional id get CONCURRENT_TRANSACTIONS or INVALID_TXN_STATE, and
// the verifier (which the log calls on its writer meanwhile) answers.
func TestEndInProgress(t *testing.T) {
	store := newFakeStore()
	release := make(chan struct{})
	entered := make(chan struct{})
	var hold atomic.Bool
	var c *Coordinator
	store.onEnd = func(req plog.EndTxnRequest) {
		if !hold.Load() {
			return
		}
		if err := c.Verify(req.ProducerID, req.ProducerEpoch, "t", 0); err == nil {
			t.Error("verify during the end accepted a batch")
		}
		close(entered)
		<-release
	}
	e := newEnv(t, store)
	c = e.c
	pid, ep := e.init(t, "a", -1, -1)
	wantErr(t, "add", c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp0}), nil)
	hold.Store(true)
	done := make(chan *kerr.Error, 1)
	go func() { done <- c.EndTxn("a", pid, ep, true) }()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("EndTxn never reached the log")
	}
	_, _, ke := c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1})
	wantErr(t, "init during end", ke, kerr.ConcurrentTransactions)
	wantErr(t, "add during end", c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp1}), kerr.ConcurrentTransactions)
	wantErr(t, "same end again", c.EndTxn("a", pid, ep, true), kerr.ConcurrentTransactions)
	wantErr(t, "opposite end", c.EndTxn("a", pid, ep, false), kerr.InvalidTxnState)
	if info, _ := c.Describe("a"); info.State != PrepareCommit {
		t.Fatalf("state during end: %s", info.State)
	}
	close(release)
	select {
	case ke := <-done:
		wantErr(t, "commit", ke, nil)
	case <-time.After(5 * time.Second):
		t.Fatal("EndTxn did not return")
	}
}

func TestTimeoutAbortsAndFences(t *testing.T) {
	e := newEnv(t, nil)
	pid, ep := e.init(t, "a", -1, -1) // 10 s timeout
	wantErr(t, "add", e.c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp0}), nil)
	e.clk.add(9 * time.Second)
	e.c.expire(nil)
	if e.store.endCount() != 0 {
		t.Fatal("aborted before its timeout")
	}
	e.clk.add(time.Second)
	e.c.expire(nil)
	end := e.store.lastEnd(t)
	if end.Commit || end.ProducerEpoch != ep+1 || len(end.Partitions) != 1 {
		t.Fatalf("timeout abort: %+v", end)
	}
	if r := e.store.record(t, "a"); r.State != CompleteAbort || r.Epoch != ep+1 {
		t.Fatalf("stored after timeout: %+v", r)
	}
	wantErr(t, "the producer commits late", e.c.EndTxn("a", pid, ep, true), kerr.ProducerFenced)
}

func TestTimeoutLoop(t *testing.T) {
	store := newFakeStore()
	var next atomic.Int64
	c := New(store, Config{NewProducerID: func() (int64, error) { return next.Add(1), nil }, CheckInterval: 10 * time.Millisecond})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pid, ep, ke := c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: 50, ProducerID: -1, ProducerEpoch: -1})
	wantErr(t, "init", ke, nil)
	wantErr(t, "add", c.AddPartitions("a", pid, ep, []plog.TopicPartition{tp0}), nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if info, _ := c.Describe("a"); info.State == CompleteAbort {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timed-out transaction was not aborted within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRecovery(t *testing.T) {
	store := newFakeStore()
	ongoing := record{ProducerID: 7, Epoch: 3, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 10_000, State: Ongoing,
		Partitions: []plog.TopicPartition{tp0}, StartMs: 1_000_000 - 4_000,
		Groups: []string{"g"}, Offsets: []pendingOffset{{Group: "g", Topic: "in", Offset: 4}}}
	store.meta[metaKey("kept")] = ongoing.encode()
	store.meta[metaKey("done")] = record{ProducerID: 8, Epoch: 1, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 1000, State: CompleteCommit}.encode()
	store.open = []plog.OpenTxn{
		{Topic: "t", Partition: 0, ProducerID: 7, ProducerEpoch: 3, FirstOffset: 10}, // covered
		{Topic: "t", Partition: 1, ProducerID: 7, ProducerEpoch: 3, FirstOffset: 11}, // not added: orphan
		{Topic: "t", Partition: 0, ProducerID: 8, ProducerEpoch: 1, FirstOffset: 12}, // producer's txn completed
		{Topic: "u", Partition: 0, ProducerID: 99, ProducerEpoch: 5, FirstOffset: 0}, // unknown producer
	}
	e := newEnv(t, store)
	if n := store.endCount(); n != 3 {
		t.Fatalf("recovery wrote %d aborts, want 3: %+v", n, store.ends)
	}
	byPID := map[int64]plog.EndTxnRequest{}
	for _, end := range store.ends {
		if end.Commit || len(end.Meta) != 0 {
			t.Fatalf("recovery end: %+v", end)
		}
		byPID[end.ProducerID] = end
	}
	if end := byPID[7]; len(end.Partitions) != 1 || end.Partitions[0] != tp1 {
		t.Fatalf("orphan of 7: %+v", end)
	}
	if byPID[99].ProducerEpoch != 5 || byPID[8].ProducerEpoch != 1 {
		t.Fatalf("abort epochs: %+v", byPID)
	}
	info, ok := e.c.Describe("kept")
	if !ok || info.State != Ongoing || info.StartMs != 1_000_000-4_000 {
		t.Fatalf("kept: %+v", info)
	}
	if !e.c.PendingOffset("g", "in", 0) {
		t.Fatal("pending offset lost over the restart")
	}
	if err := e.c.Verify(7, 3, "t", 0); err != nil {
		t.Fatalf("verify after restart: %v", err)
	}
	// The deadline is the stored start plus the timeout.
	e.clk.add(5 * time.Second)
	e.c.expire(nil)
	if store.endCount() != 3 {
		t.Fatal("aborted before its deadline")
	}
	e.clk.add(time.Second)
	e.c.expire(nil)
	if end := store.lastEnd(t); end.ProducerID != 7 || end.Commit || end.ProducerEpoch != 4 {
		t.Fatalf("timeout after restart: %+v", end)
	}
	if len(e.c.List()) != 2 {
		t.Fatalf("list: %+v", e.c.List())
	}
}

func TestIDExpiration(t *testing.T) {
	e := newEnv(t, nil)
	pid, ep := e.init(t, "idle", -1, -1)
	pid2, ep2 := e.init(t, "busy", -1, -1)
	wantErr(t, "add", e.c.AddPartitions("busy", pid2, ep2, []plog.TopicPartition{tp0}), nil)
	e.clk.add(DefaultIDExpiration - time.Second)
	wantErr(t, "end", e.c.EndTxn("busy", pid2, ep2, false), nil) // busy: recent request
	e.clk.add(time.Second)
	e.c.expire(nil)
	if _, ok := e.c.Describe("idle"); ok {
		t.Fatal("idle transactional id not forgotten")
	}
	e.store.mu.Lock()
	_, stored := e.store.meta[metaKey("idle")]
	e.store.mu.Unlock()
	if stored {
		t.Fatal("idle transactional id still stored")
	}
	if _, ok := e.c.Describe("busy"); !ok {
		t.Fatal("busy transactional id forgotten")
	}
	wantErr(t, "the forgotten producer", e.c.AddPartitions("idle", pid, ep, []plog.TopicPartition{tp0}), kerr.InvalidProducerIDMapping)
	if p, ep := e.init(t, "idle", -1, -1); p == pid || ep != 0 {
		t.Fatalf("re-init after expiry: %d/%d, want a new producer id", p, ep)
	}
}

func TestClosedCoordinator(t *testing.T) {
	c := New(newFakeStore(), Config{NewProducerID: func() (int64, error) { return 1, nil }})
	_, _, ke := c.InitProducerID(InitRequest{TransactionalID: "a", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1})
	wantErr(t, "before start", ke, kerr.CoordinatorNotAvailable)
	c.Close()
	if err := c.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}
}

// TestConcurrentUse runs producers, ends, timeouts and the verifier at once
// (for -race and for deadlocks).
func TestConcurrentUse(t *testing.T) {
	store := newFakeStore()
	var c *Coordinator
	store.onEnd = func(req plog.EndTxnRequest) { _ = c.Verify(req.ProducerID, req.ProducerEpoch, "t", 0) }
	// Ids expire after 2 s of the fast clock: expiry races the producers.
	e := newEnv(t, store, func(cfg *Config) { cfg.IDExpiration = 2 * time.Second })
	c = e.c
	var producers, expirer sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			id := fmt.Sprintf("id-%d", g%2) // two producers share each id: fencing races
			for i := 0; i < 200; i++ {
				pid, ep, ke := c.InitProducerID(InitRequest{TransactionalID: id, TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1})
				if ke != nil {
					continue
				}
				_ = c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0, tp1})
				_ = c.AddOffsets(id, pid, ep, "g")
				_ = c.TxnOffsetCommit(id, pid, ep, "g", []plog.CommittedOffset{{Topic: "in", Offset: int64(i)}})
				_ = c.Verify(pid, ep, "t", 0)
				_ = c.EndTxn(id, pid, ep, i%2 == 0)
			}
		}()
	}
	expirer.Add(1)
	go func() {
		defer expirer.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.clk.add(100 * time.Millisecond)
			c.expire(stop)
			_ = c.List()
			_ = c.PendingOffset("g", "in", 0)
		}
	}()
	finished := make(chan struct{})
	go func() { producers.Wait(); close(stop); expirer.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		t.Fatal("deadlock: concurrent use did not finish in 60 s")
	}
	// The pending-offset index matches the records.
	c.mu.Lock()
	want := map[offKey]int{}
	for _, en := range c.txns {
		for _, o := range en.rec.Offsets {
			want[offKey{o.Group, o.Topic, o.Partition}]++
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(c.pending) {
		t.Errorf("pending index %v, records say %v", c.pending, want)
	}
	c.mu.Unlock()
	// Whatever interleaving happened, memory and store agree.
	for _, info := range c.List() {
		r := store.record(t, info.TransactionalID)
		if r.ProducerID != info.ProducerID || r.Epoch != info.ProducerEpoch || r.State != info.State {
			t.Fatalf("%s: memory %+v, stored %+v", info.TransactionalID, info, r)
		}
	}
}
