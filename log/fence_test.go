package log

import (
	"context"
	"errors"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
)

func fenceBatch() []byte {
	b := batch.NewBuilder()
	b.Add(1, nil, []byte("v"), nil)
	return b.Bytes()
}

// TestClusterModeFencesLocalWrites: in cluster mode a partition takes local
// writes only while this node leads it; the leader's batches still enter a
// follower by AppendReplica, and a node alone is never fenced.
func TestClusterModeFencesLocalWrites(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, "")
	if _, err := l.CreateTopic("old", 1, nil); err != nil {
		t.Fatal(err)
	}
	one := func(topic string) error {
		return l.Append(ctx, []AppendRequest{{Topic: topic, Partition: 0, Batch: fenceBatch()}})[0].Err
	}
	if err := one("old"); err != nil {
		t.Fatalf("alone: %v", err)
	}
	l.SetClusterMode()
	if _, err := l.CreateTopic("new", 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"old", "new"} {
		if err := one(topic); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("%s before leading: %v, want ErrNotLeader", topic, err)
		}
		req := EndTxnRequest{ProducerID: 7, Partitions: []TopicPartition{{Topic: topic, Partition: 0}}}
		if err := l.EndTxn(ctx, req); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("%s EndTxn before leading: %v, want ErrNotLeader", topic, err)
		}
	}
	if leo, _ := l.LogEndOffset("new", 0); leo != 0 {
		t.Fatalf("refused writes left the log end at %d", leo)
	}
	if err := l.BecomeLeader("new", 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := one("new"); err != nil {
		t.Fatalf("leader: %v", err)
	}
	if err := l.BecomeFollower("new", 0); err != nil {
		t.Fatal(err)
	}
	if err := one("new"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower again: %v", err)
	}
	// A leader's batches still enter a fenced follower.
	src, f := openTest(t, ""), openTest(t, "")
	f.SetClusterMode()
	newTopic(t, "r", src, f)
	for i := 0; i < 2; i++ {
		if r := src.Append(ctx, []AppendRequest{{Topic: "r", Partition: 0, Batch: fenceBatch()}}); r[0].Err != nil {
			t.Fatal(r[0].Err)
		}
	}
	copyReplica(t, src, f, "r", 1<<20)
	if leo, _ := f.LogEndOffset("r", 0); leo != 2 {
		t.Fatalf("follower log end %d, want 2", leo)
	}
	if r := f.Append(ctx, []AppendRequest{{Topic: "r", Partition: 0, Batch: fenceBatch()}}); !errors.Is(r[0].Err, ErrNotLeader) {
		t.Fatalf("follower local append: %v", r[0].Err)
	}
}
