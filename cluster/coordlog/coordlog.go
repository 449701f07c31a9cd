// Package coordlog is the record format of the replicated internal
// partitions that hold group offsets (__consumer_offsets) and transaction
// state (__transaction_state) in cluster mode: Kafka's own key and value
// layouts (kmsg's OffsetCommitKey/Value, TxnMetadataKey/Value), so Kafka's
// tools read them, and the decoding of stored batches into the materialized
// view the coordinators serve from (log.ViewChange). One node without etcd
// never uses it. Design: docs/CLUSTER.md, "Coordinators".
package coordlog

import (
	"errors"

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
func Partition(key string) int32 {
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
	return h % Partitions
}

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

// ErrNotImplemented marks the parts of this package still being written on
// the issue branch (never on main).
var ErrNotImplemented = errors.New("coordlog: not implemented yet")

// OffsetBatch is one v2 batch of OffsetCommit records (puts) and
// tombstones (deletes), non-transactional.
func OffsetBatch(offs []plog.CommittedOffset, deletes []plog.OffsetKey, nowMs int64) []byte {
	return nil // T1
}

// TxnOffsetBatch is one transactional v2 batch (producer id and epoch, the
// transactional bit) of a TxnOffsetCommit's offsets: visible at the
// commit marker.
func TxnOffsetBatch(pid int64, epoch int16, offs []plog.CommittedOffset, nowMs int64) []byte {
	return nil // T1
}

// TxnStateBatch is one v2 batch holding id's state; st.State "Dead" writes
// a tombstone.
func TxnStateBatch(id string, st TxnState, nowMs int64) []byte {
	return nil // T1
}

// Decode turns stored batches of internal partition p (as the log returns
// them) into one view change. pending returns the transactional offsets the
// view holds for a producer id (coord/pend/{p}/{pid}), so a control batch
// can commit or drop them.
func Decode(kind Kind, p int32, batches []plog.Batch, pending func(pid int64) []plog.CommittedOffset) (plog.ViewChange, error) {
	return plog.ViewChange{}, ErrNotImplemented // T1
}
