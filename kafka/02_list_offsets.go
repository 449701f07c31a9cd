package kafka

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets (key 2), v0-v11.
//
// Behavior:
//   - Timestamp -2 (earliest): the log start offset (the cold tier's
//     included); -4 (earliest local, KIP-405): the hot log start.
//   - Timestamp -1 (latest): the high watermark; with isolation_level 1
//     (read_committed, v2+) the last stable offset.
//   - Timestamp -3 (max timestamp, v7+): the first record with the largest
//     timestamp, from the time index.
//   - Any other timestamp: the first offset whose record timestamp is at or
//     after it, and that record's timestamp; -1/-1 when there is none.
//   - read_committed lookups by time or max timestamp answer -1/-1 for an
//     offset at or past the last stable offset, as Kafka does.
//   - The internal topics are empty: 0 for earliest and latest, -1/-1 for
//     a timestamp (internal_topics.go).
//   - DESCRIBE on the topic, else TOPIC_AUTHORIZATION_FAILED (-1/-1).
//   - Cluster mode: the partition's leader answers, others get
//     NOT_LEADER_OR_FOLLOWER; a current leader epoch (v4+) older than the
//     leader's gets FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH
//     (-1/-1 with each). The internal topics answer as on one node.
//
// Version notes:
//   - v0 answers in OldStyleOffsets (at most MaxNumOffsets, one offset here).
//   - v4+ the partition's leader epoch (0 on one node; the cluster's in
//     cluster mode); v10+ timeout ignored.
func init() { register(kmsg.ListOffsets, 0, 11, (*Server).handleListOffsets) }

// Special ListOffsets timestamps.
const (
	tsLatest        = -1
	tsEarliest      = -2
	tsMaxTimestamp  = -3
	tsEarliestLocal = -4
)

func (s *Server) handleListOffsets(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		denied := !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if denied {
				sp.ErrorCode, sp.Offset, sp.Timestamp = errTopicAuthz, -1, -1
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			var err error
			if s.inCluster(rt.Topic) {
				epoch := int32(-1)
				if req.Version >= 4 {
					epoch = rp.CurrentLeaderEpoch
				}
				// Offsets come from the leader only (replica -1: a consumer).
				err = s.cfg.Cluster.CheckFetch(rt.Topic, rp.Partition, epoch, -1)
			}
			var off, ts int64
			if err == nil {
				off, ts, err = s.listOffset(rt.Topic, rp.Partition, rp.Timestamp, req.Version >= 2 && req.IsolationLevel == 1)
			}
			switch {
			case err != nil:
				sp.ErrorCode, sp.Offset, sp.Timestamp = errorCode(err), -1, -1
			case req.Version == 0:
				if off >= 0 && rp.MaxNumOffsets > 0 {
					sp.OldStyleOffsets = []int64{off}
				} else {
					sp.OldStyleOffsets = []int64{}
				}
			default:
				sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, ts, s.leaderEpoch(rt.Topic, rp.Partition)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listOffset resolves one ListOffsets query to an offset and a timestamp.
func (s *Server) listOffset(topic string, part int32, ts int64, committed bool) (int64, int64, error) {
	logStart, hwm, err := s.partitionOffsets(topic, part)
	if err != nil {
		return -1, -1, err
	}
	_, internal := s.virtualInternal(topic)
	if ts >= 0 && internal {
		return -1, -1, nil // never a record
	}
	limit := hwm
	if committed && !internal {
		if limit, err = s.log.LastStable(topic, part); err != nil {
			return -1, -1, err
		}
	}
	var off, rts int64
	switch ts {
	case tsLatest:
		return limit, -1, nil
	case tsEarliest:
		return logStart, -1, nil
	case tsEarliestLocal:
		// KIP-405: the first offset this broker holds itself, above the
		// cold tier (what a new follower starts fetching at).
		hot, err := s.log.HotStart(topic, part)
		if err != nil {
			return -1, -1, err
		}
		return max(hot, logStart), -1, nil
	case tsMaxTimestamp:
		off, rts, err = s.maxTimestampOffset(topic, part, logStart, hwm)
	default:
		if ts < 0 {
			return -1, -1, errInvalidTimestamp
		}
		off, rts, err = s.log.OffsetForTimestamp(topic, part, ts)
	}
	if err != nil {
		return -1, -1, err
	}
	if off >= limit {
		return -1, -1, nil
	}
	return off, rts, nil
}

// maxTimestampOffset finds the first record with the largest timestamp. The
// time index holds running maxima, so "some batch reaches ts" is monotone in
// ts: a binary search (about 64 index seeks, no scan) finds the maximum,
// and the time lookup then finds its record.
func (s *Server) maxTimestampOffset(topic string, part int32, logStart, hwm int64) (int64, int64, error) {
	if hwm <= logStart {
		return -1, -1, nil
	}
	reaches := func(ts int64) (bool, error) {
		off, err := s.log.StartOffsetForTimestamp(topic, part, ts)
		return off < hwm, err
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if ok, err := reaches(hi); err != nil || ok {
		if err != nil {
			return -1, -1, err
		}
		lo = hi
	}
	for lo < hi {
		mid := lo + int64((uint64(hi)-uint64(lo))/2) + 1 // lo reaches (or is -inf)
		ok, err := reaches(mid)
		if err != nil {
			return -1, -1, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return s.log.OffsetForTimestamp(topic, part, lo)
}
