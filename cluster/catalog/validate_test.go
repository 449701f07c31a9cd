package catalog_test

import (
	"context"
	"errors"
	"log/slog"
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
	_, before := catalogKeys(t, n1.store)
	badAssign := catalog.New(catalog.Config{Store: n1.store, Log: n1.log, LiveNodes: twoLive,
		Assign: func([]meta.NodeRecord, int32, int16, int) ([][]int32, error) { return [][]int32{{1, 1}}, nil },
		Logger: slog.New(slog.DiscardHandler)})
	refusal := errors.New("Not all brokers have rack information for replica rack aware assignment.")
	refusing := catalog.New(catalog.Config{Store: n1.store, Log: n1.log, LiveNodes: twoLive,
		Assign: func([]meta.NodeRecord, int32, int16, int) ([][]int32, error) { return nil, refusal },
		Logger: slog.New(slog.DiscardHandler)})
	rf3 := catalog.New(catalog.Config{Store: n1.store, Log: n1.log, LiveNodes: twoLive, Assign: roundRobin, DefaultRF: 3,
		Logger: slog.New(slog.DiscardHandler)})
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
		{"default rf over the live nodes", rf3.CreateTopic(ctx, "t", 1, -1, nil), kafka.ErrInvalidReplicationFactor, "Replication factor: 3 larger than available brokers: 2."},
		{"rf 0", n1.cat.CreateTopic(ctx, "t", 1, 0, nil), kafka.ErrInvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."},
		{"unknown config", n1.cat.CreateTopic(ctx, "t", 1, 1, map[string]string{"no.such": "1"}), topicconfig.ErrInvalid, "Unknown topic config name: no.such"},
		{"bad config value", n1.cat.CreateTopic(ctx, "t", 1, 1, map[string]string{"retention.ms": "soon"}), topicconfig.ErrInvalid, ""},
		{"assignment on one node twice", badAssign.CreateTopic(ctx, "t", 1, 2, nil), nil, ""},
		{"assignment refused", refusing.CreateTopic(ctx, "t", 1, 2, nil), refusal, refusal.Error()},
		{"exists", n1.cat.CreateTopic(ctx, "exists", 1, 1, nil), plog.ErrTopicExists, "Topic 'exists' already exists."},
		{"delete unknown", n1.cat.DeleteTopic(ctx, "nope"), plog.ErrUnknownTopic, ""},
		{"delete internal", n1.cat.DeleteTopic(ctx, "__transaction_state"), plog.ErrInternalTopic, ""},
		{"grow unknown", n1.cat.AddPartitions(ctx, "nope", 3), plog.ErrUnknownTopic, ""},
		{"grow to the same count", n1.cat.AddPartitions(ctx, "exists", 2), plog.ErrPartitionsNotRaised, "Topic already has 2 partitions."},
		{"shrink", n1.cat.AddPartitions(ctx, "exists", 1), plog.ErrPartitionsNotRaised, "Topic currently has 2 partitions, which is higher than the requested 1."},
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
	kvs, after := catalogKeys(t, n1.store)
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

// TestForeignCatalogEntries: entries no Zombi writes (a topic name the log
// refuses, a corrupt record arriving by the watch) are logged and left
// out, an internal topic stays out of the log; the node becomes ready,
// stays up, and follows the rest.
func TestForeignCatalogEntries(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	s := newStore(t, e, "/foreign/")
	rec := meta.TopicRecord{Name: "bad name!", UUID: [16]byte{1}, Partitions: 1}
	if err := meta.CreateTopic(ctx, s, rec, []meta.PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}); err != nil {
		t.Fatal(err)
	}
	// An internal topic in the catalog (coordinators on replicated internal
	// partitions, a later step): in the view, never in the log.
	internal := meta.TopicRecord{Name: "__consumer_offsets", UUID: [16]byte{2}, Partitions: 1}
	if err := meta.CreateTopic(ctx, s, internal, []meta.PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}); err != nil {
		t.Fatal(err)
	}
	n1 := startNode(t, 1, s, openLog(t, t.TempDir())) // Ready despite them
	if _, _, ok := n1.cat.Partition("__consumer_offsets", 0); !ok {
		t.Fatal("the internal topic's partition is not in the view")
	}
	if len(n1.log.TopicNames()) != 0 {
		t.Fatalf("log topics: %v", n1.log.TopicNames())
	}
	if _, _, ok := n1.cat.Partition("bad name!", 0); !ok {
		t.Fatal("the catalog's partition state is not in the view")
	}
	if ok, _, err := s.Txn(ctx, nil, []meta.Op{{Key: meta.TopicKey("zz"), Value: []byte("not json")}, {Key: meta.PartitionKey("zz", 0), Value: []byte("{")}}); err != nil || !ok {
		t.Fatalf("raw put: %v %v", ok, err)
	}
	if err := n1.cat.CreateTopic(ctx, "good", 1, 1, nil); err != nil {
		t.Fatalf("CreateTopic after the corrupt record: %v", err)
	}
	if _, _, ok := n1.cat.Topic("zz"); ok {
		t.Fatal("a corrupt topic record was taken")
	}
	if names := n1.log.TopicNames(); len(names) != 1 || names[0] != "good" {
		t.Fatalf("log topics: %v, want [good]", names)
	}
}
