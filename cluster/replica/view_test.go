package replica_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/cluster/replica"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// The view tests run the apply loop over real replication (real etcd,
// RocksDB logs, Kafka fetches between the nodes) on a topic the Managers
// treat as __consumer_offsets, with the real coordlog codec; the view
// itself is kept by memView, which also checks that nothing is applied
// above the node's high watermark at the moment it is applied.

const viewTopic = "coord"

// memView is one node's view (replica.ViewStore), kept across restarts of
// the node's Manager.
type memView struct {
	t   *testing.T
	log func() *plog.Log

	mu        sync.Mutex
	applied   int64
	offsets   map[plog.OffsetKey]int64
	resets    int
	overHWM   []string // applies above the high watermark
	firstFrom int64    // the first batch applied after the last reset, -1: none
}

func newMemView(t *testing.T, l func() *plog.Log) *memView {
	return &memView{t: t, log: l, offsets: map[plog.OffsetKey]int64{}, firstFrom: -1}
}

func (v *memView) ViewApplied(topic string, part int32) (int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.applied, nil
}

func (v *memView) ApplyView(topic string, part int32, applied int64, ch plog.ViewChange) error {
	_, hwm, err := v.log().Offsets(topic, part)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if applied > hwm {
		v.overHWM = append(v.overHWM, fmt.Sprintf("applied %d above the high watermark %d", applied, hwm))
	}
	for _, o := range ch.Offsets {
		v.offsets[plog.OffsetKey{Group: o.Group, Topic: o.Topic, Partition: o.Partition}] = o.Offset
	}
	for _, k := range ch.Deleted {
		delete(v.offsets, k)
	}
	v.applied = applied
	return nil
}

func (v *memView) ResetView(topic string, part int32) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.applied, v.offsets = 0, map[plog.OffsetKey]int64{}
	v.resets++
	return nil
}

func (v *memView) snapshot() (applied int64, offsets map[plog.OffsetKey]int64, resets int, over []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	offs := make(map[plog.OffsetKey]int64, len(v.offsets))
	for k, o := range v.offsets {
		offs[k] = o
	}
	return v.applied, offs, v.resets, append([]string(nil), v.overHWM...)
}

// hookEvent is one onLoad/onUnload call, with whether the node still led
// (CheckProduce) when it ran.
type hookEvent struct {
	node    int32
	load    bool
	epoch   int32
	leading bool
	applied int64 // the view's applied offset at the call (onLoad)
	logEnd  int64
}

type viewCluster struct {
	*testCluster
	views map[int32]*memView

	mu     sync.Mutex
	events []hookEvent
}

// newViewCluster starts n nodes whose Managers treat viewTopic as the
// group coordinator's partition, keep the view in memViews and record
// their hooks.
func newViewCluster(t *testing.T, n int, lag time.Duration, minISR int) *viewCluster {
	vc := &viewCluster{views: map[int32]*memView{}}
	for id := int32(1); id <= int32(n); id++ {
		vc.views[id] = newMemView(t, func() *plog.Log { return vc.node(id).log })
	}
	vc.testCluster = newClusterWith(t, n, lag, minISR, nil, func(id int32, cfg *replica.Config) {
		cfg.Internal = func(topic string) (coordlog.Kind, bool) { return coordlog.Group, topic == viewTopic }
		cfg.View = vc.views[id]
	})
	for id := int32(1); id <= int32(n); id++ {
		vc.hook(id)
	}
	return vc
}

// hook installs the recording hooks on node id's (current) Manager.
func (vc *viewCluster) hook(id int32) {
	nd := vc.node(id)
	mgr := nd.mgr
	nd.mgr.SetCoordinatorHooks(func(kind coordlog.Kind, part, epoch int32) {
		leo, _ := nd.log.LogEndOffset(viewTopic, part)
		applied, _, _, _ := vc.views[id].snapshot()
		vc.record(hookEvent{node: id, load: true, epoch: epoch, leading: mgr.CheckProduce(viewTopic, part, epoch, false) == nil, applied: applied, logEnd: leo})
	}, func(kind coordlog.Kind, part int32) {
		vc.record(hookEvent{node: id, leading: mgr.CheckProduce(viewTopic, part, -1, false) == nil})
	})
}

func (vc *viewCluster) record(e hookEvent) {
	vc.mu.Lock()
	vc.events = append(vc.events, e)
	vc.mu.Unlock()
}

func (vc *viewCluster) eventsOf(id int32) []hookEvent {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	var out []hookEvent
	for _, e := range vc.events {
		if e.node == id {
			out = append(out, e)
		}
	}
	return out
}

// commit appends one OffsetCommit batch (group g, partition i of topic t,
// offset off) on node id, the leader, and waits as AppendInternal does:
// replicated, then applied. It returns the batch's last offset.
func (vc *viewCluster) commit(id int32, i int32, off int64) (int64, error) {
	nd := vc.node(id)
	raw := coordlog.OffsetBatch([]plog.CommittedOffset{{Group: "g", Topic: "t", Partition: i, Offset: off, LeaderEpoch: -1}}, nil, time.Now().UnixMilli())
	res := nd.log.Append(context.Background(), []plog.AppendRequest{{Topic: viewTopic, Partition: 0, Batch: raw}})
	if res[0].Err != nil {
		return 0, res[0].Err
	}
	last := res[0].LastOffset
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nd.mgr.AwaitReplicated(ctx, viewTopic, 0, last); err != nil {
		return 0, fmt.Errorf("replicated: %w", err)
	}
	if err := nd.mgr.AwaitApplied(ctx, viewTopic, 0, last); err != nil {
		return 0, fmt.Errorf("applied: %w", err)
	}
	return last, nil
}

func (vc *viewCluster) mustCommit(id int32, i int32, off int64) int64 {
	vc.t.Helper()
	last, err := vc.commit(id, i, off)
	if err != nil {
		vc.t.Fatalf("commit t-%d at %d on node %d: %v", i, off, id, err)
	}
	return last
}

// viewHas waits until node id's view has applied up to at least applied
// and holds want.
func (vc *viewCluster) viewHas(id int32, applied int64, want map[int32]int64) {
	vc.t.Helper()
	eventually(vc.t, fmt.Sprintf("node %d's view", id), func() string {
		a, offs, _, _ := vc.views[id].snapshot()
		if a < applied {
			return fmt.Sprintf("applied %d, want %d", a, applied)
		}
		for i, o := range want {
			if got, ok := offs[plog.OffsetKey{Group: "g", Topic: "t", Partition: i}]; !ok || got != o {
				return fmt.Sprintf("t-%d: %d (%v), want %d", i, got, ok, o)
			}
		}
		return ""
	})
}

func (vc *viewCluster) noneOverHWM() {
	vc.t.Helper()
	for id, v := range vc.views {
		if _, _, _, over := v.snapshot(); len(over) > 0 {
			vc.t.Fatalf("node %d applied above its high watermark: %v", id, over)
		}
	}
}

// TestViewStopsAtHWM: every replica applies its internal partition, and
// only below its high watermark. A follower that has a batch the ISR does
// not (one ISR member cut off) holds it unapplied, as the leader does;
// once the cut member catches up, all apply it. No apply on any node is
// ever above that node's high watermark.
func TestViewStopsAtHWM(t *testing.T) {
	vc := newViewCluster(t, 3, 30*time.Second, 2)
	vc.createTopic(viewTopic, 1, 2, 3)
	var last int64
	for i := range int32(3) {
		last = vc.mustCommit(1, i, 100+int64(i))
	}
	want := map[int32]int64{0: 100, 1: 101, 2: 102}
	for id := int32(1); id <= 3; id++ {
		vc.viewHas(id, last+1, want)
	}

	// Node 3 cannot fetch: the high watermark stays, node 2 gets the batch.
	vc.setCut(3, 1, true)
	nd1 := vc.node(1)
	raw := coordlog.OffsetBatch([]plog.CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 200, LeaderEpoch: -1}}, nil, 1)
	res := nd1.log.Append(context.Background(), []plog.AppendRequest{{Topic: viewTopic, Partition: 0, Batch: raw}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	eventually(t, "node 2 has the batch", func() string {
		if leo, _ := vc.node(2).log.LogEndOffset(viewTopic, 0); leo <= res[0].LastOffset {
			return fmt.Sprintf("log end %d", leo)
		}
		return ""
	})
	time.Sleep(700 * time.Millisecond) // fetch rounds and apply loops run meanwhile
	for id := int32(1); id <= 2; id++ {
		a, offs, _, _ := vc.views[id].snapshot()
		if a != last+1 || offs[plog.OffsetKey{Group: "g", Topic: "t", Partition: 0}] != 100 {
			t.Fatalf("node %d applied up to %d (t-0 at %d) above the high watermark %d", id, a, offs[plog.OffsetKey{Group: "g", Topic: "t", Partition: 0}], last+1)
		}
	}
	vc.setCut(3, 1, false)
	want[0] = 200
	for id := int32(1); id <= 3; id++ {
		vc.viewHas(id, res[0].LastOffset+1, want)
	}
	vc.noneOverHWM()
}

// TestViewLoadAndUnload: a leader is loaded once its tail is applied and
// calls onLoad once per leadership (not again at an ISR change); when the
// leadership moves, the old leader's onUnload runs while it still leads
// (before the role change), and the new leader's onLoad comes once its
// view holds the log end it had when it became leader: every
// acknowledged commit.
func TestViewLoadAndUnload(t *testing.T) {
	vc := newViewCluster(t, 3, 30*time.Second, 2)
	vc.createTopic(viewTopic, 1, 2, 3)
	eventually(t, "node 1 loaded", func() string {
		if e, loaded := vc.node(1).mgr.CoordinatorState(viewTopic, 0); !loaded || e != 0 {
			return fmt.Sprintf("epoch %d loaded %v", e, loaded)
		}
		return ""
	})
	want := map[int32]int64{}
	var last int64
	for i := range int32(5) {
		last = vc.mustCommit(1, i, int64(10*i))
		want[i] = int64(10 * i)
	}
	if e, loaded := vc.node(2).mgr.CoordinatorState(viewTopic, 0); loaded || e != -1 {
		t.Fatalf("follower node 2: epoch %d loaded %v, want -1 false", e, loaded)
	}

	st := vc.moveLeader(viewTopic, 1) // node 2 leads, epoch 1, ISR [2 3]
	if st.Leader != 2 {
		t.Fatalf("new leader %d", st.Leader)
	}
	eventually(t, "node 2 loaded at epoch 1", func() string {
		if e, loaded := vc.node(2).mgr.CoordinatorState(viewTopic, 0); !loaded || e != 1 {
			return fmt.Sprintf("epoch %d loaded %v", e, loaded)
		}
		return ""
	})
	vc.viewHas(2, last+1, want)
	last = vc.mustCommit(2, 0, 999) // the new leader takes commits
	want[0] = 999
	for id := int32(2); id <= 3; id++ {
		vc.viewHas(id, last+1, want)
	}
	vc.waitISR(viewTopic, 1, 2, 3) // node 1 follows and rejoins: an ISR change
	vc.mustCommit(2, 1, 1000)

	ev1 := vc.eventsOf(1)
	if len(ev1) != 2 || !ev1[0].load || ev1[0].epoch != 0 || ev1[1].load {
		t.Fatalf("node 1's hooks %+v, want onLoad(epoch 0) then onUnload", ev1)
	}
	if !ev1[1].leading {
		t.Fatalf("node 1's onUnload ran after it stopped leading: %+v", ev1[1])
	}
	ev2 := vc.eventsOf(2)
	if len(ev2) != 1 || !ev2[0].load || ev2[0].epoch != 1 || !ev2[0].leading {
		t.Fatalf("node 2's hooks %+v, want one onLoad(epoch 1), while leading", ev2)
	}
	if ev2[0].applied < ev2[0].logEnd {
		t.Fatalf("node 2 loaded with applied %d below its tail", ev2[0].applied)
	}
	if ev3 := vc.eventsOf(3); len(ev3) != 0 {
		t.Fatalf("follower node 3 had hooks called: %+v", ev3)
	}
	vc.noneOverHWM()
}

// TestViewNewLeaderAfterKill: commits acknowledged by the leader
// (replicated and applied) are all in the new leader's view after the old
// leader's Manager is killed and leadership moves; the old leader, back,
// follows and applies the new leader's commits too.
func TestViewNewLeaderAfterKill(t *testing.T) {
	vc := newViewCluster(t, 3, 30*time.Second, 2)
	vc.createTopic(viewTopic, 1, 2, 3)
	want := map[int32]int64{}
	for i := range int32(20) {
		vc.mustCommit(1, i%7, int64(i))
		want[i%7] = int64(i)
	}
	vc.node(1).stop()
	vc.setDown(1, true)
	vc.moveLeader(viewTopic, 1)
	eventually(t, "node 2 loaded", func() string {
		if e, loaded := vc.node(2).mgr.CoordinatorState(viewTopic, 0); !loaded || e != 1 {
			return fmt.Sprintf("epoch %d loaded %v", e, loaded)
		}
		return ""
	})
	_, offs, _, _ := vc.views[2].snapshot()
	for i, o := range want {
		if got := offs[plog.OffsetKey{Group: "g", Topic: "t", Partition: i}]; got != o {
			t.Fatalf("new leader's view: t-%d at %d, acknowledged %d", i, got, o)
		}
	}
	last := vc.mustCommit(2, 3, 333)
	want[3] = 333
	vc.setDown(1, false)
	vc.node(1).start()
	vc.hook(1)
	vc.viewHas(1, last+1, want)
	if e, loaded := vc.node(1).mgr.CoordinatorState(viewTopic, 0); loaded {
		t.Fatalf("node 1 is a follower now, but loaded at epoch %d", e)
	}
	vc.noneOverHWM()
}

// TestViewResetOnLogReset: a follower behind the leader's log start
// starts its log over there, and its view with it (ResetView), then
// applies from the new log start.
func TestViewResetOnLogReset(t *testing.T) {
	vc := newViewCluster(t, 2, time.Second, 1)
	vc.createTopic(viewTopic, 1, 2)
	vc.mustCommit(1, 0, 1)
	vc.viewHas(2, 1, map[int32]int64{0: 1})

	vc.node(2).stop()
	vc.setDown(2, true)
	vc.waitISR(viewTopic, 1)
	vc.mustCommit(1, 1, 2)
	last := vc.mustCommit(1, 2, 3)
	if _, err := vc.node(1).log.TrimBefore(context.Background(), viewTopic, 0, last); err != nil {
		t.Fatal(err)
	}
	vc.setDown(2, false)
	vc.node(2).start()
	vc.viewHas(2, last+1, map[int32]int64{2: 3})
	_, offs, resets, _ := vc.views[2].snapshot()
	if resets == 0 {
		t.Fatal("the follower's log started over, its view was not reset")
	}
	if _, ok := offs[plog.OffsetKey{Group: "g", Topic: "t", Partition: 0}]; ok {
		t.Fatalf("the reset view still holds t-0: %v", offs)
	}
	vc.noneOverHWM()
}

// TestViewDroppedWhenNotReplica: a node taken out of an internal
// partition's replicas stops applying and forgets the partition's view;
// the others go on.
func TestViewDroppedWhenNotReplica(t *testing.T) {
	vc := newViewCluster(t, 3, 30*time.Second, 1)
	vc.createTopic(viewTopic, 1, 2, 3)
	last := vc.mustCommit(1, 0, 5)
	vc.viewHas(3, last+1, map[int32]int64{0: 5})
	st, version := vc.state(viewTopic)
	st.Replicas, st.ISR, st.PartitionEpoch = []int32{1, 2}, []int32{1, 2}, st.PartitionEpoch+1
	if _, err := meta.UpdatePartition(testCtx(t, 5*time.Second), vc.node(1).store, viewTopic, 0, version, st); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node 3's view dropped", func() string {
		if a, offs, resets, _ := vc.views[3].snapshot(); resets == 0 || a != 0 || len(offs) != 0 {
			return fmt.Sprintf("applied %d, %d offsets, %d resets", a, len(offs), resets)
		}
		return ""
	})
	last = vc.mustCommit(1, 1, 6)
	vc.viewHas(2, last+1, map[int32]int64{0: 5, 1: 6})
	time.Sleep(300 * time.Millisecond)
	if a, _, _, _ := vc.views[3].snapshot(); a != 0 {
		t.Fatalf("node 3 applies still: applied %d", a)
	}
	vc.noneOverHWM()
}

// TestInternalMinInsyncClamped: min.insync.replicas 2 on an internal
// partition with one replica is clamped to 1 (acks=all works); a user
// topic with one replica keeps 2 and is refused.
func TestInternalMinInsyncClamped(t *testing.T) {
	vc := newViewCluster(t, 2, 30*time.Second, 2)
	vc.createTopic(viewTopic, 1)
	vc.createTopic("user", 1)
	last := vc.mustCommit(1, 0, 7)
	vc.viewHas(1, last+1, map[int32]int64{0: 7})
	if err := vc.node(1).mgr.CheckProduce(viewTopic, 0, -1, true); err != nil {
		t.Fatalf("internal partition at RF 1, acks=all: %v", err)
	}
	if err := vc.node(1).mgr.CheckProduce("user", 0, -1, true); !errors.Is(err, kafka.ErrNotEnoughReplicas) {
		t.Fatalf("user topic at RF 1 with min.insync.replicas 2: %v, want ErrNotEnoughReplicas", err)
	}
}
