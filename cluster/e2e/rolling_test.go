package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterRollingRestart (issue 19 points 7 and 8): every node in turn
// is stopped with SIGTERM and started again under the acks=all workload,
// waiting for whole ISRs in between: no produce fails, nothing is lost,
// and each stop's longest acknowledgement gap is logged (below 5 s).
func TestClusterRollingRestart(t *testing.T) {
	const (
		topic      = "rolling"
		partitions = 3
	)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, partitions, workloadOptions{})
	for _, id := range c.IDs() {
		time.Sleep(time.Second)
		var led []int32
		for p := int32(0); p < partitions; p++ {
			if pi, ok := c.Partition(topic, p); ok && pi.Leader == id {
				led = append(led, p)
			}
		}
		healed := w.l.StartFault(fmt.Sprintf("SIGTERM n%d", id), led...)
		c.Stop(id)
		c.Restart(id)
		healed()
		for p := int32(0); p < partitions; p++ {
			c.WaitISR(t, topic, p, 3)
		}
	}
	acked := w.l.Acked()
	w.ackedOnAll(acked, partitions, 20*time.Second, "acks on every partition after the rolling restart")
	r := w.finish()
	if r.Failures > 0 {
		t.Errorf("%d produces failed during the rolling restart: %v", r.Failures, r.FailureErrors)
	}
	for _, f := range r.Faults {
		t.Logf("%s: longest gap %s (p%d), recovered %v", f.Name, f.Gap.Round(time.Millisecond), f.Partition, f.Recovered)
		if f.Gap > 5*time.Second || !f.Recovered {
			t.Errorf("%s: gap %s (recovered %v), want acks again within 5 s", f.Name, f.Gap, f.Recovered)
		}
	}
}
