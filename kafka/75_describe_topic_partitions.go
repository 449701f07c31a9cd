package kafka

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// DescribeTopicPartitions (key 75), v0 (KIP-966). The Java AdminClient 4.x
// describes topics with it (kafka-topics --describe) and falls back to
// Metadata only when it is not advertised.
//
// Behavior:
//   - The named topics, or every topic for an empty list, in name order;
//     never creates a topic. Unknown names get UNKNOWN_TOPIC_OR_PARTITION.
//   - Paging as Kafka does: at most min(ResponsePartitionLimit,
//     maxDescribePartitions) partitions per response; the cursor (topic,
//     partition) says where to start, and NextCursor where the next page
//     starts. A cursor whose topic is not among those named is
//     INVALID_REQUEST for every topic.
//   - DESCRIBE on each topic: the others are left out of an all-topics
//     answer and get TOPIC_AUTHORIZATION_FAILED (after the described ones)
//     when named. Each described topic carries its authorized operations
//     (a bit per operation; all of a topic's when nothing is enforced).
//   - The internal topics too (is_internal; internal_topics.go).
//   - One node: leader 1, epoch 0, replicas and ISR [1]. Cluster mode: the
//     partition views of Metadata (leader, epoch, replicas, ISR, offline
//     replicas; LEADER_NOT_AVAILABLE and leader -1 for an unknown or
//     offline partition). No eligible leader replicas (KIP-966's ELR is
//     not kept: empty lists).
func init() { register(kmsg.DescribeTopicPartitions, 0, 0, (*Server).handleDescribeTopicPartitions) }

// maxDescribePartitions is Kafka's
// describe.topic.partitions.response.max.partitions default.
const maxDescribePartitions = 2000

func (s *Server) handleDescribeTopicPartitions(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)

	// The topics to describe, by name; a missing TopicInfo means unknown.
	type entry struct {
		name  string
		info  plog.TopicInfo
		known bool
	}
	var topics []entry
	// Named topics without DESCRIBE: answered last, existence undisclosed.
	var denied []kmsg.DescribeTopicPartitionsResponseTopic
	describable := func(name string) bool {
		return s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	}
	if len(req.Topics) == 0 {
		for _, t := range s.describableTopics() {
			if describable(t.Name) {
				topics = append(topics, entry{t.Name, t, true})
			}
		}
	} else {
		seen := map[string]bool{}
		for _, rt := range req.Topics {
			if seen[rt.Topic] {
				continue
			}
			seen[rt.Topic] = true
			if !describable(rt.Topic) {
				denied = append(denied, describedTopic(rt.Topic, errTopicAuthz))
				continue
			}
			info, ok := s.lookupTopic(rt.Topic)
			ok = ok && !s.internalNotYet(rt.Topic) // cluster mode: not created yet
			topics = append(topics, entry{rt.Topic, info, ok})
		}
		sort.Slice(topics, func(i, j int) bool { return topics[i].name < topics[j].name })
		sort.Slice(denied, func(i, j int) bool { return *denied[i].Topic < *denied[j].Topic })
	}
	defer func() {
		// Kafka reports the authorized operations of every described topic,
		// then appends the refused ones.
		for i := range resp.Topics {
			if t := &resp.Topics[i]; t.ErrorCode != errInvalidRequest {
				t.AuthorizedOperations = s.authorizedOps(ctx, kmsg.ACLResourceTypeTopic, *t.Topic)
			}
		}
		resp.Topics = append(resp.Topics, denied...)
	}()

	limit := int(req.ResponsePartitionLimit)
	if limit <= 0 || limit > maxDescribePartitions {
		limit = maxDescribePartitions
	}
	startTopic, startPart := "", int32(0)
	if c := req.Cursor; c != nil {
		startTopic, startPart = c.Topic, c.Partition
		found := len(req.Topics) == 0
		for _, rt := range req.Topics {
			found = found || rt.Topic == c.Topic
		}
		if !found || c.Partition < 0 {
			for _, e := range topics {
				resp.Topics = append(resp.Topics, describedTopic(e.name, errInvalidRequest))
			}
			for i := range denied {
				denied[i].ErrorCode = errInvalidRequest
			}
			return resp, nil
		}
	}

	for _, e := range topics {
		if e.name < startTopic {
			continue
		}
		if !e.known {
			resp.Topics = append(resp.Topics, describedTopic(e.name, errUnknownTopic))
			continue
		}
		first := int32(0)
		if e.name == startTopic {
			first = startPart
		}
		if limit == 0 {
			// The page is full: the next one starts here.
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: e.name, Partition: first}
			break
		}
		t := describedTopic(e.name, 0)
		t.TopicID, t.IsInternal = e.info.UUID, plog.IsInternalTopic(e.name)
		t.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
		for p := first; p < e.info.Partitions; p++ {
			if limit == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: e.name, Partition: p}
				break
			}
			limit--
			dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			v, code := s.partitionView(e.name, p)
			dp.Partition, dp.LeaderID, dp.LeaderEpoch, dp.ErrorCode = p, v.Leader, v.LeaderEpoch, code
			dp.Replicas, dp.ISR, dp.OfflineReplicas = v.Replicas, v.ISR, v.Offline
			dp.EligibleLeaderReplicas, dp.LastKnownELR = []int32{}, []int32{}
			t.Partitions = append(t.Partitions, dp)
		}
		resp.Topics = append(resp.Topics, t)
		if resp.NextCursor != nil {
			break
		}
	}
	return resp, nil
}

func describedTopic(name string, code int16) kmsg.DescribeTopicPartitionsResponseTopic {
	t := kmsg.NewDescribeTopicPartitionsResponseTopic()
	t.Topic, t.ErrorCode = &name, code
	return t
}
