package replica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/zombi-dev/zombi/log/batch"
)

// waitISR waits until etcd holds isr for the topic, and returns how long
// it took.
func (c *testCluster) waitISR(topic string, isr ...int32) time.Duration {
	c.t.Helper()
	start := time.Now()
	eventually(c.t, fmt.Sprintf("ISR of %s becomes %v", topic, isr), func() string {
		if st, _ := c.state(topic); !slices.Equal(st.ISR, isr) {
			return fmt.Sprintf("ISR %v", st.ISR)
		}
		return ""
	})
	return time.Since(start)
}

// rawProduce sends one acks=all Produce of one record to the node and
// returns the partition's error code.
func rawProduce(t *testing.T, addr, topic string, acks int16, value string) int16 {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.Produce.Int16(), 12) // topics by name
	ka := kgo.LeaderAck()
	if acks == -1 {
		ka = kgo.AllISRAcks()
	}
	// kgo rewrites a raw Produce's acks to its own setting.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs), kgo.RequiredAcks(ka), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var b batch.Builder
	b.Reset()
	b.Add(time.Now().UnixMilli(), nil, []byte(value), nil)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = b.Bytes()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx := testCtx(t, 10*time.Second)
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("produce %q: %v", value, err)
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

// TestISRShrinkAndExpand: a follower that stops fetching leaves the ISR
// after replica.lag.time.max.ms and writes go on; with min.insync.replicas
// 2 and both followers gone an acks=all write gets NOT_ENOUGH_REPLICAS (an
// acks=1 write still goes); a follower that comes back catches up and
// joins the ISR again, and acks=all writes go again.
func TestISRShrinkAndExpand(t *testing.T) {
	const lag = 1500 * time.Millisecond
	c := newCluster(t, 3, lag, 2)
	c.createTopic("isr", 1, 2, 3)
	cl := c.producer(1, kgo.AllISRAcks())
	produce(t, cl, "isr", "a", "b", "c")

	// Node 3 stops (still registered): out of the ISR by the lag rule.
	c.node(3).stop()
	stopped := time.Now()
	c.waitISR("isr", 1, 2)
	if took := time.Since(stopped); took < lag/2 {
		t.Fatalf("follower 3 left the ISR %v after it stopped, before replica.lag.time.max.ms %v", took, lag)
	}
	produce(t, cl, "isr", "d", "e")

	// Node 2 is gone from the membership too: out at once, and acks=all
	// is refused below min.insync.replicas 2.
	c.node(2).stop()
	c.setDown(2, true)
	c.waitISR("isr", 1)
	if code := rawProduce(t, c.node(1).addr(), "isr", -1, "refused"); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with ISR [1] and min.insync.replicas 2: code %d (%v), want NOT_ENOUGH_REPLICAS", code, kerr.ErrorForCode(code))
	}
	if code := rawProduce(t, c.node(1).addr(), "isr", 1, "f"); code != 0 {
		t.Fatalf("acks=1 with ISR [1]: code %d (%v), want none", code, kerr.ErrorForCode(code))
	}
	// The franz-go producer sees the same error (it is retriable: one try).
	once := c.producer(1, kgo.AllISRAcks(), kgo.RecordRetries(0), kgo.RecordDeliveryTimeout(3*time.Second))
	err := once.ProduceSync(context.Background(), &kgo.Record{Topic: "isr", Value: []byte("refused")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("franz-go acks=all with ISR [1]: %v, want NOT_ENOUGH_REPLICAS", err)
	}

	// Node 3 comes back: it catches up and joins the ISR.
	c.node(3).start()
	c.waitISR("isr", 1, 3)
	produce(t, cl, "isr", "g")
	c.converged("isr", 1, 3)
	want := []string{"a", "b", "c", "d", "e", "f", "g"}
	for _, id := range []int32{1, 3} {
		if got := values(t, c.node(id).log, "isr"); !slices.Equal(got, want) {
			t.Fatalf("node %d holds %q, want %q", id, got, want)
		}
	}
}

// TestFollowerBehindLogStart: a follower whose log ends below the leader's
// log start (the leader trimmed while it was away) gets
// OFFSET_OUT_OF_RANGE, starts over empty at the leader's log start, and
// catches up from there into the ISR.
func TestFollowerBehindLogStart(t *testing.T) {
	c := newCluster(t, 3, 1500*time.Millisecond, 1)
	c.createTopic("trim", 1, 2, 3)
	produce(t, c.producer(1, kgo.AllISRAcks()), "trim", "a", "b", "c", "d", "e")
	c.node(3).stop()
	c.waitISR("trim", 1, 2)
	produce(t, c.producer(1, kgo.AllISRAcks()), "trim", "f", "g", "h", "i", "j")
	if start, err := c.node(1).log.TrimBefore(testCtx(t, 5*time.Second), "trim", 0, 8); err != nil || start != 8 {
		t.Fatalf("trim the leader below 8: start %d, %v", start, err)
	}
	if leo, _ := c.node(3).log.LogEndOffset("trim", 0); leo != 5 {
		t.Fatalf("stopped follower's log end %d, want 5", leo)
	}
	c.node(3).start()
	c.waitISR("trim", 1, 2, 3)
	l1, l3 := c.node(1).log, c.node(3).log
	eventually(t, "follower 3 restarted at the leader's log start", func() string {
		start, hwm, _ := l3.Offsets("trim", 0)
		if leo, _ := l3.LogEndOffset("trim", 0); start != 8 || leo != 10 || hwm != 10 {
			return fmt.Sprintf("log start %d, end %d, high watermark %d; want 8, 10, 10", start, leo, hwm)
		}
		return ""
	})
	if a, b := rawLogFrom(t, l1, "trim", 8), rawLogFrom(t, l3, "trim", 8); !bytes.Equal(a, b) {
		t.Fatalf("logs from 8 differ: leader %d bytes, follower %d", len(a), len(b))
	}
}
