package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator (key 10), v0-v6.
//
// Behavior:
//   - Group keys: node 1, the only broker, is every group's coordinator;
//     GROUP_AUTHORIZATION_FAILED without DESCRIBE on the group.
//   - Transaction keys: node 1 is every transactional id's coordinator
//     (package txn); TRANSACTIONAL_ID_AUTHORIZATION_FAILED without DESCRIBE
//     on the transactional id, as Kafka.
//   - Other key types (share groups): INVALID_REQUEST.
//   - Cluster mode: the node asked (its own id and address) coordinates
//     every key, until groups and transactions live in replicated
//     internal partitions (a later session of issue 19).
//
// Version notes:
//   - v0-v3: one key; v4+: a batch of keys, each answered on its own.
func init() { register(kmsg.FindCoordinator, 0, 6, (*Server).handleFindCoordinator) }

// Coordinator key types.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func (s *Server) handleFindCoordinator(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.advertisedHostPort(ctx)
	answer := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		switch req.CoordinatorType {
		case coordinatorGroup:
			if !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key) {
				c.NodeID, c.Port = -1, -1
				c.ErrorCode = errGroupAuthz
				break
			}
			c.NodeID, c.Host, c.Port = s.nodeID(), host, port
		case coordinatorTransaction:
			if !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key) {
				c.NodeID, c.Port = -1, -1
				c.ErrorCode = errTxnIDAuthz
				break
			}
			c.NodeID, c.Host, c.Port = s.nodeID(), host, port
		default:
			c.NodeID, c.Port = -1, -1
			c.ErrorCode = errInvalidRequest
			msg := "unsupported coordinator type"
			c.ErrorMessage = &msg
		}
		return c
	}
	if req.Version >= 4 {
		for _, k := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, answer(k))
		}
		return resp, nil
	}
	c := answer(req.CoordinatorKey)
	resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	return resp, nil
}
