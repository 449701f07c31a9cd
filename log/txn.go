package log

import (
	"context"
	"errors"
)

// Transactions in the partition log (Kafka's model): transactional batches
// are stored as produced; the transaction coordinator ends a transaction by
// writing a control batch (marker) into every partition of it. Each
// partition keeps its open transactions (producer id -> first offset), whose
// minimum is the last stable offset (LSO), and an index of aborted
// transactions, which read_committed readers use to drop aborted batches.

// Isolation is a read's isolation level, as Kafka's isolation_level.
type Isolation int8

const (
	// ReadUncommitted reads everything up to the high watermark.
	ReadUncommitted Isolation = 0
	// ReadCommitted reads only below the last stable offset; ReadResult.Aborted
	// lists the aborted transactions the returned batches may hold.
	ReadCommitted Isolation = 1
)

// AbortedTxn is one aborted transaction of a partition.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64 // the transaction's first offset in the partition
	LastOffset  int64 // the offset of its abort marker
	// StableAt is the partition's last stable offset right after the abort:
	// every transaction aborted later starts at or after it, so a lookup for
	// offsets below it can stop here (Kafka's TransactionIndex rule).
	StableAt int64
}

// OpenTxn is a transaction open in a partition: batches written, no marker
// yet.
type OpenTxn struct {
	Topic         string
	Partition     int32
	ProducerID    int64
	ProducerEpoch int16
	FirstOffset   int64
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// EndTxnRequest ends a transaction: one write, one fsync, all or nothing.
type EndTxnRequest struct {
	ProducerID    int64
	ProducerEpoch int16 // stamped on the markers; raises the partitions' producer epoch
	Commit        bool
	// CoordinatorEpoch goes into each marker's value, as Kafka writes it.
	CoordinatorEpoch int32
	// Partitions get a marker each; a partition of a deleted topic is skipped.
	Partitions []TopicPartition
	// Offsets become visible with the markers (TxnOffsetCommit, on commit).
	Offsets []CommittedOffset
	// Meta entries are written in the same batch (the coordinator's state):
	// a nil Value deletes the key.
	Meta []MetaKV
}

// ErrInvalidTxnState is returned for a transactional batch the transaction
// verifier refuses (the partition is not in an ongoing transaction of that
// producer and epoch), as Kafka's INVALID_TXN_STATE.
var ErrInvalidTxnState = errors.New("invalid transaction state")

// TxnVerifier decides whether a transactional batch of producer pid at epoch
// may open a transaction in topic/part. The log calls it on the writer
// goroutine, only for a batch that would open one (the producer has no open
// transaction there): it must not block and must not wait on the log.
type TxnVerifier func(pid int64, epoch int16, topic string, part int32) error

var errTxnTODO = errors.New("transactions: not implemented yet")

// SetTxnVerifier installs the verifier; without one every transactional
// batch is accepted.
func (l *Log) SetTxnVerifier(f TxnVerifier) { _ = f }

// EndTxn writes the markers, offsets and meta entries of req in one durable
// write and returns once it is done.
func (l *Log) EndTxn(ctx context.Context, req EndTxnRequest) error { return errTxnTODO }

// OpenTxns returns every transaction open in any partition (for the
// coordinator's recovery: one it does not know is aborted).
func (l *Log) OpenTxns() ([]OpenTxn, error) { return nil, nil }

// LastStable returns a partition's last stable offset: the first offset of
// its oldest open transaction, or the high watermark when none is open.
func (l *Log) LastStable(topic string, part int32) (int64, error) {
	_, hwm, err := l.Offsets(topic, part)
	return hwm, err
}

// ReadIsolated is Read at an isolation level; ReadCommitted returns batches
// below the last stable offset only (an offset at or above it, up to the
// high watermark, returns none and no error) and fills Aborted.
func (l *Log) ReadIsolated(topic string, part int32, offset int64, maxBytes int, iso Isolation) (ReadResult, error) {
	return l.Read(topic, part, offset, maxBytes)
}

// Committed returns the batches of rr a read_committed consumer keeps: no
// control batches, no batch of an aborted transaction (rr from a
// ReadCommitted read).
func Committed(rr ReadResult) []Batch { return rr.Batches }
