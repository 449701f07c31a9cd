package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterStopLeader: a leader stopped with SIGTERM (a controlled
// shutdown) under the workload: its partitions move to another ISR member
// and nothing acknowledged is lost; restarted, it rejoins every ISR. The
// gap is logged (issue 19 point 10 wants a controlled move under 1 s; it
// is measured in docs/BENCHMARKS.md) and must stay well below a session
// timeout's failover.
func TestClusterStopLeader(t *testing.T) {
	const (
		topic      = "stop-leader"
		partitions = 3
	)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, partitions, workloadOptions{})
	time.Sleep(time.Second)

	victim := c.Leader(t, topic, 0)
	var led []int32
	for p := int32(0); p < partitions; p++ {
		if pi, ok := c.Partition(topic, p); ok && pi.Leader == victim {
			led = append(led, p)
		}
	}
	healed := w.l.StartFault("SIGTERM leader", led...)
	stopping := time.Now()
	c.Stop(victim)
	healed()
	t.Logf("node %d stopped in %s", victim, time.Since(stopping).Round(time.Millisecond))
	c.WaitPartition(t, topic, 0, 20*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
		return pi.Leader >= 0 && pi.Leader != victim
	})
	acked := w.l.Acked()
	w.ackedOnAll(acked, partitions, 20*time.Second, "acks on every partition after the stop")
	c.Restart(victim)
	for p := int32(0); p < partitions; p++ {
		c.WaitISR(t, topic, p, 3)
	}
	r := w.finish()
	if f, ok := r.Fault("SIGTERM leader"); ok {
		t.Logf("SIGTERM of the leader: longest gap %s (p%d), recovered %v", f.Gap.Round(time.Millisecond), f.Partition, f.Recovered)
		if f.Gap > 5*time.Second || !f.Recovered {
			t.Errorf("SIGTERM of the leader: gap %s (recovered %v), want acks again within 5 s", f.Gap, f.Recovered)
		}
	} else {
		t.Error("the fault is not in the report")
	}
}
