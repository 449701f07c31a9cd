package catalog_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// write appends one record to topic-0 of l.
func write(t *testing.T, l *plog.Log, topic string) {
	t.Helper()
	bb := batch.NewBuilder()
	bb.Add(time.Now().UnixMilli(), nil, []byte("v"), nil)
	b := bb.Bytes()
	res := l.Append(context.Background(), []plog.AppendRequest{{Topic: topic, Partition: 0, Batch: b}})
	if res[0].Err != nil {
		t.Fatalf("append to %s: %v", topic, res[0].Err)
	}
}

func hwm(t *testing.T, l *plog.Log, topic string) int64 {
	t.Helper()
	_, h, err := l.Offsets(topic, 0)
	if err != nil {
		t.Fatalf("offsets of %s: %v", topic, err)
	}
	return h
}

// TestNodeAwayCatchesUp: node 2 is stopped while node 1 deletes a topic
// and creates it again (a new id), deletes another, creates a third; a
// topic is also made in node 2's log alone. When node 2 starts again, its
// first sync (before Ready) replaces the stale topic (its old records
// gone), drops the deleted and the local-only ones, and creates the new.
func TestNodeAwayCatchesUp(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	n1 := startNode(t, 1, newStore(t, e, "/away/"), openLog(t, t.TempDir()))
	dir2 := t.TempDir()
	l2 := openLog(t, dir2)
	n2 := startNode(t, 2, newStore(t, e, "/away/"), l2)
	for _, name := range []string{"recreated", "deleted", "kept"} {
		if err := n1.cat.CreateTopic(ctx, name, 2, 2, nil); err != nil {
			t.Fatalf("CreateTopic %s: %v", name, err)
		}
	}
	for _, name := range []string{"recreated", "deleted", "kept"} {
		info, _ := n1.log.Topic(name)
		eventually(t, name+" on node 2", func() string { return n2.synced(name, info.UUID, 2) })
	}
	oldInfo, _ := l2.Topic("recreated")
	write(t, l2, "recreated")
	write(t, l2, "kept")
	n2.stop()
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}

	if err := n1.cat.DeleteTopic(ctx, "recreated"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if err := n1.cat.CreateTopic(ctx, "recreated", 3, 2, map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatalf("CreateTopic again: %v", err)
	}
	if err := n1.cat.DeleteTopic(ctx, "deleted"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if err := n1.cat.CreateTopic(ctx, "new", 4, 1, nil); err != nil {
		t.Fatalf("CreateTopic new: %v", err)
	}
	newInfo, _ := n1.log.Topic("recreated")
	if newInfo.UUID == oldInfo.UUID {
		t.Fatal("recreated topic kept its id")
	}

	l2 = openLog(t, dir2)
	defer l2.Close()
	if _, err := l2.CreateTopic("local-only", 1, nil); err != nil {
		t.Fatal(err)
	}
	write(t, l2, "local-only")
	n2 = startNode(t, 2, newStore(t, e, "/away/"), l2) // returns once Ready
	if msg := hasTopic(l2, "recreated", newInfo.UUID, 3); msg != "" {
		t.Fatalf("at Ready: %s", msg)
	}
	if info, _ := l2.Topic("recreated"); info.Configs["retention.ms"] != "1000" {
		t.Fatalf("at Ready: recreated configs %v", info.Configs)
	}
	if h := hwm(t, l2, "recreated"); h != 0 {
		t.Fatalf("at Ready: the recreated topic has the old one's records (high watermark %d)", h)
	}
	if h := hwm(t, l2, "kept"); h != 1 {
		t.Fatalf("at Ready: kept lost its record (high watermark %d)", h)
	}
	for _, gone := range []string{"deleted", "local-only"} {
		if _, ok := l2.Topic(gone); ok {
			t.Fatalf("at Ready: node 2 still has %s", gone)
		}
	}
	info, _ := n1.log.Topic("new")
	if msg := hasTopic(l2, "new", info.UUID, 4); msg != "" {
		t.Fatalf("at Ready: %s", msg)
	}
	if st, _, ok := n2.cat.Partition("new", 3); !ok || len(st.Replicas) != 1 {
		t.Fatalf("at Ready: new-3 = %+v %v", st, ok)
	}
}

// breakable is a Store whose watches can be broken on demand, and whose
// next List then waits for a go-ahead: the changes made meanwhile reach a
// node only by its listing again.
type breakable struct {
	meta.Store
	mu      sync.Mutex
	cancels []context.CancelFunc
	gate    chan struct{} // non-nil: List waits until it is closed
	lists   atomic.Int32
}

func (b *breakable) List(ctx context.Context, prefix string) ([]meta.KV, int64, error) {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	b.lists.Add(1)
	return b.Store.List(ctx, prefix)
}

type brokenWatcher struct {
	meta.Watcher
	out    chan []meta.Event
	broken atomic.Bool
}

func (w *brokenWatcher) Events() <-chan []meta.Event { return w.out }
func (w *brokenWatcher) Err() error {
	if w.broken.Load() {
		return fmt.Errorf("%w: broken by the test", meta.ErrWatchBroken)
	}
	return w.Watcher.Err()
}

func (b *breakable) Watch(ctx context.Context, prefix string, after int64) meta.Watcher {
	wctx, cancel := context.WithCancel(ctx)
	inner := b.Store.Watch(wctx, prefix, after)
	w := &brokenWatcher{Watcher: inner, out: make(chan []meta.Event)}
	b.mu.Lock()
	b.cancels = append(b.cancels, func() { w.broken.Store(true); cancel() })
	b.mu.Unlock()
	go func() {
		defer close(w.out)
		for batch := range inner.Events() {
			select {
			case w.out <- batch:
			case <-wctx.Done():
				return
			}
		}
	}()
	return w
}

// breakAll breaks the running watches; the next List waits for the
// returned release.
func (b *breakable) breakAll() (release func()) {
	b.mu.Lock()
	gate := make(chan struct{})
	b.gate = gate
	cancels := b.cancels
	b.cancels = nil
	b.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	return func() {
		b.mu.Lock()
		b.gate = nil
		b.mu.Unlock()
		close(gate)
	}
}

// TestBrokenWatchListsAgain: a watch that breaks (etcd compacted past it,
// a lost member) makes the node list again; what changed meanwhile (a
// topic deleted and created again, a leader moved, a topic deleted) is
// applied from the list.
func TestBrokenWatchListsAgain(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	n1 := startNode(t, 1, newStore(t, e, "/broken/"), openLog(t, t.TempDir()))
	bs := &breakable{Store: newStore(t, e, "/broken/")}
	n2 := startNode(t, 2, bs, openLog(t, t.TempDir()))
	for _, name := range []string{"a", "b", "c"} {
		if err := n1.cat.CreateTopic(ctx, name, 1, 2, nil); err != nil {
			t.Fatalf("CreateTopic %s: %v", name, err)
		}
	}
	cInfo, _ := n1.log.Topic("c")
	eventually(t, "c on node 2", func() string { return n2.synced("c", cInfo.UUID, 1) }) // and handed over
	write(t, n2.log, "a")
	lists := bs.lists.Load()

	release := bs.breakAll()
	if err := n1.cat.DeleteTopic(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := n1.cat.CreateTopic(ctx, "a", 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := n1.cat.DeleteTopic(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	st, v, _ := n1.cat.Partition("c", 0)
	st.Leader, st.LeaderEpoch = st.Replicas[1], 1
	nv, err := meta.UpdatePartition(ctx, n1.store, "c", 0, v, st)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // node 2 would have seen them by now, were it watching
	if _, ok := n2.log.Topic("b"); !ok {
		t.Fatal("node 2 saw a change while its watch was broken: the test does not test the list")
	}
	oldA, _, _ := n2.cat.Topic("a")
	oldB, _, _ := n2.cat.Topic("b")
	n2.takeChanges()
	release()

	aInfo, _ := n1.log.Topic("a")
	eventually(t, "node 2 after listing again", func() string {
		if msg := n2.synced("a", aInfo.UUID, 2); msg != "" {
			return msg
		}
		if _, ok := n2.log.Topic("b"); ok {
			return "b still there"
		}
		if got, gv, _ := n2.cat.Partition("c", 0); gv != nv || got.LeaderEpoch != 1 {
			return fmt.Sprintf("c-0 = %+v at %d, want epoch 1 at %d", got, gv, nv)
		}
		return ""
	})
	if h := hwm(t, n2.log, "a"); h != 0 {
		t.Fatalf("the new a has the old one's record (high watermark %d)", h)
	}
	if bs.lists.Load() <= lists {
		t.Fatal("node 2 converged without listing again")
	}
	// The list hands over what changed, and only that: old a and b gone,
	// new a's two partitions, c-0's new leader.
	got := map[string]bool{}
	for _, c := range n2.waitChanges(t, 5) {
		got[fmt.Sprintf("%s-%d %x deleted=%v v%d", c.Topic, c.Partition, c.TopicID[:2], c.Deleted, c.Version)] = true
	}
	_, av0, _ := n2.cat.Partition("a", 0)
	_, av1, _ := n2.cat.Partition("a", 1)
	cRec, _, _ := n2.cat.Topic("c")
	want := map[string]bool{
		fmt.Sprintf("a-0 %x deleted=true v0", oldA.UUID[:2]):         true,
		fmt.Sprintf("b-0 %x deleted=true v0", oldB.UUID[:2]):         true,
		fmt.Sprintf("a-0 %x deleted=false v%d", aInfo.UUID[:2], av0): true,
		fmt.Sprintf("a-1 %x deleted=false v%d", aInfo.UUID[:2], av1): true,
		fmt.Sprintf("c-0 %x deleted=false v%d", cRec.UUID[:2], nv):   true,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("changes handed over after the list:\n got %v\nwant %v", got, want)
	}
	// And it watches again: a change after the list arrives.
	if err := n1.cat.AddPartitions(ctx, "c", 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "c grown on node 2", func() string { return n2.synced("c", cInfo.UUID, 2) })
	if _, ok := n2.log.Topic("a"); !ok {
		t.Fatal("a vanished")
	}
}
