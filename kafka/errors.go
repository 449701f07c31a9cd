package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// Error codes used directly by handlers.
var (
	errUnsupportedVersion = kerr.UnsupportedVersion.Code
	errInvalidRequest     = kerr.InvalidRequest.Code
	errUnknownTopic       = kerr.UnknownTopicOrPartition.Code
	errUnknownTopicID     = kerr.UnknownTopicID.Code
	errInvalidTopic       = kerr.InvalidTopicException.Code
	errMessageTooLarge    = kerr.MessageTooLarge.Code
	errCorruptMessage     = kerr.CorruptMessage.Code
)

// errorCode maps an error of the log (or of a handler) to the Kafka error
// code a client understands. This is the one place where that mapping lives.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, plog.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, plog.ErrInvalidTopic), errors.Is(err, plog.ErrInternalTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, plog.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, plog.ErrInvalidPartitions),
		errors.Is(err, plog.ErrPartitionsNotRaised),
		errors.Is(err, plog.ErrTooManyPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, errOffsetMovedToTiered):
		return kerr.OffsetMovedToTieredStorage.Code
	case errors.Is(err, plog.ErrOffsetOutOfRange), errors.Is(err, plog.ErrInvalidOffset):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, plog.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, plog.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, plog.ErrProducerFenced):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, plog.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, plog.ErrInvalidGroup):
		return kerr.InvalidGroupID.Code
	case errors.Is(err, plog.ErrStorage), errors.Is(err, plog.ErrClosed),
		errors.Is(err, plog.ErrColdUnavailable), errors.Is(err, plog.ErrHotTierFull):
		// Retriable: clients retry; a restarting broker comes back, S3
		// recovers, the flusher catches up.
		return kerr.KafkaStorageError.Code
	case errors.Is(err, topicconfig.ErrInvalid):
		return kerr.InvalidConfig.Code
	case errors.Is(err, errInvalidTimestamp):
		return kerr.InvalidRequest.Code
	case errors.Is(err, ErrNotLeader), errors.Is(err, plog.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code
	case errors.Is(err, ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, ErrReplicaNotAvailable):
		return kerr.ReplicaNotAvailable.Code
	case errors.Is(err, ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, ErrNoReassignmentInProgress):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// errorMessage is the message sent alongside an error code, when the
// response version has a place for one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	m := err.Error()
	return &m
}

// errInvalidTimestamp is a negative ListOffsets timestamp Zombi does not know.
var errInvalidTimestamp = errors.New("unsupported special timestamp")

// kerrFor is errorCode as a *kerr.Error, for the group coordinator's calls.
func kerrFor(err error) *kerr.Error {
	if ke, ok := kerr.ErrorForCode(errorCode(err)).(*kerr.Error); ok {
		return ke
	}
	return kerr.UnknownServerError
}
