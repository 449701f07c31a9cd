package replica_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// TestLeaderChangeTruncates: records the old leader took with acks=1 while
// its followers were cut off (above the high watermark) disappear when a
// new leader is chosen: the old leader becomes a follower, truncates to
// the new leader's end of its epoch (KIP-279) and fetches; the logs
// converge and no offset holds two values.
func TestLeaderChangeTruncates(t *testing.T) {
	c := newCluster(t, 3, 30*time.Second, 1)
	c.createTopic("lc", 1, 2, 3)
	all := c.producer(1, kgo.AllISRAcks())
	want := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
	produce(t, all, "lc", want...)

	c.setCut(2, 1, true)
	c.setCut(3, 1, true)
	time.Sleep(time.Second) // fetches in flight end
	one := c.producer(1, kgo.LeaderAck())
	if offs := produce(t, one, "lc", "x0", "x1", "x2", "x3", "x4"); offs[0] != 10 || offs[4] != 14 {
		t.Fatalf("acks=1 offsets %v, want 10..14", offs)
	}
	l1 := c.node(1).log
	if leo, _ := l1.LogEndOffset("lc", 0); leo != 15 {
		t.Fatalf("old leader's log end %d, want 15", leo)
	}
	if _, hwm, _ := l1.Offsets("lc", 0); hwm != 10 {
		t.Fatalf("old leader's high watermark %d, want 10 (the followers do not have 10..14)", hwm)
	}

	// The controller's move: node 2 leads in epoch 1.
	st, version := c.state("lc")
	st.Leader, st.LeaderEpoch, st.PartitionEpoch = 2, st.LeaderEpoch+1, st.PartitionEpoch+1
	if _, err := meta.UpdatePartition(testCtx(t, 5*time.Second), c.node(1).store, "lc", 0, version, st); err != nil {
		t.Fatalf("move the leader: %v", err)
	}
	c.setCut(2, 1, false)
	c.setCut(3, 1, false)
	eventually(t, "node 1 refuses writes", func() string {
		if err := c.node(1).mgr.CheckProduce("lc", 0, -1, false); !errors.Is(err, kafka.ErrNotLeader) {
			return "CheckProduce on node 1: " + errString(err)
		}
		return ""
	})
	if err := c.node(1).mgr.CheckFetch("lc", 0, 0, 3); !errors.Is(err, kafka.ErrFencedLeaderEpoch) {
		t.Fatalf("a fetch in epoch 0 on node 1: %v, want FENCED_LEADER_EPOCH", err)
	}
	eventually(t, "node 2 leads", func() string {
		if err := c.node(2).mgr.CheckProduce("lc", 0, 1, true); err != nil {
			return err.Error()
		}
		return ""
	})
	eventually(t, "node 1 truncated its tail", func() string {
		if leo, _ := l1.LogEndOffset("lc", 0); leo > 10 {
			return fmt.Sprintf("log end still %d", leo)
		}
		return ""
	})

	all2 := c.producer(2, kgo.AllISRAcks())
	if offs := produce(t, all2, "lc", "b0", "b1", "b2"); offs[0] != 10 {
		t.Fatalf("new leader's offsets %v, want from 10", offs)
	}
	want = append(want, "b0", "b1", "b2")
	c.converged("lc", 1, 2, 3)
	for id := int32(1); id <= 3; id++ {
		if got := values(t, c.node(id).log, "lc"); !slices.Equal(got, want) {
			t.Fatalf("node %d holds %q, want %q", id, got, want)
		}
		es, err := c.node(id).log.LeaderEpochs("lc", 0)
		if err != nil || !slices.Equal(es, [][2]int64{{0, 0}, {1, 10}}) {
			t.Fatalf("node %d epoch cache %v (%v), want [[0 0] [1 10]]", id, es, err)
		}
	}
	if st, _ := c.state("lc"); st.Leader != 2 || !slices.Equal(st.ISR, []int32{1, 2, 3}) {
		t.Fatalf("state after the move: %+v", st)
	}

	// A local write on node 1, now a follower, is refused by the log; one
	// that got in anyway after its truncation, while node 2 took other
	// records at the same offsets, is removed and node 2's are taken.
	c.setCut(1, 2, true)
	time.Sleep(time.Second) // a fetch in flight ends
	leo1, _ := l1.LogEndOffset("lc", 0)
	produce(t, c.producer(2, kgo.LeaderAck()), "lc", "c0", "c1")
	var b batch.Builder
	b.Reset()
	b.Add(time.Now().UnixMilli(), nil, []byte("stale"), nil)
	stale := func() []plog.AppendResult {
		return l1.Append(context.Background(), []plog.AppendRequest{{Topic: "lc", Partition: 0, Batch: slices.Clone(b.Bytes())}})
	}
	if res := stale(); !errors.Is(res[0].Err, plog.ErrNotLeader) {
		t.Fatalf("a local write on follower 1: %+v, want the log's ErrNotLeader", res[0])
	}
	// The fence is the log's; should a write get past it (another door,
	// a future bug), the fetcher still removes it: open the fence the
	// way only BecomeLeader can, write, close it again.
	e1, err := l1.LeaderEpochOf("lc", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.BecomeLeader("lc", 0, e1); err != nil {
		t.Fatalf("open the fence: %v", err)
	}
	res := stale()
	if err := l1.BecomeFollower("lc", 0); err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].BaseOffset != leo1 {
		t.Fatalf("stale append on node 1: %+v, want it at %d", res[0], leo1)
	}
	c.setCut(1, 2, false)
	want = append(want, "c0", "c1")
	c.converged("lc", 1, 2, 3)
	for id := int32(1); id <= 3; id++ {
		if got := values(t, c.node(id).log, "lc"); !slices.Equal(got, want) {
			t.Fatalf("node %d holds %q after the stale write, want %q", id, got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}
