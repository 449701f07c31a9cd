package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// AddPartitionsToTxn (key 24), v0-v5.
//
// Behavior:
//   - Adds partitions to the producer's transaction (package txn), beginning
//     it if needed; durable before the answer. Only partitions added so may
//     receive the producer's transactional batches (the log asks the
//     coordinator before a batch opens a transaction in a partition).
//   - Per partition: TOPIC_AUTHORIZATION_FAILED without WRITE on the topic,
//     UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not
//     exist; then none is added and the others get OPERATION_NOT_ATTEMPTED,
//     as Kafka.
//   - Producer errors, on every partition: INVALID_PRODUCER_ID_MAPPING (not
//     this transactional id's producer), PRODUCER_FENCED (an older epoch;
//     INVALID_PRODUCER_EPOCH before v2), CONCURRENT_TRANSACTIONS (an EndTxn
//     being written), COORDINATOR_NOT_AVAILABLE (the log cannot write).
//   - Cluster mode: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or
//     COORDINATOR_NOT_AVAILABLE on every partition when this node is not
//     the id's loaded coordinator (see InitProducerId); the other nodes
//     ask with v4 VerifyOnly before a transactional batch opens a
//     transaction in a partition they lead.
//
// Version notes:
//   - v0-v3 (clients): one transaction; WRITE on the transactional id, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition.
//   - v4+ (Kafka's broker-to-coordinator form, KIP-890): a batch of
//     transactions, each answered on its own; CLUSTER_ACTION on the cluster,
//     else a top-level CLUSTER_AUTHORIZATION_FAILED. VerifyOnly changes
//     nothing and answers, per partition, whether it is in the producer's
//     ongoing transaction (INVALID_TXN_STATE when not).
func init() { register(kmsg.AddPartitionsToTxn, 0, 5, (*Server).handleAddPartitionsToTxn) }

// txnTopicCodes is one transaction's answer: per topic, per partition.
type txnTopicCodes struct {
	topic string
	parts []int32
	codes []int16
}

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		topics := make([]txnTopicCodes, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, txnTopicCodes{topic: t.Topic, parts: t.Partitions})
		}
		code := int16(0)
		if !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
			code = errTxnIDAuthz
		}
		s.addTxnPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, code, req.Version, topics)
		for _, t := range topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.topic
			for i, p := range t.parts {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, t.codes[i]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	if !s.allowedCluster(ctx, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = errClusterAuthz
		return resp, nil
	}
	for _, tx := range req.Transactions {
		topics := make([]txnTopicCodes, 0, len(tx.Topics))
		for _, t := range tx.Topics {
			topics = append(topics, txnTopicCodes{topic: t.Topic, parts: t.Partitions})
		}
		s.addTxnPartitions(ctx, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly, 0, req.Version, topics)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for _, t := range topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.topic
			for i, p := range t.parts {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, t.codes[i]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp, nil
}

// addTxnPartitions answers one transaction of an AddPartitionsToTxn into
// topics[i].codes; first, when not 0, is every partition's answer.
func (s *Server) addTxnPartitions(ctx context.Context, id string, pid int64, epoch int16, verifyOnly bool, first int16, version int16, topics []txnTopicCodes) {
	all := func(c int16) {
		for i := range topics {
			topics[i].codes = make([]int16, len(topics[i].parts))
			for j := range topics[i].codes {
				topics[i].codes[j] = c
			}
		}
	}
	if first == 0 {
		first = s.txnCoordinatorCode(id)
	}
	if first != 0 {
		all(first)
		return
	}
	c := s.transactions()
	if c == nil {
		all(kerr.CoordinatorNotAvailable.Code)
		return
	}
	var tps []plog.TopicPartition
	if verifyOnly {
		for _, t := range topics {
			tps = append(tps, txnPartitions(t.topic, t.parts)...)
		}
		codes, ke := c.VerifyPartitions(id, pid, epoch, tps)
		if ke != nil {
			all(fencedCode(ke, version, 2))
			return
		}
		k := 0
		for i := range topics {
			topics[i].codes = make([]int16, len(topics[i].parts))
			for j := range topics[i].parts {
				topics[i].codes[j] = code(codes[k])
				k++
			}
		}
		return
	}
	failed := false
	for i, t := range topics {
		topics[i].codes = make([]int16, len(t.parts))
		tcode := int16(0)
		info, ok := s.log.Topic(t.topic)
		switch {
		case !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, t.topic):
			tcode = errTopicAuthz
		case !ok:
			tcode = errUnknownTopic
		}
		for j, p := range t.parts {
			pcode := tcode
			if pcode == 0 && (p < 0 || p >= info.Partitions) {
				pcode = errUnknownTopic
			}
			topics[i].codes[j] = pcode
			failed = failed || pcode != 0
		}
		tps = append(tps, txnPartitions(t.topic, t.parts)...)
	}
	if failed {
		for i := range topics {
			for j := range topics[i].codes {
				if topics[i].codes[j] == 0 {
					topics[i].codes[j] = kerr.OperationNotAttempted.Code
				}
			}
		}
		return
	}
	if ke := c.AddPartitions(id, pid, epoch, tps); ke != nil {
		all(fencedCode(ke, version, 2))
	}
}
