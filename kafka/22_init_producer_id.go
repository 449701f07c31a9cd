package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/txn"
)

// InitProducerID (key 22), v0-v5.
//
// Behavior:
//   - Idempotent producers (null transactional id) get a new producer id and
//     epoch 0: the larger of the last id + 1 and the current Unix time in
//     microseconds. A ceiling stored with the log (raised a second of ids at
//     a time, durably, before any id above it is handed out) keeps ids unique
//     across restarts even when the clock steps back: the log remembers
//     producers' sequences, so a reused id could make a new batch look like
//     a duplicate of an old one.
//   - v3+: a producer that sends its current id and epoch (after an error)
//     gets the same id with the epoch bumped, which resets its sequences in
//     the log; at the top epoch it gets a new id. With a transactional id
//     these are checked against the coordinator's: another producer id or
//     an older epoch gets PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before
//     v4, as Kafka); a retry of a bump whose answer was lost gets the same
//     answer.
//   - With a transactional id (package txn): a new producer id on its first
//     use, the epoch bumped on each later call (fencing the previous
//     producer); an ongoing transaction of the old epoch is aborted first,
//     its markers carrying the bumped epoch; CONCURRENT_TRANSACTIONS while
//     an EndTxn is being written; INVALID_TRANSACTION_TIMEOUT for a timeout
//     of 0 or above ZOMBI_TRANSACTION_MAX_TIMEOUT_MS; a new producer id once
//     the epoch is exhausted. WRITE on the transactional id, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED. The state is durable before
//     the answer. An empty transactional id gets INVALID_REQUEST (Kafka's
//     answer; a null one is an idempotent producer).
//   - Cluster mode, with a transactional id: only the coordinator of the
//     id (the leader of its __transaction_state partition) answers;
//     another node gets NOT_COORDINATOR, one still loading the partition
//     COORDINATOR_LOAD_IN_PROGRESS, a partition without a leader
//     COORDINATOR_NOT_AVAILABLE. An ongoing transaction is aborted in two
//     phases (PrepareAbort at a bumped epoch, markers, CompleteAbort) and
//     the producer gets CONCURRENT_TRANSACTIONS meanwhile, as from Kafka.
//   - Without a transactional id: IDEMPOTENT_WRITE on the cluster or WRITE
//     on any topic (Kafka 3.0+, KIP-679), else CLUSTER_AUTHORIZATION_FAILED.
func init() { register(kmsg.InitProducerID, 0, 5, (*Server).handleInitProducerID) }

func (s *Server) handleInitProducerID(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	if req.TransactionalID != nil {
		return s.initTransactional(ctx, req, resp), nil
	}
	if !s.mayProduceIdempotently(ctx) {
		resp.ErrorCode = errClusterAuthz
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp, nil
	}
	if req.Version >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp, nil
	}
	id, err := s.newProducerID()
	if err != nil {
		s.logger.Warn("allocate producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code // retriable
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}

// initTransactional answers an InitProducerId with a transactional id.
func (s *Server) initTransactional(ctx context.Context, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) *kmsg.InitProducerIDResponse {
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	id := *req.TransactionalID
	if id == "" {
		resp.ErrorCode = errInvalidRequest // as Kafka: null is idempotent, "" an error
		return resp
	}
	if !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, id) {
		resp.ErrorCode = errTxnIDAuthz
		return resp
	}
	if code := s.txnCoordinatorCode(id); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	c := s.transactions()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	treq := txn.InitRequest{TransactionalID: id, TimeoutMs: req.TransactionTimeoutMillis, ProducerID: -1, ProducerEpoch: -1}
	if req.Version >= 3 {
		treq.ProducerID, treq.ProducerEpoch = req.ProducerID, req.ProducerEpoch
	}
	pid, epoch, ke := c.InitProducerID(treq)
	if ke != nil {
		resp.ErrorCode = fencedCode(ke, req.Version, 4)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	return resp
}

// pidCeilingKey is the log metadata key of the producer-id ceiling.
const pidCeilingKey = plog.ProducerIDCeilingKey

// newProducerID hands out a unique producer id (see above).
func (s *Server) newProducerID() (int64, error) {
	s.pidMu.Lock()
	defer s.pidMu.Unlock()
	if s.cfg.ProducerIDBlock != nil {
		return s.nextClusterProducerID()
	}
	if s.pidCeiling == 0 {
		v, err := s.log.Meta(pidCeilingKey)
		if err != nil {
			return 0, err
		}
		if len(v) == 8 {
			s.lastPID = int64(binary.BigEndian.Uint64(v))
		}
		s.pidCeiling = s.lastPID
	}
	next := max(s.lastPID+1, time.Now().UnixMicro())
	if next >= s.pidCeiling {
		ceiling := next + 1_000_000
		if err := s.log.SetMeta(pidCeilingKey, binary.BigEndian.AppendUint64(nil, uint64(ceiling))); err != nil {
			return 0, err
		}
		s.pidCeiling = ceiling
	}
	s.lastPID = next
	return next, nil
}

// nextClusterProducerID hands out the next id of the block in hand, taking
// a new block from the cluster when it is used up (Kafka's
// ProducerIdManager): ids are unique over every node. pidMu held.
func (s *Server) nextClusterProducerID() (int64, error) {
	if s.pidLast == 0 || s.lastPID >= s.pidLast {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		first, last, err := s.cfg.ProducerIDBlock(ctx)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("take a block of producer ids: %w", err)
		}
		if last < first || last <= 0 {
			return 0, fmt.Errorf("take a block of producer ids: empty block %d..%d", first, last)
		}
		s.lastPID, s.pidLast = first-1, last
	}
	s.lastPID++
	return s.lastPID, nil
}
