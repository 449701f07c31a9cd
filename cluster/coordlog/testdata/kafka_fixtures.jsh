// Writes kafka-4.4.0.txt: records and batches serialized by Kafka 4.4.0's own
// code (its group and transaction coordinators' serializers and its record
// batch builders), which coordlog's tests decode and compare with what Zombi
// writes. Run from this directory:
//   M=~/.m2/repository/org/apache/kafka; V=4.4.0; S=~/.m2/repository/org/slf4j/slf4j-api/2.0.17/slf4j-api-2.0.17.jar
//   jshell --class-path $M/kafka-clients/$V/kafka-clients-$V.jar:$M/kafka-server-common/$V/kafka-server-common-$V.jar:$M/kafka-coordinator-common/$V/kafka-coordinator-common-$V.jar:$M/kafka-group-coordinator/$V/kafka-group-coordinator-$V.jar:$M/kafka-group-coordinator-api/$V/kafka-group-coordinator-api-$V.jar:$M/kafka-transaction-coordinator/$V/kafka-transaction-coordinator-$V.jar:$S kafka_fixtures.jsh > kafka-4.4.0.txt
import java.nio.ByteBuffer;
import java.util.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.record.internal.*;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.coordinator.group.*;
import org.apache.kafka.coordinator.transaction.*;
import org.apache.kafka.coordinator.transaction.generated.TransactionLogValue;
import org.apache.kafka.server.common.TransactionVersion;

String hex(byte[] b) { var s = new StringBuilder(); for (byte x : b) s.append(String.format("%02x", x)); return s.toString(); }
byte[] unhex(String s) { var b = new byte[s.length() / 2]; for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16); return b; }
byte[] bytes(MemoryRecords r) { var bb = r.buffer().duplicate(); var b = new byte[bb.remaining()]; bb.get(b); return b; }
void out(String name, byte[] b) { System.out.println(name + " " + hex(b)); }

var serde = new GroupCoordinatorRecordSerde();
var commit = GroupCoordinatorRecordHelpers.newOffsetCommitRecord("g", "t", 1, new OffsetAndMetadata(2L, OptionalInt.of(3), "m", 4L, OptionalLong.empty(), Uuid.ZERO_UUID));
var tomb = GroupCoordinatorRecordHelpers.newOffsetCommitTombstoneRecord("g", "t", 2);
var groupTomb = GroupCoordinatorRecordHelpers.newGroupMetadataTombstoneRecord("g");
out("offset_key", serde.serializeKey(commit));
out("offset_value", serde.serializeValue(commit));
out("offset_tombstone_key", serde.serializeKey(tomb));
out("group_tombstone_key", serde.serializeKey(groupTomb));
long ts = 1765000000000L;
out("offsets_batch", bytes(MemoryRecords.withRecords(Compression.NONE,
    new SimpleRecord(ts, serde.serializeKey(commit), serde.serializeValue(commit)),
    new SimpleRecord(ts, serde.serializeKey(tomb), null),
    new SimpleRecord(ts, serde.serializeKey(groupTomb), null))));
var txnCommit = GroupCoordinatorRecordHelpers.newOffsetCommitRecord("g", "u", 0, new OffsetAndMetadata(7L, OptionalInt.empty(), "", 4L, OptionalLong.empty(), Uuid.ZERO_UUID));
out("txn_offsets_batch", bytes(MemoryRecords.withTransactionalRecords(Compression.NONE, 55L, (short) 1, 0,
    new SimpleRecord(ts, serde.serializeKey(txnCommit), serde.serializeValue(txnCommit)))));
out("commit_marker", bytes(MemoryRecords.withEndTransactionMarker(55L, (short) 1, new EndTransactionMarker(ControlRecordType.COMMIT, 9))));

var parts = new HashSet<TopicPartition>(List.of(new TopicPartition("t", 6)));
out("txn_key", TransactionLog.keyToBytes("x"));
for (var tv : List.of(TransactionVersion.TV_0, TransactionVersion.TV_2)) {
    var m = new TxnTransitMetadata(1L, 3L, -1L, (short) 2, (short) 4, 5, TransactionState.ONGOING, parts, 7L, 8L, tv);
    out("txn_value_tv" + tv.featureLevel(), TransactionLog.valueToBytes(m, tv));
}
var dead = new TxnTransitMetadata(1L, -1L, -1L, (short) 2, (short) -1, 5, TransactionState.DEAD, new HashSet<TopicPartition>(), 7L, 8L, TransactionVersion.TV_2);
out("txn_value_dead", TransactionLog.valueToBytes(dead, TransactionVersion.TV_2));

// Kafka reads what Zombi writes (TestGoldenBytes's value): its own fields,
// our tag 0x5A00 kept as an unknown tagged field.
byte[] ours = unhex("000100000000000000010002000000050102027402000000060000000000000000080000000000000007020008000000000000000380b401020004");
var v = new TransactionLogValue(new ByteBufferAccessor(ByteBuffer.wrap(ours, 2, ours.length - 2)), (short) 1);
System.out.println("kafka_reads_ours pid=" + v.producerId() + " epoch=" + v.producerEpoch() + " prev=" + v.previousProducerId() + " state=" + v.transactionStatus() + " timeout=" + v.transactionTimeoutMs() + " parts=" + v.transactionPartitions().get(0).topic() + v.transactionPartitions().get(0).partitionIds() + " start=" + v.transactionStartTimestampMs() + " update=" + v.transactionLastUpdateTimestampMs() + " unknown_tags=" + v.unknownTaggedFields().size() + ":" + v.unknownTaggedFields().get(0).tag());
/exit
