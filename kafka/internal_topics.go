package kafka

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// Internal topics: __consumer_offsets and __transaction_state, as Kafka
// clients and tools expect to find them (franz-go's regex consumers and
// kadm skip them by is_internal; tools list them with --internal). Zombi
// keeps group offsets and transaction state in the log's own keys, so these
// topics are not log topics and never hold a record; the list and their
// shape (50 partitions each, Kafka's defaults; a stable id) live in
// log/internal_topics.go, shared with the REST door. Here is how the Kafka
// door presents them:
//
//   - Metadata (all topics, by name, by id) and DescribeTopicPartitions
//     list them with is_internal set, leader node 1, replicas and ISR [1],
//     under the same DESCRIBE ACL as any topic. Never auto-created (they
//     exist).
//   - Read-only, as in Kafka: Produce and DeleteRecords answer
//     INVALID_TOPIC_EXCEPTION per partition (Kafka's answer); CreateTopics
//     TOPIC_ALREADY_EXISTS (Kafka's). Kafka 4.4 lets an administrator
//     delete them, add partitions and alter their configs (it re-creates
//     them on the next FindCoordinator); Zombi has nothing to delete or
//     alter, so DeleteTopics, CreatePartitions, AlterConfigs and
//     IncrementalAlterConfigs answer INVALID_TOPIC_EXCEPTION with a message
//     saying why (a clear refusal rather than a pretended success).
//   - Reads see empty partitions: ListOffsets 0 for earliest and latest,
//     -1 for a timestamp; Fetch no records, high watermark 0;
//     OffsetForLeaderEpoch end offset 0; DescribeConfigs the overrides Kafka
//     creates them with over the broker's values.
//   - Group offsets (OffsetCommit, OffsetFetch) are unaffected.
//
// Cluster mode (issue 19 point 5): the internal topics are real,
// replicated catalog topics, created on the first FindCoordinator (or
// Metadata naming one with auto-creation on), as Kafka does; until then
// they do not exist (UNKNOWN_TOPIC_OR_PARTITION, not listed). Once
// created, Metadata and DescribeTopicPartitions show their real leaders,
// epochs, replicas and ISR (is_internal set), and Fetch (followers, and
// consumers read-only, e.g. Kafka's OffsetsMessageFormatter), ListOffsets
// and OffsetForLeaderEpoch read the log as for any topic. Produce,
// DeleteRecords, DeleteTopics, CreatePartitions and the config changes stay
// refused as above: only the coordinators append (Cluster.AppendInternal).

// internalTopic returns the internal topic of that name.
func internalTopic(name string) (plog.InternalTopic, bool) { return plog.LookupInternalTopic(name) }

// internalReal says whether name is an internal topic that is a real,
// replicated topic: cluster mode, once the catalog has it.
func (s *Server) internalReal(name string) bool {
	c := s.cfg.Cluster
	if c == nil || !plog.IsInternalTopic(name) {
		return false
	}
	_, ok := c.Partition(name, 0)
	return ok
}

// internalNotYet says whether name is an internal topic the cluster has
// not created yet (cluster mode only): it does not exist for clients.
func (s *Server) internalNotYet(name string) bool {
	return s.cfg.Cluster != nil && plog.IsInternalTopic(name) && !s.internalReal(name)
}

// virtualInternal returns the internal topic of that name when the door
// presents it without a log (one node): empty partitions, never a record.
func (s *Server) virtualInternal(name string) (plog.InternalTopic, bool) {
	it, ok := internalTopic(name)
	if !ok || s.internalReal(name) {
		return plog.InternalTopic{}, false
	}
	return it, true
}

// internalMetadata answers Metadata naming an internal topic in cluster
// mode before it exists: auto-creation (Kafka creates the internal topics
// through their coordinator's path) answers LEADER_NOT_AVAILABLE while the
// cluster creates it, else UNKNOWN_TOPIC_OR_PARTITION.
func (s *Server) internalMetadata(name string, allowCreate bool) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic, t.IsInternal, t.ErrorCode = &name, true, kerr.UnknownTopicOrPartition.Code
	if allowCreate && s.cfg.AutoCreateTopics {
		kind := int8(coordlog.Group)
		if name == coordlog.TxnTopic {
			kind = int8(coordlog.Transaction)
		}
		_, _ = s.cfg.Cluster.CoordinatorOf(kind, "") // starts the creation; its answer is the next Metadata's
		t.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return t
}

// internalTopicByID returns the internal topic with that id.
func internalTopicByID(id [16]byte) (plog.InternalTopic, bool) {
	for _, t := range plog.InternalTopics() {
		if t.UUID == id {
			return t, true
		}
	}
	return plog.InternalTopic{}, false
}

// lookupTopic is s.log.Topic that also finds the internal topics, for the
// handlers that describe topics.
func (s *Server) lookupTopic(name string) (plog.TopicInfo, bool) {
	if it, ok := internalTopic(name); ok {
		return it.Info(), true
	}
	return s.log.Topic(name)
}

// describableTopics is every topic a Metadata or DescribeTopicPartitions
// of all topics lists: the log's and the internal ones, sorted by name.
func (s *Server) describableTopics() []plog.TopicInfo {
	topics := s.log.Topics()
	for _, it := range plog.InternalTopics() {
		if s.internalNotYet(it.Name) {
			continue
		}
		i := sort.Search(len(topics), func(i int) bool { return topics[i].Name >= it.Name })
		if i < len(topics) && topics[i].Name == it.Name {
			topics[i] = it.Info() // a log topic of that name from an older Zombi: hidden
			continue
		}
		topics = append(topics, plog.TopicInfo{})
		copy(topics[i+1:], topics[i:])
		topics[i] = it.Info()
	}
	return topics
}

// internalTopicRefusal is the error of an operation refused on an internal
// topic: INVALID_TOPIC_EXCEPTION (errorCode), with a message that says why.
type internalTopicRefusal struct{ msg string }

func (e internalTopicRefusal) Error() string { return e.msg }
func (e internalTopicRefusal) Unwrap() error { return plog.ErrInternalTopic }

// refuseInternal returns the refusal of op on name when name is an internal
// topic, else nil.
func (s *Server) refuseInternal(op, name string) error {
	if !plog.IsInternalTopic(name) {
		return nil
	}
	switch op {
	case "produce":
		return internalTopicRefusal{fmt.Sprintf("Cannot append to internal topic %s", name)} // Kafka's words
	case "delete records":
		return internalTopicRefusal{fmt.Sprintf("Cannot delete records of internal topic %s", name)} // Kafka's words
	}
	if s.cfg.Cluster != nil {
		return internalTopicRefusal{fmt.Sprintf("Cannot %s internal topic %s: its layout is fixed and only the coordinators write it", op, name)}
	}
	return internalTopicRefusal{fmt.Sprintf("Cannot %s internal topic %s: Zombi keeps group offsets and transaction state outside of it", op, name)}
}

// partitionOffsets is s.log.Offsets that also answers for the internal
// topics: their partitions are empty (log start and high watermark 0).
func (s *Server) partitionOffsets(topic string, part int32) (logStart, hwm int64, err error) {
	if it, ok := s.virtualInternal(topic); ok {
		if part < 0 || part >= it.Partitions {
			return -1, -1, fmt.Errorf("%w: %s/%d", plog.ErrUnknownTopic, topic, part)
		}
		return 0, 0, nil
	}
	return s.log.Offsets(topic, part)
}

// fetchInternal answers a Fetch of an internal topic's partition: no
// records, high watermark, last stable offset and log start 0; an offset
// other than 0 is out of range, as for any empty partition.
func fetchInternal(it plog.InternalTopic, sp *kmsg.FetchResponseTopicPartition, offset int64) {
	switch {
	case sp.Partition < 0 || sp.Partition >= it.Partitions:
		sp.ErrorCode = errUnknownTopic
	case offset != 0:
		sp.ErrorCode = kerr.OffsetOutOfRange.Code
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = 0, 0, 0
	default:
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = 0, 0, 0
	}
}
