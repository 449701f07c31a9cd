package compat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestTxnSarama: sarama's transactional producer (BeginTxn, CommitTxn,
// AbortTxn, AddOffsetsToTxnWithGroupMetadata from a live group session) and
// its consumers with IsolationLevel ReadCommitted and ReadUncommitted, the
// scenario of txn_clients_test.go, at sarama's default protocol versions
// (Kafka 2.1: TxnOffsetCommit v2, no member fencing) and at Kafka 3.6's
// (TxnOffsetCommit v3 with the generation and member id).
func TestTxnSarama(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		t.Parallel()
		for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V3_6_0_0} {
			t.Run(v.String(), func(t *testing.T) {
				start := time.Now()
				tt := setupTxnTopics(t, b)
				res := saramaTxnScenario(t, b, tt, v)
				t.Logf("%s against %s: %v", res.Client, b.name, time.Since(start).Round(time.Millisecond))
				checkTxnResult(t, b, tt, res)
			})
		}
	})
}

func saramaTxnConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "sarama-txn"
	cfg.Metadata.RefreshFrequency = time.Second
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	return cfg
}

func saramaTxnProducer(t *testing.T, b broker, v sarama.KafkaVersion, id string) sarama.SyncProducer {
	t.Helper()
	cfg := saramaTxnConfig(v)
	cfg.Producer.Transaction.ID = id
	p, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatalf("sarama transactional producer %s: %v", id, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// saramaEnd ends the producer's transaction.
func saramaEnd(t *testing.T, p sarama.SyncProducer, commit bool) {
	t.Helper()
	end, what := p.CommitTxn, "commit"
	if !commit {
		end, what = p.AbortTxn, "abort"
	}
	if err := end(); err != nil {
		t.Fatalf("sarama %s transaction: %v", what, err)
	}
}

func saramaTxnScenario(t *testing.T, b broker, tt txnTopics, v sarama.KafkaVersion) txnResult {
	t.Helper()
	res := txnResult{Client: "sarama " + v.String()}

	// 1. Commit, abort, commit.
	p := saramaTxnProducer(t, b, v, tt.txnID)
	for _, batch := range txnProduceBatches {
		if err := p.BeginTxn(); err != nil {
			t.Fatalf("sarama begin transaction: %v", err)
		}
		for i, val := range batch.values {
			msg := &sarama.ProducerMessage{Topic: tt.out, Partition: txnPartition(val, i), Value: sarama.StringEncoder(val)}
			if _, _, err := p.SendMessage(msg); err != nil {
				t.Fatalf("sarama send %s in a transaction: %v", val, err)
			}
		}
		saramaEnd(t, p, batch.commit)
	}

	// 2. Consume-transform-produce.
	admin, err := sarama.NewClusterAdmin([]string{b.addr}, saramaTxnConfig(v))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	committed := func() int64 {
		offs, err := admin.ListConsumerGroupOffsets(tt.group, map[string][]int32{tt.in: {0}})
		if err != nil {
			t.Fatalf("sarama list group offsets: %v", err)
		}
		blk := offs.GetBlock(tt.in, 0)
		if blk == nil || blk.Err != sarama.ErrNoError {
			t.Fatalf("sarama list group offsets: %+v", blk)
		}
		return max(blk.Offset, -1)
	}
	// Kafka makes the offsets of a transaction visible when its coordinator
	// has written the markers, a moment after EndTxn answers.
	waitCommitted := func(want int64) int64 {
		deadline := time.Now().Add(10 * time.Second)
		o := committed()
		for o != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			o = committed()
		}
		return o
	}
	tp := saramaTxnProducer(t, b, v, tt.txnID+"-ctp")
	transform := func(msgs []saramaTxnMsg, commit, pending bool) {
		var in []string
		for _, m := range msgs {
			in = append(in, string(m.m.Value))
		}
		res.Inputs = append(res.Inputs, in)
		if err := tp.BeginTxn(); err != nil {
			t.Fatalf("sarama begin transaction: %v", err)
		}
		for _, val := range in {
			n, _ := strconv.Atoi(strings.TrimPrefix(val, "in-"))
			msg := &sarama.ProducerMessage{Topic: tt.ctp, Partition: int32(n % txnParts), Value: sarama.StringEncoder("x-" + val)}
			if _, _, err := tp.SendMessage(msg); err != nil {
				t.Fatalf("sarama send x-%s in a transaction: %v", val, err)
			}
		}
		last := msgs[len(msgs)-1]
		offs := map[string][]*sarama.PartitionOffsetMetadata{tt.in: {{Partition: 0, Offset: last.m.Offset + 1}}}
		if err := tp.AddOffsetsToTxnWithGroupMetadata(offs, sarama.NewConsumerGroupMetadataFromSession(last.s, tt.group, nil)); err != nil {
			t.Fatalf("sarama add offsets to transaction: %v", err)
		}
		if pending {
			res.Offsets.Pending = committed()
		}
		saramaEnd(t, tp, commit)
	}
	m := startSaramaTxnMember(t, b, v, tt)
	transform(m.take(t, 3), true, true)
	res.Offsets.AfterCommit = waitCommitted(3)
	transform(m.take(t, 3), false, false)
	m.close(t) // auto-commit is off and nothing was marked: it commits nothing
	// A new member resumes from the group's offset: the abort did not move it.
	m = startSaramaTxnMember(t, b, v, tt)
	msgs := m.take(t, 3)
	res.Offsets.AfterAbort = committed()
	transform(msgs, true, false)
	res.Offsets.Final = waitCommitted(6)
	m.close(t)

	// 3. Both topics at both isolation levels.
	res.Committed = saramaTxnRead(t, b, v, tt.out, sarama.ReadCommitted, 10)
	res.Uncommitted = saramaTxnRead(t, b, v, tt.out, sarama.ReadUncommitted, 14)
	res.CTPCommitted = saramaTxnRead(t, b, v, tt.ctp, sarama.ReadCommitted, 6)
	res.CTPUncommitted = saramaTxnRead(t, b, v, tt.ctp, sarama.ReadUncommitted, 9)
	return res
}

// saramaTxnMsg is a record a group member read, with its session (for the
// group metadata of the transactional offset commit).
type saramaTxnMsg struct {
	m *sarama.ConsumerMessage
	s sarama.ConsumerGroupSession
}

// saramaTxnMember is a read_committed member of the group consuming tt.in
// in its own goroutine; take hands its records over.
type saramaTxnMember struct {
	cg     sarama.ConsumerGroup
	msgs   chan saramaTxnMsg
	cancel context.CancelFunc
	done   chan error
}

func startSaramaTxnMember(t *testing.T, b broker, v sarama.KafkaVersion, tt txnTopics) *saramaTxnMember {
	t.Helper()
	cfg := saramaTxnConfig(v)
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cg, err := sarama.NewConsumerGroup([]string{b.addr}, tt.group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaTxnMember{cg: cg, msgs: make(chan saramaTxnMsg), cancel: cancel, done: make(chan error, 1)}
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{tt.in}, m); err != nil {
				m.done <- err
				return
			}
		}
		m.done <- nil
	}()
	return m
}

func (m *saramaTxnMember) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (m *saramaTxnMember) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *saramaTxnMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		select {
		case m.msgs <- saramaTxnMsg{msg, s}:
		case <-s.Context().Done():
			return nil
		}
	}
	return nil
}

func (m *saramaTxnMember) take(t *testing.T, n int) []saramaTxnMsg {
	t.Helper()
	timeout := time.After(20 * time.Second)
	var out []saramaTxnMsg
	for len(out) < n {
		select {
		case msg := <-m.msgs:
			out = append(out, msg)
		case err := <-m.done:
			t.Fatalf("sarama group member stopped after %d of %d records: %v", len(out), n, err)
		case <-timeout:
			t.Fatalf("sarama group member read %d of %d records in 20 s", len(out), n)
		}
	}
	return out
}

func (m *saramaTxnMember) close(t *testing.T) {
	t.Helper()
	m.cancel()
	if err := m.cg.Close(); err != nil {
		t.Fatalf("sarama consumer group close: %v", err)
	}
	if err := <-m.done; err != nil {
		t.Fatalf("sarama consume: %v", err)
	}
}

// saramaTxnRead reads n records of topic from the start of each partition
// at an isolation level, then checks for more for half a second.
func saramaTxnRead(t *testing.T, b broker, v sarama.KafkaVersion, topic string, iso sarama.IsolationLevel, n int) []txnRec {
	t.Helper()
	cfg := saramaTxnConfig(v)
	cfg.Consumer.IsolationLevel = iso
	c, err := sarama.NewConsumer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	recs := make(chan txnRec)
	errs := make(chan error, txnParts)
	stop := make(chan struct{})
	defer close(stop)
	for p := int32(0); p < txnParts; p++ {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama consume %s/%d: %v", topic, p, err)
		}
		defer pc.AsyncClose()
		go func() {
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					select {
					case recs <- txnRec{m.Partition, m.Offset, string(m.Value)}:
					case <-stop:
						return
					}
				case err, ok := <-pc.Errors():
					if !ok {
						return
					}
					errs <- err
					return
				}
			}
		}()
	}
	var got []txnRec
	timeout := time.After(20 * time.Second)
	var extra <-chan time.Time
	for {
		if len(got) == n && extra == nil {
			extra = time.After(500 * time.Millisecond) // nothing beyond them
		}
		select {
		case r := <-recs:
			got = append(got, r)
		case err := <-errs:
			t.Fatalf("sarama read of %s (isolation %d): %v", topic, iso, err)
		case <-timeout:
			t.Fatalf("sarama read %d of %d records of %s at isolation level %d in 20 s: %v", len(got), n, topic, iso, fmt.Sprint(got))
		case <-extra:
			return got
		}
	}
}
