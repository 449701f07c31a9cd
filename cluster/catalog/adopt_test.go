package catalog_test

import (
	"errors"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestAdoptIntoNewCluster: a node alone with data adopts its topics into
// the catalog of a cluster no node follows yet, before it follows it: its
// topics keep their ids, records and configs, led by it with replication
// factor 1; adopting again skips them; a second node gets them; adopting
// into a started cluster changes nothing.
func TestAdoptIntoNewCluster(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	s1 := newStore(t, e, "/adopt/")
	l1 := openLog(t, t.TempDir())
	cfgs := map[string]string{"retention.ms": "86400000"}
	legacy, err := l1.CreateTopic("legacy", 3, cfgs)
	if err != nil {
		t.Fatal(err)
	}
	write(t, l1, "legacy")

	if _, err := l1.CreateTopic("second", 1, nil); err != nil {
		t.Fatal(err)
	}
	pre := catalog.New(catalog.Config{Store: s1, Log: l1, NodeID: 1, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
	if n, err := pre.Adopt(ctx); err != nil || n != 2 {
		t.Fatalf("Adopt: %d %v, want 2 topics", n, err)
	}
	// Run again (as after a crash half-way): what was adopted is skipped.
	if n, err := pre.Adopt(ctx); err != nil || n != 0 {
		t.Fatalf("Adopt again: %d %v, want 0 and no error", n, err)
	}
	n1 := startNode(t, 1, s1, l1)
	if msg := hasTopic(l1, "legacy", legacy.UUID, 3); msg != "" {
		t.Fatalf("after Adopt and Run: %s", msg)
	}
	if h := hwm(t, l1, "legacy"); h != 1 {
		t.Fatalf("legacy lost its record (high watermark %d)", h)
	}
	for p := int32(0); p < 3; p++ {
		if st, _, ok := n1.cat.Partition("legacy", p); !ok || st.Leader != 1 || len(st.Replicas) != 1 || st.Replicas[0] != 1 || len(st.ISR) != 1 {
			t.Fatalf("legacy-%d = %+v %v, want led by node 1 alone", p, st, ok)
		}
	}
	n2 := startNode(t, 2, newStore(t, e, "/adopt/"), openLog(t, t.TempDir()))
	if msg := hasTopic(n2.log, "legacy", legacy.UUID, 3); msg != "" {
		t.Fatalf("node 2: %s", msg)
	}
	if info, _ := n2.log.Topic("legacy"); !maps.Equal(info.Configs, cfgs) {
		t.Fatalf("node 2: legacy configs %v, want %v", info.Configs, cfgs)
	}

	// Once a node follows the cluster, a node with its own data joining it
	// adopts nothing.
	l3 := openLog(t, t.TempDir())
	if _, err := l3.CreateTopic("mine", 1, nil); err != nil {
		t.Fatal(err)
	}
	other := catalog.New(catalog.Config{Store: newStore(t, e, "/adopt/"), Log: l3, NodeID: 3, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
	if n, err := other.Adopt(ctx); !errors.Is(err, catalog.ErrClusterStarted) || n != 0 {
		t.Fatalf("Adopt into a started cluster: %d %v, want ErrClusterStarted", n, err)
	}
	if _, _, ok := n1.cat.Topic("mine"); ok {
		t.Fatal("a refused Adopt wrote its topic")
	}
}
