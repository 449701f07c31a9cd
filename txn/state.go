package txn

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	plog "github.com/zombi-dev/zombi/log"
)

// State is a transaction's state, with Kafka's names (DescribeTransactions
// and ListTransactions report them as strings).
type State string

// States. On one node Prepare* exist in memory only, while EndTxn's one
// log write is under way: on disk a transaction is Empty, Ongoing or
// Complete*. In cluster mode Prepare* are written (two-phase EndTxn).
const (
	Empty          State = "Empty"
	Ongoing        State = "Ongoing"
	PrepareCommit  State = "PrepareCommit"
	PrepareAbort   State = "PrepareAbort"
	CompleteCommit State = "CompleteCommit"
	CompleteAbort  State = "CompleteAbort"
)

// metaPrefix prefixes the log Meta key of each transactional id's record.
const metaPrefix = "txn/"

func metaKey(id string) string { return metaPrefix + id }

// record is one transactional id's state, as stored (JSON) and held.
type record struct {
	ProducerID int64 `json:"pid"`
	Epoch      int16 `json:"epoch"`
	// LastProducerID and LastEpoch let a producer that missed the answer to
	// its epoch bump retry it (Kafka's lastProducerId/lastProducerEpoch).
	LastProducerID int64                 `json:"last_pid"`
	LastEpoch      int16                 `json:"last_epoch"`
	TimeoutMs      int32                 `json:"timeout_ms"`
	State          State                 `json:"state"`
	Partitions     []plog.TopicPartition `json:"partitions,omitempty"`
	Groups         []string              `json:"groups,omitempty"`
	Offsets        []pendingOffset       `json:"offsets,omitempty"`
	StartMs        int64                 `json:"start_ms"`  // first partition or group added; 0 when none
	UpdateMs       int64                 `json:"update_ms"` // last change
}

// pendingOffset is a TxnOffsetCommit's offset, visible only at commit.
type pendingOffset struct {
	Group       string `json:"group"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
	CommitMs    int64  `json:"commit_ms"`
}

func (r record) encode() []byte {
	b, _ := json.Marshal(r) // plain data: cannot fail
	return b
}

func decodeRecord(b []byte) (record, error) { return decodeRecordAs(b, false) }

// decodeRecordRaw decodes a record as stored, Prepare* states included.
func decodeRecordRaw(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode transaction record: %w", err)
	}
	switch r.State {
	case Empty, Ongoing, CompleteCommit, CompleteAbort, PrepareCommit, PrepareAbort:
	default:
		return r, fmt.Errorf("decode transaction record: unknown state %q", r.State)
	}
	return r, nil
}

// clone returns r with its own slices, so that a copy may be changed while
// the original is still read under the coordinator's mutex.
func (r record) clone() record {
	r.Partitions = slices.Clone(r.Partitions)
	r.Groups = slices.Clone(r.Groups)
	r.Offsets = slices.Clone(r.Offsets)
	return r
}

// completed is r after its transaction ended: nothing pending.
func (r record) completed(commit bool, nowMs int64) record {
	r.State = CompleteAbort
	if commit {
		r.State = CompleteCommit
	}
	r.Partitions, r.Groups, r.Offsets = nil, nil, nil
	r.StartMs, r.UpdateMs = 0, nowMs
	return r
}

func (r record) hasPartition(tp plog.TopicPartition) bool { return slices.Contains(r.Partitions, tp) }

// epochExhausted is Kafka's rule: at this epoch a producer gets a new id.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// committedOffsets converts the pending offsets for the log.
func (r record) committedOffsets() []plog.CommittedOffset {
	out := make([]plog.CommittedOffset, 0, len(r.Offsets))
	for _, o := range r.Offsets {
		out = append(out, plog.CommittedOffset{Group: o.Group, Topic: o.Topic, Partition: o.Partition,
			Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimeMs: o.CommitMs})
	}
	return out
}
