package log

import (
	"crypto/sha256"
	"errors"
)

// InternalTopic is a topic Kafka clients expect every broker to have (they
// show up in Metadata with is_internal set) but that is not a log topic:
// Zombi keeps group offsets and transaction state in its own keys, so these
// topics never hold a record. The Kafka door presents them, read-only; the
// log refuses to create a topic of their names, and the REST door refuses
// them. This table is the one place that names them.
type InternalTopic struct {
	Name       string
	Partitions int32
	// UUID is the topic id, derived from the name so that it is stable
	// across restarts and the same on every Zombi.
	UUID [16]byte
	// Configs are the overrides Kafka 4.4 creates the topic with (what
	// DescribeConfigs reports as the topic's own).
	Configs map[string]string
}

// Kafka's offsets.topic.num.partitions and
// transaction.state.log.num.partitions defaults.
const internalTopicPartitions = 50

var internalTopics = []InternalTopic{
	{
		Name:       OffsetsTopicName,
		Partitions: internalTopicPartitions,
		Configs: map[string]string{
			"cleanup.policy":   "compact",
			"compression.type": "producer",
			"segment.bytes":    "104857600",
		},
	},
	{
		Name:       TxnTopicName,
		Partitions: internalTopicPartitions,
		Configs: map[string]string{
			"cleanup.policy":                 "compact",
			"compression.type":               "uncompressed",
			"min.insync.replicas":            "1",
			"segment.bytes":                  "104857600",
			"unclean.leader.election.enable": "false",
		},
	},
}

func init() {
	for i := range internalTopics {
		sum := sha256.Sum256([]byte("zombi internal topic " + internalTopics[i].Name))
		copy(internalTopics[i].UUID[:], sum[:16])
		// Mark it a version-4 (random) UUID, as Kafka's own ids are.
		internalTopics[i].UUID[6] = internalTopics[i].UUID[6]&0x0f | 0x40
		internalTopics[i].UUID[8] = internalTopics[i].UUID[8]&0x3f | 0x80
	}
}

// ErrInternalTopic refuses an operation on an internal topic that would
// need it to be a log topic (writing, creating, deleting, reading through
// the REST API).
var ErrInternalTopic = errors.New("internal topic")

// InternalTopics returns the internal topics, sorted by name. The caller
// must not modify the Configs maps.
func InternalTopics() []InternalTopic { return internalTopics }

// LookupInternalTopic returns the internal topic of that name.
func LookupInternalTopic(name string) (InternalTopic, bool) {
	if len(name) < 2 || name[0] != '_' || name[1] != '_' {
		return InternalTopic{}, false // the common case, without a loop
	}
	for _, t := range internalTopics {
		if t.Name == name {
			return t, true
		}
	}
	return InternalTopic{}, false
}

// IsInternalTopic says whether name is an internal topic's.
func IsInternalTopic(name string) bool {
	_, ok := LookupInternalTopic(name)
	return ok
}

// Info is the topic as a TopicInfo (no log id, created at 0), for code
// that describes topics.
func (t InternalTopic) Info() TopicInfo {
	return TopicInfo{Name: t.Name, UUID: t.UUID, Partitions: t.Partitions, Configs: t.Configs}
}

// InternalPartition is the partition of the internal topics that
// coordinates key (a group or transactional id), as Kafka's
// partitionFor: Utils.abs(key.hashCode()) % 50, hashCode being Java's
// String hash over UTF-16 code units and Utils.abs mapping MinInt32 to 0
// (not n & 0x7fffffff, which moves negative hashes). It lives here, not in
// cluster/coordlog, because ResetView needs it and coordlog imports log.
func InternalPartition(key string) int32 {
	var h int32
	for _, r := range key {
		if r >= 0x10000 { // a surrogate pair in Java's UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % internalTopicPartitions
}

// The internal topics' names.
const (
	OffsetsTopicName = "__consumer_offsets"
	TxnTopicName     = "__transaction_state"
)
