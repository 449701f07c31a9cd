package coordlog

import (
	"encoding/json"
	"fmt"
	"strconv"

	plog "github.com/zombi-dev/zombi/log"
)

// The materialized view's Meta keys (besides the 'C' keys of committed
// offsets). log.ResetView deletes them by the same prefixes.
const (
	// TxnPrefix + id holds a transactional id's TxnState (JSON): the txn
	// package's own key.
	TxnPrefix = "txn/"
	// PendPrefix + "{p}/{pid}" holds producer pid's transactional offsets
	// of __consumer_offsets-p, not yet committed (JSON list).
	PendPrefix = "coord/pend/"
)

// TxnKey is the view's Meta key of a transactional id.
func TxnKey(id string) string { return TxnPrefix + id }

// PendingPrefix is the prefix of the pending-offset keys of partition p
// (MetaList it to see which producers have offsets pending there).
func PendingPrefix(p int32) string { return PendPrefix + strconv.Itoa(int(p)) + "/" }

// PendingKey is the view's Meta key of producer pid's pending offsets in
// partition p.
func PendingKey(p int32, pid int64) string {
	return PendingPrefix(p) + strconv.FormatInt(pid, 10)
}

// pendingJSON is one pending offset as stored: CommittedOffset's own JSON
// leaves out the group, topic and partition (they are in its 'C' key).
type pendingJSON struct {
	Group        string `json:"group"`
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	Offset       int64  `json:"offset"`
	LeaderEpoch  int32  `json:"leader_epoch"`
	Metadata     string `json:"metadata,omitempty"`
	CommitTimeMs int64  `json:"commit_time_ms"`
}

// EncodePending is the stored form of a producer's pending offsets.
func EncodePending(offs []plog.CommittedOffset) []byte {
	out := make([]pendingJSON, len(offs))
	for i, o := range offs {
		out[i] = pendingJSON{o.Group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTimeMs}
	}
	b, _ := json.Marshal(out) // plain data: cannot fail
	return b
}

// DecodePending reads what EncodePending stored.
func DecodePending(b []byte) ([]plog.CommittedOffset, error) {
	var in []pendingJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decode pending offsets: %w", err)
	}
	out := make([]plog.CommittedOffset, len(in))
	for i, o := range in {
		out[i] = plog.CommittedOffset{Group: o.Group, Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimeMs: o.CommitTimeMs}
	}
	return out, nil
}
