package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// Transactional produce verification in cluster mode (KIP-890 part 1, as
// Kafka's AddPartitionsToTxnManager): before a transactional batch opens a
// transaction in a partition this node leads, the produce handler asks the
// id's coordinator (AddPartitionsToTxn v4 VerifyOnly, node to node, or the
// local coordinator directly) whether the partition is in the producer's
// ongoing transaction. The answer is cached per (producer id, epoch, topic,
// partition) until that partition's marker, and the log's verifier (which
// must not block: it runs on the log's writer) only reads the cache. On one
// node the coordinator itself is the verifier (txn.Coordinator.Verify).

// verifyTimeout bounds one verification round trip.
const verifyTimeout = 5 * time.Second

// txnVerifyCache holds the verified (pid, epoch, topic, partition).
type txnVerifyCache struct {
	maxAge time.Duration // older entries are swept: no transaction lasts longer
	mu     sync.Mutex
	m      map[verifyKey]verified
	swept  time.Time
}

// verifyKey is one producer's partition; its entry holds the epoch.
type verifyKey struct {
	pid   int64
	topic string
	part  int32
}

type verified struct {
	epoch int16
	at    time.Time
}

func newTxnVerifyCache(maxAge time.Duration) *txnVerifyCache {
	return &txnVerifyCache{maxAge: maxAge, m: map[verifyKey]verified{}, swept: time.Now()}
}

func (c *txnVerifyCache) has(pid int64, epoch int16, topic string, part int32) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[verifyKey{pid, topic, part}]
	return ok && v.epoch == epoch
}

func (c *txnVerifyCache) add(pid int64, epoch int16, topic string, part int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.m[verifyKey{pid, topic, part}] = verified{epoch, now}
	if now.Sub(c.swept) > time.Minute {
		c.swept = now
		for k, v := range c.m {
			if now.Sub(v.at) > c.maxAge {
				delete(c.m, k)
			}
		}
	}
}

// forget ends pid's verification of the partition (its marker is written).
func (c *txnVerifyCache) forget(pid int64, topic string, part int32) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, verifyKey{pid, topic, part})
}

// txnVerified is the cache (nil on one node: nothing cached, nothing to
// forget).
func (s *Server) txnVerified() *txnVerifyCache {
	if s.tc == nil {
		return nil
	}
	return s.tc.verified
}

// verifyClusterTxn is the log's transaction verifier in cluster mode: only
// what the coordinator verified opens a transaction. The internal topics
// pass: only the coordinators write there (a client's produce is refused at
// the door), and the group coordinator's TxnOffsetCommit batches are
// checked by the partition's producer state, as Kafka's before KIP-890.
func (s *Server) verifyClusterTxn(pid int64, epoch int16, topic string, part int32) error {
	if s.txnVerified().has(pid, epoch, topic, part) || plog.IsInternalTopic(topic) {
		return nil
	}
	return fmt.Errorf("%w: %s/%d not verified with the transaction coordinator for producer %d epoch %d",
		plog.ErrInvalidTxnState, topic, part, pid, epoch)
}

// verifyTxnProduce verifies a transactional batch of producer pid/epoch
// (transactional id id) for topic/part with the coordinator, unless cached:
// 0, or the partition's produce error code. A coordinator that cannot
// answer (moving, loading, unreachable) gives NOT_ENOUGH_REPLICAS, which
// every producer retries, as Kafka's AddPartitionsToTxnManager answers.
func (s *Server) verifyTxnProduce(ctx context.Context, id string, pid int64, epoch int16, topic string, part int32) int16 {
	if s.txnVerified().has(pid, epoch, topic, part) {
		return 0
	}
	v, err := s.cfg.Cluster.CoordinatorOf(int8(coordlog.Transaction), id)
	if err != nil || v.Leader < 0 {
		return kerr.NotEnoughReplicas.Code
	}
	tps := []plog.TopicPartition{{Topic: topic, Partition: part}}
	var code int16
	if v.Local {
		if !v.Loaded {
			return kerr.NotEnoughReplicas.Code
		}
		c := s.transactions()
		if c == nil {
			return kerr.NotEnoughReplicas.Code
		}
		codes, ke := c.VerifyPartitions(id, pid, epoch, tps)
		switch {
		case ke != nil:
			code = ke.Code
		default:
			code = errCode(codes[0])
		}
	} else {
		code = s.remoteVerify(ctx, v.Leader, id, pid, epoch, topic, part)
	}
	switch code {
	case 0:
		s.tc.verified.add(pid, epoch, topic, part)
		return 0
	case kerr.InvalidTxnState.Code, kerr.InvalidProducerIDMapping.Code:
		return code
	case kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code:
		return kerr.InvalidProducerEpoch.Code // the produce answer to a stale epoch
	default:
		return kerr.NotEnoughReplicas.Code
	}
}

// errCode is a *kerr.Error's code, 0 for nil.
func errCode(ke *kerr.Error) int16 {
	if ke == nil {
		return 0
	}
	return ke.Code
}

// remoteVerify asks node coordinator with AddPartitionsToTxn v4 VerifyOnly.
func (s *Server) remoteVerify(ctx context.Context, coordinator int32, id string, pid int64, epoch int16, topic string, part int32) int16 {
	b, err := s.tc.nodes.broker(coordinator)
	if err != nil {
		return kerr.NotEnoughReplicas.Code
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, true
	t := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	t.Topic, t.Partitions = topic, []int32{part}
	tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{t}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
	rctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	kresp, err := b.Request(rctx, req)
	if err != nil {
		s.logger.Debug("verify a transactional produce with the coordinator", "node", coordinator, "err", err)
		return kerr.NotEnoughReplicas.Code
	}
	resp := kresp.(*kmsg.AddPartitionsToTxnResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	for _, rtx := range resp.Transactions {
		for _, rt := range rtx.Topics {
			for _, rp := range rt.Partitions {
				if rtx.TransactionalID == id && rt.Topic == topic && rp.Partition == part {
					return rp.ErrorCode
				}
			}
		}
	}
	return kerr.NotEnoughReplicas.Code
}
