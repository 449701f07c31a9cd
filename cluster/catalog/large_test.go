package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestLargeTopic: a topic of more partitions than one etcd transaction
// takes (created in steps by meta.CreateTopic) is whole in the creator's
// log when CreateTopic returns and reaches the other node whole; growth
// and deletion in steps too.
func TestLargeTopic(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	n1 := startNode(t, 1, newStore(t, e, "/large/"), openLog(t, t.TempDir()))
	n2 := startNode(t, 2, newStore(t, e, "/large/"), openLog(t, t.TempDir()))
	if err := n1.cat.CreateTopic(ctx, "wide", 300, 2, nil); err != nil {
		t.Fatal(err)
	}
	info, _ := n1.log.Topic("wide")
	if msg := n1.synced("wide", info.UUID, 300); msg != "" {
		t.Fatalf("creator when CreateTopic returns: %s", msg)
	}
	eventually(t, "wide on node 2", func() string { return n2.synced("wide", info.UUID, 300) })
	if err := n2.cat.AddPartitions(ctx, "wide", 400); err != nil {
		t.Fatal(err)
	}
	eventually(t, "wide grown on node 1", func() string { return n1.synced("wide", info.UUID, 400) })
	for p := int32(0); p < 400; p++ {
		if st, _, ok := n1.cat.Partition("wide", p); !ok || len(st.Replicas) != 2 {
			t.Fatalf("wide-%d = %+v %v", p, st, ok)
		}
	}
	if err := n2.cat.DeleteTopic(ctx, "wide"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "wide gone from node 1", func() string {
		if _, ok := n1.log.Topic("wide"); ok {
			return "still there"
		}
		if kvs, _ := catalogKeys(t, n1.store); len(kvs) != 0 {
			return fmt.Sprintf("etcd still has %d catalog keys", len(kvs))
		}
		return ""
	})
}
