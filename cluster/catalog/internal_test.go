package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster"
	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	plog "github.com/zombi-dev/zombi/log"
)

// TestEnsureInternalConcurrent: three nodes call EnsureInternal for both
// kinds at once, twice: every call succeeds, each internal topic is
// written once (version 1 of its key) with the derived id, 50 partitions,
// its configs with min.insync.replicas 2 and no unclean election forced,
// and RF min(3, live nodes) placed rack-aware by cluster.Assign, for 1,
// 2 and 5 live nodes.
func TestEnsureInternalConcurrent(t *testing.T) {
	e := etcdtest.Start(t)
	for _, nlive := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("live=%d", nlive), func(t *testing.T) {
			var live []meta.NodeRecord
			for id := int32(1); id <= int32(nlive); id++ {
				live = append(live, meta.NodeRecord{ID: id, Rack: fmt.Sprintf("r%d", id%3)})
			}
			prefix := fmt.Sprintf("/internal-%d/", nlive)
			var cats []*catalog.Catalog
			for id := int32(1); id <= 3; id++ {
				cats = append(cats, catalog.New(catalog.Config{Store: newStore(t, e, prefix), Log: openLog(t, t.TempDir()), NodeID: id,
					LiveNodes: func() []meta.NodeRecord { return live }, Assign: cluster.Assign, Logger: slog.New(slog.DiscardHandler)}))
			}
			ctx := testCtx(t, 30*time.Second)
			var wg sync.WaitGroup
			errs := make(chan error, 12)
			s := newStore(t, e, prefix)
			versions := map[string]int64{}
			for round := 0; round < 2; round++ {
				for _, c := range cats {
					for _, k := range []coordlog.Kind{coordlog.Group, coordlog.Transaction} {
						wg.Add(1)
						go func() {
							defer wg.Done()
							if err := c.EnsureInternal(ctx, k); err != nil {
								errs <- fmt.Errorf("EnsureInternal(%d): %w", k, err)
							}
						}()
					}
				}
				wg.Wait()
				for _, name := range []string{coordlog.OffsetsTopic, coordlog.TxnTopic} {
					kv, err := s.Get(ctx, meta.TopicKey(name))
					if err != nil || kv.Version == 0 {
						t.Fatalf("round %d: %s: %v, version %d", round, name, err, kv.Version)
					}
					if round == 1 && kv.Version != versions[name] {
						t.Fatalf("%s rewritten by the second round: version %d, then %d", name, versions[name], kv.Version)
					}
					versions[name] = kv.Version
				}
			}
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			wantRF := min(3, nlive)
			for _, name := range []string{coordlog.OffsetsTopic, coordlog.TxnTopic} {
				kv, err := s.Get(ctx, meta.TopicKey(name))
				if err != nil {
					t.Fatal(err)
				}
				var rec meta.TopicRecord
				if err := json.Unmarshal(kv.Value, &rec); err != nil {
					t.Fatal(err)
				}
				it, _ := plog.LookupInternalTopic(name)
				if rec.UUID != it.UUID || rec.Partitions != 50 {
					t.Fatalf("%s: id %x, %d partitions; want %x, 50", name, rec.UUID, rec.Partitions, it.UUID)
				}
				if rec.Configs["min.insync.replicas"] != "2" || rec.Configs["unclean.leader.election.enable"] != "false" ||
					rec.Configs["cleanup.policy"] != "compact" {
					t.Fatalf("%s: configs %v", name, rec.Configs)
				}
				leaders := map[int32]int{}
				for p := int32(0); p < 50; p++ {
					kv, err := s.Get(ctx, meta.PartitionKey(name, p))
					if err != nil || kv.Version == 0 {
						t.Fatalf("%s-%d: %v, version %d", name, p, err, kv.Version)
					}
					var st meta.PartitionState
					if err := json.Unmarshal(kv.Value, &st); err != nil {
						t.Fatal(err)
					}
					if len(st.Replicas) != wantRF || !slices.Equal(st.ISR, st.Replicas) || st.Leader != st.Replicas[0] {
						t.Fatalf("%s-%d = %+v, want %d replicas, all in sync, the first leading", name, p, st, wantRF)
					}
					if wantRF == 3 {
						racks := map[string]bool{}
						for _, r := range st.Replicas {
							racks[live[r-1].Rack] = true
						}
						if len(racks) != 3 {
							t.Fatalf("%s-%d on %v: not in three racks", name, p, st.Replicas)
						}
					}
					leaders[st.Leader]++
				}
				if len(leaders) != nlive {
					t.Fatalf("%s: leaders on %d nodes (%v), want all %d", name, len(leaders), leaders, nlive)
				}
			}
		})
	}
}

// TestInternalNamesRefused: the operator's topic changes never reach an
// internal topic made by EnsureInternal.
func TestInternalNamesRefused(t *testing.T) {
	e := etcdtest.Start(t)
	live := []meta.NodeRecord{{ID: 1}}
	cat := catalog.New(catalog.Config{Store: newStore(t, e, "/refuse/"), Log: openLog(t, t.TempDir()), NodeID: 1,
		LiveNodes: func() []meta.NodeRecord { return live }, Assign: cluster.Assign, Logger: slog.New(slog.DiscardHandler)})
	ctx := testCtx(t, 20*time.Second)
	if err := cat.EnsureInternal(ctx, coordlog.Group); err != nil {
		t.Fatal(err)
	}
	name := coordlog.OffsetsTopic
	before, err := newStore(t, e, "/refuse/").Get(ctx, meta.TopicKey(name))
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"create":         cat.CreateTopic(ctx, name, 1, 1, nil),
		"delete":         cat.DeleteTopic(ctx, name),
		"add partitions": cat.AddPartitions(ctx, name, 60),
		"set configs":    cat.SetTopicConfigs(ctx, name, map[string]string{"min.insync.replicas": "1"}),
	} {
		if err == nil || !errors.Is(err, plog.ErrInternalTopic) {
			t.Errorf("%s %s: %v, want ErrInternalTopic", what, name, err)
		}
	}
	kv, err := newStore(t, e, "/refuse/").Get(ctx, meta.TopicKey(name))
	if err != nil || kv.Version != before.Version {
		t.Fatalf("%s changed: version %d, was %d (%v)", name, kv.Version, before.Version, err)
	}
}

// TestInternalTopicInLocalLogs: once EnsureInternal made an internal
// topic, every node's catalog makes it a real topic of its (cluster mode)
// log, with the derived id, 50 partitions and the forced configs, and a
// node that starts again with it loads ready.
func TestInternalTopicInLocalLogs(t *testing.T) {
	e := etcdtest.Start(t)
	var nodes []*node
	for id := int32(1); id <= 2; id++ {
		l := openLog(t, t.TempDir())
		l.SetClusterMode()
		nodes = append(nodes, startNode(t, id, newStore(t, e, "/local/"), l))
	}
	ctx := testCtx(t, 20*time.Second)
	if err := nodes[1].cat.EnsureInternal(ctx, coordlog.Transaction); err != nil {
		t.Fatal(err)
	}
	it, _ := plog.LookupInternalTopic(coordlog.TxnTopic)
	for _, n := range nodes {
		eventually(t, fmt.Sprintf("node %d has %s", n.id, it.Name), func() string {
			if msg := n.synced(it.Name, it.UUID, 50); msg != "" {
				return msg
			}
			info, _ := n.log.Topic(it.Name)
			if info.Configs["min.insync.replicas"] != "2" || info.Configs["unclean.leader.election.enable"] != "false" {
				return fmt.Sprintf("configs %v", info.Configs)
			}
			return ""
		})
	}
	// Node 1 starts again over its log: ready, the topic kept.
	nodes[0].stop()
	again := startNode(t, 1, newStore(t, e, "/local/"), nodes[0].log)
	if msg := again.synced(it.Name, it.UUID, 50); msg != "" {
		t.Fatal(msg)
	}
}
