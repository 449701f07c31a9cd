package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn (key 26), v0-v5.
//
// Behavior:
//   - Commits or aborts the producer's ongoing transaction (package txn):
//     a marker in every partition added to it, its pending TxnOffsetCommit
//     offsets (commit only) and the completed state, in one durable log
//     write; a kill -9 leaves the transaction either ended or still ongoing
//     (then aborted after its timeout). The answer comes after the write.
//   - An EndTxn retried after it completed gets no error (commit after
//     commit, abort after abort), as Kafka; ending without an ongoing
//     transaction, or the opposite of the one just completed, gets
//     INVALID_TXN_STATE; one arriving while the same end is being written
//     gets CONCURRENT_TRANSACTIONS (retriable).
//   - WRITE on the transactional id, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED. Producer errors as
//     AddPartitionsToTxn (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before
//     v2); a transaction the coordinator aborted on timeout bumped the
//     epoch, so its producer gets PRODUCER_FENCED, as in Kafka.
//   - Cluster mode: the coordinator errors of InitProducerId. Kafka's two
//     phases: PrepareCommit/PrepareAbort is appended to the id's
//     __transaction_state partition (acks=all) and answered; the markers
//     then go to each partition's leader (WriteTxnMarkers), and
//     CompleteCommit/CompleteAbort is appended once all are written.
//     Meanwhile the id answers CONCURRENT_TRANSACTIONS. A coordinator that
//     fails over resumes the markers from the log.
//
// Version notes:
//   - v5 (KIP-890 part 2) carries a producer id and epoch for clients of
//     transaction version 2, which Zombi does not offer (it does not
//     advertise the transaction.version feature): they are -1.
func init() { register(kmsg.EndTxn, 0, 5, (*Server).handleEndTxn) }

func (s *Server) handleEndTxn(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		resp.ErrorCode = errTxnIDAuthz
		return resp, nil
	}
	if code := s.txnCoordinatorCode(req.TransactionalID); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	c := s.transactions()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ErrorCode = fencedCode(c.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit), req.Version, 2)
	return resp, nil
}
