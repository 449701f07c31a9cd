package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterKillAll: every node killed with SIGKILL at once under the
// workload (a power cut), then all restarted: every partition is led again
// with its whole ISR, writes resume, and nothing acknowledged is lost (all
// three held every acknowledged record).
func TestClusterKillAll(t *testing.T) {
	const (
		topic      = "kill-all"
		partitions = 3
	)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, partitions, workloadOptions{})
	time.Sleep(time.Second)

	healed := w.l.StartFault("kill all")
	for _, id := range c.IDs() {
		c.Kill(id)
	}
	time.Sleep(3 * time.Second) // every registration expired
	for _, id := range c.IDs() {
		c.Restart(id)
	}
	healed()
	for p := int32(0); p < partitions; p++ {
		pi := c.WaitISR(t, topic, p, 3)
		t.Logf("%s/%d after the restart: leader %d epoch %d ISR %v", topic, p, pi.Leader, pi.LeaderEpoch, pi.ISR)
	}
	acked := w.l.Acked()
	w.ackedOnAll(acked, partitions, 30*time.Second, "acks on every partition after the restart")
	r := w.finish()
	if f, ok := r.Fault("kill all"); ok {
		t.Logf("kill all: longest gap %s (p%d), recovered %v", f.Gap.Round(time.Millisecond), f.Partition, f.Recovered)
	}
}
