package catalog_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	plog "github.com/zombi-dev/zombi/log"
)

// roundRobin is the simplest assignment: partition p on nodes start+p,
// start+p+1, ... (start < 0: random). cluster.Assign is the real,
// rack-aware one.
func roundRobin(nodes []meta.NodeRecord, partitions int32, rf int16, start int) ([][]int32, error) {
	if len(nodes) == 0 || int(rf) > len(nodes) {
		return nil, fmt.Errorf("rf %d over %d nodes", rf, len(nodes))
	}
	if start < 0 {
		start = rand.IntN(len(nodes))
	}
	out := make([][]int32, partitions)
	for p := range out {
		for r := 0; r < int(rf); r++ {
			out[p] = append(out[p], nodes[(start+p+r)%len(nodes)].ID)
		}
	}
	return out, nil
}

// twoLive: both test nodes are registered.
func twoLive() []meta.NodeRecord { return []meta.NodeRecord{{ID: 2}, {ID: 1}} }

// newStore is a Store on its own etcd client (each node has its own, as
// in a real cluster), closed when the test ends.
func newStore(t *testing.T, e *etcdtest.Etcd, prefix string) meta.Store {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	s := meta.NewEtcdStore(cli, prefix)
	t.Cleanup(func() { _ = s.Close(); _ = cli.Close() })
	return s
}

func openLog(t testing.TB, dir string) *plog.Log {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() }) // after the node's catalog stopped (cleanups run last first)
	return l
}

// node is one Zombi's catalog over its own log.
type node struct {
	id    int32
	log   *plog.Log
	store meta.Store
	cat   *catalog.Catalog

	mu      sync.Mutex
	changes []catalog.Change

	cancel context.CancelFunc
	done   chan struct{}
}

// startNode runs a catalog for node id over l and waits until it is
// ready; stop (also at cleanup) ends it.
func startNode(t testing.TB, id int32, s meta.Store, l *plog.Log) *node {
	t.Helper()
	n := &node{id: id, log: l, store: s, done: make(chan struct{})}
	n.cat = catalog.New(catalog.Config{
		Store: s, Log: l, NodeID: id, LiveNodes: twoLive, Assign: roundRobin,
		OnChange: func(cs []catalog.Change) {
			for _, c := range cs {
				if _, v, _ := n.cat.Partition(c.Topic, c.Partition); !c.Deleted && v == c.Version {
					t.Errorf("node %d: the view showed %s-%d at %d before OnChange had it", id, c.Topic, c.Partition, v)
				}
			}
			n.mu.Lock()
			n.changes = append(n.changes, cs...)
			n.mu.Unlock()
		},
		Logger: slog.New(slog.DiscardHandler).With("node", id),
	})
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		defer close(n.done)
		if err := n.cat.Run(ctx); err != nil {
			t.Errorf("node %d: Run: %v", id, err)
		}
	}()
	t.Cleanup(n.stop)
	select {
	case <-n.cat.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("node %d: catalog not ready after 10 s", id)
	}
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

// takeChanges returns and forgets the changes seen so far.
func (n *node) takeChanges() []catalog.Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.changes
	n.changes = nil
	return out
}

// eventually retries cond until it returns "" or 10 s pass.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 10 s: %s", what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasTopic says "" when l has the topic with that id and partitions.
func hasTopic(l *plog.Log, name string, id [16]byte, parts int32) string {
	info, ok := l.Topic(name)
	switch {
	case !ok:
		return fmt.Sprintf("no topic %s", name)
	case info.UUID != id:
		return fmt.Sprintf("topic %s has id %x, want %x", name, info.UUID, id)
	case info.Partitions != parts:
		return fmt.Sprintf("topic %s has %d partitions, want %d", name, info.Partitions, parts)
	}
	return ""
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// synced says "" when n's log has the topic with that id and partitions
// and its view knows every partition (the view is published after the log
// changed).
func (n *node) synced(name string, id [16]byte, parts int32) string {
	if msg := hasTopic(n.log, name, id, parts); msg != "" {
		return msg
	}
	rec, _, ok := n.cat.Topic(name)
	if !ok || rec.UUID != id || rec.Partitions != parts {
		return fmt.Sprintf("view has %s as %+v %v", name, rec, ok)
	}
	for p := int32(0); p < parts; p++ {
		if _, _, ok := n.cat.Partition(name, p); !ok {
			return fmt.Sprintf("view lacks %s-%d", name, p)
		}
	}
	return ""
}

// waitChanges waits until n was handed at least want changes (OnChange
// runs just after the view is published) and takes them.
func (n *node) waitChanges(t *testing.T, want int) []catalog.Change {
	t.Helper()
	eventually(t, fmt.Sprintf("%d changes on node %d", want, n.id), func() string {
		n.mu.Lock()
		defer n.mu.Unlock()
		if len(n.changes) < want {
			return fmt.Sprintf("%d so far: %+v", len(n.changes), n.changes)
		}
		return ""
	})
	return n.takeChanges()
}

// catalogKeys lists the topics/ and partitions/ keys, and the store's
// revision.
func catalogKeys(t *testing.T, s meta.Store) ([]meta.KV, int64) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	topics, _, err := s.List(ctx, meta.TopicsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	parts, rev, err := s.List(ctx, meta.PartitionsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return append(topics, parts...), rev
}
