package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterSigstopLeader: the leader of a busy partition is frozen with
// SIGSTOP for three session timeouts: its registration expires, another
// ISR member leads in a higher epoch and writes go on. After SIGCONT the
// old leader learns it was replaced, rejoins as a follower (truncating
// what it appended and nobody acknowledged) and the ISR is whole again.
// The checker finds nothing lost, duplicated, reused or misplaced.
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
	acked := w.l.Acked()
	w.ackedOnAll(acked, partitions, 20*time.Second, "acks on every partition while the leader is paused")
	if d := 3*session - time.Since(paused); d > 0 {
		time.Sleep(d)
	}
	c.Resume(victim)
	healed()

	// The old leader is a follower again, back in every ISR.
	for p := int32(0); p < partitions; p++ {
		pi := c.WaitISR(t, topic, p, 3)
		if p == 0 && pi.Leader == victim && pi.LeaderEpoch <= after.LeaderEpoch {
			t.Errorf("partition 0 led by the resumed node %d in epoch %d: it did not learn it was replaced", victim, pi.LeaderEpoch)
		}
	}
	acked = w.l.Acked()
	w.ackedOnAll(acked, partitions, 20*time.Second, "acks on every partition after SIGCONT")
	if !c.Ready(victim) {
		t.Errorf("node %d not ready after SIGCONT", victim)
	}
	r := w.finish()
	if f, ok := r.Fault("sigstop leader"); ok {
		t.Logf("sigstop: longest gap %s (p%d), recovered %v", f.Gap.Round(time.Millisecond), f.Partition, f.Recovered)
	}
}
