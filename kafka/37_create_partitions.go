package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// CreatePartitions (key 37), v0-v3.
//
// Behavior:
//   - Raises a topic's partition count to the requested total; a count not
//     above the current one gets INVALID_PARTITIONS.
//   - validate_only checks and changes nothing.
//   - Cluster mode: the cluster adds the partitions (replicas assigned over
//     the live nodes, the topic's replication factor) and the answer comes
//     once this node's log has them; a manual assignment gets
//     INVALID_REQUEST (not supported yet).
//   - A topic named twice gets INVALID_REQUEST.
//   - The internal topics keep their 50 partitions: INVALID_TOPIC_EXCEPTION
//     with a message (Kafka 4.4 would add them; internal_topics.go).
//   - ALTER on the topic, else TOPIC_AUTHORIZATION_FAILED (before its
//     existence is looked at).
func init() { register(kmsg.CreatePartitions, 0, 3, (*Server).handleCreatePartitions) }

func (s *Server) handleCreatePartitions(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		info, ok := s.lookupTopic(rt.Topic)
		switch {
		case seen[rt.Topic] > 1:
			st.ErrorCode = errInvalidRequest
			err = fmt.Errorf("topic %q named more than once", rt.Topic)
		case !s.allowed(ctx, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, rt.Topic):
			st.ErrorCode = errTopicAuthz
		case !ok:
			err = fmt.Errorf("%w: %s", plog.ErrUnknownTopic, rt.Topic)
		case plog.IsInternalTopic(rt.Topic):
			err = s.refuseInternal("add partitions to", rt.Topic)
		case rt.Count <= info.Partitions:
			err = fmt.Errorf("%w: %s has %d partitions, asked for %d", plog.ErrPartitionsNotRaised, rt.Topic, info.Partitions, rt.Count)
		case rt.Count > plog.MaxPartitions:
			err = fmt.Errorf("%w: %d > %d", plog.ErrTooManyPartitions, rt.Count, plog.MaxPartitions)
		case rt.Assignment != nil && len(rt.Assignment) != int(rt.Count-info.Partitions):
			err = fmt.Errorf("%w: %d assignments for %d new partitions", plog.ErrInvalidPartitions, len(rt.Assignment), rt.Count-info.Partitions)
		case s.cfg.Cluster != nil && rt.Assignment != nil:
			st.ErrorCode = errInvalidRequest
			err = errors.New("manual replica assignment is not supported in cluster mode yet: give the count only")
		case req.ValidateOnly:
		case s.cfg.Cluster != nil:
			cctx, cancel := context.WithTimeout(ctx, adminTimeout(req.TimeoutMillis))
			err = s.cfg.Cluster.AddPartitions(cctx, rt.Topic, rt.Count)
			cancel()
		default:
			_, err = s.log.AddPartitions(rt.Topic, rt.Count)
		}
		if err != nil {
			if st.ErrorCode == 0 {
				st.ErrorCode = errorCode(err)
			}
			st.ErrorMessage = errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
