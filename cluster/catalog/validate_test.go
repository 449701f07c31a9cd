package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// TestHostileRequests: each malformed change gets a clear error (the
// sentinel the Kafka door maps, Kafka's message where Kafka has one) and
// nothing reaches etcd or a log.
func TestHostileRequests(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	n1 := startNode(t, 1, newStore(t, e, "/hostile/"), openLog(t, t.TempDir()))
	if err := n1.cat.CreateTopic(ctx, "exists", 2, 2, nil); err != nil {
		t.Fatal(err)
	}
	_, before, err := n1.store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	badAssign := catalog.New(catalog.Config{Store: n1.store, Log: n1.log, LiveNodes: twoLive,
		Assign: func([]meta.NodeRecord, int32, int16, int) ([][]int32, error) { return [][]int32{{1, 1}}, nil }})
	cases := []struct {
		what string
		err  error
		want error
		msg  string // the whole message, when Kafka has one
	}{
		{"empty name", n1.cat.CreateTopic(ctx, "", 1, 1, nil), plog.ErrInvalidTopic, ""},
		{"name with a slash", n1.cat.CreateTopic(ctx, "a/b", 1, 1, nil), plog.ErrInvalidTopic, ""},
		{"name too long", n1.cat.CreateTopic(ctx, strings.Repeat("x", 250), 1, 1, nil), plog.ErrInvalidTopic, ""},
		{"internal topic", n1.cat.CreateTopic(ctx, "__consumer_offsets", 1, 1, nil), plog.ErrInternalTopic, ""},
		{"0 partitions", n1.cat.CreateTopic(ctx, "t", 0, 1, nil), plog.ErrInvalidPartitions, ""},
		{"too many partitions", n1.cat.CreateTopic(ctx, "t", plog.MaxPartitions+1, 1, nil), plog.ErrInvalidPartitions, ""},
		{"rf over the live nodes", n1.cat.CreateTopic(ctx, "t", 1, 3, nil), kafka.ErrInvalidReplicationFactor, "Replication factor: 3 larger than available brokers: 2."},
		{"rf 0", n1.cat.CreateTopic(ctx, "t", 1, 0, nil), kafka.ErrInvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."},
		{"unknown config", n1.cat.CreateTopic(ctx, "t", 1, 1, map[string]string{"no.such": "1"}), topicconfig.ErrInvalid, "Unknown topic config name: no.such"},
		{"bad config value", n1.cat.CreateTopic(ctx, "t", 1, 1, map[string]string{"retention.ms": "soon"}), topicconfig.ErrInvalid, ""},
		{"assignment on one node twice", badAssign.CreateTopic(ctx, "t", 1, 2, nil), nil, ""},
		{"exists", n1.cat.CreateTopic(ctx, "exists", 1, 1, nil), plog.ErrTopicExists, ""},
		{"delete unknown", n1.cat.DeleteTopic(ctx, "nope"), plog.ErrUnknownTopic, ""},
		{"delete internal", n1.cat.DeleteTopic(ctx, "__transaction_state"), plog.ErrInternalTopic, ""},
		{"grow unknown", n1.cat.AddPartitions(ctx, "nope", 3), plog.ErrUnknownTopic, ""},
		{"grow to the same count", n1.cat.AddPartitions(ctx, "exists", 2), plog.ErrPartitionsNotRaised, ""},
		{"shrink", n1.cat.AddPartitions(ctx, "exists", 1), plog.ErrPartitionsNotRaised, ""},
		{"grow too far", n1.cat.AddPartitions(ctx, "exists", plog.MaxPartitions+1), plog.ErrTooManyPartitions, ""},
		{"configs of unknown", n1.cat.SetTopicConfigs(ctx, "nope", nil), plog.ErrUnknownTopic, ""},
		{"bad configs", n1.cat.SetTopicConfigs(ctx, "exists", map[string]string{"retention.ms": "-5"}), topicconfig.ErrInvalid, ""},
	}
	for _, c := range cases {
		switch {
		case c.err == nil:
			t.Errorf("%s: no error", c.what)
		case c.want != nil && !errors.Is(c.err, c.want):
			t.Errorf("%s: %v, want %v", c.what, c.err, c.want)
		case c.msg != "" && c.err.Error() != c.msg:
			t.Errorf("%s: message %q, want Kafka's %q", c.what, c.err.Error(), c.msg)
		default:
			t.Logf("%s: %v", c.what, c.err)
		}
	}
	kvs, after, err := n1.store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if after != before || len(kvs) != 3 {
		t.Fatalf("etcd changed by refused requests: revision %d -> %d, %d keys", before, after, len(kvs))
	}
	if names := n1.log.TopicNames(); len(names) != 1 || names[0] != "exists" {
		t.Fatalf("log topics after refused requests: %v", names)
	}
	// Still serving.
	if err := n1.cat.CreateTopic(context.Background(), "fine", 1, -1, nil); err != nil {
		t.Fatalf("a good create after the refused ones: %v", err)
	}
	if st, _, ok := n1.cat.Partition("fine", 0); !ok || len(st.Replicas) != 2 {
		t.Fatalf("rf -1 with 2 live nodes: %+v %v, want 2 replicas (min(3, live))", st, ok)
	}
}
