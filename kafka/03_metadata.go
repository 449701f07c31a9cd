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
//   - All topics for a null topic list (an empty one in v0).
//   - Unknown topics are created when auto-creation is on and the request
//     allows it (always before v4; AllowAutoTopicCreation from v4).
//   - A topic named (or given by id) more than once is answered once, as
//     Kafka does (it reads them into a set). The Java consumer 4.4 sends
//     an assigned topic twice after partitionsFor on it, and logs a
//     "last seen epoch" reset for each repeated answer.
//
// Version notes:
//   - v10+: topics may be requested by id (a non-zero id wins over the
//     name, as in Kafka; the Java AdminClient sends an empty name with it);
//     unknown ids get UNKNOWN_TOPIC_ID.
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

	if req.Topics == nil || req.Version == 0 && len(req.Topics) == 0 {
		for _, t := range s.log.Topics() {
			resp.Topics = append(resp.Topics, topicMetadata(t, 0))
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
			if !ok {
				t := kmsg.NewMetadataResponseTopic()
				t.TopicID, t.ErrorCode = rt.TopicID, errUnknownTopicID
				resp.Topics = append(resp.Topics, t)
				continue
			}
			resp.Topics = append(resp.Topics, topicMetadata(info, 0))
			continue
		}
		info, err := s.autoCreate(*rt.Topic, allowCreate)
		if err != nil {
			t := kmsg.NewMetadataResponseTopic()
			name := *rt.Topic
			t.Topic, t.ErrorCode = &name, errorCode(err)
			resp.Topics = append(resp.Topics, t)
			continue
		}
		resp.Topics = append(resp.Topics, topicMetadata(info, 0))
	}
	return resp, nil
}

func topicMetadata(info plog.TopicInfo, code int16) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	name := info.Name
	t.Topic, t.TopicID, t.ErrorCode = &name, info.UUID, code
	for p := int32(0); p < info.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p, NodeID, 0
		mp.Replicas, mp.ISR, mp.OfflineReplicas = []int32{NodeID}, []int32{NodeID}, []int32{}
		t.Partitions = append(t.Partitions, mp)
	}
	return t
}
