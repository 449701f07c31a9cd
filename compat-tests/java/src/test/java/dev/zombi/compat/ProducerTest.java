package dev.zombi.compat;

import static dev.zombi.compat.Clients.tp;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** kafka-clients 4.4.0 KafkaProducer: what it sends comes back as sent. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ProducerTest {

  /** Idempotent, acks=all, five requests in flight over three partitions: contiguous offsets, no duplicates. */
  @Test
  void idempotentAcksAll() throws Exception {
    String topic = Broker.unique("j-idem");
    Clients.createTopic(topic, 3);
    int n = 300;
    List<ProducerRecord<String, String>> sent = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      sent.add(new ProducerRecord<>(topic, i % 3, "k" + i, "v" + i));
    }
    List<RecordMetadata> mds;
    try (KafkaProducer<String, String> p = Clients.producer(
        "enable.idempotence", "true", "acks", "all", "max.in.flight.requests.per.connection", "5",
        "linger.ms", "5", "batch.size", "512")) {
      mds = Clients.sendAll(p, sent);
    }
    // Per partition the acknowledged offsets are 0..99 in send order.
    long[] next = new long[3];
    for (int i = 0; i < n; i++) {
      RecordMetadata md = mds.get(i);
      assertEquals(i % 3, md.partition(), "partition of record " + i);
      assertEquals(next[md.partition()]++, md.offset(), "offset of record " + i + " in partition " + md.partition());
    }
    try (KafkaConsumer<String, String> c = Clients.consumer()) {
      List<TopicPartition> tps = List.of(tp(topic, 0), tp(topic, 1), tp(topic, 2));
      c.assign(tps);
      c.seekToBeginning(tps);
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, n, Duration.ofSeconds(60));
      assertEquals(n, got.size(), "records consumed (duplicates?)");
      Map<String, ConsumerRecord<String, String>> byKey = new HashMap<>();
      for (var r : got) {
        assertNull(byKey.put(r.key(), r), "duplicate record " + r.key());
      }
      for (int i = 0; i < n; i++) {
        var r = byKey.get("k" + i);
        assertEquals("v" + i, r.value(), "value of k" + i);
        assertEquals(mds.get(i).offset(), r.offset(), "offset of k" + i);
        assertEquals(i % 3, r.partition(), "partition of k" + i);
      }
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      for (TopicPartition t : tps) {
        assertEquals(100L, end.get(t), "end offset of " + t);
      }
    }
  }

  /** Each codec: batches compressed by the producer come back with their keys, values, headers and timestamps. */
  @ParameterizedTest
  @ValueSource(strings = {"gzip", "snappy", "lz4", "zstd"})
  void compressionRoundTrip(String codec) throws Exception {
    String topic = Broker.unique("j-" + codec);
    Clients.createTopic(topic, 1);
    Random rnd = new Random(42);
    int n = 200;
    long ts0 = System.currentTimeMillis() - 60_000;
    List<ProducerRecord<byte[], byte[]>> sent = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      byte[] value;
      if (i % 2 == 0) {
        value = ("compressible value " + i + " ").repeat(20).getBytes(StandardCharsets.UTF_8);
      } else {
        value = new byte[100 + rnd.nextInt(900)];
        rnd.nextBytes(value);
      }
      List<Header> headers = List.of(new RecordHeader("i", Integer.toString(i).getBytes(StandardCharsets.UTF_8)),
          new RecordHeader("codec", codec.getBytes(StandardCharsets.UTF_8)));
      sent.add(new ProducerRecord<>(topic, 0, ts0 + i, ("key-" + i).getBytes(StandardCharsets.UTF_8), value, headers));
    }
    try (KafkaProducer<byte[], byte[]> p = Clients.bytesProducer("compression.type", codec, "linger.ms", "50",
        "batch.size", "65536", "acks", "all")) {
      List<RecordMetadata> mds = Clients.sendAll(p, sent);
      for (int i = 0; i < n; i++) {
        assertEquals(i, mds.get(i).offset(), codec + ": offset of record " + i);
      }
    }
    try (KafkaConsumer<byte[], byte[]> c = Clients.bytesConsumer()) {
      c.assign(List.of(tp(topic, 0)));
      c.seekToBeginning(List.of(tp(topic, 0)));
      List<ConsumerRecord<byte[], byte[]>> got = Clients.pollN(c, n, Duration.ofSeconds(60));
      assertEquals(n, got.size(), codec + ": records consumed");
      for (int i = 0; i < n; i++) {
        var want = sent.get(i);
        var r = got.get(i);
        assertEquals(i, r.offset(), codec + ": offset");
        assertArrayEquals(want.key(), r.key(), codec + ": key of record " + i);
        assertArrayEquals(want.value(), r.value(), codec + ": value of record " + i);
        assertEquals(want.timestamp(), r.timestamp(), codec + ": timestamp of record " + i);
        assertHeaders(want.headers().toArray(), r.headers().toArray(), codec + ": headers of record " + i);
      }
      // Fetch answers with the whole compressed batch that holds the offset; the client skips the records before it.
      c.seek(tp(topic, 0), 57);
      ConsumerRecord<byte[], byte[]> mid = Clients.pollN(c, 1, Duration.ofSeconds(30)).get(0);
      assertEquals(57, mid.offset(), codec + ": first record after seeking into a batch");
      assertArrayEquals(sent.get(57).value(), mid.value(), codec + ": its value");
    }
  }

  /** Headers: several, repeated keys, null and empty values, in order; records without key or headers. */
  @Test
  void headers() throws Exception {
    String topic = Broker.unique("j-headers");
    Clients.createTopic(topic, 1);
    List<ProducerRecord<byte[], byte[]>> sent = List.of(
        new ProducerRecord<>(topic, 0, null, "k0".getBytes(StandardCharsets.UTF_8), "v0".getBytes(StandardCharsets.UTF_8),
            List.of(new RecordHeader("a", "1".getBytes(StandardCharsets.UTF_8)),
                new RecordHeader("b", new byte[0]),
                new RecordHeader("a", "2".getBytes(StandardCharsets.UTF_8)),
                new RecordHeader("nil", (byte[]) null),
                new RecordHeader("bin", new byte[] {0, (byte) 0xff, 10, 13}),
                new RecordHeader("ünï", "çødé".getBytes(StandardCharsets.UTF_8)))),
        new ProducerRecord<>(topic, 0, null, null, "no key, no headers".getBytes(StandardCharsets.UTF_8)),
        new ProducerRecord<>(topic, 0, null, "k2".getBytes(StandardCharsets.UTF_8), null,
            List.of(new RecordHeader("tombstone", "yes".getBytes(StandardCharsets.UTF_8)))));
    try (KafkaProducer<byte[], byte[]> p = Clients.bytesProducer("acks", "all")) {
      Clients.sendAll(p, sent);
    }
    try (KafkaConsumer<byte[], byte[]> c = Clients.bytesConsumer()) {
      c.assign(List.of(tp(topic, 0)));
      List<ConsumerRecord<byte[], byte[]>> got = Clients.pollN(c, sent.size(), Duration.ofSeconds(30));
      for (int i = 0; i < sent.size(); i++) {
        var want = sent.get(i);
        var r = got.get(i);
        assertArrayEquals(want.key(), r.key(), "key of record " + i);
        assertArrayEquals(want.value(), r.value(), "value of record " + i);
        assertHeaders(want.headers().toArray(), r.headers().toArray(), "headers of record " + i);
      }
      assertNull(got.get(1).key(), "record 1 has no key");
      assertNull(got.get(2).value(), "record 2 is a tombstone");
      assertNull(got.get(0).headers().lastHeader("nil").value(), "null header value");
      assertArrayEquals("2".getBytes(StandardCharsets.UTF_8), got.get(0).headers().lastHeader("a").value(),
          "last header 'a'");
    }
  }

  /**
   * A topic with message.timestamp.type=LogAppendTime: the broker's clock
   * replaces the producer's timestamps, in the produce response and in what
   * consumers read (timestamp type LOG_APPEND_TIME).
   */
  @Test
  void logAppendTime() throws Exception {
    String topic = Broker.unique("j-lat");
    try (Admin admin = Clients.admin()) {
      Clients.createTopic(admin, topic, 1, Map.of("message.timestamp.type", "LogAppendTime"));
    }
    long old = System.currentTimeMillis() - 3_600_000;
    long before = System.currentTimeMillis();
    RecordMetadata md;
    try (KafkaProducer<String, String> p = Clients.producer("acks", "all")) {
      md = p.send(new ProducerRecord<>(topic, 0, old, "k", "v")).get(60, TimeUnit.SECONDS);
    }
    long after = System.currentTimeMillis();
    assertTrue(md.timestamp() >= before - 1000 && md.timestamp() <= after + 1000,
        "produce response timestamp " + md.timestamp() + " is the broker's, not the producer's " + old);
    try (KafkaConsumer<String, String> c = Clients.consumer()) {
      c.assign(List.of(tp(topic, 0)));
      ConsumerRecord<String, String> r = Clients.pollN(c, 1, Duration.ofSeconds(30)).get(0);
      assertEquals(org.apache.kafka.common.record.TimestampType.LOG_APPEND_TIME, r.timestampType(), "timestamp type");
      assertEquals(md.timestamp(), r.timestamp(), "the consumed record's timestamp is the append time");
    }
  }

  private static void assertHeaders(Header[] want, Header[] got, String msg) {
    assertEquals(want.length, got.length, msg + ": count");
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i].key(), got[i].key(), msg + ": key of header " + i);
      assertArrayEquals(want[i].value(), got[i].value(), msg + ": value of header " + i);
    }
  }

  /**
   * A one-record batch of exactly the topic's max.message.bytes (as the broker
   * describes it) is accepted and read back; one byte more is refused with
   * RecordTooLargeException. Checked at the broker default and at a topic
   * override.
   */
  @ParameterizedTest
  @ValueSource(ints = {0, 20000})
  void maxMessageBytes(int override) throws Exception {
    String topic = Broker.unique("j-max");
    int limit;
    try (Admin admin = Clients.admin()) {
      Clients.createTopic(admin, topic, 1, override == 0 ? null : Map.of("max.message.bytes", Integer.toString(override)));
      ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
      Config cfg = admin.describeConfigs(List.of(res)).all().get(30, TimeUnit.SECONDS).get(res);
      var entry = cfg.get("max.message.bytes");
      assertTrue(entry != null && entry.value() != null, "DescribeConfigs lists max.message.bytes: " + cfg);
      limit = Integer.parseInt(entry.value());
      if (override != 0) {
        assertEquals(override, limit, "max.message.bytes of a topic created with it");
      } else {
        // Both brokers default to Kafka's message.max.bytes (1 MiB + 12).
        assertEquals(1048588, limit, "default max.message.bytes");
      }
    }
    byte[] key = "big".getBytes(StandardCharsets.UTF_8);
    byte[] atLimit = new byte[valueSizeForBatch(limit, key.length)];
    new Random(7).nextBytes(atLimit);
    byte[] over = new byte[atLimit.length + 1];
    assertEquals(limit + 1, batchSize(key.length, over.length), "batch size above the limit");
    // The producer's own checks (max.request.size, batch.size) let both through: the broker decides.
    try (KafkaProducer<byte[], byte[]> p = Clients.bytesProducer("acks", "all", "compression.type", "none",
        "max.request.size", Integer.toString(limit + 100_000), "batch.size", "16384", "linger.ms", "0",
        "retries", "0", "enable.idempotence", "false")) {
      RecordMetadata md = p.send(new ProducerRecord<>(topic, 0, key, atLimit)).get(60, TimeUnit.SECONDS);
      assertEquals(0, md.offset(), "record at the limit");
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> p.send(new ProducerRecord<>(topic, 0, key, over)).get(60, TimeUnit.SECONDS),
          "a batch of " + (limit + 1) + " bytes on a topic whose max.message.bytes is " + limit);
      assertInstanceOf(RecordTooLargeException.class, e.getCause(), "error for a batch above the limit");
      RecordMetadata after = p.send(new ProducerRecord<>(topic, 0, key, "small".getBytes(StandardCharsets.UTF_8)))
          .get(60, TimeUnit.SECONDS);
      assertEquals(1, after.offset(), "the refused record took no offset");
    }
    try (KafkaConsumer<byte[], byte[]> c = Clients.bytesConsumer()) {
      c.assign(List.of(tp(topic, 0)));
      List<ConsumerRecord<byte[], byte[]>> got = Clients.pollN(c, 2, Duration.ofSeconds(30));
      assertArrayEquals(atLimit, got.get(0).value(), "value of the record at the limit");
      assertEquals("small", new String(got.get(1).value(), StandardCharsets.UTF_8), "record after the refused one");
    }
  }

  /** Kafka's record batch header (magic v2): 61 bytes. */
  private static final int BATCH_OVERHEAD = 61;

  /** Bytes of a zigzag varint. */
  private static int varintSize(long v) {
    long z = (v << 1) ^ (v >> 63);
    int n = 1;
    while ((z & ~0x7fL) != 0) {
      z >>>= 7;
      n++;
    }
    return n;
  }

  /**
   * Bytes of a batch of one record (magic v2, no compression, no headers,
   * offset and timestamp deltas 0): the size the broker compares with
   * max.message.bytes.
   */
  private static int batchSize(int keyLen, int valueLen) {
    int body = 1 + varintSize(0) + varintSize(0) + varintSize(keyLen) + keyLen + varintSize(valueLen) + valueLen
        + varintSize(0);
    return BATCH_OVERHEAD + varintSize(body) + body;
  }

  /** The value size that makes a one-record batch exactly size bytes (one more byte of value: one more byte of batch). */
  private static int valueSizeForBatch(int size, int keyLen) {
    for (int v = size - BATCH_OVERHEAD; v > 0; v--) {
      if (batchSize(keyLen, v) == size && batchSize(keyLen, v + 1) == size + 1) {
        return v;
      }
    }
    throw new IllegalArgumentException("no value size gives a batch of " + size);
  }
}
