package txn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// clusterEvent is one thing the coordinator asked of the cluster: a state
// append or a marker send.
type clusterEvent struct {
	kind   string // "append" or "markers"
	id     string
	st     coordlog.TxnState
	part   int32
	epoch  int32 // partition leader epoch (append) or coordinator epoch (markers)
	pid    int64
	pepoch int16
	commit bool
	parts  []plog.TopicPartition
}

// fakeCluster is the ClusterStore: it records what it is asked, in order,
// and can hold appends or marker sends until the test lets them go.
type fakeCluster struct {
	mu         sync.Mutex
	events     []clusterEvent
	appendErr  error
	markerErr  error
	appendGate chan struct{} // non-nil: Append waits for it, ignoring ctx
	markerGate chan struct{} // non-nil: SendMarkers waits for it or ctx
	waiting    int           // appends that reached appendGate
	view       *fakeStore    // the materialized view the appends go to (nil: none)
}

func (f *fakeCluster) Append(_ context.Context, part, epoch int32, raw []byte) error {
	f.mu.Lock()
	gate, err := f.appendGate, f.appendErr
	f.mu.Unlock()
	if gate != nil {
		f.mu.Lock()
		f.waiting++
		f.mu.Unlock()
		<-gate
	}
	if err != nil {
		return err
	}
	// The real codec, and the view the apply loop would make of it.
	ch, err := coordlog.Decode(coordlog.Transaction, part, []plog.Batch{{Raw: raw}}, nil)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, kv := range ch.Meta {
		id := strings.TrimPrefix(kv.Key, metaPrefix)
		if coordlog.Partition(id) != part {
			return fmt.Errorf("%s appended to partition %d, not its own", id, part)
		}
		ev := clusterEvent{kind: "append", id: id, part: part, epoch: epoch, st: coordlog.TxnState{State: coordlog.StateDead}}
		if kv.Value != nil {
			if err := json.Unmarshal(kv.Value, &ev.st); err != nil {
				return err
			}
		}
		f.events = append(f.events, ev)
		if f.view != nil {
			f.view.mu.Lock()
			if kv.Value == nil {
				delete(f.view.meta, kv.Key)
			} else {
				f.view.meta[kv.Key] = kv.Value
			}
			f.view.mu.Unlock()
		}
	}
	return nil
}

func (f *fakeCluster) SendMarkers(ctx context.Context, coordEpoch int32, pid int64, epoch int16, commit bool, parts []plog.TopicPartition) error {
	f.mu.Lock()
	gate, err := f.markerGate, f.markerErr
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, clusterEvent{kind: "markers", epoch: coordEpoch, pid: pid, pepoch: epoch, commit: commit,
		parts: slices.Clone(parts)})
	return nil
}

func (f *fakeCluster) snapshot() []clusterEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func (f *fakeCluster) set(mod func(*fakeCluster)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mod(f)
}

// describe is an event's short form for failure messages and comparisons.
func (ev clusterEvent) String() string {
	if ev.kind == "append" {
		return fmt.Sprintf("append %s %s epoch %d pid %d/%d @%d", ev.id, ev.st.State, ev.st.Epoch, ev.st.ProducerID, ev.st.Epoch, ev.epoch)
	}
	return fmt.Sprintf("markers pid %d/%d commit=%v coord@%d %v", ev.pid, ev.pepoch, ev.commit, ev.epoch, ev.parts)
}

type clusterEnv struct {
	*env
	fc *fakeCluster
}

// newClusterEnv is a started cluster-mode coordinator over store (the
// view) and a fake cluster; no partition is loaded.
func newClusterEnv(t *testing.T, store *fakeStore) *clusterEnv {
	t.Helper()
	if store == nil {
		store = newFakeStore()
	}
	fc := &fakeCluster{view: store}
	e := newEnv(t, store, func(c *Config) { c.Cluster = fc })
	store.failSet.Store(true) // one node's writes: never in cluster mode
	return &clusterEnv{env: e, fc: fc}
}

// idIn returns a transactional id of __transaction_state partition part.
func idIn(t *testing.T, part int32, prefix string) string {
	t.Helper()
	for i := range 100_000 {
		if id := fmt.Sprintf("%s-%d", prefix, i); coordlog.Partition(id) == part {
			return id
		}
	}
	t.Fatalf("no id of partition %d", part)
	return ""
}

// waitEvents waits until the fake has seen n events and returns them.
func (e *clusterEnv) waitEvents(t *testing.T, n int) []clusterEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := e.fc.snapshot()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d cluster events, got %d: %v", n, len(evs), evs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until id is in state s.
func (e *clusterEnv) waitState(t *testing.T, id string, s State) Info {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, ok := e.c.Describe(id)
		if ok && info.State == s {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: want state %s, have %+v (known %v); events %v", id, s, info, ok, e.fc.snapshot())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantEvents(t *testing.T, got []clusterEvent, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("event %d: got %q, want %q (all: %v)", i, got[i], want[i], got)
		}
	}
}

const loadEpoch = 7

func TestClusterEndTxnTwoPhase(t *testing.T) {
	e := newClusterEnv(t, nil)
	const part = 3
	id := idIn(t, part, "tx")
	if _, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: id, TimeoutMs: 10_000, ProducerID: -1, ProducerEpoch: -1}); ke != kerr.NotCoordinator {
		t.Fatalf("init before Load: %v, want NOT_COORDINATOR", ke)
	}
	if err := e.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	pid, ep := e.init(t, id, -1, -1)
	wantErr(t, "add", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0, tp1}), nil)
	wantErr(t, "add offsets", e.c.AddOffsets(id, pid, ep, "g"), nil)
	gp := plog.TopicPartition{Topic: coordlog.OffsetsTopic, Partition: coordlog.Partition("g")}
	if info, _ := e.c.Describe(id); !slices.Equal(info.Partitions, []plog.TopicPartition{tp0, tp1, gp}) || len(info.Groups) != 0 {
		t.Fatalf("AddOffsets in cluster mode: partitions %v groups %v, want the group's %v added", info.Partitions, info.Groups, gp)
	}
	// The view holds what was appended (the store refuses the
	// coordinator's own writes in cluster mode: failSet).
	if r := e.store.record(t, id); r.State != Ongoing || len(r.Partitions) != 3 {
		t.Fatalf("view after AddOffsets: %+v", r)
	}
	gate := make(chan struct{})
	e.fc.set(func(f *fakeCluster) { f.markerGate = gate })
	wantErr(t, "commit", e.c.EndTxn(id, pid, ep, true), nil)
	// Prepare is durable and answered; the markers are held.
	e.waitState(t, id, PrepareCommit)
	wantErr(t, "add meanwhile", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), kerr.ConcurrentTransactions)
	wantErr(t, "commit again meanwhile", e.c.EndTxn(id, pid, ep, true), kerr.ConcurrentTransactions)
	wantErr(t, "abort meanwhile", e.c.EndTxn(id, pid, ep, false), kerr.InvalidTxnState)
	if _, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: id, TimeoutMs: 10_000, ProducerID: -1, ProducerEpoch: -1}); ke != kerr.ConcurrentTransactions {
		t.Fatalf("init meanwhile: %v, want CONCURRENT_TRANSACTIONS", ke)
	}
	close(gate)
	e.waitState(t, id, CompleteCommit)
	evs := e.waitEvents(t, 6)
	wantEvents(t, evs,
		fmt.Sprintf("append %s Empty epoch 0 pid %d/0 @7", id, pid),
		fmt.Sprintf("append %s Ongoing epoch 0 pid %d/0 @7", id, pid),
		fmt.Sprintf("append %s Ongoing epoch 0 pid %d/0 @7", id, pid),
		fmt.Sprintf("append %s PrepareCommit epoch 0 pid %d/0 @7", id, pid),
		fmt.Sprintf("markers pid %d/0 commit=true coord@7 [{t 0} {t 1} {%s %d}]", pid, gp.Topic, gp.Partition),
		fmt.Sprintf("append %s CompleteCommit epoch 0 pid %d/0 @7", id, pid),
	)
	if evs[3].part != part || len(evs[3].st.Partitions) != 3 || len(evs[5].st.Partitions) != 0 {
		t.Fatalf("prepare %+v / complete %+v", evs[3], evs[5])
	}
	wantErr(t, "retried commit", e.c.EndTxn(id, pid, ep, true), nil)
	if n := len(e.fc.snapshot()); n != 6 {
		t.Fatalf("a retried EndTxn wrote again: %d events", n)
	}
	// VerifyOnly answers from the loaded state.
	codes, ke := e.c.VerifyPartitions(id, pid, ep, []plog.TopicPartition{tp0})
	if ke != nil || codes[0] != kerr.InvalidTxnState {
		t.Fatalf("verify after commit: %v %v", codes, ke)
	}
}

func TestClusterAppendErrors(t *testing.T) {
	e := newClusterEnv(t, nil)
	const part = 9
	id := idIn(t, part, "err")
	if err := e.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	pid, ep := e.init(t, id, -1, -1)
	e.fc.set(func(f *fakeCluster) { f.appendErr = fmt.Errorf("append: %w", kerr.CoordinatorNotAvailable) })
	wantErr(t, "add, not enough replicas", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), kerr.CoordinatorNotAvailable)
	e.fc.set(func(f *fakeCluster) { f.appendErr = fmt.Errorf("append: %w", context.DeadlineExceeded) })
	wantErr(t, "add, timed out", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), kerr.RequestTimedOut)
	e.fc.set(func(f *fakeCluster) { f.appendErr = errors.New("disk on fire") })
	wantErr(t, "add, other error", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), kerr.CoordinatorNotAvailable)
	if info, _ := e.c.Describe(id); info.State != Empty {
		t.Fatalf("a failed append changed the state: %+v", info)
	}
	e.fc.set(func(f *fakeCluster) { f.appendErr = nil })
	wantErr(t, "add", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), nil)
	e.fc.set(func(f *fakeCluster) { f.appendErr = fmt.Errorf("append: %w", kerr.NotCoordinator) })
	wantErr(t, "commit, moved", e.c.EndTxn(id, pid, ep, true), kerr.NotCoordinator)
	if info, _ := e.c.Describe(id); info.State != Ongoing {
		t.Fatalf("a failed Prepare append changed the state: %+v", info)
	}
}

func TestClusterLoadResumes(t *testing.T) {
	store := newFakeStore()
	const part = 12
	prep := idIn(t, part, "prep")
	live := idIn(t, part, "live")
	late := idIn(t, part, "late")
	other := idIn(t, part+1, "other")
	now := int64(1_000_000) // newEnv's clock
	put := func(id string, r record) { store.meta[metaKey(id)] = r.encode() }
	put(prep, record{ProducerID: 50, Epoch: 3, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 10_000, State: PrepareAbort,
		Partitions: []plog.TopicPartition{tp1}, StartMs: now - 1000, UpdateMs: now - 500})
	put(live, record{ProducerID: 51, Epoch: 0, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 10_000, State: Ongoing,
		Partitions: []plog.TopicPartition{tp0}, StartMs: now - 1000, UpdateMs: now - 1000})
	put(late, record{ProducerID: 52, Epoch: 4, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 10_000, State: Ongoing,
		Partitions: []plog.TopicPartition{tp0, tp1}, StartMs: now - 20_000, UpdateMs: now - 20_000})
	put(other, record{ProducerID: 53, Epoch: 0, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 10_000, State: Ongoing,
		Partitions: []plog.TopicPartition{tp0}, StartMs: now - 20_000, UpdateMs: now - 20_000})
	store.meta[metaKey(idIn(t, part, "bad"))] = []byte("{not json")
	e := newClusterEnv(t, store)
	if len(e.c.List()) != 0 {
		t.Fatalf("cluster mode loaded ids at Start: %v", e.c.List())
	}
	if err := e.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	e.waitState(t, prep, CompleteAbort)
	late2 := e.waitState(t, late, CompleteAbort)
	if late2.ProducerEpoch != 5 {
		t.Fatalf("past-deadline abort: epoch %d, want 5 (bumped)", late2.ProducerEpoch)
	}
	evs := e.waitEvents(t, 5)
	var prepEvs, lateEvs []string
	for _, ev := range evs {
		switch {
		case ev.id == prep || ev.kind == "markers" && ev.pid == 50:
			prepEvs = append(prepEvs, ev.String())
		case ev.id == late || ev.kind == "markers" && ev.pid == 52:
			lateEvs = append(lateEvs, ev.String())
		default:
			t.Fatalf("unexpected event %v", ev)
		}
	}
	wantStrings := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
	wantStrings("resumed PrepareAbort", prepEvs,
		"markers pid 50/3 commit=false coord@7 [{t 1}]",
		fmt.Sprintf("append %s CompleteAbort epoch 3 pid 50/3 @7", prep))
	wantStrings("past-deadline Ongoing", lateEvs,
		fmt.Sprintf("append %s PrepareAbort epoch 5 pid 52/5 @7", late),
		"markers pid 52/5 commit=false coord@7 [{t 0} {t 1}]",
		fmt.Sprintf("append %s CompleteAbort epoch 5 pid 52/5 @7", late))
	// The live one keeps its deadline: StartMs + TimeoutMs.
	if info := e.waitState(t, live, Ongoing); info.StartMs != now-1000 {
		t.Fatalf("live transaction: %+v", info)
	}
	e.clk.add(8 * time.Second)
	e.c.expire(nil)
	if info, _ := e.c.Describe(live); info.State != Ongoing {
		t.Fatalf("aborted before its deadline: %+v", info)
	}
	e.clk.add(2 * time.Second)
	e.c.expire(nil)
	e.waitState(t, live, CompleteAbort)
	// The id of a partition not loaded here is not this node's.
	if _, ok := e.c.Describe(other); ok {
		t.Fatal("an id of another partition was loaded")
	}
	wantErr(t, "other partition", e.c.AddPartitions(other, 53, 0, []plog.TopicPartition{tp0}), kerr.NotCoordinator)
	wantErr(t, "other partition end", e.c.EndTxn(other, 53, 0, false), kerr.NotCoordinator)
	if _, ke := e.c.VerifyPartitions(other, 53, 0, []plog.TopicPartition{tp0}); ke != kerr.NotCoordinator {
		t.Fatalf("verify other partition: %v", ke)
	}
	// The fenced producer of the aborted one.
	wantErr(t, "old epoch after abort", e.c.AddPartitions(late, 52, 4, []plog.TopicPartition{tp0}), kerr.ProducerFenced)
}

func TestClusterUnload(t *testing.T) {
	e := newClusterEnv(t, nil)
	const part = 20
	id := idIn(t, part, "u")
	if err := e.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	pid, ep := e.init(t, id, -1, -1)
	// An append in flight when the partition moves: its outcome is the
	// log's, the client hears NOT_COORDINATOR and asks the new one.
	gate := make(chan struct{})
	e.fc.set(func(f *fakeCluster) { f.appendGate = gate })
	done := make(chan *kerr.Error, 1)
	go func() { done <- e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}) }()
	deadline := time.Now().Add(5 * time.Second)
	for !e.fc.appending() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	e.c.Unload(part)
	close(gate)
	select {
	case ke := <-done:
		wantErr(t, "add in flight over Unload", ke, kerr.NotCoordinator)
	case <-time.After(5 * time.Second):
		t.Fatal("AddPartitions did not return after Unload")
	}
	e.fc.set(func(f *fakeCluster) { f.appendGate = nil })
	if _, ok := e.c.Describe(id); ok {
		t.Fatal("an unloaded id is still described")
	}
	wantErr(t, "add after Unload", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), kerr.NotCoordinator)
	wantErr(t, "end after Unload", e.c.EndTxn(id, pid, ep, true), kerr.NotCoordinator)
	if _, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: id, TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}); ke != kerr.NotCoordinator {
		t.Fatalf("init after Unload: %v", ke)
	}
	// Markers held when the partition moves stop; no Complete is written.
	if err := e.c.Load(part, loadEpoch+1); err != nil {
		t.Fatal(err)
	}
	id2 := idIn(t, part, "u2")
	pid2, ep2 := e.init(t, id2, -1, -1)
	wantErr(t, "add", e.c.AddPartitions(id2, pid2, ep2, []plog.TopicPartition{tp1}), nil)
	e.fc.set(func(f *fakeCluster) { f.markerGate = make(chan struct{}) })
	wantErr(t, "commit", e.c.EndTxn(id2, pid2, ep2, true), nil)
	n := len(e.fc.snapshot())
	e.c.Unload(part)
	time.Sleep(50 * time.Millisecond)
	if evs := e.fc.snapshot(); len(evs) != n || evs[n-1].st.State != string(PrepareCommit) || evs[n-1].epoch != loadEpoch+1 {
		t.Fatalf("after Unload with markers pending: %v", evs)
	}
}

// appending reports whether an append waits at the gate.
func (f *fakeCluster) appending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting > 0
}

func TestClusterFenceOngoing(t *testing.T) {
	e := newClusterEnv(t, nil)
	const part = 30
	id := idIn(t, part, "f")
	if err := e.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	pid, ep := e.init(t, id, -1, -1)
	wantErr(t, "add", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), nil)
	// A new producer of the id: Kafka's answer is CONCURRENT_TRANSACTIONS
	// while the old transaction is aborted at a bumped epoch.
	if _, _, ke := e.c.InitProducerID(InitRequest{TransactionalID: id, TimeoutMs: 10_000, ProducerID: -1, ProducerEpoch: -1}); ke != kerr.ConcurrentTransactions {
		t.Fatalf("init over an ongoing transaction: %v", ke)
	}
	e.waitState(t, id, CompleteAbort)
	p2, ep2 := e.init(t, id, -1, -1)
	if p2 != pid || ep2 != ep+2 {
		t.Fatalf("after the fence: %d/%d, want %d/%d", p2, ep2, pid, ep+2)
	}
	evs := e.fc.snapshot()
	var markers []clusterEvent
	for _, ev := range evs {
		if ev.kind == "markers" {
			markers = append(markers, ev)
		}
	}
	if len(markers) != 1 || markers[0].commit || markers[0].pepoch != ep+1 {
		t.Fatalf("fence markers: %v", markers)
	}
	wantErr(t, "old producer", e.c.EndTxn(id, pid, ep, true), kerr.ProducerFenced)
}

func TestClusterMarkersFencedLeavePrepare(t *testing.T) {
	e := newClusterEnv(t, nil)
	const part = 41
	id := idIn(t, part, "m")
	if err := e.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	pid, ep := e.init(t, id, -1, -1)
	wantErr(t, "add", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}), nil)
	e.fc.set(func(f *fakeCluster) { f.markerErr = errors.New("transaction coordinator fenced") })
	wantErr(t, "commit", e.c.EndTxn(id, pid, ep, true), nil)
	e.waitState(t, id, PrepareCommit)
	time.Sleep(50 * time.Millisecond)
	for _, ev := range e.fc.snapshot() {
		if ev.kind == "append" && ev.st.State == string(CompleteCommit) {
			t.Fatalf("Complete written though the markers were fenced: %v", e.fc.snapshot())
		}
	}
	if err := e.c.Load(99, 1); err != nil { // a partition of nothing: harmless
		t.Fatal(err)
	}
}

// TestClusterFailoverResumes moves a partition from one coordinator to
// another over the same view (the replicated __transaction_state, through
// the real codec): a commit whose Prepare was written is finished by the
// new coordinator at its own coordinator epoch, an open transaction keeps
// its deadline there and is aborted at it.
func TestClusterFailoverResumes(t *testing.T) {
	view := newFakeStore()
	a := newClusterEnv(t, view)
	const part = 17
	committing, open := idIn(t, part, "c"), idIn(t, part, "o")
	if err := a.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	pidC, epC := a.init(t, committing, -1, -1)
	pidO, epO := a.init(t, open, -1, -1)
	wantErr(t, "add", a.c.AddPartitions(committing, pidC, epC, []plog.TopicPartition{tp0, tp1}), nil)
	wantErr(t, "add open", a.c.AddPartitions(open, pidO, epO, []plog.TopicPartition{tp1}), nil)
	a.fc.set(func(f *fakeCluster) { f.markerGate = make(chan struct{}) }) // node a dies before any marker
	wantErr(t, "commit", a.c.EndTxn(committing, pidC, epC, true), nil)
	a.c.Close()

	b := newClusterEnv(t, view)
	b.clk.ms.Store(a.clk.ms.Load())
	if err := b.c.Load(part, loadEpoch+1); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, committing, CompleteCommit)
	evs := b.waitEvents(t, 2)
	wantEvents(t, evs,
		fmt.Sprintf("markers pid %d/%d commit=true coord@%d [{t 0} {t 1}]", pidC, epC, loadEpoch+1),
		fmt.Sprintf("append %s CompleteCommit epoch %d pid %d/%d @%d", committing, epC, pidC, epC, loadEpoch+1))
	info := b.waitState(t, open, Ongoing)
	if len(info.Partitions) != 1 || info.Partitions[0] != tp1 {
		t.Fatalf("open transaction after the move: %+v", info)
	}
	// The producer goes on with the new coordinator...
	wantErr(t, "add on the new coordinator", b.c.AddPartitions(open, pidO, epO, []plog.TopicPartition{tp0}), nil)
	// ... until its timeout, counted from its start on the old one.
	b.clk.add(10 * time.Second)
	b.c.expire(nil)
	b.waitState(t, open, CompleteAbort)
	wantErr(t, "fenced after the timeout", b.c.EndTxn(open, pidO, epO, true), kerr.ProducerFenced)
	if r := view.record(t, open); r.State != CompleteAbort || r.Epoch != epO+1 {
		t.Fatalf("view after the abort: %+v", r)
	}
}

// TestClusterConcurrentMoves runs producers while their partition is
// unloaded and loaded again and again (-race): every answer is one a
// client handles, nothing deadlocks, and once the partition stays loaded
// every id serves again.
func TestClusterConcurrentMoves(t *testing.T) {
	e := newClusterEnv(t, nil)
	const part = 44
	if err := e.c.Load(part, 1); err != nil {
		t.Fatal(err)
	}
	allowed := map[*kerr.Error]bool{nil: true, kerr.NotCoordinator: true, kerr.ConcurrentTransactions: true,
		kerr.InvalidProducerIDMapping: true, kerr.ProducerFenced: true, kerr.InvalidTxnState: true}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for w := range 6 {
		id := idIn(t, part, fmt.Sprintf("w%d", w))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				pid, ep, ke := e.c.InitProducerID(InitRequest{TransactionalID: id, TimeoutMs: 10_000, ProducerID: -1, ProducerEpoch: -1})
				if !allowed[ke] {
					errs <- fmt.Sprintf("init: %v", ke)
					return
				}
				if ke != nil {
					continue
				}
				for _, ke := range []*kerr.Error{
					e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp0}),
					e.c.EndTxn(id, pid, ep, w%2 == 0),
				} {
					if !allowed[ke] {
						errs <- fmt.Sprintf("op: %v", ke)
						return
					}
				}
			}
		})
	}
	for epoch := int32(2); epoch < 40; epoch++ {
		e.c.Unload(part)
		time.Sleep(time.Millisecond)
		if err := e.c.Load(part, epoch); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("producers stuck after the moves")
	}
	close(errs)
	for s := range errs {
		t.Error(s)
	}
	id := idIn(t, part, "after")
	pid, ep := e.init(t, id, -1, -1)
	wantErr(t, "add after the moves", e.c.AddPartitions(id, pid, ep, []plog.TopicPartition{tp1}), nil)
	wantErr(t, "commit after the moves", e.c.EndTxn(id, pid, ep, true), nil)
	e.waitState(t, id, CompleteCommit)
}

// TestClusterIdleIDTombstone: an id idle for IDExpiration is forgotten
// with a tombstone in __transaction_state (the view drops it too).
func TestClusterIdleIDTombstone(t *testing.T) {
	e := newClusterEnv(t, nil)
	const part = 5
	id := idIn(t, part, "idle")
	if err := e.c.Load(part, loadEpoch); err != nil {
		t.Fatal(err)
	}
	e.init(t, id, -1, -1)
	e.clk.add(DefaultIDExpiration + time.Minute)
	e.c.expire(nil)
	evs := e.fc.snapshot()
	if last := evs[len(evs)-1]; last.id != id || last.st.State != coordlog.StateDead {
		t.Fatalf("last event %v, want %s's tombstone", last, id)
	}
	if _, ok := e.c.Describe(id); ok {
		t.Fatal("an expired id is still described")
	}
	e.store.mu.Lock()
	_, inView := e.store.meta[metaKey(id)]
	e.store.mu.Unlock()
	if inView {
		t.Fatal("the tombstone left the id in the view")
	}
	// Its next InitProducerId starts over with a new producer id.
	if pid, ep := e.init(t, id, -1, -1); pid == 100 || ep != 0 {
		t.Fatalf("after expiry: %d/%d, want a new producer id at epoch 0", pid, ep)
	}
}
