package coordlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// ErrCorrupt is a stored batch or record Decode cannot read.
var ErrCorrupt = errors.New("coordlog: corrupt internal record")

// maxDecompressed bounds a compressed batch's records (Kafka's tools may
// have written one; Zombi writes them uncompressed).
const maxDecompressed = 16 << 20

// Decode turns stored batches of internal partition p (as the log returns
// them, in offset order) into one view change, net of the whole range: a
// key appears once, with its last value. pending returns the transactional
// offsets the view holds for a producer id (coord/pend/{p}/{pid}; nil
// pending: none), so a control batch can commit or drop them. What each
// record does:
//   - __consumer_offsets, OffsetCommitKey v0/v1: a value puts the 'C' key,
//     a tombstone deletes it; in a transactional batch the offset is added
//     to the producer's pending list instead;
//   - a commit marker moves the producer's pending offsets into 'C' and
//     deletes the pending key, an abort deletes it;
//   - GroupMetadataKey records (and the KIP-848 record types, versions
//     3+, which Zombi never writes) are skipped;
//   - __transaction_state, TxnMetadataKey v0: puts txn/{id} (TxnState
//     JSON); a tombstone or the Dead state deletes it.
//
// An offset record the view cannot hold (empty or oversized group, a topic
// name Kafka refuses, a negative partition or offset) is skipped: no Zombi
// coordinator writes one. Bytes that do not parse are ErrCorrupt and
// nothing of the range is returned.
func Decode(kind Kind, p int32, batches []plog.Batch, pending func(pid int64) []plog.CommittedOffset) (plog.ViewChange, error) {
	d := decoder{kind: kind, p: p, pending: pending, offs: map[plog.OffsetKey]int{}, meta: map[string]int{}, pend: map[int64][]plog.CommittedOffset{}}
	for _, b := range batches {
		if err := d.batch(b.Raw); err != nil {
			return plog.ViewChange{}, fmt.Errorf("%s-%d batch at %d: %w", TopicOf(kind), p, b.BaseOffset, err)
		}
	}
	return d.change(), nil
}

type offsetEntry struct {
	o   plog.CommittedOffset
	del bool
}

type decoder struct {
	kind    Kind
	p       int32
	pending func(int64) []plog.CommittedOffset
	// The net change, in first-touch order (so the result is
	// deterministic): offsets and meta index into their slices.
	offs     map[plog.OffsetKey]int
	offList  []offsetEntry
	meta     map[string]int
	metaList []plog.MetaKV
	pend     map[int64][]plog.CommittedOffset // producers' pending offsets as of now
}

func (d *decoder) batch(raw []byte) error {
	h, recs, err := batch.Records(raw, maxDecompressed)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if h.IsControl() {
		if d.kind != Group || h.ProducerID < 0 || len(recs) == 0 {
			return nil // the transaction log holds no markers of its own
		}
		typ, ok := batch.MarkerType(recs[0].Key)
		if !ok {
			return nil // another control record (a leader change): nothing for the view
		}
		d.endTxn(h.ProducerID, typ == batch.MarkerCommit)
		return nil
	}
	for _, r := range recs {
		if d.kind == Transaction {
			err = d.txnRecord(r)
		} else {
			err = d.offsetRecord(r, h)
		}
		if err != nil {
			return fmt.Errorf("record at %d: %w", r.Offset, err)
		}
	}
	return nil
}

func keyVersion(key []byte) (int16, error) {
	if len(key) < 2 {
		return 0, fmt.Errorf("%w: key of %d bytes", ErrCorrupt, len(key))
	}
	return int16(binary.BigEndian.Uint16(key)), nil
}

func (d *decoder) offsetRecord(r batch.Record, h batch.Header) error {
	v, err := keyVersion(r.Key)
	if err != nil {
		return err
	}
	switch {
	case v < 0:
		return fmt.Errorf("%w: key version %d", ErrCorrupt, v)
	case v >= groupMetadataKey:
		return nil // group metadata (we write tombstones only) and newer record types
	}
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(r.Key); err != nil {
		return fmt.Errorf("%w: offset commit key: %w", ErrCorrupt, err)
	}
	ok := plog.OffsetKey{Group: k.Group, Topic: k.Topic, Partition: k.Partition}
	if r.Value == nil {
		if representable(ok) {
			d.putOffset(ok, offsetEntry{del: true})
		}
		return nil
	}
	var val kmsg.OffsetCommitValue
	if err := val.ReadFrom(r.Value); err != nil {
		return fmt.Errorf("%w: offset commit value: %w", ErrCorrupt, err)
	}
	if val.Version < 0 || val.Version > 4 {
		return fmt.Errorf("%w: offset commit value version %d", ErrCorrupt, val.Version)
	}
	o := plog.CommittedOffset{Group: k.Group, Topic: k.Topic, Partition: k.Partition, Offset: val.Offset, LeaderEpoch: -1, Metadata: val.Metadata, CommitTimeMs: val.CommitTimestamp}
	if val.Version >= 3 {
		o.LeaderEpoch = val.LeaderEpoch
	}
	if !representable(ok) || o.Offset < 0 {
		return nil
	}
	if h.IsTransactional() {
		d.addPending(h.ProducerID, o)
		return nil
	}
	d.putOffset(ok, offsetEntry{o: o})
	return nil
}

// representable says whether a 'C' key can hold k (log.CommitOffsets'
// rules).
func representable(k plog.OffsetKey) bool {
	return k.Group != "" && len(k.Group) <= plog.MaxGroupLen && plog.ValidTopicName(k.Topic) && k.Partition >= 0
}

func (d *decoder) putOffset(k plog.OffsetKey, e offsetEntry) {
	if i, ok := d.offs[k]; ok {
		d.offList[i] = e
		return
	}
	d.offs[k] = len(d.offList)
	d.offList = append(d.offList, e)
}

func (d *decoder) putMeta(key string, v []byte) {
	if i, ok := d.meta[key]; ok {
		d.metaList[i].Value = v
		return
	}
	d.meta[key] = len(d.metaList)
	d.metaList = append(d.metaList, plog.MetaKV{Key: key, Value: v})
}

// pendingOf is producer pid's pending offsets as of the record being
// decoded: the view's, then what this range did.
func (d *decoder) pendingOf(pid int64) []plog.CommittedOffset {
	if l, ok := d.pend[pid]; ok {
		return l
	}
	var l []plog.CommittedOffset
	if d.pending != nil {
		l = append(l, d.pending(pid)...)
	}
	d.pend[pid] = l
	return l
}

func (d *decoder) addPending(pid int64, o plog.CommittedOffset) {
	l := d.pendingOf(pid)
	replaced := false
	for i := range l {
		if l[i].Group == o.Group && l[i].Topic == o.Topic && l[i].Partition == o.Partition {
			l[i], replaced = o, true
		}
	}
	if !replaced {
		l = append(l, o)
	}
	d.pend[pid] = l
	d.putMeta(PendingKey(d.p, pid), EncodePending(l))
}

// endTxn applies a marker: a commit makes the producer's pending offsets
// committed offsets (in the order they were written); either way the
// pending list goes.
func (d *decoder) endTxn(pid int64, commit bool) {
	_, touched := d.pend[pid]
	l := d.pendingOf(pid)
	if commit {
		for _, o := range l {
			d.putOffset(plog.OffsetKey{Group: o.Group, Topic: o.Topic, Partition: o.Partition}, offsetEntry{o: o})
		}
	}
	d.pend[pid] = nil
	if len(l) > 0 || touched {
		d.putMeta(PendingKey(d.p, pid), nil)
	}
}

func (d *decoder) txnRecord(r batch.Record) error {
	v, err := keyVersion(r.Key)
	if err != nil {
		return err
	}
	if v != txnMetadataKeyV0 {
		return fmt.Errorf("%w: transaction log key version %d", ErrCorrupt, v)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(r.Key); err != nil {
		return fmt.Errorf("%w: transaction key: %w", ErrCorrupt, err)
	}
	if k.TransactionalID == "" {
		return fmt.Errorf("%w: empty transactional id", ErrCorrupt)
	}
	if r.Value == nil {
		d.putMeta(TxnKey(k.TransactionalID), nil)
		return nil
	}
	st, err := DecodeTxnValue(r.Value)
	if err != nil {
		return err
	}
	if st.State == StateDead {
		d.putMeta(TxnKey(k.TransactionalID), nil)
		return nil
	}
	js, _ := json.Marshal(st) // plain data: cannot fail
	d.putMeta(TxnKey(k.TransactionalID), js)
	return nil
}

// DecodeTxnValue reads a TxnMetadataValue (v0 or v1) into a TxnState.
// PrepareEpochFence, which Kafka keeps in memory only, reads as
// PrepareAbort (a fence ends in an abort); a value without Zombi's
// LastEpoch tag (one Kafka wrote) has LastEpoch -1.
func DecodeTxnValue(b []byte) (TxnState, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(b); err != nil {
		return TxnState{}, fmt.Errorf("%w: transaction value: %w", ErrCorrupt, err)
	}
	if v.Version < 0 || v.Version > txnValueVersion {
		return TxnState{}, fmt.Errorf("%w: transaction value version %d", ErrCorrupt, v.Version)
	}
	code := int(v.State)
	if code < 0 || code >= len(txnStateNames) {
		return TxnState{}, fmt.Errorf("%w: transaction state %d", ErrCorrupt, code)
	}
	st := TxnState{
		ProducerID:     v.ProducerID,
		Epoch:          v.ProducerEpoch,
		LastProducerID: v.PreviousProducerID,
		LastEpoch:      -1,
		TimeoutMs:      v.TimeoutMillis,
		State:          txnStateNames[code],
		StartMs:        v.StartTimestamp,
		UpdateMs:       v.LastUpdateTimestamp,
	}
	if st.State == "PrepareEpochFence" {
		st.State = "PrepareAbort"
	}
	var tagErr error
	v.UnknownTags.Each(func(tag uint32, val []byte) {
		if tag != lastEpochTag {
			return
		}
		if len(val) != 2 {
			tagErr = fmt.Errorf("%w: last epoch tag of %d bytes", ErrCorrupt, len(val))
			return
		}
		st.LastEpoch = int16(binary.BigEndian.Uint16(val))
	})
	if tagErr != nil {
		return TxnState{}, tagErr
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			st.Partitions = append(st.Partitions, plog.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	return st, nil
}

func (d *decoder) change() plog.ViewChange {
	var ch plog.ViewChange
	keys := make([]plog.OffsetKey, len(d.offList))
	for k, i := range d.offs {
		keys[i] = k
	}
	for i, e := range d.offList {
		if e.del {
			ch.Deleted = append(ch.Deleted, keys[i])
		} else {
			ch.Offsets = append(ch.Offsets, e.o)
		}
	}
	ch.Meta = d.metaList
	return ch
}
