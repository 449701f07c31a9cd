package catalog_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestWrongClusterRefused: a data directory that followed one cluster is
// never pruned by another catalog: started on an empty prefix (a wrong
// ZOMBI_CLUSTER_NAME, an etcd that lost its data) or on a cluster of
// another id, Adopt brings nothing and Run returns ErrWrongCluster at
// once, and the local topics stay; back on its own cluster it follows it
// again.
func TestWrongClusterRefused(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	dir := t.TempDir()
	l := openLog(t, dir)
	n1 := startNode(t, 1, newStore(t, e, "/mine/"), l)
	if err := n1.cat.CreateTopic(ctx, "keep", 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	write(t, l, "keep")
	id := n1.cat.ClusterID()
	if len(id) != 22 {
		t.Fatalf("cluster id %q, want Kafka's 22-character form", id)
	}
	n1.stop()

	other := newStore(t, e, "/other/")
	if ok, _, err := other.Txn(ctx, nil, []meta.Op{{Key: catalog.ClusterIDKey, Value: []byte("AAAAAAAAAAAAAAAAAAAAAA")}}); err != nil || !ok {
		t.Fatalf("put another cluster's id: %v %v", ok, err)
	}
	for _, c := range []struct {
		what  string
		store meta.Store
	}{
		{"an empty prefix", newStore(t, e, "/empty/")},
		{"another cluster", other},
	} {
		cat := catalog.New(catalog.Config{Store: c.store, Log: l, NodeID: 1, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
		if n, err := cat.Adopt(ctx); n != 0 || (!errors.Is(err, catalog.ErrWrongCluster) && !errors.Is(err, catalog.ErrClusterStarted)) {
			t.Fatalf("Adopt on %s: %d %v, want nothing adopted", c.what, n, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		err := cat.Run(rctx)
		cancel()
		if !errors.Is(err, catalog.ErrWrongCluster) {
			t.Fatalf("Run on %s: %v, want ErrWrongCluster", c.what, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Run on %s took %v to refuse", c.what, took)
		}
		t.Logf("%s: %v", c.what, err)
		if cat.IsReady() {
			t.Fatalf("ready on %s", c.what)
		}
		if h := hwm(t, l, "keep"); h != 1 {
			t.Fatalf("after Run on %s: keep's high watermark %d, want its record kept", c.what, h)
		}
	}
	if kvs, _ := catalogKeys(t, newStore(t, e, "/empty/")); len(kvs) != 0 {
		t.Fatalf("a refused Run wrote %v", kvs)
	}

	n1 = startNode(t, 1, newStore(t, e, "/mine/"), l)
	if n1.cat.ClusterID() != id {
		t.Fatalf("cluster id %q after a restart, want %q", n1.cat.ClusterID(), id)
	}
	if h := hwm(t, l, "keep"); h != 1 {
		t.Fatalf("back on its cluster: keep's high watermark %d", h)
	}
}
