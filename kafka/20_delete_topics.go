package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics (key 20), v0-v6.
//
// Behavior:
//   - Deletes the topic and all its data (and its committed offsets stay, as
//     Kafka keeps them until the group expires).
//   - Unknown names get UNKNOWN_TOPIC_OR_PARTITION, unknown ids
//     UNKNOWN_TOPIC_ID.
//   - Cluster mode: the cluster deletes the topic on every node; the answer
//     comes once this node's log no longer has it (REQUEST_TIMED_OUT past
//     the request's timeout).
//   - The internal topics cannot be deleted: INVALID_TOPIC_EXCEPTION with a
//     message (Kafka 4.4 deletes them and re-creates them on the next
//     FindCoordinator; Zombi has nothing to delete: internal_topics.go).
//   - DELETE on the topic, else TOPIC_AUTHORIZATION_FAILED (before its
//     existence is looked at; by id, the name is returned only with
//     DESCRIBE on the topic).
//
// Version notes:
//   - v0-v5: names; v6: name or id per topic.
func init() { register(kmsg.DeleteTopics, 0, 6, (*Server).handleDeleteTopics) }

func (s *Server) handleDeleteTopics(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if req.Version < 6 {
		targets = nil
		for _, name := range req.TopicNames {
			n := name
			targets = append(targets, kmsg.DeleteTopicsRequestTopic{Topic: &n})
		}
	}
	for _, rt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var name string
		switch {
		case rt.Topic != nil && *rt.Topic != "":
			name = *rt.Topic
			if !s.allowed(ctx, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, name) {
				// Whether it exists (and its id) is not disclosed.
				st.ErrorCode = errTopicAuthz
				resp.Topics = append(resp.Topics, st)
				continue
			}
			if info, ok := s.lookupTopic(name); ok {
				st.TopicID = info.UUID
			}
		default:
			info, ok := s.topicByID(rt.TopicID)
			if !ok {
				st.ErrorCode = errUnknownTopicID
				resp.Topics = append(resp.Topics, st)
				continue
			}
			name = info.Name
			if !s.allowed(ctx, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, name) {
				st.ErrorCode = errTopicAuthz
				if s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) {
					st.Topic = &name // the name only to those who may see it
				}
				resp.Topics = append(resp.Topics, st)
				continue
			}
			st.Topic = &name
		}
		err := s.refuseInternal("delete", name)
		if err == nil {
			if c := s.cfg.Cluster; c != nil {
				cctx, cancel := context.WithTimeout(ctx, adminTimeout(req.TimeoutMillis))
				err = c.DeleteTopic(cctx, name)
				cancel()
			} else {
				err = s.log.DeleteTopic(name)
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
