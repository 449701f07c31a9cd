package coordlog

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

const nowMs = 1765000000000

// stored is raw as the log returns it: base offset set.
func stored(base int64, raw []byte) plog.Batch {
	b := append([]byte(nil), raw...)
	batch.SetBaseOffset(b, base)
	h, err := batch.Validate(b)
	if err != nil {
		panic(err)
	}
	return plog.Batch{BaseOffset: base, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp, Raw: b}
}

func decodeAll(t *testing.T, kind Kind, pending func(int64) []plog.CommittedOffset, raws ...[]byte) plog.ViewChange {
	t.Helper()
	var bs []plog.Batch
	off := int64(0)
	for _, r := range raws {
		b := stored(off, r)
		bs = append(bs, b)
		off = b.LastOffset + 1
	}
	ch, err := Decode(kind, 7, bs, pending)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return ch
}

func TestOffsetBatchRoundTrip(t *testing.T) {
	offs := []plog.CommittedOffset{
		{Group: "g1", Topic: "orders", Partition: 3, Offset: 42, LeaderEpoch: 5, Metadata: "m", CommitTimeMs: nowMs},
		{Group: "g1", Topic: "orders", Partition: 4, Offset: 0, LeaderEpoch: -1, CommitTimeMs: nowMs},
	}
	dels := []plog.OffsetKey{{Group: "g2", Topic: "t", Partition: 0}}
	raw := OffsetBatch(offs, dels, nowMs)
	h, err := batch.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.NumRecords != 3 || h.ProducerID != -1 || h.IsTransactional() || h.Codec() != batch.CodecNone {
		t.Fatalf("header %+v", h)
	}
	ch := decodeAll(t, Group, nil, raw)
	if !reflect.DeepEqual(ch.Offsets, offs) || !reflect.DeepEqual(ch.Deleted, dels) || len(ch.Meta) != 0 {
		t.Fatalf("change %+v", ch)
	}
	if OffsetBatch(nil, nil, nowMs) != nil {
		t.Fatal("an empty OffsetBatch must be nil (a batch holds one record)")
	}
}

// The net change of a range: the last record of a key wins.
func TestDecodeNetOfRange(t *testing.T) {
	a := plog.CommittedOffset{Group: "g", Topic: "t", Partition: 0, Offset: 1, LeaderEpoch: -1, CommitTimeMs: nowMs}
	b := a
	b.Offset = 9
	k := plog.OffsetKey{Group: "g", Topic: "t", Partition: 0}
	ch := decodeAll(t, Group, nil, OffsetBatch([]plog.CommittedOffset{a}, nil, nowMs), OffsetBatch(nil, []plog.OffsetKey{k}, nowMs), OffsetBatch([]plog.CommittedOffset{b}, nil, nowMs))
	if len(ch.Deleted) != 0 || len(ch.Offsets) != 1 || ch.Offsets[0].Offset != 9 {
		t.Fatalf("put, delete, put: %+v", ch)
	}
	ch = decodeAll(t, Group, nil, OffsetBatch([]plog.CommittedOffset{a}, nil, nowMs), OffsetBatch(nil, []plog.OffsetKey{k}, nowMs))
	if len(ch.Offsets) != 0 || len(ch.Deleted) != 1 || ch.Deleted[0] != k {
		t.Fatalf("put, delete: %+v", ch)
	}
}

func TestTxnOffsetsCommitAndAbort(t *testing.T) {
	o1 := plog.CommittedOffset{Group: "g", Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: 2, CommitTimeMs: nowMs}
	o2 := plog.CommittedOffset{Group: "g", Topic: "t", Partition: 1, Offset: 20, LeaderEpoch: 2, CommitTimeMs: nowMs}
	o1b := o1
	o1b.Offset = 11
	raw := TxnOffsetBatch(77, 3, []plog.CommittedOffset{o1, o2}, nowMs)
	h, err := batch.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !h.IsTransactional() || h.IsControl() || h.ProducerID != 77 || h.ProducerEpoch != 3 || h.BaseSequence != 0 {
		t.Fatalf("header %+v", h)
	}
	pk := PendingKey(7, 77)
	if pk != "coord/pend/7/77" {
		t.Fatalf("pending key %q", pk)
	}

	// Pending only: the pend key holds both, no 'C' key changes.
	ch := decodeAll(t, Group, nil, raw)
	if len(ch.Offsets) != 0 || len(ch.Deleted) != 0 || len(ch.Meta) != 1 || ch.Meta[0].Key != pk {
		t.Fatalf("pending change %+v", ch)
	}
	got, err := DecodePending(ch.Meta[0].Value)
	if err != nil || !reflect.DeepEqual(got, []plog.CommittedOffset{o1, o2}) {
		t.Fatalf("pending %+v %v", got, err)
	}

	// Pending and committed in one range; a later write of a partition
	// replaces the earlier one.
	commit := batch.Marker(77, 3, true, 4, nowMs)
	ch = decodeAll(t, Group, nil, raw, TxnOffsetBatch(77, 3, []plog.CommittedOffset{o1b}, nowMs), commit)
	if !reflect.DeepEqual(ch.Offsets, []plog.CommittedOffset{o1b, o2}) || len(ch.Meta) != 1 || ch.Meta[0].Key != pk || ch.Meta[0].Value != nil {
		t.Fatalf("commit change %+v", ch)
	}

	// The marker in a later range: pending comes from the view.
	view := func(pid int64) []plog.CommittedOffset {
		if pid == 77 {
			return []plog.CommittedOffset{o1, o2}
		}
		return nil
	}
	ch = decodeAll(t, Group, view, commit)
	if !reflect.DeepEqual(ch.Offsets, []plog.CommittedOffset{o1, o2}) || len(ch.Meta) != 1 || ch.Meta[0].Value != nil {
		t.Fatalf("commit from the view %+v", ch)
	}
	ch = decodeAll(t, Group, view, batch.Marker(77, 3, false, 4, nowMs))
	if len(ch.Offsets) != 0 || len(ch.Meta) != 1 || ch.Meta[0].Key != pk || ch.Meta[0].Value != nil {
		t.Fatalf("abort from the view %+v", ch)
	}
	// A marker of a producer with nothing pending changes nothing.
	ch = decodeAll(t, Group, view, batch.Marker(5, 0, true, 4, nowMs))
	if len(ch.Offsets)+len(ch.Deleted)+len(ch.Meta) != 0 {
		t.Fatalf("marker without pending offsets %+v", ch)
	}
	// Another producer's offsets stay pending across a marker.
	ch = decodeAll(t, Group, nil, raw, TxnOffsetBatch(78, 0, []plog.CommittedOffset{o2}, nowMs), commit)
	if len(ch.Meta) != 2 || ch.Meta[1].Key != PendingKey(7, 78) || ch.Meta[1].Value == nil {
		t.Fatalf("other producer %+v", ch)
	}
}

func TestTxnStateRoundTrip(t *testing.T) {
	st := TxnState{
		ProducerID: 1000, Epoch: 4, LastProducerID: 999, LastEpoch: 3, TimeoutMs: 60000, State: "Ongoing",
		Partitions: []plog.TopicPartition{{Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}, {Topic: "a", Partition: 0}, {Topic: "__consumer_offsets", Partition: 12}},
		StartMs:    nowMs - 5, UpdateMs: nowMs,
	}
	for _, state := range []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"} {
		s := st
		s.State = state
		ch := decodeAll(t, Transaction, nil, TxnStateBatch("my-txn", s, nowMs))
		if len(ch.Meta) != 1 || ch.Meta[0].Key != "txn/my-txn" {
			t.Fatalf("%s: change %+v", state, ch)
		}
		var got TxnState
		if err := json.Unmarshal(ch.Meta[0].Value, &got); err != nil {
			t.Fatal(err)
		}
		// Partitions come back grouped by topic, in first-seen order.
		want := s
		want.Partitions = []plog.TopicPartition{{Topic: "a", Partition: 1}, {Topic: "a", Partition: 0}, {Topic: "b", Partition: 0}, {Topic: "__consumer_offsets", Partition: 12}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", state, got, want)
		}
	}
	// Dead is a tombstone; the view deletes the key, even after a put in
	// the same range.
	dead := TxnStateBatch("my-txn", TxnState{State: StateDead}, nowMs)
	_, recs, err := batch.Records(dead, 0)
	if err != nil || len(recs) != 1 || recs[0].Value != nil {
		t.Fatalf("dead record %+v %v", recs, err)
	}
	ch := decodeAll(t, Transaction, nil, TxnStateBatch("my-txn", st, nowMs), dead)
	if len(ch.Meta) != 1 || ch.Meta[0].Key != "txn/my-txn" || ch.Meta[0].Value != nil {
		t.Fatalf("dead change %+v", ch)
	}
	if TxnStateBatch("x", TxnState{State: "Bogus"}, nowMs) != nil {
		t.Fatal("a state Kafka has no code for must give no batch")
	}
}

// kafkaBatch builds a v2 batch field by field with kmsg, as a Kafka broker
// lays one out, independently of log/batch's builder.
func kafkaBatch(t *testing.T, attrs int16, pid int64, epoch int16, kvs ...[2][]byte) []byte {
	t.Helper()
	var recs []byte
	for i, kv := range kvs {
		r := kmsg.Record{OffsetDelta: int32(i), Key: kv[0], Value: kv[1]}
		n := len(r.AppendTo(nil)) - 1 // the length varint of 0 is one byte
		r.Length = int32(n)
		enc := r.AppendTo(nil)
		if got := len(enc) - binary.PutVarint(make([]byte, 10), int64(n)); got != n {
			t.Fatalf("record length %d != %d", got, n)
		}
		recs = append(recs, enc...)
	}
	b := kmsg.RecordBatch{
		Magic: 2, Attributes: attrs, LastOffsetDelta: int32(len(kvs) - 1), FirstTimestamp: nowMs, MaxTimestamp: nowMs,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: -1, NumRecords: int32(len(kvs)), Records: recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// A batch Kafka would write: its key and value layouts built with kmsg
// (OffsetCommitKey v1, OffsetCommitValue v1 with an expire time and v3,
// a GroupMetadataKey record, a commit marker), decoded field by field.
func TestDecodeKafkaWrittenOffsets(t *testing.T) {
	k := func(g, tp string, p int32) []byte {
		return (&kmsg.OffsetCommitKey{Version: 1, Group: g, Topic: tp, Partition: p}).AppendTo(nil)
	}
	// v1 values carry no leader epoch: it reads as -1.
	v1 := (&kmsg.OffsetCommitValue{Version: 1, Offset: 5, Metadata: "meta", CommitTimestamp: nowMs, ExpireTimestamp: nowMs + 1}).AppendTo(nil)
	v3 := (&kmsg.OffsetCommitValue{Version: 3, Offset: 6, LeaderEpoch: 9, CommitTimestamp: nowMs}).AppendTo(nil)
	gm := (&kmsg.GroupMetadataKey{Version: 2, Group: "g"}).AppendTo(nil)
	gv := (&kmsg.GroupMetadataValue{Version: 3, ProtocolType: "consumer", Generation: 4}).AppendTo(nil)
	plain := kafkaBatch(t, 0, -1, -1, [2][]byte{k("g", "t", 0), v1}, [2][]byte{gm, gv}, [2][]byte{k("g", "t", 1), v3}, [2][]byte{k("g", "t", 2), nil}, [2][]byte{gm, nil})
	txn := kafkaBatch(t, batch.TransactionalMask, 55, 1, [2][]byte{k("g", "u", 0), v3})
	ch := decodeAll(t, Group, nil, plain, txn, batch.Marker(55, 1, true, 0, nowMs))
	want := []plog.CommittedOffset{
		{Group: "g", Topic: "t", Partition: 0, Offset: 5, LeaderEpoch: -1, Metadata: "meta", CommitTimeMs: nowMs},
		{Group: "g", Topic: "t", Partition: 1, Offset: 6, LeaderEpoch: 9, CommitTimeMs: nowMs},
		{Group: "g", Topic: "u", Partition: 0, Offset: 6, LeaderEpoch: 9, CommitTimeMs: nowMs},
	}
	if !reflect.DeepEqual(ch.Offsets, want) {
		t.Fatalf("offsets %+v", ch.Offsets)
	}
	if !reflect.DeepEqual(ch.Deleted, []plog.OffsetKey{{Group: "g", Topic: "t", Partition: 2}}) {
		t.Fatalf("deleted %+v", ch.Deleted)
	}
	if len(ch.Meta) != 1 || ch.Meta[0].Key != PendingKey(7, 55) || ch.Meta[0].Value != nil {
		t.Fatalf("meta %+v", ch.Meta)
	}
}

// A TxnMetadataValue as Kafka 4 writes it (its own tags 0-3, no 0x5A00).
func TestDecodeKafkaWrittenTxnState(t *testing.T) {
	v := kmsg.NewTxnMetadataValue()
	v.Version, v.ProducerID, v.ProducerEpoch, v.TimeoutMillis, v.State = 1, 4000, 2, 30000, 2
	v.Topics = []kmsg.TxnMetadataValueTopic{{Topic: "out", Partitions: []int32{0, 3}}}
	v.LastUpdateTimestamp, v.StartTimestamp = nowMs, nowMs-10
	v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion, v.NextProducerEpoch = 3999, 4001, 2, 0
	key := (&kmsg.TxnMetadataKey{Version: 0, TransactionalID: "tx"}).AppendTo(nil)
	ch := decodeAll(t, Transaction, nil, kafkaBatch(t, 0, -1, -1, [2][]byte{key, v.AppendTo(nil)}))
	if len(ch.Meta) != 1 || ch.Meta[0].Key != "txn/tx" {
		t.Fatalf("change %+v", ch)
	}
	var got TxnState
	if err := json.Unmarshal(ch.Meta[0].Value, &got); err != nil {
		t.Fatal(err)
	}
	want := TxnState{ProducerID: 4000, Epoch: 2, LastProducerID: 3999, LastEpoch: -1, TimeoutMs: 30000, State: "PrepareCommit",
		Partitions: []plog.TopicPartition{{Topic: "out", Partition: 0}, {Topic: "out", Partition: 3}}, StartMs: nowMs - 10, UpdateMs: nowMs}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// v0 (not flexible), and PrepareEpochFence reading as PrepareAbort.
	v.Version, v.State = 0, 7
	ch = decodeAll(t, Transaction, nil, kafkaBatch(t, 0, -1, -1, [2][]byte{key, v.AppendTo(nil)}))
	if err := json.Unmarshal(ch.Meta[0].Value, &got); err != nil || got.State != "PrepareAbort" || got.LastProducerID != -1 {
		t.Fatalf("v0: %+v %v", got, err)
	}
}

// Golden bytes: what Zombi writes is Kafka's layout, byte for byte, with
// its own tag last. A change here changes the stored format.
func TestGoldenBytes(t *testing.T) {
	_, recs, err := batch.Records(OffsetBatch([]plog.CommittedOffset{{Group: "g", Topic: "t", Partition: 1, Offset: 2, LeaderEpoch: 3, Metadata: "m", CommitTimeMs: 4}}, nil, nowMs), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		// version 1 | int16 len "g" | int16 len "t" | partition 1
		{"offset key", hex.EncodeToString(recs[0].Key), "0001" + "000167" + "000174" + "00000001"},
		// version 3 | offset 2 | leader epoch 3 | int16 len "m" | commit time 4
		{"offset value", hex.EncodeToString(recs[0].Value), "0003" + "0000000000000002" + "00000003" + "00016d" + "0000000000000004"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
	st := TxnState{ProducerID: 1, Epoch: 2, LastProducerID: 3, LastEpoch: 4, TimeoutMs: 5, State: "Ongoing", Partitions: []plog.TopicPartition{{Topic: "t", Partition: 6}}, StartMs: 7, UpdateMs: 8}
	_, recs, err = batch.Records(TxnStateBatch("x", st, nowMs), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantKey := "0000" + "000178" // version 0 | int16 len "x"
	wantVal := "0001" +          // version 1
		"0000000000000001" + "0002" + "00000005" + "01" + // pid, epoch, timeout, state Ongoing
		"02" + "0274" + "02" + "00000006" + "00" + // topics: compact array of 1, "t", [6], no tags
		"0000000000000008" + "0000000000000007" + // last update, start
		"02" + // two tags:
		"00" + "08" + "0000000000000003" + // tag 0 PreviousProducerID = 3
		"80b401" + "02" + "0004" // tag 0x5A00 (uvarint 80 b4 01) LastEpoch = 4
	if got := hex.EncodeToString(recs[0].Key); got != wantKey {
		t.Errorf("txn key %s, want %s", got, wantKey)
	}
	if got := hex.EncodeToString(recs[0].Value); got != wantVal {
		t.Errorf("txn value %s, want %s", got, wantVal)
	}
}

func TestDecodeRefusesCorrupt(t *testing.T) {
	good := OffsetBatch([]plog.CommittedOffset{{Group: "g", Topic: "t", Offset: 1}}, nil, nowMs)
	badKey := kafkaBatch(t, 0, -1, -1, [2][]byte{{0}, []byte("v")})
	badVal := kafkaBatch(t, 0, -1, -1, [2][]byte{(&kmsg.OffsetCommitKey{Version: 1, Group: "g", Topic: "t"}).AppendTo(nil), {0, 3, 1}})
	negKey := kafkaBatch(t, 0, -1, -1, [2][]byte{{0xff, 0xff, 0, 0}, nil})
	txnKey := kafkaBatch(t, 0, -1, -1, [2][]byte{{0, 5, 0, 0}, nil})
	badState := func() []byte {
		v := kmsg.NewTxnMetadataValue()
		v.Version, v.State = 1, 9
		return kafkaBatch(t, 0, -1, -1, [2][]byte{(&kmsg.TxnMetadataKey{TransactionalID: "x"}).AppendTo(nil), v.AppendTo(nil)})
	}()
	for _, c := range []struct {
		name string
		kind Kind
		raw  []byte
	}{
		{"short", Group, good[:20]},
		{"truncated records", Group, func() []byte { b := append([]byte(nil), good...); binary.BigEndian.PutUint32(b[57:], 1000); return b }()},
		{"key too short", Group, badKey},
		{"value cut", Group, badVal},
		{"negative key version", Group, negKey},
		{"txn key version", Transaction, txnKey},
		{"txn state 9", Transaction, badState},
	} {
		_, err := Decode(c.kind, 1, []plog.Batch{{Raw: c.raw}}, nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", c.name, err)
		}
	}
	// An offset the view cannot hold is skipped, the rest applied.
	skip := OffsetBatch([]plog.CommittedOffset{{Group: "", Topic: "t", Offset: 1}, {Group: "g", Topic: "bad topic", Offset: 1}, {Group: "g", Topic: "t", Offset: -5}, {Group: "g", Topic: "t", Partition: 1, Offset: 3}}, nil, nowMs)
	ch := decodeAll(t, Group, nil, skip)
	if len(ch.Offsets) != 1 || ch.Offsets[0].Partition != 1 {
		t.Fatalf("unrepresentable offsets: %+v", ch)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(int8(0), OffsetBatch([]plog.CommittedOffset{{Group: "g", Topic: "t", Offset: 1}}, []plog.OffsetKey{{Group: "g", Topic: "u"}}, nowMs))
	f.Add(int8(0), TxnOffsetBatch(3, 1, []plog.CommittedOffset{{Group: "g", Topic: "t", Offset: 1}}, nowMs))
	f.Add(int8(0), batch.Marker(3, 1, true, 0, nowMs))
	f.Add(int8(1), TxnStateBatch("id", TxnState{ProducerID: 1, State: "Ongoing", Partitions: []plog.TopicPartition{{Topic: "t"}}}, nowMs))
	f.Add(int8(1), TxnStateBatch("id", TxnState{State: StateDead}, nowMs))
	for _, name := range []string{"offsets_batch", "txn_offsets_batch", "commit_marker"} {
		if b := kafkaFixture(f, name); b != nil {
			f.Add(int8(0), b)
		}
	}
	f.Fuzz(func(t *testing.T, kind int8, raw []byte) {
		k := Kind(kind & 1)
		ch, err := Decode(k, 0, []plog.Batch{{Raw: raw}}, func(int64) []plog.CommittedOffset {
			return []plog.CommittedOffset{{Group: "g", Topic: "t", Offset: 1}}
		})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if len(ch.Offsets)+len(ch.Deleted)+len(ch.Meta) != 0 {
				t.Fatalf("an error with a change: %+v", ch)
			}
			return
		}
		for _, o := range ch.Offsets {
			if !representable(plog.OffsetKey{Group: o.Group, Topic: o.Topic, Partition: o.Partition}) || o.Offset < 0 {
				t.Fatalf("unrepresentable offset in the change: %+v", o)
			}
		}
	})
}
