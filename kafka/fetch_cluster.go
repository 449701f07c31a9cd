package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// Fetch in cluster mode: who may be served, and what a follower reads.

// errOffsetMovedToTiered: a follower's fetch offset is in the cold tier
// only (OFFSET_MOVED_TO_TIERED_STORAGE).
var errOffsetMovedToTiered = errors.New("offset moved to tiered storage")

// fetchReplica is the fetching replica's node id, -1 for a consumer
// (ReplicaState.ID from v15, KIP-903; ReplicaID before).
func fetchReplica(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// fetchClusterCheck asks the cluster whether this node may serve the
// partition to the fetcher. done: sp is the whole answer (an error, or
// KIP-392's preferred read replica with no records). follower: a
// replica's fetch, to be read up to the log end and reported back.
func (s *Server) fetchClusterCheck(req *kmsg.FetchRequest, replica int32, name string, rp kmsg.FetchRequestTopicPartition, sp *kmsg.FetchResponseTopicPartition) (done, follower bool) {
	c := s.cfg.Cluster
	epoch := int32(-1)
	if req.Version >= 9 {
		epoch = rp.CurrentLeaderEpoch
	}
	if err := c.CheckFetch(name, rp.Partition, epoch, replica); err != nil {
		sp.ErrorCode = errorCode(err)
		return true, false
	}
	if replica >= 0 {
		return false, true
	}
	if req.Version >= 11 && req.Rack != "" {
		if r := c.PreferredReadReplica(name, rp.Partition, req.Rack); r >= 0 && r != c.LocalID() {
			// KIP-392: no records, the offsets, and where to fetch from;
			// the client moves its fetches of this partition there.
			sp.PreferredReadReplica = r
			logStart, hwm, err := s.log.Offsets(name, rp.Partition)
			if err == nil {
				var lso int64
				if lso, err = s.log.LastStable(name, rp.Partition); err == nil {
					sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hwm, lso, logStart
				}
			}
			if err != nil {
				sp.ErrorCode, sp.PreferredReadReplica = errorCode(err), -1
			}
			return true, false
		}
	}
	return false, false
}

// replicaLog is the log's read for followers, up to the log end rather
// than the high watermark.
//
// TODO(issue 19, merge of 19logrep): call s.log.ReadReplica directly once
// (*plog.Log).ReadReplica is on this branch, and drop this interface and
// the fallback below.
type replicaLog interface {
	ReadReplica(topic string, part int32, offset int64, maxBytes int) (plog.ReadResult, error)
}

// readReplica reads a follower's fetch: every batch from offset up to the
// log end (a follower copies what the leader has, committed or not).
//
// Below the local (hot) log start and inside the cold range the answer is
// OFFSET_MOVED_TO_TIERED_STORAGE, as Kafka's (KIP-405): a follower does not
// copy what the shared cold tier holds; it asks the leader's earliest local
// offset (ListOffsets -4) and starts there.
func (s *Server) readReplica(topic string, part int32, offset int64, maxBytes int) (plog.ReadResult, error) {
	if hot, err := s.log.HotStart(topic, part); err == nil && offset < hot {
		logStart, hwm, err := s.log.Offsets(topic, part)
		if err == nil && offset >= logStart {
			return plog.ReadResult{LogStartOffset: logStart, HighWatermark: hwm, LastStableOffset: -1}, errOffsetMovedToTiered
		}
	}
	if rl, ok := any(s.log).(replicaLog); ok {
		return rl.ReadReplica(topic, part, offset, maxBytes)
	}
	// TODO(issue 19): until ReadReplica lands, followers read up to the
	// high watermark as consumers do.
	return s.log.ReadIsolated(topic, part, offset, maxBytes, plog.ReadUncommitted)
}
