package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// The group coordinator in cluster mode (issue 19 point 5), in one place:
// which node coordinates a group (the leader of its __consumer_offsets
// partition), the check every group request makes, the appends that
// replace the log's offset writes, and their error mapping. With one node
// (Config.Cluster nil) none of this runs: every group is local and offsets
// are the log's 'C' keys, written directly.

// commitTimeout bounds a replicated offset write (Kafka's
// offsets.commit.timeout.ms; a variable for the tests).
var commitTimeout = 5 * time.Second

// maxCoordBatch bounds one batch of a group's records: Kafka's broker
// default message.max.bytes (1 MiB + 12), which __consumer_offsets takes.
// A larger commit gets INVALID_COMMIT_OFFSET_SIZE, as in Kafka, and is not
// written.
const maxCoordBatch = 1048588

// errCommitTooLarge is a commit over maxCoordBatch.
var errCommitTooLarge = errors.New("offset commit batch larger than 1048588 bytes")

// groupCoord is the coordinator of a group as a request sees it: local and
// loaded (code 0) or the error the request answers.
type groupCoord struct {
	view CoordinatorView
	code int16 // 0, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE
}

// cluster says whether writes go through the internal partition.
func (g groupCoord) cluster() bool { return g.view.Local }

// coordinateGroup is the check of every group request (Kafka's
// validateGroupStatus after the id check): in cluster mode, a group whose
// partition this node does not lead gets NOT_COORDINATOR, one it leads but
// has not loaded yet COORDINATOR_LOAD_IN_PROGRESS, one whose partition has
// no leader (or whose internal topic is being created)
// COORDINATOR_NOT_AVAILABLE. An empty group id passes: the handlers answer
// INVALID_GROUP_ID first, as Kafka.
func (s *Server) coordinateGroup(group string) groupCoord {
	c := s.cfg.Cluster
	if c == nil || group == "" {
		return groupCoord{}
	}
	v, err := c.CoordinatorOf(int8(coordlog.Group), group)
	switch {
	case err != nil:
		return groupCoord{code: kerr.CoordinatorNotAvailable.Code}
	case !v.Local:
		return groupCoord{view: v, code: kerr.NotCoordinator.Code}
	case !v.Loaded:
		return groupCoord{view: v, code: kerr.CoordinatorLoadInProgress.Code}
	}
	return groupCoord{view: v}
}

// coordAppendCode maps an AppendInternal error to the code the group
// request answers (Kafka's OffsetCommit mapping): the partition moved
// (NotLeader, FencedLeaderEpoch) is NOT_COORDINATOR, too few in-sync
// replicas COORDINATOR_NOT_AVAILABLE, the commit timeout REQUEST_TIMED_OUT.
// Every one of them makes a client retry, re-finding the coordinator on
// NOT_COORDINATOR.
func coordAppendCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrNotLeader), errors.Is(err, plog.ErrNotLeader), errors.Is(err, ErrFencedLeaderEpoch):
		return kerr.NotCoordinator.Code
	case errors.Is(err, ErrNotEnoughReplicas), errors.Is(err, ErrNotEnoughReplicasAfterAppend),
		errors.Is(err, ErrCoordinatorNotAvailable):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, plog.ErrProducerFenced):
		return kerr.ProducerFenced.Code
	case errors.Is(err, errCommitTooLarge):
		return kerr.InvalidCommitOffsetSize.Code
	}
	return errorCode(err)
}

// appendGroupRecords writes one batch to the group's __consumer_offsets
// partition at the coordinator epoch the check saw, and returns once it is
// replicated and applied to the view (so OffsetFetch on this node sees it).
func (s *Server) appendGroupRecords(ctx context.Context, gc groupCoord, raw []byte) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: empty batch", ErrCoordinatorNotAvailable)
	}
	if len(raw) > maxCoordBatch {
		return fmt.Errorf("%w: %d bytes", errCommitTooLarge, len(raw))
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	_, err := s.cfg.Cluster.AppendInternal(ctx, int8(coordlog.Group), gc.view.Partition, gc.view.Epoch, raw)
	if err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrFencedLeaderEpoch) {
		s.logger.Warn("group coordinator: append to __consumer_offsets", slog.Int("partition", int(gc.view.Partition)), "err", err)
	}
	return err
}

// commitOffsets stores offsets of one group: the log's 'C' keys on one
// node, one replicated OffsetCommit batch in cluster mode.
func (s *Server) commitOffsets(ctx context.Context, gc groupCoord, offs []plog.CommittedOffset) int16 {
	if !gc.cluster() {
		return errorCode(s.log.CommitOffsets(offs))
	}
	return coordAppendCode(s.appendGroupRecords(ctx, gc, coordlog.OffsetBatch(offs, nil, time.Now().UnixMilli())))
}

// deleteOffsets deletes committed offsets of group (topic "" and parts
// nil: all of them, the group deleted): directly on one node, as
// tombstones in cluster mode (the whole group: its offsets' and Kafka's
// GroupMetadataKey tombstone, as Kafka's DeleteGroups writes them). known
// are the group's offsets (GroupOffsets) when the caller has read them,
// for topic "".
func (s *Server) deleteOffsets(ctx context.Context, gc groupCoord, group, topic string, parts []int32, known []plog.CommittedOffset) error {
	if !gc.cluster() {
		return s.log.DeleteOffsets(group, topic, parts)
	}
	var dels []plog.OffsetKey
	if topic == "" {
		for _, o := range known {
			dels = append(dels, plog.OffsetKey{Group: group, Topic: o.Topic, Partition: o.Partition})
		}
	} else {
		for _, p := range parts {
			dels = append(dels, plog.OffsetKey{Group: group, Topic: topic, Partition: p})
		}
	}
	if len(dels) == 0 {
		return nil
	}
	if topic == "" {
		return s.appendGroupRecords(ctx, gc, coordlog.GroupTombstones([]string{group}, dels, time.Now().UnixMilli()))
	}
	return s.appendGroupRecords(ctx, gc, coordlog.OffsetBatch(nil, dels, time.Now().UnixMilli()))
}

// kerrCode is a code as a *kerr.Error, for the calls into the group
// coordinator that take one.
func kerrCode(c int16) *kerr.Error {
	if ke, ok := kerr.ErrorForCode(c).(*kerr.Error); ok {
		return ke
	}
	return kerr.UnknownServerError
}

// pendingTxnOffsets reports, in cluster mode, whether the view holds a
// transactional offset commit of an open transaction for the group's
// partition (Meta coord/pend/{p}/{pid}: what require_stable refuses).
func (s *Server) pendingTxnOffsets(gc groupCoord, group string) (func(topic string, part int32) bool, error) {
	byPID, err := coordlog.PendingIn(s.log, gc.view.Partition)
	if err != nil {
		return nil, err
	}
	type key struct {
		topic string
		part  int32
	}
	pend := map[key]bool{}
	for _, offs := range byPID {
		for _, o := range offs {
			if o.Group == group {
				pend[key{o.Topic, o.Partition}] = true
			}
		}
	}
	return func(topic string, part int32) bool { return pend[key{topic, part}] }, nil
}

// txnCommitOffsetsCluster writes a TxnOffsetCommit's offsets as one
// transactional batch of the producer into the group's partition.
func (s *Server) txnCommitOffsetsCluster(ctx context.Context, gc groupCoord, req *kmsg.TxnOffsetCommitRequest, offs []plog.CommittedOffset) int16 {
	raw := coordlog.TxnOffsetBatch(req.ProducerID, req.ProducerEpoch, offs, time.Now().UnixMilli())
	c := coordAppendCode(s.appendGroupRecords(ctx, gc, raw))
	if c == kerr.ProducerFenced.Code && req.Version < 3 {
		c = kerr.InvalidProducerEpoch.Code
	}
	return c
}
