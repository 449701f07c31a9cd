package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// OffsetCommit (key 8), v0-v10.
//
// Behavior:
//   - Simple commits (no group membership: generation -1 and an empty member
//     id, as kadm and manual-commit consumers send) are stored in the log's
//     consumer-offset store, the same one the HTTP door reads and writes.
//     All partitions of a request share one durable write.
//   - Commits of group members are checked by the coordinator (kafka/groups):
//     an unknown member gets UNKNOWN_MEMBER_ID, another generation
//     ILLEGAL_GENERATION, a group waiting for its leader's assignment
//     REBALANCE_IN_PROGRESS, a fenced static member FENCED_INSTANCE_ID. A
//     simple commit to a group that has members gets UNKNOWN_MEMBER_ID (as
//     Kafka); the HTTP door's commits are not checked.
//   - READ on the group, else GROUP_AUTHORIZATION_FAILED for every
//     partition; READ on each topic, else TOPIC_AUTHORIZATION_FAILED.
//   - Metadata over 4096 bytes gets OFFSET_METADATA_TOO_LARGE, an empty group
//     INVALID_GROUP_ID.
//   - Cluster mode (coord_groups.go): only the group's coordinator takes
//     the commit, else NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS on
//     every partition. The offsets go as one batch of Kafka's
//     OffsetCommit records into the group's __consumer_offsets partition,
//     acknowledged once replicated (acks=all, min.insync.replicas) and
//     applied to the view OffsetFetch reads. The partition moved:
//     NOT_COORDINATOR; too few in-sync replicas: COORDINATOR_NOT_AVAILABLE;
//     not replicated within 5 s (offsets.commit.timeout.ms):
//     REQUEST_TIMED_OUT; a batch over Kafka's message.max.bytes (1 MiB):
//     INVALID_COMMIT_OFFSET_SIZE. Nothing is acknowledged that a failover
//     can lose.
//
// Version notes:
//   - v6+ leader epoch; v10 topics by id (unknown ids: UNKNOWN_TOPIC_ID).
func init() { register(kmsg.OffsetCommit, 0, 10, (*Server).handleOffsetCommit) }

const maxOffsetMetadata = 4096

func (s *Server) handleOffsetCommit(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	var (
		groupCode int16
		gc        groupCoord
	)
	if !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		groupCode = errGroupAuthz
	} else if req.Group == "" {
		groupCode = kerr.InvalidGroupID.Code
	} else if gc = s.coordinateGroup(req.Group); gc.code != 0 {
		groupCode = gc.code
	} else {
		member, instance, generation := "", "", int32(-1) // v0: a simple commit
		if req.Version >= 1 {
			member, instance, generation = req.MemberID, deref(req.InstanceID), req.Generation
		}
		groupCode = code(s.groups.CheckCommit(req.Group, member, instance, generation))
	}
	now := time.Now().UnixMilli()
	var (
		offs []plog.CommittedOffset
		refs []*kmsg.OffsetCommitResponseTopicPartition
	)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, tcode := rt.Topic, groupCode
		if req.Version >= 10 && tcode == 0 {
			if info, ok := s.topicByID(rt.TopicID); ok {
				name = info.Name
			} else {
				tcode = errUnknownTopicID
			}
		}
		if groupCode != errGroupAuthz && tcode != errUnknownTopicID &&
			!s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name) {
			tcode = errTopicAuthz // before the group's own errors, as Kafka
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			code := tcode
			var meta string
			if rp.Metadata != nil {
				meta = *rp.Metadata
			}
			switch {
			case code != 0:
			case len(meta) > maxOffsetMetadata:
				code = kerr.OffsetMetadataTooLarge.Code
			case !plog.ValidTopicName(name):
				code = errInvalidTopic
			case rp.Partition < 0 || rp.Offset < 0:
				code = errorCode(fmt.Errorf("%w: %d", plog.ErrInvalidOffset, rp.Offset))
			}
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
			if code == 0 {
				epoch := int32(-1)
				if req.Version >= 6 {
					epoch = rp.LeaderEpoch
				}
				offs = append(offs, plog.CommittedOffset{
					Group: req.Group, Topic: name, Partition: rp.Partition, Offset: rp.Offset,
					LeaderEpoch: epoch, Metadata: meta, CommitTimeMs: now,
				})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Pointers into resp are taken once every append is done.
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			if resp.Topics[ti].Partitions[pi].ErrorCode == 0 {
				refs = append(refs, &resp.Topics[ti].Partitions[pi])
			}
		}
	}
	if len(offs) > 0 {
		if code := s.commitOffsets(ctx, gc, offs); code != 0 {
			for _, sp := range refs {
				sp.ErrorCode = code
			}
		}
	}
	return resp, nil
}
