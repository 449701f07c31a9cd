package compat

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestTxnOpenAcrossZombiRestart: a transaction open when Zombi stops
// (gracefully) is still open after it starts again on the same port, as
// on a Kafka broker restart: the franz-go producer that opened it writes
// more records, commits its group offset into it and commits; a
// read_committed consumer sees every record of it, the group its offset.
// Zombi only (a restart of the shared Apache Kafka is not cheap; Kafka keeps
// transaction state in __transaction_state across restarts).
func TestTxnOpenAcrossZombiRestart(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dir := filepath.Join(t.TempDir(), "z")
	port, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{fmt.Sprintf("ZOMBI_KAFKA_LISTENERS=PLAINTEXT://127.0.0.1:%d", port)}
	z, err := startZombi(dir, env)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = z.Stop() }()
	topic, in, group := uniqueName(t, "t"), uniqueName(t, "in"), uniqueName(t, "g")
	adm := kadm.NewClient(newClient(t, z.KafkaAddr))
	for _, tp := range []string{topic, in} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, tp); err != nil {
			t.Fatalf("create %s: %v", tp, err)
		}
	}
	before := kadm.Offsets{}
	before.AddOffset(in, 0, 42, -1)
	if _, err := adm.CommitOffsets(ctx, group, before); err != nil {
		t.Fatalf("commit the group's offset 42: %v", err)
	}
	txnID := uniqueName(t, "txn")
	tx := newClient(t, z.KafkaAddr, kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic),
		kgo.TransactionTimeout(time.Minute), kgo.RetryTimeout(30*time.Second))
	produce := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("r%d", i))}).FirstErr(); err != nil {
				t.Fatalf("produce r%d in the transaction: %v", i, err)
			}
		}
	}
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(0, 3)

	if err := z.Stop(); err != nil {
		t.Fatalf("stop zombi: %v", err)
	}
	z, err = startZombi(dir, env)
	if err != nil {
		t.Fatalf("restart zombi on port %d: %v", port, err)
	}

	produce(3, 3)
	// The group's offset in the same transaction, as a client without a
	// group member sends it (AddOffsetsToTxn, then TxnOffsetCommit with
	// generation -1), through the producer's own id and epoch.
	pid, epoch, err := tx.ProducerID(ctx)
	if err != nil {
		t.Fatalf("producer id: %v", err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, group
	if resp, err := add.RequestWith(ctx, tx); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn after the restart: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch, commit.Generation = txnID, group, pid, epoch, -1
	tds, err := adm.ListTopics(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	ct := kmsg.NewTxnOffsetCommitRequestTopic()
	ct.Topic, ct.TopicID = in, tds[in].ID // v6 names topics by id
	cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset, cp.LeaderEpoch = 0, 43, -1
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	resp, err := commit.RequestWith(ctx, tx)
	if err != nil {
		t.Fatalf("TxnOffsetCommit after the restart: %v", err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("TxnOffsetCommit after the restart: %s/%d: %v", rt.Topic, rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			}
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}

	var got []txnRec
	for _, r := range consume(t, z.KafkaAddr, topic, 6, kgo.FetchIsolationLevel(kgo.ReadCommitted())) {
		got = append(got, txnRec{r.Partition, r.Offset, string(r.Value)})
	}
	checkTxnRecs(t, "read_committed after the restart", got,
		[]txnRec{{0, 0, "r0"}, {0, 1, "r1"}, {0, 2, "r2"}, {0, 3, "r3"}, {0, 4, "r4"}, {0, 5, "r5"}})
	offs, err := kadm.NewClient(newClient(t, z.KafkaAddr)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(in, 0); !ok || o.At != 43 {
		t.Errorf("group %s at %+v, want 43 (the transaction's offset)", group, o)
	}
}
