package coordlog

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// kafkaFixtures reads testdata/kafka-4.4.0.txt: bytes written by Kafka
// 4.4.0's own serializers (testdata/kafka_fixtures.jsh says how).
func kafkaFixtures(t *testing.T) (bin map[string][]byte, text map[string]string) {
	t.Helper()
	return readKafkaFixtures(t)
}

func readKafkaFixtures(t testing.TB) (bin map[string][]byte, text map[string]string) {
	t.Helper()
	f, err := os.Open("testdata/kafka-4.4.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bin, text = map[string][]byte{}, map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("fixture line %q", sc.Text())
		}
		text[name] = val
		if b, err := hex.DecodeString(val); err == nil {
			bin[name] = b
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return bin, text
}

// kafkaFixture is one binary fixture (nil when absent).
func kafkaFixture(tb testing.TB, name string) []byte {
	bin, _ := readKafkaFixtures(tb)
	return bin[name]
}

func oneRecord(t *testing.T, raw []byte) batch.Record {
	t.Helper()
	_, recs, err := batch.Records(raw, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v %v", recs, err)
	}
	return recs[0]
}

// What Kafka 4.4 writes, Zombi decodes; the keys Zombi writes are Kafka's
// byte for byte. Kafka 4.4 writes OffsetCommitValue v4 (flexible, an empty
// tag section when the topic id is unknown); Zombi writes v3, what Kafka
// wrote before and still reads.
func TestKafkaWrittenFixtures(t *testing.T) {
	k, text := kafkaFixtures(t)
	for _, name := range []string{"offset_key", "offset_value", "offset_tombstone_key", "group_tombstone_key", "offsets_batch", "txn_offsets_batch", "commit_marker", "txn_key", "txn_value_tv0", "txn_value_tv2", "txn_value_dead"} {
		if k[name] == nil {
			t.Fatalf("fixture %s missing", name)
		}
	}
	off := plog.CommittedOffset{Group: "g", Topic: "t", Partition: 1, Offset: 2, LeaderEpoch: 3, Metadata: "m", CommitTimeMs: 4}
	r := oneRecord(t, OffsetBatch([]plog.CommittedOffset{off}, nil, nowMs))
	if hex.EncodeToString(r.Key) != text["offset_key"] {
		t.Errorf("offset key %x, Kafka %s", r.Key, text["offset_key"])
	}
	r = oneRecord(t, OffsetBatch(nil, []plog.OffsetKey{{Group: "g", Topic: "t", Partition: 2}}, nowMs))
	if hex.EncodeToString(r.Key) != text["offset_tombstone_key"] || r.Value != nil {
		t.Errorf("offset tombstone %x %x, Kafka %s", r.Key, r.Value, text["offset_tombstone_key"])
	}
	r = oneRecord(t, GroupTombstones([]string{"g"}, nil, nowMs))
	if hex.EncodeToString(r.Key) != text["group_tombstone_key"] || r.Value != nil {
		t.Errorf("group tombstone %x, Kafka %s", r.Key, text["group_tombstone_key"])
	}

	// Kafka's batches (its CRCs, its builder) through the log's batch code
	// and Decode: plain offsets and tombstones, a transactional offset, a
	// commit marker.
	for _, name := range []string{"offsets_batch", "txn_offsets_batch", "commit_marker"} {
		if _, err := batch.Validate(k[name]); err != nil {
			t.Fatalf("Kafka's %s does not validate: %v", name, err)
		}
	}
	ch := decodeAll(t, Group, nil, k["offsets_batch"], k["txn_offsets_batch"])
	if !reflect.DeepEqual(ch.Offsets, []plog.CommittedOffset{off}) || !reflect.DeepEqual(ch.Deleted, []plog.OffsetKey{{Group: "g", Topic: "t", Partition: 2}}) {
		t.Fatalf("Kafka's offsets batch: %+v", ch)
	}
	pend := plog.CommittedOffset{Group: "g", Topic: "u", Partition: 0, Offset: 7, LeaderEpoch: -1, CommitTimeMs: 4}
	if len(ch.Meta) != 1 || ch.Meta[0].Key != PendingKey(7, 55) {
		t.Fatalf("Kafka's transactional offsets: %+v", ch.Meta)
	}
	if got, err := DecodePending(ch.Meta[0].Value); err != nil || !reflect.DeepEqual(got, []plog.CommittedOffset{pend}) {
		t.Fatalf("pending %+v %v", got, err)
	}
	ch = decodeAll(t, Group, nil, k["txn_offsets_batch"], k["commit_marker"])
	if !reflect.DeepEqual(ch.Offsets, []plog.CommittedOffset{pend}) || len(ch.Meta) != 1 || ch.Meta[0].Value != nil {
		t.Fatalf("Kafka's commit marker: %+v", ch)
	}
	if mh, _ := batch.ReadHeader(k["commit_marker"]); !mh.IsControl() || mh.ProducerID != 55 {
		t.Fatalf("marker header %+v", mh)
	}

	// The transaction log.
	st := TxnState{ProducerID: 1, Epoch: 2, LastProducerID: 3, LastEpoch: 4, TimeoutMs: 5, State: "Ongoing", Partitions: []plog.TopicPartition{{Topic: "t", Partition: 6}}, StartMs: 7, UpdateMs: 8}
	r = oneRecord(t, TxnStateBatch("x", st, nowMs))
	if hex.EncodeToString(r.Key) != text["txn_key"] {
		t.Errorf("txn key %x, Kafka %s", r.Key, text["txn_key"])
	}
	// Byte for byte Kafka's (TV_2) up to its tagged fields; the tag
	// sections are "2 tags: 0 PreviousProducerID, 2 ClientTransactionVersion"
	// (15 bytes) in Kafka's, "2 tags: 0 PreviousProducerID, 0x5A00 LastEpoch"
	// (17) in ours.
	ours, kv := r.Value, k["txn_value_tv2"]
	if hex.EncodeToString(ours[:len(ours)-17]) != hex.EncodeToString(kv[:len(kv)-15]) || hex.EncodeToString(ours[len(ours)-17:len(ours)-6]) != hex.EncodeToString(kv[len(kv)-15:len(kv)-4]) {
		t.Errorf("txn value\n ours  %x\n Kafka %x", ours, kv)
	}
	// Kafka 4.4 read ours (the jsh script decodes it with Kafka's
	// TransactionLogValue): every field, our tag kept as unknown. The bytes
	// it read are what Zombi writes now.
	if want := "pid=1 epoch=2 prev=3 state=1 timeout=5 parts=t[6] start=7 update=8 unknown_tags=1:23040"; text["kafka_reads_ours"] != want {
		t.Errorf("Kafka read ours as %q, want %q", text["kafka_reads_ours"], want)
	}
	if got := hex.EncodeToString(ours); got != "000100000000000000010002000000050102027402000000060000000000000000080000000000000007020008000000000000000380b401020004" {
		t.Errorf("our txn value changed (regenerate the fixture with the new bytes): %s", got)
	}
	wantTV := map[string]TxnState{
		"txn_value_tv2": {ProducerID: 1, Epoch: 2, LastProducerID: 3, LastEpoch: -1, TimeoutMs: 5, State: "Ongoing", Partitions: st.Partitions, StartMs: 7, UpdateMs: 8},
		"txn_value_tv0": {ProducerID: 1, Epoch: 2, LastProducerID: -1, LastEpoch: -1, TimeoutMs: 5, State: "Ongoing", Partitions: st.Partitions, StartMs: 7, UpdateMs: 8},
	}
	for name, want := range wantTV {
		b := batch.NewBuilder()
		b.Add(nowMs, k["txn_key"], k[name], nil)
		ch := decodeAll(t, Transaction, nil, append([]byte(nil), b.Bytes()...))
		var got TxnState
		if len(ch.Meta) != 1 || ch.Meta[0].Key != "txn/x" || json.Unmarshal(ch.Meta[0].Value, &got) != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v (%+v), want %+v", name, ch, got, want)
		}
	}
	// Kafka writes Dead as a value (state 6); it deletes the id as our
	// tombstone does.
	b := batch.NewBuilder()
	b.Add(nowMs, k["txn_key"], k["txn_value_dead"], nil)
	ch = decodeAll(t, Transaction, nil, append([]byte(nil), b.Bytes()...))
	if len(ch.Meta) != 1 || ch.Meta[0].Key != "txn/x" || ch.Meta[0].Value != nil {
		t.Errorf("Kafka's Dead: %+v", ch)
	}
}
