package log

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The materialized view of the internal partitions (cluster mode): every
// replica applies the records of its __consumer_offsets and
// __transaction_state partitions, up to the high watermark, into the keys a
// single node keeps itself: 'C' keys (committed offsets), Meta "txn/{id}"
// (the transaction coordinator's record) and Meta "coord/pend/{p}/{pid}"
// (transactional offsets awaiting their marker). How far each partition is
// applied is the Meta key viewAppliedPrefix+"{topic}/{p}" (8 bytes, big
// endian), written in the same RocksDB write as the change it covers.

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

// The view's Meta keys. coordlog names the same (TxnPrefix, PendPrefix);
// they are repeated here because coordlog imports log.
const (
	viewAppliedPrefix = "coord/applied/"
	viewTxnPrefix     = "txn/"
	viewPendPrefix    = "coord/pend/"
)

func viewAppliedKey(topic string, part int32) string {
	return viewAppliedPrefix + topic + "/" + strconv.Itoa(int(part))
}

func viewPendPrefixOf(part int32) string {
	return viewPendPrefix + strconv.Itoa(int(part)) + "/"
}

// checkViewPartition refuses a partition that is not an internal one.
func checkViewPartition(topic string, part int32) error {
	t, ok := LookupInternalTopic(topic)
	if !ok {
		return fmt.Errorf("%w: %s is not an internal topic", ErrUnknownTopic, topic)
	}
	if part < 0 || part >= t.Partitions {
		return fmt.Errorf("%w: %s/%d", ErrUnknownTopic, topic, part)
	}
	return nil
}

// ApplyView writes ch and the partition's applied offset in one RocksDB
// write: a crash leaves both or neither. applied may not go below what is
// stored (ErrInvalidOffset; ResetView starts over); one caller per
// partition at a time (its apply loop). Meta keys other than the view's
// ("txn/", "coord/pend/") and offsets a 'C' key cannot hold are refused,
// and nothing is written.
func (l *Log) ApplyView(topic string, part int32, applied int64, ch ViewChange) error {
	if err := checkViewPartition(topic, part); err != nil {
		return err
	}
	if applied < 0 {
		return fmt.Errorf("%w: applied offset %d", ErrInvalidOffset, applied)
	}
	for _, o := range ch.Offsets {
		if err := validOffset(o); err != nil {
			return fmt.Errorf("apply view of %s/%d: %w", topic, part, err)
		}
	}
	for _, k := range ch.Deleted {
		if err := validOffset(CommittedOffset{Group: k.Group, Topic: k.Topic, Partition: k.Partition}); err != nil {
			return fmt.Errorf("apply view of %s/%d: %w", topic, part, err)
		}
	}
	for _, m := range ch.Meta {
		if !strings.HasPrefix(m.Key, viewTxnPrefix) && !strings.HasPrefix(m.Key, viewPendPrefix) {
			return fmt.Errorf("apply view of %s/%d: meta key %q is not the view's", topic, part, m.Key)
		}
	}
	op := &viewOp{l: l, key: viewAppliedKey(topic, part), applied: applied, ch: ch, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return err
	}
	<-op.done
	if op.err != nil {
		return fmt.Errorf("apply view of %s/%d: %w", topic, part, op.err)
	}
	return nil
}

type viewOp struct {
	l       *Log
	key     string
	applied int64
	ch      ViewChange
	err     error
	done    chan struct{}
}

func (op *viewOp) size() int {
	return 64 * (len(op.ch.Offsets) + len(op.ch.Deleted) + len(op.ch.Meta))
}

func (op *viewOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

func (op *viewOp) stage(r *round) {
	cur, err := op.l.storedApplied(op.key)
	if err != nil {
		op.err = err
		return
	}
	if op.applied < cur {
		op.err = fmt.Errorf("%w: applied offset %d is below the stored %d", ErrInvalidOffset, op.applied, cur)
		return
	}
	(&commitOp{offs: op.ch.Offsets}).stage(r)
	for _, k := range op.ch.Deleted {
		r.wb.Delete(commitKey(k.Group, k.Topic, k.Partition))
	}
	stageMeta(r, op.ch.Meta)
	stageMeta(r, []MetaKV{{Key: op.key, Value: be.AppendUint64(nil, uint64(op.applied))}})
}

// storedApplied reads an applied offset as committed (0 when none).
func (l *Log) storedApplied(key string) (int64, error) {
	v, err := l.db.GetBytes(l.ro, append([]byte{kindMeta}, key...))
	if err != nil {
		return 0, fmt.Errorf("%w: read applied offset: %w", ErrStorage, err)
	}
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return int64(be.Uint64(v)), nil
	default:
		return 0, fmt.Errorf("%w: applied offset %q of %d bytes", ErrStorage, key, len(v))
	}
}

// ViewApplied is the offset up to which the partition's records are
// applied (0 when none).
func (l *Log) ViewApplied(topic string, part int32) (int64, error) {
	if err := checkViewPartition(topic, part); err != nil {
		return 0, err
	}
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.closeMu.RUnlock()
	return l.storedApplied(viewAppliedKey(topic, part))
}

// ResetView forgets what the partition's records put in the view, so it is
// rebuilt from the log start: its applied offset; for __consumer_offsets-p
// the 'C' keys of the groups whose InternalPartition is p (a scan of every
// 'C' key) and the pending offsets coord/pend/{p}/; for
// __transaction_state-p the txn/{id} keys of the ids of p. One write,
// committed alone after every write queued before it.
func (l *Log) ResetView(topic string, part int32) error {
	if err := checkViewPartition(topic, part); err != nil {
		return err
	}
	op := &resetViewOp{l: l, topic: topic, part: part, done: make(chan struct{})}
	if err := l.w.runBarrier(op, op.done); err != nil {
		return err
	}
	if op.err != nil {
		return fmt.Errorf("reset view of %s/%d: %w", topic, part, op.err)
	}
	return nil
}

type resetViewOp struct {
	l     *Log
	topic string
	part  int32
	err   error
	done  chan struct{}
}

func (op *resetViewOp) barrier()  {}
func (op *resetViewOp) size() int { return 0 }
func (op *resetViewOp) finish(err error) {
	if op.err == nil {
		op.err = err
	}
	close(op.done)
}

// stage runs alone in its round (a barrier): RocksDB holds every view write
// queued before it, which the scans must see.
func (op *resetViewOp) stage(r *round) {
	var keys [][]byte
	var err error
	if op.topic == TxnTopicName {
		keys, err = op.l.viewKeys([]byte{kindMeta}, viewTxnPrefix, func(k []byte) bool {
			return InternalPartition(string(k[1+len(viewTxnPrefix):])) == op.part
		})
	} else {
		keys, err = op.l.viewKeys(nil, string([]byte{kindCommit}), func(k []byte) bool {
			g, _, _, ok := parseCommitKey(k)
			return ok && InternalPartition(g) == op.part
		})
		if err == nil {
			var pend [][]byte
			pend, err = op.l.viewKeys([]byte{kindMeta}, viewPendPrefixOf(op.part), func([]byte) bool { return true })
			keys = append(keys, pend...)
		}
	}
	if err != nil {
		op.err = err
		return
	}
	for _, k := range keys {
		r.wb.Delete(k)
	}
	r.wb.Delete(append([]byte{kindMeta}, viewAppliedKey(op.topic, op.part)...))
}

// viewKeys returns the keys under kind+prefix that match.
func (l *Log) viewKeys(kind []byte, prefix string, match func(k []byte) bool) ([][]byte, error) {
	p := append(kind, prefix...)
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	var out [][]byte
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if k := it.Key().Data(); match(k) {
			out = append(out, append([]byte(nil), k...))
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("%w: scan %q: %w", ErrStorage, p, err)
	}
	return out, nil
}

// MakeInternalReal makes an internal topic a real, replicated log topic
// (cluster mode only; the catalog calls it): a log topic of its name,
// partition count, configs and derived id, whose partitions are fenced as
// every partition of a cluster node until BecomeLeader. Doing it again
// changes nothing. The name guards stay: CreateTopic and EnsureTopic
// refuse the name, Append refuses to write there (AppendInternal is the
// coordinators' way in).
func (l *Log) MakeInternalReal(name string) error {
	it, ok := LookupInternalTopic(name)
	if !ok {
		return fmt.Errorf("%w: %s is not an internal topic", ErrUnknownTopic, name)
	}
	if !l.clusterMode.Load() {
		return fmt.Errorf("log: %s: internal topics become log topics in cluster mode only", name)
	}
	configs := make(map[string]string, len(it.Configs))
	for k, v := range it.Configs {
		configs[k] = v
	}
	info, _, err := l.storeTopic(name, it.Partitions, configs, it.UUID)
	if err != nil {
		return fmt.Errorf("make %s a log topic: %w", name, err)
	}
	if info.UUID != it.UUID {
		return fmt.Errorf("log: %s exists with id %x, not the derived %x", name, info.UUID, it.UUID)
	}
	return nil
}

// AppendInternal appends one batch to an internal partition as its leader
// (the coordinators only; not reachable from the doors), and returns the
// offsets it got. It is an append as any other (offsets assigned, leader
// epoch stamped, fenced on a follower: ErrNotLeader, producer epochs
// fenced) without the internal-name guard, the producer sequence checks,
// the transaction verifier (as Kafka's coordinator appends) and the
// tiering's append gate (internal partitions are never tiered). Control
// batches are refused: markers come through WriteMarker.
func (l *Log) AppendInternal(ctx context.Context, topic string, part int32, raw []byte) (base, last int64, err error) {
	if !IsInternalTopic(topic) {
		return 0, 0, fmt.Errorf("%w: %s is not an internal topic", ErrUnknownTopic, topic)
	}
	res := l.append(ctx, []AppendRequest{{Topic: topic, Partition: part, Batch: raw, internal: true}})
	if res[0].Err != nil {
		return 0, 0, fmt.Errorf("append to %s/%d: %w", topic, part, res[0].Err)
	}
	return res[0].BaseOffset, res[0].LastOffset, nil
}
