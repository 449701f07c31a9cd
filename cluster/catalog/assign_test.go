package catalog_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster"
	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestWithClusterAssign: the catalog with the real, rack-aware
// cluster.Assign (start -1: Kafka's random start) over three live nodes in
// three racks: every partition, created or added, has three replicas in
// three racks, and leadership is spread over the nodes.
func TestWithClusterAssign(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	live := []meta.NodeRecord{{ID: 1, Rack: "a"}, {ID: 2, Rack: "b"}, {ID: 3, Rack: "c"}}
	rack := map[int32]string{1: "a", 2: "b", 3: "c"}
	l := openLog(t, t.TempDir())
	cat := catalog.New(catalog.Config{Store: newStore(t, e, "/assign/"), Log: l, NodeID: 1,
		LiveNodes: func() []meta.NodeRecord { return live }, Assign: cluster.Assign, Logger: slog.New(slog.DiscardHandler)})
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cat.Run(rctx) }()
	defer func() { cancel(); <-done }()

	if err := cat.CreateTopic(ctx, "spread", 6, -1, nil); err != nil {
		t.Fatal(err)
	}
	if err := cat.AddPartitions(ctx, "spread", 9); err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for p := int32(0); p < 9; p++ {
		st, _, ok := cat.Partition("spread", p)
		if !ok || len(st.Replicas) != 3 {
			t.Fatalf("spread-%d = %+v %v, want 3 replicas (the default: min(3, live))", p, st, ok)
		}
		racks := []string{rack[st.Replicas[0]], rack[st.Replicas[1]], rack[st.Replicas[2]]}
		slices.Sort(racks)
		if len(slices.Compact(racks)) != 3 {
			t.Fatalf("spread-%d on %v: racks %v, want three", p, st.Replicas, racks)
		}
		leaders[st.Leader]++
	}
	if len(leaders) != 3 || leaders[1] != 3 || leaders[2] != 3 {
		t.Fatalf("leaders per node %v, want 3 each", leaders)
	}
}
