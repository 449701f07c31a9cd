package e2e_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterRejoinsTruncated: after a kill -9 of a busy leader (restarted)
// and a SIGSTOP of another (resumed) under the chaos workload, every
// replica of every partition holds the same batches, byte for byte, at the
// same offsets. How: once the writes stopped and every replica's high
// watermark reached the leader's log end, each replica is read directly
// with a consumer Fetch (replica id -1) sent to that node alone — a
// follower serves consumers up to its own high watermark (KIP-392) — and
// the raw record batches (base offset, leader epoch, producer id and
// sequence, CRC, records) are compared. Batches are stored as produced, so
// any divergence a missed truncation left (an offset holding two values)
// shows as different bytes.
func TestClusterRejoinsTruncated(t *testing.T) {
	const (
		topic      = "rejoin"
		partitions = 3
	)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	w := startWorkload(t, ctx, c, topic, partitions, workloadOptions{Rate: 400})
	time.Sleep(time.Second)

	killed := c.Leader(t, topic, 0)
	c.Kill(killed)
	c.WaitPartition(t, topic, 0, 20*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
		return pi.Leader >= 0 && pi.Leader != killed
	})
	time.Sleep(time.Second)
	c.Restart(killed)
	for p := int32(0); p < partitions; p++ {
		c.WaitISR(t, topic, p, 3)
	}
	paused := c.Leader(t, topic, 1)
	c.Pause(paused)
	c.WaitPartition(t, topic, 1, 20*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
		return pi.Leader >= 0 && pi.Leader != paused
	})
	time.Sleep(2 * time.Second)
	c.Resume(paused)
	for p := int32(0); p < partitions; p++ {
		c.WaitISR(t, topic, p, 3)
	}
	acked := w.l.Acked()
	w.ackedOnAll(acked, partitions, 30*time.Second, "acks on every partition after the faults")
	w.finish()

	cl := c.Client(t)
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	td := md.Topics[topic]
	for p := int32(0); p < partitions; p++ {
		pd := td.Partitions[p]
		var logs map[int32]replicaLog
		deadline := time.Now().Add(20 * time.Second)
		for {
			logs = map[int32]replicaLog{}
			for _, r := range pd.Replicas {
				logs[r] = readReplica(ctx, t, cl, r, topic, td.ID, p)
			}
			if sameHWM(logs) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		lead := logs[pd.Leader]
		if len(lead.batches) == 0 {
			t.Errorf("%s/%d: the leader %d holds no batch", topic, p, pd.Leader)
			continue
		}
		for _, r := range pd.Replicas {
			got := logs[r]
			if got.hwm != lead.hwm {
				t.Errorf("%s/%d: replica %d high watermark %d, leader %d's %d", topic, p, r, got.hwm, pd.Leader, lead.hwm)
				continue
			}
			if err := sameBatches(lead.batches, got.batches); err != nil {
				t.Errorf("%s/%d: replica %d differs from leader %d: %v", topic, p, r, pd.Leader, err)
			}
		}
		t.Logf("%s/%d: replicas %v hold the same %d batches up to offset %d (leader %d, epoch %d)",
			topic, p, pd.Replicas, len(lead.batches), lead.hwm, pd.Leader, pd.LeaderEpoch)
	}
}

// replicaLog is what one replica serves of a partition.
type replicaLog struct {
	hwm     int64
	batches []rawBatch
}

type rawBatch struct {
	base  int64
	bytes []byte
}

func sameHWM(logs map[int32]replicaLog) bool {
	var hwms []int64
	for _, l := range logs {
		hwms = append(hwms, l.hwm)
	}
	return slices.Min(hwms) == slices.Max(hwms)
}

func sameBatches(want, got []rawBatch) error {
	for i := range min(len(want), len(got)) {
		if want[i].base != got[i].base {
			return fmt.Errorf("batch %d starts at offset %d, want %d", i, got[i].base, want[i].base)
		}
		if !bytes.Equal(want[i].bytes, got[i].bytes) {
			return fmt.Errorf("batch at offset %d: %d bytes differ from the leader's %d", got[i].base, len(got[i].bytes), len(want[i].bytes))
		}
	}
	if len(want) != len(got) {
		return fmt.Errorf("%d batches, want %d", len(got), len(want))
	}
	return nil
}

// readReplica reads partition p from node id alone with consumer Fetch
// requests (replica id -1, read_uncommitted) up to its high watermark.
func readReplica(ctx context.Context, t *testing.T, cl *kgo.Client, id int32, topic string, topicID [16]byte, p int32) replicaLog {
	t.Helper()
	var out replicaLog
	next := int64(0)
	for range 10000 {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = 4 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, next, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := req.RequestWith(rctx, cl.Broker(int(id)))
		cancel()
		if err != nil {
			t.Fatalf("fetch %s/%d from node %d at %d: %v", topic, p, id, next, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch %s/%d from node %d: %d topics in the response", topic, p, id, len(resp.Topics))
		}
		rp2 := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(rp2.ErrorCode); err != nil {
			t.Fatalf("fetch %s/%d from node %d at %d: %v", topic, p, id, next, err)
		}
		out.hwm = rp2.HighWatermark
		raw := rp2.RecordBatches
		progressed := false
		for len(raw) >= 12 {
			n := 12 + int(int32(binary.BigEndian.Uint32(raw[8:12])))
			if n > len(raw) {
				break // a partial batch at the end of the response
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw[:n]); err != nil {
				t.Fatalf("fetch %s/%d from node %d: batch at %d: %v", topic, p, id, next, err)
			}
			if b.FirstOffset >= out.hwm {
				break
			}
			out.batches = append(out.batches, rawBatch{base: b.FirstOffset, bytes: slices.Clone(raw[:n])})
			next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			progressed = true
			raw = raw[n:]
		}
		if next >= out.hwm || !progressed {
			return out
		}
	}
	t.Fatalf("fetch %s/%d from node %d: no end", topic, p, id)
	return out
}
