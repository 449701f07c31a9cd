package e2e_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterFollowerLoss: RF 3, min.insync.replicas=2, one partition under
// the chaos workload. One follower killed: the ISR shrinks to two and writes
// go on. The second killed: the ISR is the leader alone and acks=all is
// refused with NOT_ENOUGH_REPLICAS (a plain acks=all write without retries
// sees the code; the workload's idempotent producers retry it: librdkafka's
// records, which live 3 s, fail as timed out, kgo holds its own), and
// nothing is acknowledged meanwhile. Both
// restarted: the ISR is three again and writes resume. Nothing acknowledged
// is lost.
func TestClusterFollowerLoss(t *testing.T) {
	const topic = "follower-loss"
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, 1, workloadOptions{
		FranzOpts: []kgo.Opt{kgo.RecordDeliveryTimeout(3 * time.Second)},
		RdkConfig: map[string]string{"message.timeout.ms": "3000"},
	})
	pi := c.WaitISR(t, topic, 0, 3)
	leader := pi.Leader
	var followers []int32
	for _, r := range pi.Replicas {
		if r != leader {
			followers = append(followers, r)
		}
	}
	time.Sleep(time.Second)

	// One follower down: the ISR shrinks, writes go on.
	healed := w.l.StartFault("kill follower", 0)
	c.Kill(followers[0])
	healed()
	pi = c.WaitISR(t, topic, 0, 2)
	if pi.Leader != leader || clustertest.Has(pi.ISR, followers[0]) {
		t.Fatalf("after killing follower %d: leader %d ISR %v, want leader %d and ISR without %d", followers[0], pi.Leader, pi.ISR, leader, followers[0])
	}
	acked := w.l.Acked()
	w.ackedOnAll(acked, 1, 15*time.Second, "acks with one follower down")

	// Two down: the leader alone is below min.insync.replicas.
	c.Kill(followers[1])
	pi = c.WaitISR(t, topic, 0, 1)
	if pi.Leader != leader {
		t.Fatalf("after killing both followers: leader %d, want %d", pi.Leader, leader)
	}
	shrunk := time.Now()
	// A plain acks=all write with no retries sees the refusal itself (the
	// workload's idempotent clients retry it until their delivery timeout
	// and then report a timeout).
	pcl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0))
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	err := pcl.ProduceSync(pctx, &kgo.Record{Value: []byte("refused")}).FirstErr()
	pcancel()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Errorf("acks=all produce with the leader alone: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	time.Sleep(3 * time.Second)
	// Allow a second for requests answered before Metadata showed the
	// shrink; nothing later may be acknowledged.
	h := w.l.History()
	for _, a := range h.Acks {
		if a.At.After(shrunk.Add(time.Second)) {
			t.Errorf("%q acknowledged at %s with the ISR down to the leader since %s", a.Key, a.At.Format("15:04:05.000"), shrunk.Format("15:04:05.000"))
			break
		}
	}

	// Both back: the ISR is whole again and writes resume.
	healed = w.l.StartFault("two followers back", 0)
	c.Restart(followers[0])
	c.Restart(followers[1])
	healed()
	c.WaitISR(t, topic, 0, 3)
	acked = w.l.Acked()
	w.ackedOnAll(acked, 1, 20*time.Second, "acks after both followers returned")

	r := w.finish()
	t.Logf("workload failures while the leader was alone: %d (%v)", r.Failures, r.FailureErrors)
	if r.Failures == 0 && slices.Contains(w.names, "librdkafka") {
		t.Errorf("the librdkafka producer (message.timeout.ms 3000) had no failed write while the leader was alone")
	}
}
