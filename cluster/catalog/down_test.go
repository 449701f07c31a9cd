package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestEtcdDown: with etcd stopped, each cluster-wide change fails within
// its context with a retriable meta.ErrUnavailable and makes nothing (not
// in etcd once it is back, not in any log); the nodes keep their topics
// and answer Partition from memory; once etcd is back the nodes follow it
// again and changes propagate again.
func TestEtcdDown(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 90*time.Second)
	n1 := startNode(t, 1, newStore(t, e, "/down/"), openLog(t, t.TempDir()))
	n2 := startNode(t, 2, newStore(t, e, "/down/"), openLog(t, t.TempDir()))
	if err := n1.cat.CreateTopic(ctx, "before", 2, 2, nil); err != nil {
		t.Fatal(err)
	}
	info, _ := n1.log.Topic("before")
	eventually(t, "before on node 2", func() string { return n2.synced("before", info.UUID, 2) })

	e.Stop()
	changes := []struct {
		what string
		do   func(ctx context.Context) error
	}{
		{"CreateTopic", func(ctx context.Context) error { return n1.cat.CreateTopic(ctx, "during", 1, 2, nil) }},
		{"DeleteTopic", func(ctx context.Context) error { return n2.cat.DeleteTopic(ctx, "before") }},
		{"AddPartitions", func(ctx context.Context) error { return n1.cat.AddPartitions(ctx, "before", 4) }},
		{"SetTopicConfigs", func(ctx context.Context) error {
			return n2.cat.SetTopicConfigs(ctx, "before", map[string]string{"retention.ms": "1"})
		}},
	}
	for _, c := range changes {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := c.do(cctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, meta.ErrUnavailable) {
			t.Fatalf("%s with etcd down: %v, want meta.ErrUnavailable", c.what, err)
		}
		if took > 3*time.Second {
			t.Fatalf("%s with etcd down took %v, want about its 2 s context", c.what, took)
		}
		t.Logf("%s: %v after %v", c.what, err, took.Round(time.Millisecond))
	}
	for _, n := range []*node{n1, n2} {
		if msg := hasTopic(n.log, "before", info.UUID, 2); msg != "" {
			t.Fatalf("node %d with etcd down: %s", n.id, msg)
		}
		if _, ok := n.log.Topic("during"); ok {
			t.Fatalf("node %d has a topic whose creation failed", n.id)
		}
		if _, _, ok := n.cat.Partition("before", 1); !ok {
			t.Fatalf("node %d forgot before-1 with etcd down", n.id)
		}
	}

	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	var kv meta.KV
	eventually(t, "etcd back", func() string {
		var err error
		if kv, err = n1.store.Get(ctx, meta.TopicKey("during")); err != nil {
			return err.Error()
		}
		return ""
	})
	if kv.Version != 0 {
		t.Fatalf("the failed create left %s in etcd", kv.Value)
	}
	rec, _, _ := n1.cat.Topic("before")
	if rec.Partitions != 2 || rec.Configs != nil {
		t.Fatalf("before changed by failed calls: %+v", rec)
	}
	// The watches resumed: a change on one node reaches the other.
	if err := n2.cat.CreateTopic(ctx, "after", 3, 2, nil); err != nil {
		t.Fatalf("CreateTopic after etcd came back: %v", err)
	}
	after, _ := n2.log.Topic("after")
	eventually(t, "after on node 1", func() string { return n1.synced("after", after.UUID, 3) })
	if err := n1.cat.AddPartitions(ctx, "before", 3); err != nil {
		t.Fatalf("AddPartitions after etcd came back: %v", err)
	}
	eventually(t, "before grown on node 2", func() string { return n2.synced("before", info.UUID, 3) })
}
