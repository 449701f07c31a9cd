package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// Metadata (key 3), v0-v13.
//
// Behavior:
//   - One node (no Config.Cluster): one broker, node 1, at the advertised
//     host and port; it is the controller and the leader of every
//     partition (epoch 0, replicas and ISR [1]).
//   - Cluster mode: every live node (with its rack) at its address on the
//     listener the client is on, the controller id (-1 when none is known),
//     and per partition the cluster's leader, leader epoch, replicas, ISR
//     and offline replicas. A partition the cluster does not know, or one
//     with no leader, gets LEADER_NOT_AVAILABLE with leader -1, as Kafka
//     answers an offline partition. The internal topics are real topics
//     once the cluster has created them (internal_topics.go).
//     Auto-creation goes through the cluster (default replication factor).
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
	for _, n := range s.brokers(ctx) {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = n.ID, n.Host, n.Port, rackPtr(n.Rack)
		resp.Brokers = append(resp.Brokers, b)
	}
	cid := ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = s.controllerID()
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
				resp.Topics = append(resp.Topics, withOps(s.topicMetadata(t, 0)))
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
				t = withOps(s.topicMetadata(info, 0))
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
			if s.internalNotYet(name) {
				resp.Topics = append(resp.Topics, s.internalMetadata(name, allowCreate))
				continue
			}
			resp.Topics = append(resp.Topics, withOps(s.topicMetadata(it.Info(), 0)))
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
		resp.Topics = append(resp.Topics, withOps(s.topicMetadata(info, 0)))
	}
	return resp, nil
}

// topicMetadata is a topic's answer: each partition's leader, epoch,
// replicas, ISR and offline replicas from partitionView (its error,
// LEADER_NOT_AVAILABLE, on the partition).
func (s *Server) topicMetadata(info plog.TopicInfo, code int16) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	name := info.Name
	t.Topic, t.TopicID, t.ErrorCode = &name, info.UUID, code
	t.IsInternal = plog.IsInternalTopic(name)
	for p := int32(0); p < info.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		v, pcode := s.partitionView(name, p)
		mp.Partition, mp.Leader, mp.LeaderEpoch, mp.ErrorCode = p, v.Leader, v.LeaderEpoch, pcode
		mp.Replicas, mp.ISR, mp.OfflineReplicas = v.Replicas, v.ISR, v.Offline
		t.Partitions = append(t.Partitions, mp)
	}
	return t
}
