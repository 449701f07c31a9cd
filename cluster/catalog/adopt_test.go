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

// TestAdoptIntoEmptyCatalog: a node alone with data adopts its topics into
// an empty catalog before it follows it: its topics keep their ids,
// records and configs, led by it with replication factor 1; a second node
// gets them; adopting into a catalog with topics changes nothing.
func TestAdoptIntoEmptyCatalog(t *testing.T) {
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

	pre := catalog.New(catalog.Config{Store: s1, Log: l1, NodeID: 1, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
	if n, err := pre.Adopt(ctx); err != nil || n != 1 {
		t.Fatalf("Adopt: %d %v, want 1 topic", n, err)
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

	// A node with its own data joining a cluster with topics adopts nothing.
	l3 := openLog(t, t.TempDir())
	if _, err := l3.CreateTopic("mine", 1, nil); err != nil {
		t.Fatal(err)
	}
	other := catalog.New(catalog.Config{Store: newStore(t, e, "/adopt/"), Log: l3, NodeID: 3, LiveNodes: twoLive, Assign: roundRobin, Logger: slog.New(slog.DiscardHandler)})
	if n, err := other.Adopt(ctx); !errors.Is(err, catalog.ErrCatalogNotEmpty) || n != 0 {
		t.Fatalf("Adopt into a catalog with topics: %d %v, want ErrCatalogNotEmpty", n, err)
	}
	if _, _, ok := n1.cat.Topic("mine"); ok {
		t.Fatal("a refused Adopt wrote its topic")
	}
}
