package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterKillController: the controller node, which also leads
// partitions, is killed under the workload: another node becomes
// controller and moves the dead controller's partitions itself (no one else
// would), then the old controller returns as an ordinary node. Nothing is
// lost.
func TestClusterKillController(t *testing.T) {
	const (
		topic      = "kill-controller"
		partitions = 3
	)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, partitions, workloadOptions{NoLibrdkfa: true})
	md, err := c.Admin(t).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := md.Controller
	var led []int32
	for p := int32(0); p < partitions; p++ {
		if pi, ok := c.Partition(topic, p); ok && pi.Leader == ctrl {
			led = append(led, p)
		}
	}
	if len(led) == 0 {
		t.Fatalf("controller %d leads no partition of %s", ctrl, topic)
	}
	healed := w.l.StartFault("kill controller", led...)
	killed := time.Now()
	c.Kill(ctrl)
	healed()
	for _, p := range led {
		c.WaitPartition(t, topic, p, 20*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
			return pi.Leader >= 0 && pi.Leader != ctrl
		})
	}
	moved := time.Since(killed)
	md2, err := c.Admin(t).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md2.Controller == ctrl || md2.Controller < 0 {
		t.Errorf("controller %d after killing controller %d", md2.Controller, ctrl)
	}
	acked := w.l.Acked()
	w.ackedOnAll(acked, partitions, 20*time.Second, "acks on every partition after the controller died")
	c.Restart(ctrl)
	for p := int32(0); p < partitions; p++ {
		c.WaitISR(t, topic, p, 3)
	}
	r := w.finish()
	if f, ok := r.Fault("kill controller"); ok {
		// The server moves the partitions about a session timeout after the
		// kill; kgo's clients see it at their next metadata refresh, which
		// MetadataMinAge (5 s by default) spaces out: the gap is mostly theirs.
		t.Logf("controller %d killed (led %v): new controller %d, new leaders in Metadata after %s, longest ack gap %s (p%d)",
			ctrl, led, md2.Controller, moved.Round(time.Millisecond), f.Gap.Round(time.Millisecond), f.Partition)
		if f.Gap >= 20*time.Second || !f.Recovered {
			t.Errorf("gap %s (recovered %v), want acks again within 20 s", f.Gap, f.Recovered)
		}
	}
}
