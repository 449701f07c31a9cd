package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/log/batch"
)

// Transactional batches in a Produce without a transactional_id are refused
// as Kafka refuses them (TRANSACTIONAL_ID_AUTHORIZATION_FAILED): else a
// client skips the WRITE check on the transactional id, and its batches
// join a transaction the producer id already has open in the partition.
func TestTxnProduceWithoutTransactionalID(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, err := e.l.CreateTopic("nt", 1, nil); err != nil {
		t.Fatal(err)
	}
	ip := initTxn(t, c, "owner", 4, 10_000, -1, -1)
	pid, ep := ip.ProducerID, ip.ProducerEpoch
	wantCode(t, "add", addParts(t, c, 3, "owner", pid, ep, "nt", 0)[0], nil)
	wantCode(t, "produce in the transaction", txnProduce(t, c, "owner", "nt", 0, pid, ep, 0, "a"), nil)
	b := mkIdemBatch(pid, ep, 1, "injected")
	batch.SetTransactional(b)
	resp := c.do(produceReq("nt", 0, -1, b), 9).(*kmsg.ProduceResponse)
	wantCode(t, "transactional batch without a transactional id", resp.Topics[0].Partitions[0].ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	if _, hwm, _ := e.l.Offsets("nt", 0); hwm != 1 {
		t.Fatalf("high watermark %d after the refused batch, want 1", hwm)
	}
}

// DescribeProducers on an internal topic's partition: no producers, no
// error, as an empty partition of Kafka's. UNKNOWN_TOPIC_OR_PARTITION made
// Kafka's admin client retry until its timeout: `kafka-transactions.sh
// find-hanging --broker-id 1` hung for 60 s.
func TestDescribeProducersInternalTopics(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{
		{Topic: "__consumer_offsets", Partitions: []int32{0, 49, 50}},
		{Topic: "__transaction_state", Partitions: []int32{7}},
	}
	r := c.do(dp, 0).(*kmsg.DescribeProducersResponse)
	want := [][]*kerr.Error{{nil, nil, kerr.UnknownTopicOrPartition}, {nil}}
	for ti, rt := range r.Topics {
		for pi, rp := range rt.Partitions {
			wantCode(t, rt.Topic+" partition", rp.ErrorCode, want[ti][pi])
			if len(rp.ActiveProducers) != 0 {
				t.Fatalf("%s/%d: producers %+v", rt.Topic, rp.Partition, rp.ActiveProducers)
			}
		}
	}
}
