package kafka

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// Fetch (key 1), v4-v18.
//
// Behavior:
//   - Returns stored batches as they are, starting with the whole batch that
//     holds the fetch offset (clients skip the records before it).
//   - max_bytes bounds the response and partition_max_bytes each partition;
//     only the first batch of the first partition with data may exceed them
//     (KIP-74), so a large batch still makes progress.
//   - min_bytes/max_wait_ms: when less than min_bytes is there, the request
//     waits on the log's high-watermark watch channels of every requested
//     partition (no polling) until enough arrives or max_wait_ms passes.
//   - Offsets below the log start or above the high watermark get
//     OFFSET_OUT_OF_RANGE with the log start and high watermark.
//   - isolation_level 1 (read_committed): batches below the last stable
//     offset only, with the aborted transactions among them, so that the
//     client drops their batches; control batches (markers) are returned
//     as stored, as Kafka does (clients skip them and count their offsets).
//     read_uncommitted reads up to the high watermark. Both get the last
//     stable offset.
//   - The internal topics: no records, high watermark 0 (internal_topics.go).
//   - READ on the topic (consumers), else TOPIC_AUTHORIZATION_FAILED for
//     its partitions, decided once per request.
//   - No fetch sessions (KIP-227): the response's session id is 0, which
//     tells clients to send full fetches; an unknown session id gets
//     FETCH_SESSION_ID_NOT_FOUND.
//   - Cluster mode (Config.Cluster; not the internal topics), per
//     partition: the cluster checks the fetcher's current leader epoch
//     (v9+; -1 before) and who it is (replica id: ReplicaID, ReplicaState
//     from v15): NOT_LEADER_OR_FOLLOWER on a node that may not serve it,
//     FENCED_LEADER_EPOCH for an older epoch, UNKNOWN_LEADER_EPOCH for a
//     newer one. A follower's fetch (replica id >= 0) needs CLUSTER_ACTION
//     on the cluster instead of READ (else TOPIC_AUTHORIZATION_FAILED on
//     every partition, as Kafka), reads up to the log end, and tells the
//     cluster its fetch offset (the ISR and the high watermark move by
//     it); its long poll wakes on the log end too (the log's watch fires on
//     both). A follower's offset below the local log start that the cold
//     tier holds gets OFFSET_MOVED_TO_TIERED_STORAGE (KIP-405): it starts
//     at the earliest local offset (ListOffsets -4) instead of copying
//     the shared cold tier. A consumer with a rack (v11+) whose partition has a preferred
//     read replica elsewhere (KIP-392) gets no records, the offsets, and
//     preferred_read_replica, and fetches from there. With
//     NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH (v16+), the partition's
//     current leader and epoch, and that node in the response (KIP-951).
//
// Version notes:
//   - v0-v3 would need message format v0/v1 down-conversion: not advertised,
//     and answered with UNSUPPORTED_VERSION in every partition.
//   - v13+: topics by id; unknown ids get UNKNOWN_TOPIC_ID.
func init() { register(kmsg.Fetch, 4, 18, (*Server).handleFetch) }

func (s *Server) handleFetch(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	start := time.Now()
	if req.Version < 4 {
		return unsupportedFetch(req), nil
	}
	if req.Version >= 7 && req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		resp.SessionID = req.SessionID
		return resp, nil
	}
	var denied []bool // per topic: no READ (nil when nothing is enforced)
	if s.authz() != nil {
		denied = s.fetchDenied(ctx, req)
	}
	if s.cfg.Cluster != nil && fetchReplica(req) >= 0 {
		// A follower needs CLUSTER_ACTION on the cluster, not READ on the
		// topics (Kafka's); without it every partition is refused.
		denied = make([]bool, len(req.Topics))
		if !s.allowedCluster(ctx, kmsg.ACLOperationClusterAction) {
			for i := range denied {
				denied[i] = true
			}
		}
	}
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if s.drainingNow() { // the server is stopping: no long poll
		wait = 0
	}
	var timer *time.Timer
	for {
		waiting := req.MinBytes > 0 && wait > 0 && time.Since(start) < wait
		var watches []<-chan struct{}
		if waiting {
			// Take the watch channels before reading, so an append between
			// the read and the wait is not missed.
			watches = s.fetchWatches(req)
		}
		resp, n, records, hasErr, served := s.fetchOnce(req, denied)
		// No watch at all (only internal topics, which never change, or no
		// partition): wait out max_wait_ms as Kafka does, so that a consumer
		// polling them does not spin.
		if !waiting || n >= int(req.MinBytes) || hasErr {
			if records > 0 {
				s.st.Read(records, time.Since(start))
			}
			for _, ts := range served {
				s.log.CountServed(ts.topic, ts.records, ts.bytes)
			}
			if timer != nil {
				timer.Stop()
			}
			if hasErr {
				s.addFetchLeaderHints(ctx, req, resp)
			}
			return resp, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait - time.Since(start))
		}
		cases := make([]reflect.SelectCase, 0, len(watches)+3)
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.drainC)})
		for _, w := range watches {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
		chosen, _, _ := reflect.Select(cases)
		switch chosen {
		case 0: // connection or server closing: no one to answer
			timer.Stop()
			return nil, ctx.Err()
		case 1, 2: // max wait passed, or the server drains: answer with what is there now
			wait = 0
		}
	}
}

// fetchDenied returns, per requested topic, whether the principal lacks
// READ on it. A topic id that names no topic is left to UNKNOWN_TOPIC_ID.
func (s *Server) fetchDenied(ctx context.Context, req *kmsg.FetchRequest) []bool {
	denied := make([]bool, len(req.Topics))
	for i, rt := range req.Topics {
		name := rt.Topic
		if req.Version >= 13 {
			info, ok := s.topicByID(rt.TopicID)
			if !ok {
				continue
			}
			name = info.Name
		}
		denied[i] = !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name)
	}
	return denied
}

// fetchWatches returns the watch channels of the requested partitions.
func (s *Server) fetchWatches(req *kmsg.FetchRequest) []<-chan struct{} {
	var out []<-chan struct{}
	for _, rt := range req.Topics {
		name := rt.Topic
		if req.Version >= 13 {
			info, ok := s.topicByID(rt.TopicID)
			if !ok {
				continue
			}
			name = info.Name
		}
		for _, rp := range rt.Partitions {
			if ch, _, err := s.log.Watch(name, rp.Partition); err == nil {
				out = append(out, ch)
			}
		}
	}
	return out
}

// maxFetchBytes caps one Fetch response, as Kafka's default fetch.max.bytes.
var maxFetchBytes = 55 << 20 // a variable for tests

// topicServed is what one Fetch response carries of a topic, for
// zombi_records_out_total and zombi_bytes_out_total.
type topicServed struct {
	topic          string
	records, bytes int
}

// fetchOnce reads what is there now. It returns the response, its record
// bytes and records, whether any partition has an error, and what it
// carries per topic. Topics marked in denied get TOPIC_AUTHORIZATION_FAILED.
func (s *Server) fetchOnce(req *kmsg.FetchRequest, denied []bool) (resp *kmsg.FetchResponse, n, records int, hasErr bool, served []topicServed) {
	resp = req.ResponseKind().(*kmsg.FetchResponse)
	// The broker's own bound, as Kafka's fetch.max.bytes (KIP-541): a
	// client asking for gigabytes gets at most this per response (still at
	// least one batch, so large batches make progress).
	remaining := min(int(req.MaxBytes), maxFetchBytes)
	iso := plog.ReadUncommitted
	if req.IsolationLevel == 1 {
		iso = plog.ReadCommitted
	}
	replica := fetchReplica(req)
	for ti, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, tcode := rt.Topic, int16(0)
		if req.Version >= 13 {
			if info, ok := s.topicByID(rt.TopicID); ok {
				name = info.Name
			} else {
				tcode = errUnknownTopicID
			}
		}
		if tcode == 0 && denied != nil && denied[ti] {
			tcode = errTopicAuthz
		}
		topicN, topicRecords := n, records
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			// Empty, not null, as Kafka sends: kafka-python fails on null.
			sp.RecordBatches = []byte{}
			if tcode != 0 {
				sp.ErrorCode, hasErr = tcode, true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if it, ok := s.virtualInternal(name); ok { // never a record (internal_topics.go)
				fetchInternal(it, &sp, rp.FetchOffset)
				hasErr = hasErr || sp.ErrorCode != 0
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			follower := false
			if s.inCluster(name) {
				done, isFollower := s.fetchClusterCheck(req, replica, name, rp, &sp)
				if done {
					// An error or a preferred read replica is answered at
					// once, without the long poll (Kafka's ReplicaManager).
					hasErr = hasErr || sp.ErrorCode != 0 || sp.PreferredReadReplica >= 0
					st.Partitions = append(st.Partitions, sp)
					continue
				}
				follower = isFollower
			}
			first := n == 0
			limit := min(int(rp.PartitionMaxBytes), remaining)
			var rr plog.ReadResult
			var err error
			if follower && (first || limit > 0) {
				rr, err = s.readReplica(name, rp.Partition, rp.FetchOffset, max(limit, 1))
			} else if !first && limit <= 0 {
				// The response is full: report offsets only.
				rr.LogStartOffset, rr.HighWatermark, err = s.log.Offsets(name, rp.Partition)
				if err == nil {
					rr.LastStableOffset, err = s.log.LastStable(name, rp.Partition)
				}
			} else {
				rr, err = s.log.ReadIsolated(name, rp.Partition, rp.FetchOffset, max(limit, 1), iso)
			}
			if err == nil || errors.Is(err, plog.ErrOffsetOutOfRange) || errors.Is(err, errOffsetMovedToTiered) {
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset
			}
			if err != nil {
				sp.ErrorCode, hasErr = errorCode(err), true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if follower {
				// The follower's fetch offset is its log end: the leader
				// moves the ISR and the high watermark by it.
				s.cfg.Cluster.FollowerFetched(name, rp.Partition, replica, rp.FetchOffset)
			}
			if len(rr.Batches) > 0 && !first && len(rr.Batches[0].Raw) > limit {
				rr.Batches = nil // only the first partition with data may go over
			}
			if len(rr.Batches) > 0 && iso == plog.ReadCommitted {
				sp.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(rr.Aborted))
				for i, a := range rr.Aborted {
					sp.AbortedTransactions[i] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset}
				}
			}
			switch len(rr.Batches) {
			case 0:
				sp.RecordBatches = []byte{}
			case 1:
				sp.RecordBatches = rr.Batches[0].Raw
			default:
				size := 0
				for _, b := range rr.Batches {
					size += len(b.Raw)
				}
				sp.RecordBatches = make([]byte, 0, size)
				for _, b := range rr.Batches {
					sp.RecordBatches = append(sp.RecordBatches, b.Raw...)
				}
			}
			for _, b := range rr.Batches {
				records += int(b.LastOffset - max(b.BaseOffset, rp.FetchOffset) + 1)
			}
			n += len(sp.RecordBatches)
			remaining -= len(sp.RecordBatches)
			st.Partitions = append(st.Partitions, sp)
		}
		if n > topicN {
			served = append(served, topicServed{topic: name, records: records - topicRecords, bytes: n - topicN})
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, n, records, hasErr, served
}

// unsupportedFetch answers a Fetch below v4 with UNSUPPORTED_VERSION.
func unsupportedFetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, errUnsupportedVersion
			sp.HighWatermark, sp.RecordBatches = -1, []byte{}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
