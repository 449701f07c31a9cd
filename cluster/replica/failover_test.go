package replica_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// moveLeader is the controller's reaction to a dead leader: the first
// live ISR member leads, in the next epoch, and the dead node leaves the
// ISR (a CAS loop on the partition's key).
func (c *testCluster) moveLeader(topic string, dead int32) meta.PartitionState {
	c.t.Helper()
	for range 20 {
		st, version := c.state(topic)
		st.ISR = slices.DeleteFunc(slices.Clone(st.ISR), func(r int32) bool { return r == dead })
		st.Leader, st.LeaderEpoch, st.PartitionEpoch = st.ISR[0], st.LeaderEpoch+1, st.PartitionEpoch+1
		_, err := meta.UpdatePartition(testCtx(c.t, 5*time.Second), c.nodes[st.Leader].store, topic, 0, version, st)
		if err == nil {
			return st
		}
		if !errors.Is(err, meta.ErrConflict) {
			c.t.Fatalf("move the leader of %s: %v", topic, err)
		}
	}
	c.t.Fatalf("move the leader of %s: 20 lost races", topic)
	return meta.PartitionState{}
}

// TestFailoverNothingLost: an idempotent acks=all producer writes while
// the leader dies; the controller moves leadership to an in-sync
// follower, the producer goes on there, the old leader comes back as a
// follower and catches up. Every acknowledged record is in every log,
// once, and the logs are byte-identical.
func TestFailoverNothingLost(t *testing.T) {
	c := newCluster(t, 3, 10*time.Second, 2)
	c.createTopic("fo", 1, 2, 3)
	seeds := []string{c.node(1).addr(), c.node(2).addr(), c.node(3).addr()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	var mu sync.Mutex
	var acked []string
	var failed []error
	var wg sync.WaitGroup
	const n = 400
	stopAt, issued := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(issued)
		for i := range n {
			if i == n/3 {
				close(stopAt)
			}
			v := fmt.Sprintf("p%03d", i)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: "fo", Partition: 0, Value: []byte(v)}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err)
					return
				}
				acked = append(acked, v)
			})
			time.Sleep(3 * time.Millisecond)
		}
	}()
	<-stopAt
	c.node(1).stop()
	c.setDown(1, true)
	if st := c.moveLeader("fo", 1); st.Leader != 2 {
		t.Fatalf("new leader %d, want 2", st.Leader)
	}
	time.Sleep(500 * time.Millisecond)
	c.setDown(1, false)
	c.node(1).start()

	done := make(chan struct{})
	go func() { <-issued; wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("the producer's records were not all answered in 40 s")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("%d of %d records failed; first: %v", len(failed), n, failed[0])
	}
	c.waitISR("fo", 1, 2, 3) // in assignment order
	c.converged("fo", 1, 2, 3)
	got := values(t, c.node(2).log, "fo")
	seen := map[string]bool{}
	for _, v := range got {
		if seen[v] {
			t.Fatalf("%s is in the log twice", v)
		}
		seen[v] = true
	}
	for _, v := range acked {
		if !seen[v] {
			t.Fatalf("acknowledged %s is not in the log (%d records there, %d acknowledged)", v, len(got), len(acked))
		}
	}
	if len(acked) != n {
		t.Fatalf("%d records acknowledged, want %d", len(acked), n)
	}
}
