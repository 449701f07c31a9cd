// Package topicconfig is the one place that knows topic configs: Kafka 4.4's
// validation rules for every name (validate.go), the broker-level defaults,
// and the effective values of the configs Zombi acts on. The log stores a
// topic's overrides and keeps its Effective; the Kafka and HTTP doors
// validate with the same rules.
package topicconfig

import (
	"math"
	"strconv"
	"strings"
)

// Honoured are the topic configs Zombi acts on; it stores and describes
// every other config Kafka knows, and does nothing with it.
// min.insync.replicas and unclean.leader.election.enable are the cluster's
// (acks=all and the controller's leader election); one node alone has one
// replica and reads neither.
var Honoured = []string{
	"cleanup.policy", // delete only: compact is refused
	"local.retention.ms",
	"max.message.bytes",
	"message.timestamp.type",
	"min.insync.replicas",
	"retention.bytes",
	"retention.ms",
	"unclean.leader.election.enable",
	IcebergColumns, IcebergCommitInterval, IcebergEnable, IcebergMode, // Zombi's own
	IcebergPartition, IcebergSnapshotKeepMs, IcebergTargetFileBytes,
}

// DefaultMaxMessageBytes is Kafka's message.max.bytes default.
const DefaultMaxMessageBytes = 1048588

// Broker holds the broker-level values of the configs Zombi honours: what a
// topic without an override gets.
type Broker struct {
	RetentionMs      int64 // -1: forever
	RetentionBytes   int64 // -1: unlimited
	LocalRetentionMs int64 // -2: retention.ms
	MaxMessageBytes  int
	// MinInsyncReplicas is the broker's min.insync.replicas
	// (ZOMBI_MIN_INSYNC_REPLICAS in cluster mode); below 1 counts as 1.
	MinInsyncReplicas int
	// IcebergDefault is zombi.iceberg.enable for topics that do not set it
	// (ZOMBI_ICEBERG_DEFAULT).
	IcebergDefault bool
	// Static names the Zombi setting behind a value, by topic config name
	// (DescribeConfigs reports it as STATIC_BROKER_CONFIG); a value not
	// named here is Kafka's default (DEFAULT_CONFIG).
	Static map[string]string
}

// KafkaDefaults are Zombi's broker-level values with no setting: data is
// kept for ever, batches up to Kafka's message.max.bytes.
func KafkaDefaults() Broker {
	return Broker{RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -2, MaxMessageBytes: DefaultMaxMessageBytes, MinInsyncReplicas: 1}
}

// minInsyncReplicas is the broker's min.insync.replicas: a Broker built
// field by field (without KafkaDefaults) gets Kafka's 1.
func (b Broker) minInsyncReplicas() int { return max(1, b.MinInsyncReplicas) }

// Effective is what a topic's configs mean for Zombi: its overrides over
// the broker's values, parsed once when they change so that the write path
// reads a pointer, not a map.
type Effective struct {
	RetentionMs    int64 // -1: forever
	RetentionBytes int64 // -1: unlimited
	// LocalRetentionMs is how long flushed data stays in the hot tier (-2
	// resolved to RetentionMs; -1: for ever).
	LocalRetentionMs int64
	MaxMessageBytes  int
	LogAppendTime    bool
	// MinInsyncReplicas is min.insync.replicas: with acks=all, fewer
	// in-sync replicas than this refuse the write (NOT_ENOUGH_REPLICAS).
	MinInsyncReplicas int
	// UncleanLeaderElection is unclean.leader.election.enable: a replica
	// outside the ISR may lead when no ISR member is alive (losing what
	// only the ISR had).
	UncleanLeaderElection bool
	// RetentionMsSet and LocalRetentionMsSet: the topic overrides them (the
	// cold tier otherwise applies its own settings).
	RetentionMsSet, LocalRetentionMsSet bool
	// Iceberg is the zombi.iceberg.* configs.
	Iceberg Iceberg
}

// Resolve computes a topic's effective configs. Overrides are assumed
// validated; an unparsable one is ignored.
func Resolve(overrides map[string]string, b Broker) *Effective {
	e := &Effective{RetentionMs: b.RetentionMs, RetentionBytes: b.RetentionBytes, LocalRetentionMs: b.LocalRetentionMs, MaxMessageBytes: b.MaxMessageBytes,
		MinInsyncReplicas: b.minInsyncReplicas()}
	num := func(name string, dst *int64) bool {
		v, ok := overrides[name]
		if !ok {
			return false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return false
		}
		*dst = n
		return true
	}
	e.RetentionMsSet = num("retention.ms", &e.RetentionMs)
	num("retention.bytes", &e.RetentionBytes)
	e.LocalRetentionMsSet = num("local.retention.ms", &e.LocalRetentionMs)
	var mmb int64
	if num("max.message.bytes", &mmb) && mmb >= 0 {
		e.MaxMessageBytes = int(mmb)
	}
	var minISR int64
	if num("min.insync.replicas", &minISR) && minISR >= 1 && minISR <= math.MaxInt32 {
		e.MinInsyncReplicas = int(minISR)
	}
	if e.LocalRetentionMs == -2 {
		e.LocalRetentionMs = e.RetentionMs
	}
	e.LogAppendTime = strings.TrimSpace(overrides["message.timestamp.type"]) == "LogAppendTime"
	// Kafka's BOOLEAN parse: true or false in any case.
	e.UncleanLeaderElection = strings.EqualFold(strings.TrimSpace(overrides["unclean.leader.election.enable"]), "true")
	e.Iceberg = resolveIceberg(overrides, b)
	return e
}

// Described is one topic config DescribeConfigs lists for every topic.
type Described struct {
	Name string
	// BrokerName is its broker-level synonym (Kafka's ServerTopicConfigSynonyms).
	BrokerName string
	// Value is the broker-level value.
	Value func(b Broker) string
}

func constant(v string) func(Broker) string { return func(Broker) string { return v } }

func i64(f func(b Broker) int64) func(Broker) string {
	return func(b Broker) string { return strconv.FormatInt(f(b), 10) }
}

// Describe lists the topic configs DescribeConfigs reports for every topic,
// with the broker-level value (Zombi's effective default), in name order.
var Describe = append([]Described{
	{"cleanup.policy", "log.cleanup.policy", constant("delete")},
	{"compression.type", "compression.type", constant("producer")},
	{"delete.retention.ms", "log.cleaner.delete.retention.ms", constant("86400000")},
	{"local.retention.ms", "log.local.retention.ms", i64(func(b Broker) int64 { return b.LocalRetentionMs })},
	{"max.message.bytes", "message.max.bytes", func(b Broker) string { return strconv.Itoa(b.MaxMessageBytes) }},
	{"message.timestamp.type", "log.message.timestamp.type", constant("CreateTime")},
	{"min.insync.replicas", "min.insync.replicas", func(b Broker) string { return strconv.Itoa(b.minInsyncReplicas()) }},
	{"retention.bytes", "log.retention.bytes", i64(func(b Broker) int64 { return b.RetentionBytes })},
	{"retention.ms", "log.retention.ms", i64(func(b Broker) int64 { return b.RetentionMs })},
	{"segment.bytes", "log.segment.bytes", constant("1073741824")},
	{"segment.ms", "log.roll.ms", constant("604800000")},
	{"unclean.leader.election.enable", "unclean.leader.election.enable", constant("false")},
}, describeIceberg...)

// BrokerSynonym is a topic config's broker-level name ("" when none).
func BrokerSynonym(name string) string {
	for _, d := range Describe {
		if d.Name == name {
			return d.BrokerName
		}
	}
	return ""
}
