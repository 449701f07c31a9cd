package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (key 9), v0-v10.
//
// Behavior:
//   - Reads the consumer-offset store shared with the HTTP door: a partition
//     without a commit answers offset -1 and empty metadata.
//   - A null topic list (v2+) returns every committed offset of the group.
//   - DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED (per partition
//     before v2, top-level v2-v7, per group v8+). A topic without DESCRIBE
//     is left out of an all-topics answer, and gets
//     TOPIC_AUTHORIZATION_FAILED when named.
//   - require_stable (v7+): a partition with a transactional offset commit
//     pending (TxnOffsetCommit of an ongoing transaction) gets
//     UNSTABLE_OFFSET_COMMIT (retriable), as Kafka; without it the last
//     committed offset is answered.
//   - Cluster mode (coord_groups.go): only the group's coordinator answers,
//     else NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS (at the level
//     the version carries errors). It reads the view its
//     __consumer_offsets partition's records were applied to (the same
//     store); pending transactional commits are the view's too.
//
// Version notes:
//   - v0-v7 one group; v8+ several groups, each answered on its own.
//   - v10 topics by id.
func init() { register(kmsg.OffsetFetch, 0, 10, (*Server).handleOffsetFetch) }

type fetchedPartition struct {
	partition int32
	offset    int64
	epoch     int32
	metadata  string
	code      int16
}

type fetchedTopic struct {
	name  string
	id    [16]byte
	code  int16
	parts []fetchedPartition
}

func (s *Server) handleOffsetFetch(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		if req.Topics != nil {
			topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, t := range req.Topics {
				topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		fts, code := s.fetchGroupOffsets(ctx, req.Group, topics, false)
		if req.Version >= 7 && req.RequireStable {
			s.markUnstable(req.Group, fts)
		}
		resp.ErrorCode = code
		if code != 0 && req.Version < 2 {
			// No top-level error before v2: every partition carries it.
			fts = nil
			for _, t := range req.Topics {
				ft := fetchedTopic{name: t.Topic}
				for _, p := range t.Partitions {
					ft.parts = append(ft.parts, fetchedPartition{partition: p, offset: -1, epoch: -1, code: code})
				}
				fts = append(fts, ft)
			}
		}
		for _, ft := range fts {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = ft.name
			for _, fp := range ft.parts {
				p := kmsg.NewOffsetFetchResponseTopicPartition()
				meta := fp.metadata
				p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = fp.partition, fp.offset, fp.epoch, &meta, fp.code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil
	}
	for _, g := range req.Groups {
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group = g.Group
		fts, code := s.fetchGroupOffsets(ctx, g.Group, g.Topics, req.Version >= 10)
		if req.RequireStable {
			s.markUnstable(g.Group, fts)
		}
		rg.ErrorCode = code
		for _, ft := range fts {
			t := kmsg.NewOffsetFetchResponseGroupTopic()
			t.Topic, t.TopicID = ft.name, ft.id
			for _, fp := range ft.parts {
				p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				meta := fp.metadata
				p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = fp.partition, fp.offset, fp.epoch, &meta, fp.code
				if ft.code != 0 {
					p.ErrorCode = ft.code
				}
				t.Partitions = append(t.Partitions, p)
			}
			rg.Topics = append(rg.Topics, t)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

// fetchGroupOffsets answers one group's OffsetFetch; topics nil means all.
// It returns the topics and a group-level error code.
func (s *Server) fetchGroupOffsets(ctx context.Context, group string, topics []kmsg.OffsetFetchRequestGroupTopic, byID bool) ([]fetchedTopic, int16) {
	if !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, group) {
		return nil, errGroupAuthz
	}
	if gc := s.coordinateGroup(group); gc.code != 0 {
		return nil, gc.code
	}
	describable := func(topic string) bool {
		return s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic)
	}
	var out []fetchedTopic
	if topics == nil {
		all, err := s.log.GroupOffsets(group)
		if err != nil {
			return nil, errorCode(err)
		}
		var ids map[string][16]byte
		if byID {
			ids = s.topicIDs()
		}
		lastTopic, lastAllowed := "", false
		for _, o := range all {
			id, ok := ids[o.Topic]
			if byID && !ok {
				continue // the topic is gone; an id cannot name it
			}
			if o.Topic != lastTopic { // offsets come sorted by topic
				lastTopic, lastAllowed = o.Topic, describable(o.Topic)
			}
			if !lastAllowed {
				continue // not shown at all, as Kafka
			}
			if len(out) == 0 || out[len(out)-1].name != o.Topic {
				out = append(out, fetchedTopic{name: o.Topic, id: id})
			}
			ft := &out[len(out)-1]
			ft.parts = append(ft.parts, fetchedPartition{partition: o.Partition, offset: o.Offset, epoch: o.LeaderEpoch, metadata: o.Metadata})
		}
		return out, 0
	}
	for _, rt := range topics {
		ft := fetchedTopic{name: rt.Topic, id: rt.TopicID}
		if byID {
			if info, ok := s.topicByID(rt.TopicID); ok {
				ft.name = info.Name
			} else {
				ft.code = errUnknownTopicID
			}
		}
		denied := ft.code == 0 && !describable(ft.name)
		for _, p := range rt.Partitions {
			fp := fetchedPartition{partition: p, offset: -1, epoch: -1}
			if denied {
				fp.code = errTopicAuthz
			} else if ft.code == 0 {
				o, ok, err := s.log.FetchOffset(group, ft.name, p)
				switch {
				case err != nil:
					fp.code = errorCode(err)
				case ok:
					fp.offset, fp.epoch, fp.metadata = o.Offset, o.LeaderEpoch, o.Metadata
				}
			}
			ft.parts = append(ft.parts, fp)
		}
		out = append(out, ft)
	}
	return out, 0
}

// markUnstable gives UNSTABLE_OFFSET_COMMIT to the partitions of fts with a
// transactional offset commit pending (require_stable).
func (s *Server) markUnstable(group string, fts []fetchedTopic) {
	var pending func(topic string, part int32) bool
	if s.cfg.Cluster != nil {
		// The view's open transactional commits (coord/pend/{p}/).
		gc := s.coordinateGroup(group)
		if gc.code != 0 {
			return // the fetch got that error already
		}
		var err error
		if pending, err = s.pendingTxnOffsets(gc, group); err != nil {
			s.logger.Warn("read pending transactional offsets", "group", group, "err", err)
			pending = func(string, int32) bool { return true } // unstable is retriable
		}
	} else {
		c := s.transactions()
		if c == nil {
			return
		}
		pending = func(topic string, part int32) bool { return c.PendingOffset(group, topic, part) }
	}
	for i := range fts {
		for j := range fts[i].parts {
			fp := &fts[i].parts[j]
			if fp.code == 0 && fts[i].code == 0 && pending(fts[i].name, fp.partition) {
				fp.code, fp.offset, fp.epoch, fp.metadata = kerr.UnstableOffsetCommit.Code, -1, -1, ""
			}
		}
	}
}
