package compat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// sarama (IBM/sarama, Go, its own protocol code) at the protocol versions of
// two Kafka releases: 2.1 (its default: Produce v7, Fetch v10, Metadata v7,
// OffsetCommit v6) and 0.11 (Produce v3, Fetch v5, Metadata v4). Admin
// create/describe/delete, an idempotent synchronous producer with snappy,
// and a consumer group that marks every message (committed by sarama's
// auto-commit and on Close). Apache Kafka 4.4 passes at both versions too:
// KIP-896 removed only older ones (Produce v0-v2, Fetch v0-v3, ...).
func TestSarama(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V0_11_0_0} {
			t.Run(v.String(), func(t *testing.T) {
				topic, group := topicName(t, "t"), topicName(t, "g")
				cfg := sarama.NewConfig()
				cfg.Version = v
				cfg.ClientID = "sarama-compat"
				cfg.Producer.Return.Successes = true
				cfg.Producer.RequiredAcks = sarama.WaitForAll
				cfg.Producer.Idempotent = true
				cfg.Producer.Retry.Max = 5
				cfg.Net.MaxOpenRequests = 1
				cfg.Producer.Compression = sarama.CompressionSnappy
				cfg.Producer.Partitioner = sarama.NewHashPartitioner
				cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
				cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond

				admin, err := sarama.NewClusterAdmin([]string{b.addr}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer admin.Close()
				if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
					t.Fatalf("create topic: %v", err)
				}
				saramaWaitTopic(t, admin, topic, 3)

				prod, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				const n = 200
				keyPart := map[string]int32{}
				for i := 0; i < n; i++ {
					key := fmt.Sprintf("k%d", i%5)
					msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))}
					if v.IsAtLeast(sarama.V2_1_0_0) {
						msg.Headers = []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(fmt.Sprintf("x%d", i))}}
					}
					p, _, err := prod.SendMessage(msg)
					if err != nil {
						t.Fatalf("send %d: %v", i, err)
					}
					if q, ok := keyPart[key]; ok && q != p {
						t.Fatalf("key %s went to partitions %d and %d", key, q, p)
					}
					keyPart[key] = p
				}
				if err := prod.Close(); err != nil {
					t.Fatal(err)
				}

				cg, err := sarama.NewConsumerGroup([]string{b.addr}, group, cfg)
				if err != nil {
					t.Fatal(err)
				}
				h := &saramaHandler{want: n, seen: map[string]bool{}, next: map[int32]int64{}, done: make(chan struct{})}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				errc := make(chan error, 1)
				go func() {
					for ctx.Err() == nil {
						if err := cg.Consume(ctx, []string{topic}, h); err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
				select {
				case <-h.done:
				case <-ctx.Done():
					t.Fatalf("consumed %d of %d", len(h.seen), n)
				}
				cancel()
				if err := <-errc; err != nil {
					t.Fatalf("consume: %v", err)
				}
				if err := cg.Close(); err != nil {
					t.Fatal(err)
				}
				if h.err != nil {
					t.Fatal(h.err)
				}
				for key, p := range keyPart {
					if h.keyPart[key] != p {
						t.Fatalf("key %s produced to %d, consumed from %d", key, p, h.keyPart[key])
					}
				}

				// The commits cover everything: the group's offsets sum to n.
				offs, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
				if err != nil {
					t.Fatal(err)
				}
				var sum int64
				for _, b := range offs.Blocks[topic] {
					if b.Err != sarama.ErrNoError {
						t.Fatalf("committed offset error: %v", b.Err)
					}
					sum += max(b.Offset, 0)
				}
				if sum != n {
					t.Fatalf("committed offsets sum to %d, want %d: %+v", sum, n, offs.Blocks[topic])
				}
				if err := admin.DeleteTopic(topic); err != nil {
					t.Fatalf("delete topic: %v", err)
				}
			})
		}
	})
}

// saramaWaitTopic waits until sarama's DescribeTopics shows topic with n
// partitions: Kafka's broker metadata follows CreateTopics a moment later
// (see waitTopics).
func saramaWaitTopic(t *testing.T, admin sarama.ClusterAdmin, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		md, err := admin.DescribeTopics([]string{topic})
		if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError && len(md[0].Partitions) == n {
			return
		}
		if time.Now().After(deadline) {
			if err == nil && len(md) == 1 {
				err = md[0].Err
			}
			t.Fatalf("describe %s: never %d partitions: %v %+v", topic, n, err, md)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type saramaHandler struct {
	mu      sync.Mutex
	want    int
	seen    map[string]bool
	next    map[int32]int64 // per partition: the offset after the last one seen
	keyPart map[string]int32
	err     error
	done    chan struct{}
	closed  bool
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.check(m)
		s.MarkMessage(m, "") // committed by the auto-commit and on Close
	}
	return nil
}

func (h *saramaHandler) check(m *sarama.ConsumerMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keyPart == nil {
		h.keyPart = map[string]int32{}
	}
	v := string(m.Value)
	switch {
	case h.err != nil:
	case h.seen[v]:
		h.err = fmt.Errorf("%s consumed twice", v)
	case m.Offset < h.next[m.Partition]:
		h.err = fmt.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, h.next[m.Partition]-1)
	}
	var i int
	if _, err := fmt.Sscanf(v, "v%d", &i); err != nil && h.err == nil {
		h.err = fmt.Errorf("value %q", v)
	}
	if len(m.Headers) > 0 && string(m.Headers[0].Value) != fmt.Sprintf("x%d", i) && h.err == nil {
		h.err = fmt.Errorf("record %d: header %q", i, m.Headers[0].Value)
	}
	h.seen[v] = true
	h.next[m.Partition] = m.Offset + 1
	h.keyPart[string(m.Key)] = m.Partition
	if len(h.seen) == h.want && !h.closed {
		h.closed = true
		close(h.done)
	}
}
