package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
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
//   - Cluster mode: a key's coordinator is the leader of its partition of
//     __consumer_offsets (groups) or __transaction_state (transactional
//     ids): Kafka's abs(hashCode) % 50 (coordlog.Partition). The answer is
//     that node's id and address on the listener the client is on, as
//     Metadata names it; COORDINATOR_NOT_AVAILABLE (retriable) while the
//     internal topic is being created, when the partition has no live
//     leader, or when the leader has no such listener. Whether the leader
//     has loaded the partition is not checked (Kafka does not): the
//     coordinator answers COORDINATOR_LOAD_IN_PROGRESS itself.
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
			s.coordinatorAddress(ctx, &c, coordinatorGroup, host, port)
		case coordinatorTransaction:
			if !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key) {
				c.NodeID, c.Port = -1, -1
				c.ErrorCode = errTxnIDAuthz
				break
			}
			s.coordinatorAddress(ctx, &c, coordinatorTransaction, host, port)
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

// coordinatorAddress fills c with the key's coordinator: this node alone
// (host and port: its address on the client's listener), or in cluster
// mode the leader of the key's internal partition.
func (s *Server) coordinatorAddress(ctx context.Context, c *kmsg.FindCoordinatorResponseCoordinator, kind int8, host string, port int32) {
	cl := s.cfg.Cluster
	if cl == nil {
		c.NodeID, c.Host, c.Port = s.nodeID(), host, port
		return
	}
	if v, err := cl.CoordinatorOf(kind, c.Key); err == nil && v.Leader >= 0 {
		for _, n := range s.brokers(ctx) {
			if n.ID == v.Leader {
				c.NodeID, c.Host, c.Port = n.ID, n.Host, n.Port
				return
			}
		}
	}
	c.NodeID, c.Host, c.Port = -1, "", -1 // Kafka's Node.noNode()
	c.ErrorCode = kerr.CoordinatorNotAvailable.Code
	msg := kerr.CoordinatorNotAvailable.Message
	c.ErrorMessage = &msg
}
