package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// Metadata (key 3), v0-v13.
//
// Behavior:
//   - One broker, node 1, at the advertised host and port; it is the
//     controller and the leader of every partition (epoch 0, replicas and
//     ISR [1]).
//   - All topics for a null topic list (an empty one in v0), with the
//     internal topics (is_internal; internal_topics.go).
//   - Unknown topics are created when auto-creation is on and the request
//     allows it (always before v4; AllowAutoTopicCreation from v4).
//   - Authorization (Kafka's): only topics with DESCRIBE are listed; one
//     named without it gets TOPIC_AUTHORIZATION_FAILED whether or not it
//     exists. Auto-creation also needs CREATE on the cluster or the topic,
//     else TOPIC_AUTHORIZATION_FAILED.
//   - A topic named (or given by id) more than once is answered once, as
//     Kafka does (it reads them into a set). The Java consumer 4.4 sends
//     an assigned topic twice after partitionsFor on it, and logs a
//     "last seen epoch" reset for each repeated answer.
//
// Version notes:
//   - v10+: topics may be requested by id (a non-zero id wins over the
//     name, as in Kafka; the Java AdminClient sends an empty name with it);
//     unknown ids get UNKNOWN_TOPIC_ID.
//   - v8+: authorized operations of each topic when asked for (a bit per
//     operation); v8-v10 of the cluster too (0 without DESCRIBE on it).
//   - v13: top-level error code, always 0.
func init() { register(kmsg.Metadata, 0, 13, (*Server).handleMetadata) }

func (s *Server) handleMetadata(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := s.advertisedHostPort(ctx)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = NodeID, host, port
	resp.Brokers = append(resp.Brokers, b)
	cid := ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = NodeID
	if req.Version >= 8 && req.Version <= 10 && req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = s.clusterAuthorizedOps(ctx)
	}
	// withOps adds the topic's authorized operations when asked for.
	withOps := func(t kmsg.MetadataResponseTopic) kmsg.MetadataResponseTopic {
		if req.Version >= 8 && req.IncludeTopicAuthorizedOperations && t.Topic != nil {
			t.AuthorizedOperations = s.authorizedOps(ctx, kmsg.ACLResourceTypeTopic, *t.Topic)
		}
		return t
	}
	describable := func(name string) bool {
		return s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	}

	if req.Topics == nil || req.Version == 0 && len(req.Topics) == 0 {
		for _, t := range s.describableTopics() {
			if describable(t.Name) { // the others are not even mentioned
				resp.Topics = append(resp.Topics, withOps(topicMetadata(t, 0)))
			}
		}
		return resp, nil
	}
	allowCreate := req.Version < 4 || req.AllowAutoTopicCreation
	seenNames, seenIDs := map[string]bool{}, map[[16]byte]bool{}
	for _, rt := range req.Topics {
		// A topic id, when there is one, names the topic (Kafka ignores the
		// name then: the Java client sends "" with an id, not null).
		byID := rt.Topic == nil || rt.TopicID != ([16]byte{})
		if byID && seenIDs[rt.TopicID] || !byID && seenNames[*rt.Topic] {
			continue
		}
		if byID {
			seenIDs[rt.TopicID] = true
		} else {
			seenNames[*rt.Topic] = true
		}
		if byID {
			info, ok := s.topicByID(rt.TopicID)
			t := kmsg.NewMetadataResponseTopic()
			switch {
			case !ok:
				t.TopicID, t.ErrorCode = rt.TopicID, errUnknownTopicID
			case !describable(info.Name):
				// Ids are not secret (Kafka): the id, not the name.
				t.TopicID, t.ErrorCode = rt.TopicID, errTopicAuthz
			default:
				t = withOps(topicMetadata(info, 0))
			}
			resp.Topics = append(resp.Topics, t)
			continue
		}
		name := *rt.Topic
		if !describable(name) {
			// Whether it exists is not disclosed.
			t := kmsg.NewMetadataResponseTopic()
			t.Topic, t.ErrorCode = &name, errTopicAuthz
			resp.Topics = append(resp.Topics, t)
			continue
		}
		if it, ok := internalTopic(name); ok {
			resp.Topics = append(resp.Topics, withOps(topicMetadata(it.Info(), 0)))
			continue
		}
		info, createDenied, err := s.autoCreateAs(ctx, name, allowCreate)
		if err != nil {
			t := kmsg.NewMetadataResponseTopic()
			t.Topic, t.ErrorCode = &name, errorCode(err)
			if createDenied {
				t.ErrorCode = errTopicAuthz
			} else {
				t = withOps(t)
			}
			resp.Topics = append(resp.Topics, t)
			continue
		}
		resp.Topics = append(resp.Topics, withOps(topicMetadata(info, 0)))
	}
	return resp, nil
}

func topicMetadata(info plog.TopicInfo, code int16) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	name := info.Name
	t.Topic, t.TopicID, t.ErrorCode = &name, info.UUID, code
	t.IsInternal = plog.IsInternalTopic(name)
	for p := int32(0); p < info.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p, NodeID, 0
		mp.Replicas, mp.ISR, mp.OfflineReplicas = []int32{NodeID}, []int32{NodeID}, []int32{}
		t.Partitions = append(t.Partitions, mp)
	}
	return t
}
