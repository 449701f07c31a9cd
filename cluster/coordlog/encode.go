package coordlog

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Record key versions, Kafka's: the first int16 of a key says which record
// it is (GroupMetadataManager and, since 3.7, CoordinatorRecordType).
const (
	offsetCommitKeyV0 = 0 // OffsetCommitKey, legacy
	offsetCommitKeyV1 = 1 // OffsetCommitKey, what Kafka writes
	groupMetadataKey  = 2 // GroupMetadataKey
	txnMetadataKeyV0  = 0 // TxnMetadataKey, the only version
)

// offsetCommitValueVersion is the value version Kafka writes when no expire
// timestamp is set (OffsetCommitValue v3: leader epoch, no expiry).
const offsetCommitValueVersion = 3

// txnValueVersion is TxnMetadataValue's flexible version (KIP-915), which
// carries tagged fields.
const txnValueVersion = 1

// lastEpochTag is the tagged field of TxnMetadataValue that holds Zombi's
// LastEpoch (Kafka keeps lastProducerEpoch in memory only). Kafka uses tags
// 0-3; its readers skip an unknown tag, and kmsg keeps it in UnknownTags.
const lastEpochTag = 0x5A00

// Kafka's TransactionState codes, in the order of their ids.
var txnStateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// StateDead is the state of an expired transactional id: its record is a
// tombstone.
const StateDead = "Dead"

func txnStateCode(name string) (int8, bool) {
	for i, n := range txnStateNames {
		if n == name {
			return int8(i), true
		}
	}
	return 0, false
}

func offsetKeyBytes(group, topic string, part int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetCommitKeyV1, Group: group, Topic: topic, Partition: part}
	return k.AppendTo(nil)
}

func offsetValueBytes(o plog.CommittedOffset) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         offsetCommitValueVersion,
		Offset:          o.Offset,
		LeaderEpoch:     o.LeaderEpoch,
		Metadata:        o.Metadata,
		CommitTimestamp: o.CommitTimeMs,
		ExpireTimestamp: -1,
	}
	return v.AppendTo(nil)
}

// finish returns the builder's batch as a slice of its own, nil when it
// holds no record (a batch must hold one).
func finish(b *batch.Builder) []byte {
	if b.Len() == 0 {
		return nil
	}
	return append([]byte(nil), b.Bytes()...)
}

// OffsetBatch is one v2 batch of OffsetCommit records (puts) and
// tombstones (deletes), non-transactional: key OffsetCommitKey v1, value
// OffsetCommitValue v3, as Kafka writes them. Nil when both are empty.
func OffsetBatch(offs []plog.CommittedOffset, deletes []plog.OffsetKey, nowMs int64) []byte {
	b := batch.NewBuilder()
	addOffsets(b, offs, deletes, nowMs)
	return finish(b)
}

func addOffsets(b *batch.Builder, offs []plog.CommittedOffset, deletes []plog.OffsetKey, nowMs int64) {
	for _, o := range offs {
		b.Add(nowMs, offsetKeyBytes(o.Group, o.Topic, o.Partition), offsetValueBytes(o), nil)
	}
	for _, d := range deletes {
		b.Add(nowMs, offsetKeyBytes(d.Group, d.Topic, d.Partition), nil, nil)
	}
}

// GroupTombstones is one v2 batch deleting groups (DeleteGroups): the
// tombstones of their offsets, then a GroupMetadataKey tombstone per group,
// as Kafka's group cleanup writes them. Zombi writes no group metadata
// value, so the group tombstone is for Kafka's tools; the view ignores it.
// Nil when both are empty.
func GroupTombstones(groups []string, deletes []plog.OffsetKey, nowMs int64) []byte {
	b := batch.NewBuilder()
	addOffsets(b, nil, deletes, nowMs)
	for _, g := range groups {
		k := kmsg.GroupMetadataKey{Version: groupMetadataKey, Group: g}
		b.Add(nowMs, k.AppendTo(nil), nil, nil)
	}
	return finish(b)
}

// TxnOffsetBatch is one transactional v2 batch (producer id and epoch, the
// transactional bit, base sequence 0 as Kafka's coordinator runtime writes
// it: a coordinator's append has no sequence check) of a TxnOffsetCommit's
// offsets: visible at the commit marker. Nil when offs is empty.
func TxnOffsetBatch(pid int64, epoch int16, offs []plog.CommittedOffset, nowMs int64) []byte {
	b := batch.NewBuilder()
	b.SetProducer(pid, epoch, 0)
	addOffsets(b, offs, nil, nowMs)
	raw := finish(b)
	if raw != nil {
		batch.SetTransactional(raw)
	}
	return raw
}

// TxnStateBatch is one v2 batch holding id's state: key TxnMetadataKey v0,
// value TxnMetadataValue v1 (PreviousProducerID <- LastProducerID,
// LastEpoch in tag 0x5A00); st.State "Dead" writes a tombstone. Nil for a
// state Kafka has no code for (a caller's bug: the append then fails as a
// corrupt batch).
func TxnStateBatch(id string, st TxnState, nowMs int64) []byte {
	k := kmsg.TxnMetadataKey{Version: txnMetadataKeyV0, TransactionalID: id}
	b := batch.NewBuilder()
	if st.State == StateDead {
		b.Add(nowMs, k.AppendTo(nil), nil, nil)
		return finish(b)
	}
	v, ok := txnValue(st)
	if !ok {
		return nil
	}
	b.Add(nowMs, k.AppendTo(nil), v.AppendTo(nil), nil)
	return finish(b)
}

func txnValue(st TxnState) (kmsg.TxnMetadataValue, bool) {
	code, ok := txnStateCode(st.State)
	if !ok {
		return kmsg.TxnMetadataValue{}, false
	}
	v := kmsg.NewTxnMetadataValue()
	v.Version = txnValueVersion
	v.ProducerID = st.ProducerID
	v.ProducerEpoch = st.Epoch
	v.TimeoutMillis = st.TimeoutMs
	v.State = kmsg.TransactionState(code)
	v.LastUpdateTimestamp = st.UpdateMs
	v.StartTimestamp = st.StartMs
	v.PreviousProducerID = st.LastProducerID
	v.NextProducerID = -1
	v.NextProducerEpoch = -1
	// Topics in the order they first appear, each with its partitions.
	idx := map[string]int{}
	for _, tp := range st.Partitions {
		i, seen := idx[tp.Topic]
		if !seen {
			i = len(v.Topics)
			idx[tp.Topic] = i
			t := kmsg.NewTxnMetadataValueTopic()
			t.Topic = tp.Topic
			v.Topics = append(v.Topics, t)
		}
		v.Topics[i].Partitions = append(v.Topics[i].Partitions, tp.Partition)
	}
	v.UnknownTags.Set(lastEpochTag, binary.BigEndian.AppendUint16(nil, uint16(st.LastEpoch)))
	return v, true
}
