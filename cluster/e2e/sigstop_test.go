package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterSigstopLeader: the leader of a busy partition is frozen with
// SIGSTOP for three session timeouts: its registration expires, another
// ISR member leads in a higher epoch and writes go on. After SIGCONT the
// old leader learns it was replaced, rejoins as a follower (truncating
// what it appended and nobody acknowledged) and the ISR is whole again.
// The checker finds nothing lost, duplicated, reused or misplaced. (The
// gap on partition 0 is the pause: the idempotent clients had requests in
// flight to the frozen node and wait for them — or for their 20 s request
// timeout — before they write to the new leader; the other partitions go
// on throughout.)
func TestClusterSigstopLeader(t *testing.T) {
	const (
		topic      = "sigstop"
		partitions = 3
		session    = 2 * time.Second
	)
	c := clustertest.Start(t, clustertest.Options{SessionTimeout: session})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, partitions, workloadOptions{})
	time.Sleep(time.Second)

	before := c.WaitISR(t, topic, 0, 3)
	victim := before.Leader
	var led []int32
	for p := int32(0); p < partitions; p++ {
		if pi, ok := c.Partition(topic, p); ok && pi.Leader == victim {
			led = append(led, p)
		}
	}
	healed := w.l.StartFault("sigstop leader", led...)
	c.Pause(victim)
	paused := time.Now()
	after := c.WaitPartition(t, topic, 0, 3*session+10*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
		return pi.Leader >= 0 && pi.Leader != victim
	})
	t.Logf("node %d paused: partition 0 led by %d (epoch %d -> %d, ISR %v) after %s",
		victim, after.Leader, before.LeaderEpoch, after.LeaderEpoch, after.ISR, time.Since(paused).Round(time.Millisecond))
	if after.LeaderEpoch <= before.LeaderEpoch || clustertest.Has(after.ISR, victim) {
		t.Errorf("while node %d is paused: epoch %d ISR %v, want an epoch above %d and an ISR without it", victim, after.LeaderEpoch, after.ISR, before.LeaderEpoch)
	}
	// Writes to the other partitions go on meanwhile. (Those to partition
	// 0 wait in the clients: an idempotent producer with a request in
	// flight to the frozen node sends nothing to the new leader until that
	// request times out — kgo after 20 s, as Kafka's clients would.)
	var others []int32
	for p := int32(0); p < partitions; p++ {
		if !clustertest.Has(led, p) {
			others = append(others, p)
		}
	}
	acked := w.l.Acked()
	w.waitFor(3*session, "acks on the partitions the paused node does not lead", func() bool {
		seen := 0
		for _, p := range others {
			for _, a := range w.l.History().Acks[acked:] {
				if a.Partition == p {
					seen++
					break
				}
			}
		}
		return seen == len(others)
	})
	if d := 3*session - time.Since(paused); d > 0 {
		time.Sleep(d)
	}
	c.Resume(victim)
	healed()
	t.Logf("node %d resumed after %s", victim, time.Since(paused).Round(time.Millisecond))

	// The resumed node learns it was replaced: its own Metadata (asked of
	// it alone; right after SIGCONT it may still answer from before the
	// pause, until its watch delivers the changes) names the new leader
	// or a later epoch within a few seconds.
	learned := false
	var seen string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		pi, err := c.PartitionSeenBy(victim, topic, 0)
		seen = fmt.Sprintf("leader %d epoch %d err %v", pi.Leader, pi.LeaderEpoch, err)
		if err == nil && (pi.Leader != victim || pi.LeaderEpoch > after.LeaderEpoch) {
			learned = true
			break
		}
	}
	if !learned {
		t.Errorf("the resumed node %d did not learn within 10 s that it was replaced on partition 0 (its Metadata: %s)", victim, seen)
	}
	// The old leader is a follower again, back in every ISR.
	for p := int32(0); p < partitions; p++ {
		c.WaitPartition(t, topic, p, 30*time.Second, "3 in-sync replicas, not led by the replaced node", func(pi clustertest.PartitionInfo) bool {
			return len(pi.ISR) == 3 && pi.Leader >= 0 && (p != 0 || pi.Leader != victim || pi.LeaderEpoch > after.LeaderEpoch)
		})
	}
	acked = w.l.Acked()
	w.ackedOnAll(acked, partitions, 20*time.Second, "acks on every partition after SIGCONT")
	// Per producer, the first acknowledgement on partition 0 after the
	// pause: who resumed when.
	first := map[string]time.Duration{}
	for _, a := range w.l.History().Acks {
		if a.Partition == 0 && a.At.After(paused) {
			if _, ok := first[a.Producer]; !ok {
				first[a.Producer] = a.At.Sub(paused).Round(time.Millisecond)
			}
		}
	}
	t.Logf("first ack on partition 0 after the pause, per producer: %v", first)
	if !c.Ready(victim) {
		t.Errorf("node %d not ready after SIGCONT", victim)
	}
	r := w.finish()
	if f, ok := r.Fault("sigstop leader"); ok {
		t.Logf("sigstop: longest gap %s (p%d), recovered %v", f.Gap.Round(time.Millisecond), f.Partition, f.Recovered)
	}
}
