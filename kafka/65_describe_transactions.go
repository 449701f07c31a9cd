package kafka

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// DescribeTransactions (key 65), v0.
//
// Behavior:
//   - Per transactional id: its state (Kafka's names: Empty, Ongoing,
//     PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort), timeout,
//     start time of the ongoing transaction (-1 when none), producer id and
//     epoch, and the partitions of the ongoing transaction.
//   - DESCRIBE on the transactional id, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED; an id never initialised (or
//     forgotten after 7 idle days) gets TRANSACTIONAL_ID_NOT_FOUND, an empty
//     one INVALID_REQUEST.
//   - Cluster mode: the id's coordinator answers; another node gets
//     NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE
//     as InitProducerId), and admin clients ask the coordinator again.
func init() { register(kmsg.DescribeTransactions, 0, 0, (*Server).handleDescribeTransactions) }

func (s *Server) handleDescribeTransactions(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	c := s.transactions()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		if !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
			st.ErrorCode = errTxnIDAuthz
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		if id == "" {
			st.ErrorCode = errInvalidRequest // as Kafka
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		if code := s.txnCoordinatorCode(id); code != 0 {
			st.ErrorCode = code // cluster mode: ask its coordinator
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		if c == nil {
			st.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		info, ok := c.Describe(id)
		if !ok {
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State, st.TimeoutMillis, st.StartTimestamp = string(info.State), info.TimeoutMs, info.StartMs
		st.ProducerID, st.ProducerEpoch = info.ProducerID, info.ProducerEpoch
		parts := info.Partitions
		slices.SortFunc(parts, func(a, b plog.TopicPartition) int {
			return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
		for _, tp := range parts {
			if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == tp.Topic {
				st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
			st.Topics = append(st.Topics, t)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
