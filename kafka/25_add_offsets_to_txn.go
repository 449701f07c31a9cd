package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// AddOffsetsToTxn (key 25), v0-v4.
//
// Behavior:
//   - Adds a consumer group to the producer's transaction (package txn),
//     beginning it if needed; durable before the answer. The group's
//     TxnOffsetCommits then stay pending until the transaction ends.
//   - WRITE on the transactional id, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED; READ on the group, else
//     GROUP_AUTHORIZATION_FAILED; an empty group or one over 32767 bytes
//     gets INVALID_GROUP_ID.
//   - Producer errors as AddPartitionsToTxn: INVALID_PRODUCER_ID_MAPPING,
//     PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2),
//     CONCURRENT_TRANSACTIONS, COORDINATOR_NOT_AVAILABLE.
//   - Cluster mode: the coordinator errors of InitProducerId; the group's
//     partition of __consumer_offsets joins the transaction's partitions
//     (Kafka's way), so the transaction's marker is written there too and
//     ends its TxnOffsetCommit batches.
//
// Version notes:
//   - v3+ flexible; v4 changes nothing a server answers (KIP-890).
func init() { register(kmsg.AddOffsetsToTxn, 0, 4, (*Server).handleAddOffsetsToTxn) }

func (s *Server) handleAddOffsetsToTxn(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		resp.ErrorCode = errTxnIDAuthz
	case !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		resp.ErrorCode = errGroupAuthz
	case req.Group == "" || len(req.Group) > plog.MaxGroupLen:
		resp.ErrorCode = kerr.InvalidGroupID.Code
	default:
		if resp.ErrorCode = s.txnCoordinatorCode(req.TransactionalID); resp.ErrorCode != 0 {
			break
		}
		c := s.transactions()
		if c == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			break
		}
		resp.ErrorCode = fencedCode(c.AddOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group), req.Version, 2)
	}
	return resp, nil
}
