package kafka

import (
	"context"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID (key 22), v0-v5.
//
// Behavior:
//   - Idempotent producers (null transactional id) get a new producer id and
//     epoch 0. Ids are unique across restarts without any stored state: each
//     is the larger of the last id + 1 and the current Unix time in
//     microseconds, so a restarted broker starts above everything it handed
//     out before (unless it handed out more than a million ids a second).
//   - v3+: a producer that sends its current id and epoch (after an error)
//     gets the same id with the epoch bumped, which resets its sequences in
//     the log; at the top epoch it gets a new id.
//   - Transactions are not supported: a transactional id gets
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients report as fatal.
func init() { register(kmsg.InitProducerID, 0, 5, (*Server).handleInitProducerID) }

func (s *Server) handleInitProducerID(_ context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	if req.TransactionalID != nil && *req.TransactionalID != "" {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp, nil
	}
	if req.Version >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = s.newProducerID(), 0
	return resp, nil
}

// newProducerID hands out a unique producer id (see above).
func (s *Server) newProducerID() int64 {
	for {
		last := s.lastPID.Load()
		next := max(last+1, time.Now().UnixMicro())
		if s.lastPID.CompareAndSwap(last, next) {
			return next
		}
	}
}
