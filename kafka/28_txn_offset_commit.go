package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// TxnOffsetCommit (key 28), v0-v6.
//
// Behavior:
//   - Stores consumer offsets in the producer's ongoing transaction
//     (package txn), durably: they become the group's committed offsets
//     with the commit marker, in the same write, and vanish on abort.
//     Until then OffsetFetch with require_stable answers
//     UNSTABLE_OFFSET_COMMIT for those partitions.
//   - The group must have been added with AddOffsetsToTxn and the
//     transaction be ongoing, else INVALID_TXN_STATE.
//   - WRITE on the transactional id, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED; READ on the group, else
//     GROUP_AUTHORIZATION_FAILED; READ on each topic, else
//     TOPIC_AUTHORIZATION_FAILED. An empty group or one over 32767 bytes
//     gets INVALID_GROUP_ID on every partition. An unknown topic or partition gets
//     UNKNOWN_TOPIC_OR_PARTITION, metadata over 4096 bytes
//     OFFSET_METADATA_TOO_LARGE, a negative offset OFFSET_OUT_OF_RANGE.
//   - Producer errors on every partition: INVALID_PRODUCER_ID_MAPPING,
//     PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v3),
//     CONCURRENT_TRANSACTIONS, COORDINATOR_NOT_AVAILABLE.
//   - Cluster mode (coord_groups.go), as Kafka's group coordinator: the
//     group's coordinator only, else NOT_COORDINATOR or
//     COORDINATOR_LOAD_IN_PROGRESS on every partition. The offsets go as
//     one transactional batch (producer id and epoch) into the group's
//     __consumer_offsets partition, replicated before the answer; the
//     transaction's marker there (its coordinator sends it, having added
//     the partition at AddOffsetsToTxn) commits or drops them, and until
//     then they are pending (require_stable). The producer's epoch is
//     checked by that partition's producer state (PRODUCER_FENCED); the
//     transaction's own state is its coordinator's, on another node
//     perhaps, and is not checked here (Kafka before KIP-890 neither).
//     Append errors map as OffsetCommit's.
//
// Version notes:
//   - v3+: generation, member id and instance id are checked by the group
//     coordinator (kafka/groups, as OffsetCommit) when a member id or a
//     generation is given: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
//     FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS.
//   - v2+ leader epoch; v6 topics by id (unknown ids: UNKNOWN_TOPIC_ID).
func init() { register(kmsg.TxnOffsetCommit, 0, 6, (*Server).handleTxnOffsetCommit) }

func (s *Server) handleTxnOffsetCommit(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	var first int16
	gc := s.coordinateGroup(req.Group) // one node: local, nothing asked
	switch {
	case !s.allowed(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		first = errTxnIDAuthz
	case !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		first = errGroupAuthz
	case req.Group == "" || len(req.Group) > plog.MaxGroupLen:
		first = kerr.InvalidGroupID.Code
	case gc.code != 0:
		first = gc.code
	case req.Version >= 3 && (req.MemberID != "" || req.Generation >= 0):
		first = code(s.groups.CheckCommit(req.Group, req.MemberID, deref(req.InstanceID), req.Generation))
	}
	now := time.Now().UnixMilli()
	var (
		offs []plog.CommittedOffset
		refs []*kmsg.TxnOffsetCommitResponseTopicPartition
	)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, tcode := rt.Topic, first
		var info plog.TopicInfo
		if tcode == 0 {
			var ok bool
			if req.Version >= 6 {
				if info, ok = s.topicByID(rt.TopicID); ok {
					name = info.Name
				} else {
					tcode = errUnknownTopicID
				}
			} else if info, ok = s.log.Topic(name); !ok {
				tcode = errUnknownTopic
			}
			if tcode != errUnknownTopicID && !s.allowed(ctx, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name) {
				tcode = errTopicAuthz
			}
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			code := tcode
			meta := deref(rp.Metadata)
			switch {
			case code != 0:
			case rp.Partition < 0 || rp.Partition >= info.Partitions:
				code = errUnknownTopic
			case len(meta) > maxOffsetMetadata:
				code = kerr.OffsetMetadataTooLarge.Code
			case rp.Offset < 0:
				code = kerr.OffsetOutOfRange.Code
			}
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
			if code == 0 {
				epoch := int32(-1)
				if req.Version >= 2 {
					epoch = rp.LeaderEpoch
				}
				offs = append(offs, plog.CommittedOffset{Group: req.Group, Topic: name, Partition: rp.Partition,
					Offset: rp.Offset, LeaderEpoch: epoch, Metadata: meta, CommitTimeMs: now})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(offs) == 0 {
		return resp, nil
	}
	// Pointers into resp are taken once every append is done.
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			if resp.Topics[ti].Partitions[pi].ErrorCode == 0 {
				refs = append(refs, &resp.Topics[ti].Partitions[pi])
			}
		}
	}
	var ecode int16
	if gc.cluster() {
		ecode = s.txnCommitOffsetsCluster(ctx, gc, req, offs)
	} else if c := s.transactions(); c == nil {
		ecode = kerr.CoordinatorNotAvailable.Code
	} else {
		ecode = fencedCode(c.TxnOffsetCommit(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offs), req.Version, 3)
	}
	for _, sp := range refs {
		sp.ErrorCode = ecode
	}
	return resp, nil
}
