// Package coordlog is the record format of the replicated internal
// partitions that hold group offsets (__consumer_offsets) and transaction
// state (__transaction_state) in cluster mode: Kafka's own key and value
// layouts (kmsg's OffsetCommitKey/Value, TxnMetadataKey/Value), so Kafka's
// tools read them, and the decoding of stored batches into the materialized
// view the coordinators serve from (log.ViewChange). One node without etcd
// never uses it. Design: docs/CLUSTER.md, "Coordinators".
package coordlog

import (
	plog "github.com/zombi-dev/zombi/log"
)

// Partitions is the partition count of both internal topics (Kafka's
// offsets.topic.num.partitions and transaction.state.log.num.partitions).
const Partitions = 50

// Kind says which coordinator: the FindCoordinator key type.
type Kind int8

// Kinds.
const (
	Group       Kind = 0
	Transaction Kind = 1
)

// Topic names.
const (
	OffsetsTopic = "__consumer_offsets"
	TxnTopic     = "__transaction_state"
)

// TopicOf is the internal topic of a kind.
func TopicOf(k Kind) string {
	if k == Transaction {
		return TxnTopic
	}
	return OffsetsTopic
}

// Partition is the internal partition of a group or transactional id:
// Kafka's Utils.abs(key.hashCode()) % 50, hashCode being Java's String
// hash over UTF-16 code units and Utils.abs mapping MinInt32 to 0.
func Partition(key string) int32 { return plog.InternalPartition(key) }

// TxnState is one transactional id's state as __transaction_state holds it
// (a TxnMetadataValue). Its JSON form is the txn package's stored record
// (the Meta key "txn/{id}" of the materialized view), so the coordinator's
// load code serves one node and a cluster alike.
type TxnState struct {
	ProducerID     int64                 `json:"pid"`
	Epoch          int16                 `json:"epoch"`
	LastProducerID int64                 `json:"last_pid"`
	LastEpoch      int16                 `json:"last_epoch"`
	TimeoutMs      int32                 `json:"timeout_ms"`
	State          string                `json:"state"` // txn.State names; "Dead" is a tombstone
	Partitions     []plog.TopicPartition `json:"partitions,omitempty"`
	StartMs        int64                 `json:"start_ms"`
	UpdateMs       int64                 `json:"update_ms"`
}
