package log

import (
	"context"
	"errors"
)

// OffsetKey names one committed offset ('C' key).
type OffsetKey struct {
	Group     string
	Topic     string
	Partition int32
}

// ViewChange is what applying records of an internal partition changes in
// the materialized view (cluster mode): committed offsets and Meta entries
// ("txn/{id}", "coord/pend/{p}/{pid}").
type ViewChange struct {
	Offsets []CommittedOffset // put 'C'
	Deleted []OffsetKey       // delete 'C'
	Meta    []MetaKV          // put; a nil Value deletes
}

// MarkerRequest is one WriteTxnMarkers entry for a partition.
type MarkerRequest struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// ErrCoordinatorFenced refuses a marker from a transaction coordinator
// older than the last one the producer's state holds
// (TRANSACTION_COORDINATOR_FENCED).
var ErrCoordinatorFenced = errors.New("transaction coordinator fenced")

var errViewNotImplemented = errors.New("log: internal partitions not implemented yet")

// ApplyView writes ch and the partition's applied offset in one write.
func (l *Log) ApplyView(topic string, part int32, applied int64, ch ViewChange) error {
	return errViewNotImplemented // T1
}

// ViewApplied is the offset up to which the partition's records are
// applied (0 when none).
func (l *Log) ViewApplied(topic string, part int32) (int64, error) {
	return 0, errViewNotImplemented // T1
}

// ResetView forgets what the partition's records put in the view, so it is
// rebuilt from the log start.
func (l *Log) ResetView(topic string, part int32) error {
	return errViewNotImplemented // T1
}

// MakeInternalReal makes an internal topic a real, replicated log topic
// (cluster mode; the catalog calls it).
func (l *Log) MakeInternalReal(name string) error {
	return errViewNotImplemented // T1
}

// AppendInternal appends one batch to an internal partition as its leader
// (the coordinators only; not reachable from the doors).
func (l *Log) AppendInternal(ctx context.Context, topic string, part int32, raw []byte) (base, last int64, err error) {
	return 0, 0, errViewNotImplemented // T1
}

// WriteMarker writes a transaction marker into a partition this node leads
// (WriteTxnMarkers): the control batch, the open transaction closed, an
// abort indexed.
func (l *Log) WriteMarker(ctx context.Context, topic string, part int32, m MarkerRequest) (int64, error) {
	return 0, errViewNotImplemented // T1
}
