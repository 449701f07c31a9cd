package kafka

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Produce (key 0), advertised v0-v13, implemented v3-v13.
//
// Behavior:
//   - Every partition of one request goes to the log in one Append call, so
//     the whole request shares one fsync. A partition's record set may hold
//     several batches; each is CRC-checked and stored as sent (compressed or
//     not) with its base offset assigned.
//   - acks 0, 1 and -1; acks=0 gets no response, and an error on an acks=0
//     request closes the connection, as Kafka does, so the client notices.
//   - Unknown topics are created when auto-creation is on (and the
//     principal may CREATE them; otherwise UNKNOWN_TOPIC_OR_PARTITION).
//   - WRITE on the topic, else TOPIC_AUTHORIZATION_FAILED per partition.
//   - The internal topics are read-only: INVALID_TOPIC_EXCEPTION per
//     partition, as Kafka answers (internal_topics.go).
//     Idempotent producers need nothing more (Kafka 3.0+, KIP-679).
//   - Idempotent producers: the log dedupes per producer id/epoch/sequence; a
//     retried batch gets its original offsets and no error.
//   - Transactional produce (a transactional_id): WRITE on the
//     transactional id, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every
//     partition; a transactional batch in a request without a
//     transactional_id gets it too (on its partition), as in Kafka. The
//     batches go to the log as any other; the first one of a producer in a
//     partition opens a transaction there only if the transaction
//     coordinator (package txn) has that partition in the producer's
//     ongoing transaction at that epoch, else INVALID_TXN_STATE.
//   - A batch above the topic's max.message.bytes gets MESSAGE_TOO_LARGE.
//   - A topic with message.timestamp.type=LogAppendTime: the log stamps each
//     batch with the append time (MaxTimestamp, the timestamp-type bit, a new
//     CRC; records untouched; for HTTP writes too), and the response carries
//     that time (log_append_time), as Kafka does; readers give every record
//     that time.
//   - Cluster mode (Config.Cluster; not the internal topics): before a
//     partition's batches are looked at, the cluster says whether this node
//     leads it (else NOT_LEADER_OR_FOLLOWER, and clients refresh their
//     metadata) and, for acks=all, whether min.insync.replicas are in sync
//     (else NOT_ENOUGH_REPLICAS); nothing is appended then. With acks=all
//     the answer waits, within the request's timeout, until the ISR holds
//     what was appended; the partitions of one request wait in parallel.
//     A partition that does not get there is answered without offsets, as
//     Kafka does: NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
//     min.insync.replicas, NOT_LEADER_OR_FOLLOWER when leadership moved,
//     REQUEST_TIMED_OUT at the timeout (the records are in the log, not
//     acknowledged: a retry may store them twice unless idempotent). acks=1
//     and acks=0 answer once the leader has the records, as on one node.
//     With NOT_LEADER_OR_FOLLOWER (v10+), the partition's current leader
//     and epoch, and that node in the response (KIP-951).
//
// Version notes:
//   - v0-v2 carry message sets (magic 0/1), which Zombi does not store: every
//     partition gets UNSUPPORTED_VERSION. v0 is still advertised because
//     librdkafka disables compression against brokers whose Produce range
//     starts higher (DESIGN.md).
//   - v13: topics by id; unknown ids get UNKNOWN_TOPIC_ID.
func init() { register(kmsg.Produce, 0, 13, (*Server).handleProduce) }

func (s *Server) handleProduce(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	start := time.Now()
	txnDenied := req.TransactionID != nil &&
		!s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID)
	if req.TransactionID != nil && !txnDenied {
		s.transactions() // loaded, so that the verifier knows the ongoing transactions
	}

	type slot struct {
		ti, pi         int
		first, n       int // range in reqs
		records, bytes int
	}
	var (
		reqs   []plog.AppendRequest
		slots  []slot
		failed bool
	)
	for ti, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var (
			info  plog.TopicInfo
			tcode int16
		)
		if req.Version >= 13 {
			var ok bool
			if info, ok = s.topicByID(rt.TopicID); !ok {
				tcode = errUnknownTopicID
			} else if !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, info.Name) {
				tcode = errTopicAuthz
			}
		} else if req.Version >= 3 {
			if !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, rt.Topic) {
				tcode = errTopicAuthz
			} else {
				var err error
				info, _, err = s.autoCreateAs(ctx, rt.Topic, true)
				tcode = errorCode(err)
			}
		}
		maxBytes := info.Effective().MaxMessageBytes
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			code := tcode
			switch {
			case req.Version < 3:
				code = errUnsupportedVersion
			case txnDenied:
				code = kerr.TransactionalIDAuthorizationFailed.Code
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				code = kerr.InvalidRequiredAcks.Code
			case code != 0:
			case rp.Partition < 0 || rp.Partition >= info.Partitions:
				code = errUnknownTopic
			case plog.IsInternalTopic(info.Name):
				err := s.refuseInternal("produce", info.Name)
				code, sp.ErrorMessage = errorCode(err), errorMessage(err)
			case s.inCluster(info.Name):
				// Kafka's order: the leader and min.insync.replicas checks
				// come before the batches are looked at.
				if err := s.cfg.Cluster.CheckProduce(info.Name, rp.Partition, -1, req.Acks == -1); err != nil {
					code, sp.ErrorMessage = errorCode(err), errorMessage(err)
				}
			}
			var batches [][]byte
			if code == 0 {
				var err error
				batches, err = batch.Split(rp.Records)
				if err != nil || len(batches) == 0 {
					code = errCorruptMessage
				}
			}
			sl := slot{ti: ti, pi: pi, first: len(reqs)}
			for _, b := range batches {
				if code != 0 {
					break
				}
				if len(b) > maxBytes {
					code = errMessageTooLarge
					break
				}
				h, _ := batch.ReadHeader(b)
				if h.IsTransactional() && req.TransactionID == nil {
					// As Kafka: no WRITE check on a transactional id skipped.
					code = kerr.TransactionalIDAuthorizationFailed.Code
					break
				}
				if h.IsTransactional() && s.tc != nil {
					// Cluster mode: the id's coordinator may be another node
					// (txn_verify_cluster.go).
					if code = s.verifyTxnProduce(ctx, *req.TransactionID, h.ProducerID, h.ProducerEpoch, info.Name, rp.Partition); code != 0 {
						break
					}
				}
				sl.records += int(h.NumRecords)
				sl.bytes += len(b)
			}
			if code != 0 {
				sp.ErrorCode, sp.BaseOffset = code, -1
				failed = true
				s.st.Error()
				plog.CountRefused(refusedReason(code))
			} else {
				// A partition's record set is appended all or nothing, as
				// Kafka does.
				group := len(slots) + 1
				for _, b := range batches {
					reqs = append(reqs, plog.AppendRequest{Topic: info.Name, Partition: rp.Partition, Batch: b, Group: group})
				}
				sl.n = len(batches)
				slots = append(slots, sl)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}

	if len(reqs) > 0 {
		results := s.log.Append(ctx, reqs)
		lat := time.Since(start)
		var waits []replicationWait
		for _, sl := range slots {
			sp := &resp.Topics[sl.ti].Partitions[sl.pi]
			var err error
			for i, r := range results[sl.first : sl.first+sl.n] {
				if r.Err != nil {
					err = r.Err
					break
				}
				if i == 0 {
					sp.BaseOffset = r.BaseOffset
					if r.LogAppendTime != 0 {
						sp.LogAppendTime = r.LogAppendTime
					}
				}
				sp.LogStartOffset = r.LogStartOffset
			}
			if err != nil {
				sp.ErrorCode, sp.BaseOffset, sp.LogAppendTime = errorCode(err), -1, -1
				if req.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
				}
				failed = true
				s.st.Error()
				if errors.Is(err, plog.ErrStorage) {
					s.logger.Warn("produce failed", "err", err)
				}
				continue
			}
			s.st.Write(sl.records, sl.bytes, lat)
			if req.Acks == -1 && s.inCluster(reqs[sl.first].Topic) {
				waits = append(waits, replicationWait{sp: sp, topic: reqs[sl.first].Topic, part: reqs[sl.first].Partition,
					last: results[sl.first+sl.n-1].LastOffset})
			}
		}
		if len(waits) > 0 && s.awaitReplicated(ctx, req, waits) {
			failed = true
		}
	}
	if req.Acks == 0 {
		if failed {
			return nil, errAcksZeroFailed
		}
		return nil, nil
	}
	if failed {
		s.addProduceLeaderHints(ctx, req, resp)
	}
	return resp, nil
}

var errAcksZeroFailed = errors.New("acks=0 produce failed: closing the connection so the client notices")

// refusedReason is the zombi_writes_refused_total reason of a partition the
// Produce handler refuses before the log sees it.
func refusedReason(code int16) string {
	switch code {
	case errMessageTooLarge:
		return "record_too_large"
	case errTopicAuthz:
		return "unauthorized"
	case errUnknownTopic, errUnknownTopicID:
		return "unknown_topic"
	case errCorruptMessage:
		return "corrupt_batch"
	case kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code, kerr.UnknownLeaderEpoch.Code:
		return "not_leader"
	case kerr.NotEnoughReplicas.Code:
		return "not_enough_replicas"
	}
	return "invalid"
}

// replicationWait is an acks=all partition waiting for its ISR.
type replicationWait struct {
	sp    *kmsg.ProduceResponseTopicPartition
	topic string
	part  int32
	last  int64 // the last offset appended
	err   error
}

// awaitReplicated waits, within the request's timeout, until every
// partition's high watermark passes what it appended (acks=all in cluster
// mode). The partitions wait in parallel, so the request takes as long as
// its slowest partition, not their sum. A partition that is not
// replicated in time, or whose leader or ISR changed, gets its error and no
// offsets, as Kafka answers: the records are in the log but not
// acknowledged. It returns whether any partition failed.
func (s *Server) awaitReplicated(ctx context.Context, req *kmsg.ProduceRequest, waits []replicationWait) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := range waits {
		w := &waits[i]
		wg.Go(func() { w.err = s.cfg.Cluster.AwaitReplicated(ctx, w.topic, w.part, w.last) })
	}
	wg.Wait()
	failed := false
	for _, w := range waits {
		if w.err == nil {
			continue
		}
		failed = true
		s.st.Error()
		w.sp.ErrorCode, w.sp.BaseOffset, w.sp.LogAppendTime, w.sp.LogStartOffset = errorCode(w.err), -1, -1, -1
		if req.Version >= 8 {
			w.sp.ErrorMessage = errorMessage(w.err)
		}
	}
	return failed
}
