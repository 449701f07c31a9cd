package replica_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// TestAcksAllWaitsForFollowers: a franz-go acks=all producer to the leader
// is acknowledged only once both followers have the batch (the high
// watermark), not while a follower cannot fetch; the three logs end
// byte-identical.
func TestAcksAllWaitsForFollowers(t *testing.T) {
	c := newCluster(t, 3, 10*time.Second, 1)
	c.createTopic("acks", 1, 2, 3)
	cl := c.producer(1, kgo.AllISRAcks())
	for i := range 20 {
		offs := produce(t, cl, "acks", fmt.Sprintf("v%d", i))
		for _, id := range []int32{2, 3} {
			leo, err := c.node(id).log.LogEndOffset("acks", 0)
			if err != nil || leo <= offs[0] {
				t.Fatalf("record %d acknowledged at offset %d while follower %d's log ends at %d (%v)", i, offs[0], id, leo, err)
			}
		}
	}

	// Follower 3 cannot reach the leader: an acks=all write waits (the ISR
	// still holds 3, the lag limit is 10 s), and is acknowledged once 3
	// fetches again.
	c.setCut(3, 1, true)
	time.Sleep(time.Second) // a fetch in flight (500 ms long poll) ends
	done := make(chan error, 1)
	rec := &kgo.Record{Topic: "acks", Partition: 0, Value: []byte("held")}
	cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		t.Fatalf("acks=all write acknowledged (err %v) while follower 3 could not fetch it", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if leo, _ := c.node(3).log.LogEndOffset("acks", 0); leo != 20 {
		t.Fatalf("follower 3 has log end %d while cut off, want 20", leo)
	}
	c.setCut(3, 1, false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("acks=all write after follower 3 came back: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("acks=all write not acknowledged 15 s after follower 3 could fetch again")
	}
	if leo, _ := c.node(3).log.LogEndOffset("acks", 0); leo <= rec.Offset {
		t.Fatalf("acknowledged at %d, follower 3's log ends at %d", rec.Offset, leo)
	}
	c.converged("acks", 1, 2, 3)
	want := make([]string, 0, 21)
	for i := range 20 {
		want = append(want, fmt.Sprintf("v%d", i))
	}
	want = append(want, "held")
	for id := int32(1); id <= 3; id++ {
		if got := values(t, c.node(id).log, "acks"); !slices.Equal(got, want) {
			t.Fatalf("node %d holds %q, want %q", id, got, want)
		}
	}
	if st, _ := c.state("acks"); !slices.Equal(st.ISR, []int32{1, 2, 3}) {
		t.Fatalf("ISR %v, want [1 2 3]", st.ISR)
	}
}

// TestSingleReplica: a partition with one replica commits what it appends
// at once (acks=all acknowledged, high watermark = log end), as one node.
func TestSingleReplica(t *testing.T) {
	c := newCluster(t, 2, 10*time.Second, 1)
	c.createTopic("solo", 2)
	cl := c.producer(2, kgo.AllISRAcks())
	offs := produce(t, cl, "solo", "a", "b", "c")
	if !slices.Equal(offs, []int64{0, 1, 2}) {
		t.Fatalf("offsets %v, want [0 1 2]", offs)
	}
	l := c.node(2).log
	if _, hwm, _ := l.Offsets("solo", 0); hwm != 3 {
		t.Fatalf("high watermark %d, want 3", hwm)
	}
	if err := c.node(1).mgr.CheckProduce("solo", 0, -1, false); err == nil {
		t.Fatal("node 1 (not a replica) takes writes")
	}
}

// TestFollowerRead: a consumer in rack b is sent to the in-sync follower
// in its rack (KIP-392) and reads everything from it, up to the follower's
// high watermark.
func TestFollowerRead(t *testing.T) {
	c := newCluster(t, 3, 10*time.Second, 1, map[int32]string{1: "a", 2: "c", 3: "b"})
	c.createTopic("near", 1, 2, 3)
	want := []string{"r0", "r1", "r2", "r3", "r4"}
	produce(t, c.producer(1, kgo.AllISRAcks()), "near", want...)
	c.converged("near", 1, 2, 3)

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.node(1).addr()), kgo.Rack("b"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"near": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	ctx := testCtx(t, 15*time.Second)
	for len(got) < len(want) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %q in 15 s, want %q", got, want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
	if n := c.node(3).door.followerReads.Load(); n == 0 {
		t.Fatal("follower 3 (rack b) served no consumer fetch")
	}
	if n := c.node(2).door.followerReads.Load(); n != 0 {
		t.Fatalf("follower 2 (rack c) served %d consumer fetches", n)
	}
}

// TestManyPartitions: leaders spread over the nodes, so each node leads
// some partitions and fetches the others from two leaders, several
// partitions per request; acks=all writes to every partition are
// acknowledged and every partition ends byte-identical on its replicas.
func TestManyPartitions(t *testing.T) {
	c := newCluster(t, 3, 10*time.Second, 2)
	const parts = 6
	rec := meta.TopicRecord{Name: "many", UUID: [16]byte{9, 9}, Partitions: parts}
	var states []meta.PartitionState
	for p := range parts {
		rs := []int32{int32(p%3) + 1, int32((p+1)%3) + 1, int32((p+2)%3) + 1}
		states = append(states, meta.PartitionState{Replicas: rs, ISR: rs, Leader: rs[0]})
	}
	if err := meta.CreateTopic(testCtx(t, 5*time.Second), c.node(1).store, rec, states); err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		leader := states[p].Leader
		eventually(t, fmt.Sprintf("node %d leads partition %d", leader, p), func() string {
			return noErr(c.node(leader).mgr.CheckProduce("many", p, 0, true))
		})
	}
	cl := c.producer(1, kgo.AllISRAcks())
	ctx := testCtx(t, 20*time.Second)
	for i := range 60 {
		p := int32(i % parts)
		r := &kgo.Record{Topic: "many", Partition: p, Value: fmt.Appendf(nil, "m%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
		for _, id := range states[p].Replicas {
			if leo, _ := c.node(id).log.LogEndOffset("many", p); leo <= r.Offset {
				t.Fatalf("partition %d: acknowledged at %d, replica %d ends at %d", p, r.Offset, id, leo)
			}
		}
	}
	for p := range int32(parts) {
		want := rawPart(t, c.node(states[p].Leader).log, "many", p, 0)
		if len(want) == 0 {
			t.Fatalf("partition %d is empty on its leader", p)
		}
		for id := int32(1); id <= 3; id++ {
			if got := rawPart(t, c.node(id).log, "many", p, 0); !bytes.Equal(got, want) {
				t.Fatalf("partition %d: node %d holds %d bytes, its leader %d", p, id, len(got), len(want))
			}
		}
	}
}
