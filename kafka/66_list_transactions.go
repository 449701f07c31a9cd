package kafka

import (
	"context"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/txn"
)

// ListTransactions (key 66), v0-v2.
//
// Behavior:
//   - Lists the transactional ids the coordinator holds, with producer id
//     and state, filtered by state (a name Kafka does not know is returned
//     in unknown_state_filters and matches nothing) and by producer id.
//   - Only ids the principal may DESCRIBE are listed (no error), as Kafka.
//
// Version notes:
//   - v1+ duration filter: when >= 0, only transactions started longer ago
//     than that many milliseconds (Kafka compares against the start time,
//     -1 for a transaction not ongoing, which therefore always passes).
//   - v2+ transactional id pattern (a regular expression that must match
//     the whole id; RE2 syntax); an invalid one gets
//     INVALID_REGULAR_EXPRESSION.
func init() { register(kmsg.ListTransactions, 0, 2, (*Server).handleListTransactions) }

// knownStates are the state names ListTransactions filters by.
var knownStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (s *Server) handleListTransactions(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if pattern, err = regexp.Compile("^(?:" + *req.TransactionalIDPattern + ")$"); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
	}
	states := map[string]bool{}
	for _, st := range req.StateFilters {
		if slices.Contains(knownStates, st) {
			states[st] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, st)
		}
	}
	c := s.transactions()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	now := time.Now().UnixMilli()
	for _, info := range c.List() {
		switch {
		case len(req.StateFilters) > 0 && !states[string(info.State)]:
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, info.ProducerID):
		case req.Version >= 1 && req.DurationFilterMillis >= 0 && now-info.StartMs <= req.DurationFilterMillis:
		case pattern != nil && !pattern.MatchString(info.TransactionalID):
		case !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, info.TransactionalID):
		default:
			resp.TransactionStates = append(resp.TransactionStates, listedTxn(info))
		}
	}
	return resp, nil
}

func listedTxn(info txn.Info) kmsg.ListTransactionsResponseTransactionState {
	t := kmsg.NewListTransactionsResponseTransactionState()
	t.TransactionalID, t.ProducerID, t.TransactionState = info.TransactionalID, info.ProducerID, string(info.State)
	return t
}
