package dev.zombi.compat;

import static dev.zombi.compat.Clients.tp;
import static dev.zombi.compat.Txns.partition;
import static dev.zombi.compat.Txns.run;
import static dev.zombi.compat.Txns.seq;
import static dev.zombi.compat.Txns.txnProducer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.zombi.compat.Txns.Txn;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * kafka-clients 4.4.0 read_committed consumers against transactions (issue 14): the last stable
 * offset of open transactions (Fetch, ListOffsets, offsetsForTimes, a position above it), aborted
 * transactions across small fetches, a seek and DeleteRecords, interleaved and concurrent
 * producers, a transaction over many partitions. Offsets are Kafka's: each commit or abort marker
 * takes one in each partition of its transaction.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Execution(ExecutionMode.CONCURRENT) // each test its own topics and transactional ids
class ReadCommittedTest {
  /**
   * An open transaction holds read_committed consumers at its first offset (the last stable offset),
   * in Fetch and in ListOffsets LATEST (endOffsets), while read_uncommitted reads on to the high
   * watermark; its commit releases them.
   */
  @Test
  void openTransactionHoldsTheLastStableOffset() throws Exception {
    String topic = Broker.unique("j-lso");
    Clients.createTopic(topic, 1);
    TopicPartition tp0 = tp(topic, 0);
    String id = Broker.unique("j-lso-id");
    try (KafkaProducer<String, String> p = txnProducer(id);
        KafkaProducer<String, String> plain = Clients.producer("acks", "all");
        KafkaConsumer<String, String> rc = Clients.consumer("isolation.level", "read_committed");
        KafkaConsumer<String, String> ru = Clients.consumer("isolation.level", "read_uncommitted")) {
      long t0 = System.currentTimeMillis() - 60_000;
      plain.send(new ProducerRecord<>(topic, 0, t0, null, "before")).get(30, TimeUnit.SECONDS);
      p.beginTransaction();
      p.send(new ProducerRecord<>(topic, 0, t0 + 1000, null, "open-0"));
      p.flush();
      plain.send(new ProducerRecord<>(topic, 0, t0 + 2000, null, "after")).get(30, TimeUnit.SECONDS);
      rc.assign(List.of(tp0));
      ru.assign(List.of(tp0));
      // ListOffsets by timestamp: read_committed finds nothing at or above the last stable offset.
      assertEquals(0L, rc.offsetsForTimes(Map.of(tp0, t0)).get(tp0).offset(), "read_committed offsetsForTimes(t0)");
      assertEquals(null, rc.offsetsForTimes(Map.of(tp0, t0 + 500)).get(tp0),
          "read_committed offsetsForTimes(t0+500): the first record at or after it is in the open transaction");
      assertEquals(1L, ru.offsetsForTimes(Map.of(tp0, t0 + 500)).get(tp0).offset(), "read_uncommitted offsetsForTimes(t0+500)");
      try (Admin admin = Clients.admin()) {
        assertTrue(admin.listTransactions().all().get(20, TimeUnit.SECONDS).stream()
            .anyMatch(l -> l.transactionalId().equals(id) && l.state() == TransactionState.ONGOING),
            "listTransactions shows " + id + " ONGOING");
        TransactionDescription d = admin.describeTransactions(List.of(id)).description(id).get(20, TimeUnit.SECONDS);
        assertEquals(TransactionState.ONGOING, d.state(), "describeTransactions: state of the open transaction");
        assertEquals(Set.of(tp0), d.topicPartitions(), "describeTransactions: its partitions");
      }
      assertEquals(1L, rc.endOffsets(List.of(tp0)).get(tp0), "read_committed end offset: the open transaction's first offset");
      assertEquals(3L, ru.endOffsets(List.of(tp0)).get(tp0), "read_uncommitted end offset: the high watermark");
      List<ConsumerRecord<String, String>> got = Clients.pollN(rc, 1, Duration.ofSeconds(20));
      long stop = System.nanoTime() + 1_000_000_000L;
      while (System.nanoTime() < stop) {
        rc.poll(Duration.ofMillis(100)).forEach(got::add);
      }
      assertEquals("[" + topic + "/0@0=before]", Clients.describe(got), "read_committed stops at the open transaction");
      assertEquals("[" + topic + "/0@0=before, " + topic + "/0@1=open-0, " + topic + "/0@2=after]",
          Clients.describe(Clients.pollN(ru, 3, Duration.ofSeconds(20))), "read_uncommitted reads on");
      p.commitTransaction();
      got = Clients.pollN(rc, 2, Duration.ofSeconds(20));
      assertEquals("[" + topic + "/0@1=open-0, " + topic + "/0@2=after]", Clients.describe(got),
          "read_committed after the commit");
      Clients.waitFor("read_committed end offset 4 after the commit", Duration.ofSeconds(10),
          () -> rc.endOffsets(List.of(tp0)).get(tp0) == 4L);
      try (Admin admin = Clients.admin()) {
        Clients.waitFor("describeTransactions: " + id + " COMPLETE_COMMIT with no partitions", Duration.ofSeconds(10), () -> {
          try {
            TransactionDescription d = admin.describeTransactions(List.of(id)).description(id).get(20, TimeUnit.SECONDS);
            return d.state() == TransactionState.COMPLETE_COMMIT && d.topicPartitions().isEmpty();
          } catch (Exception e) {
            throw new AssertionError("describeTransactions " + id, e);
          }
        });
      }
    }
  }

  /**
   * A read_committed consumer positioned inside an open transaction (above the last stable offset,
   * below the high watermark) waits there: no error, no offset reset (auto.offset.reset=earliest
   * would deliver the record at 0); after the commit it reads from its position.
   */
  @Test
  void positionAboveTheLastStableOffset() throws Exception {
    String topic = Broker.unique("j-above-lso");
    Clients.createTopic(topic, 1);
    TopicPartition tp0 = tp(topic, 0);
    try (KafkaProducer<String, String> p = txnProducer(Broker.unique("j-above-lso-id"));
        KafkaProducer<String, String> plain = Clients.producer("acks", "all");
        KafkaConsumer<String, String> rc = Clients.consumer("isolation.level", "read_committed")) {
      plain.send(new ProducerRecord<>(topic, 0, null, "before")).get(30, TimeUnit.SECONDS);
      p.beginTransaction();
      for (int i = 0; i < 3; i++) {
        p.send(new ProducerRecord<>(topic, 0, null, "open-" + i)).get(30, TimeUnit.SECONDS);
      }
      rc.assign(List.of(tp0));
      rc.seek(tp0, 2); // open-1
      List<ConsumerRecord<String, String>> got = new ArrayList<>();
      long stop = System.nanoTime() + 1_500_000_000L;
      while (System.nanoTime() < stop) {
        rc.poll(Duration.ofMillis(100)).forEach(got::add);
      }
      assertEquals("[]", Clients.describe(got), "read_committed at offset 2 while the transaction from 1 is open");
      assertEquals(2L, rc.position(tp0), "position kept (no reset)");
      p.commitTransaction();
      got = Clients.pollN(rc, 2, Duration.ofSeconds(20));
      assertEquals("[" + topic + "/0@2=open-1, " + topic + "/0@3=open-2]", Clients.describe(got),
          "read_committed from its position after the commit");
    }
  }

  /**
   * An aborted transaction of many batches read with small fetches (each response ends inside it)
   * and from a seek into its middle: read_committed never sees its records, whatever offset a
   * fetch starts at (the aborted list of a response covers transactions begun before it).
   */
  @Test
  void abortedTransactionAcrossFetches() throws Exception {
    String topic = Broker.unique("j-abort-big");
    Clients.createTopic(topic, 1);
    int n = 400;
    String pad = "x".repeat(200);
    try (KafkaProducer<String, String> p = txnProducer(Broker.unique("j-abort-big-id"))) {
      run(p, topic, new Txn(List.of("first"), true));
      p.beginTransaction();
      for (int i = 0; i < n; i++) {
        p.send(new ProducerRecord<>(topic, 0, null, "aborted-" + i + "-" + pad));
        if (i % 20 == 19) {
          p.flush(); // many batches
        }
      }
      p.flush();
      p.abortTransaction();
      run(p, topic, new Txn(List.of("last"), true));
    }
    // first@0, marker@1, aborted@2..401, marker@402, last@403, marker@404
    Object[] small = {"isolation.level", "read_committed", "max.partition.fetch.bytes", "2048", "fetch.max.bytes", "2048"};
    try (KafkaConsumer<String, String> c = Clients.consumer(small)) {
      c.assign(List.of(tp(topic, 0)));
      c.seekToBeginning(List.of(tp(topic, 0)));
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, 2, Duration.ofSeconds(30));
      assertEquals("[" + topic + "/0@0=first, " + topic + "/0@403=last]", Clients.describe(got),
          "read_committed with 2 KiB fetches over an aborted transaction of " + n + " records");
      c.seek(tp(topic, 0), 2 + n / 2);
      got = Clients.pollN(c, 1, Duration.ofSeconds(30));
      assertEquals("[" + topic + "/0@403=last]", Clients.describe(got), "read_committed from the middle of the aborted transaction");
    }
    try (KafkaConsumer<String, String> c = Clients.consumer("max.partition.fetch.bytes", "2048", "fetch.max.bytes", "2048")) {
      c.assign(List.of(tp(topic, 0)));
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, n + 2, Duration.ofSeconds(30));
      assertEquals(n + 2, got.size(), "read_uncommitted reads every record");
      assertEquals(403L, got.get(got.size() - 1).offset(), "offset of the last record");
    }
  }

  /**
   * DeleteRecords up to an offset inside an aborted transaction: the log now starts in its middle,
   * and a read_committed consumer from the start still drops its remaining records (the aborted
   * index keeps the transaction that began before the new log start).
   */
  @Test
  void deleteRecordsIntoAnAbortedTransaction() throws Exception {
    String topic = Broker.unique("j-txn-trim");
    Clients.createTopic(topic, 1);
    TopicPartition tp0 = tp(topic, 0);
    try (KafkaProducer<String, String> p = txnProducer(Broker.unique("j-txn-trim-id"))) {
      for (Txn t : List.of(new Txn(List.of("first"), true), new Txn(seq("aborted-", 0, 10), false),
          new Txn(List.of("last"), true))) {
        p.beginTransaction();
        for (String v : t.values()) {
          p.send(new ProducerRecord<>(topic, 0, null, v));
        }
        p.flush();
        if (t.commit()) {
          p.commitTransaction();
        } else {
          p.abortTransaction();
        }
      }
    }
    // first@0 marker@1 aborted-0..9@2..11 marker@12 last@13 marker@14
    try (Admin admin = Clients.admin()) {
      admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(6))).all().get(20, TimeUnit.SECONDS);
    }
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_committed")) {
      c.assign(List.of(tp0));
      c.seekToBeginning(List.of(tp0));
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, 1, Duration.ofSeconds(20));
      long stop = System.nanoTime() + 500_000_000L;
      while (System.nanoTime() < stop) {
        c.poll(Duration.ofMillis(100)).forEach(got::add);
      }
      assertEquals("[" + topic + "/0@13=last]", Clients.describe(got), "read_committed from a log start inside an aborted transaction");
    }
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_uncommitted")) {
      c.assign(List.of(tp0));
      c.seekToBeginning(List.of(tp0));
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, 7, Duration.ofSeconds(20));
      assertEquals(6L, got.get(0).offset(), "read_uncommitted starts at the new log start");
      assertEquals("aborted-4", got.get(0).value(), "first record after the deletion");
      assertEquals(13L, got.get(6).offset(), "read_uncommitted: offset of the last record");
    }
  }

  /**
   * Three transactional producers at once over three partitions, 20 transactions each (every fourth
   * aborted), while a read_committed consumer reads: it gets every committed record once, each
   * producer's in its order, and no aborted one; several transactions are open in a partition at
   * a time, so the last stable offset is the first offset of the oldest of them.
   */
  @Test
  void concurrentTransactions() throws Exception {
    String topic = Broker.unique("j-txn-conc");
    int parts = 3;
    int producers = 3;
    int txns = 20;
    int per = 6;
    Clients.createTopic(topic, parts);
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < parts; p++) {
      tps.add(tp(topic, p));
    }
    Set<String> committed = new java.util.HashSet<>();
    for (int k = 0; k < producers; k++) {
      for (int t = 0; t < txns; t++) {
        for (int i = 0; i < per && t % 4 != 3; i++) {
          committed.add("k" + k + "-t" + t + "-" + i);
        }
      }
    }
    var pool = java.util.concurrent.Executors.newFixedThreadPool(producers);
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_committed")) {
      c.assign(tps);
      c.seekToBeginning(tps);
      List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
      for (int k = 0; k < producers; k++) {
        int kk = k;
        fs.add(pool.submit(() -> {
          try (KafkaProducer<String, String> p = txnProducer(Broker.unique("j-conc-" + kk))) {
            for (int t = 0; t < txns; t++) {
              p.beginTransaction();
              for (int i = 0; i < per; i++) {
                p.send(new ProducerRecord<>(topic, i % parts, null, "k" + kk + "-t" + t + "-" + i));
              }
              p.flush();
              if (t % 4 == 3) {
                p.abortTransaction();
              } else {
                p.commitTransaction();
              }
            }
          }
          return null;
        }));
      }
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, committed.size(), Duration.ofSeconds(60));
      for (var f : fs) {
        f.get(60, TimeUnit.SECONDS);
      }
      long stop = System.nanoTime() + 500_000_000L;
      while (System.nanoTime() < stop) {
        c.poll(Duration.ofMillis(100)).forEach(got::add);
      }
      Set<String> seen = new java.util.HashSet<>();
      Map<String, Integer> lastTxn = new java.util.HashMap<>(); // producer/partition -> last transaction read
      for (var r : got) {
        assertTrue(committed.contains(r.value()), "read_committed read " + r.value() + " at " + r.partition() + "@" + r.offset()
            + (r.value().matches("k\\d-t\\d+-\\d") ? " (an aborted transaction's)" : ""));
        assertTrue(seen.add(r.value()), "read twice: " + r.value());
        String[] kt = r.value().split("-");
        int t = Integer.parseInt(kt[1].substring(1));
        Integer prev = lastTxn.put(kt[0] + "/" + r.partition(), t);
        assertTrue(prev == null || prev <= t, r.value() + " after a record of transaction " + prev);
      }
      assertEquals(committed.size(), seen.size(), "committed records read");
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * One transaction over 64 partitions committed, one aborted: a marker in each of them (every
   * partition's end offset is 6), read_committed reads the committed record of each.
   */
  @Test
  void manyPartitions() throws Exception {
    String topic = Broker.unique("j-txn-wide");
    int parts = 64;
    Clients.createTopic(topic, parts);
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < parts; p++) {
      tps.add(tp(topic, p));
    }
    try (KafkaProducer<String, String> p = txnProducer(Broker.unique("j-wide-id"))) {
      for (String tag : List.of("c", "a")) {
        p.beginTransaction();
        for (int i = 0; i < parts; i++) {
          p.send(new ProducerRecord<>(topic, i, null, tag + i + "-0"));
          p.send(new ProducerRecord<>(topic, i, null, tag + i + "-1"));
        }
        p.flush();
        if (tag.equals("c")) {
          p.commitTransaction();
        } else {
          p.abortTransaction();
        }
      }
    }
    // Per partition: c-0@0 c-1@1 marker@2 a-0@3 a-1@4 marker@5.
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_committed")) {
      c.assign(tps);
      c.seekToBeginning(tps);
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, 2 * parts, Duration.ofSeconds(30));
      long stop = System.nanoTime() + 500_000_000L;
      while (System.nanoTime() < stop) {
        c.poll(Duration.ofMillis(100)).forEach(got::add);
      }
      assertEquals(2 * parts, got.size(), "read_committed: two committed records per partition, no aborted one: "
          + Clients.describe(got));
      for (var r : got) {
        assertEquals("c" + r.partition() + "-" + r.offset(), r.value(), "record at " + r.partition() + "@" + r.offset());
      }
      Clients.waitFor("every partition's read_committed end offset at 6", Duration.ofSeconds(10),
          () -> c.endOffsets(tps).values().stream().allMatch(o -> o == 6L));
    }
  }

  /**
   * Two transactional producers and a plain one interleaved in one partition; one transaction
   * aborts, the other commits: read_committed drops only the aborted producer's records.
   */
  @Test
  void interleavedProducers() throws Exception {
    String topic = Broker.unique("j-interleave");
    Clients.createTopic(topic, 1);
    try (KafkaProducer<String, String> p1 = txnProducer(Broker.unique("j-inter-1"));
        KafkaProducer<String, String> p2 = txnProducer(Broker.unique("j-inter-2"));
        KafkaProducer<String, String> plain = Clients.producer("acks", "all")) {
      p1.beginTransaction();
      p2.beginTransaction();
      for (int i = 0; i < 2; i++) {
        p1.send(new ProducerRecord<>(topic, 0, null, "t1-" + i)).get(30, TimeUnit.SECONDS);
        p2.send(new ProducerRecord<>(topic, 0, null, "t2-" + i)).get(30, TimeUnit.SECONDS);
        plain.send(new ProducerRecord<>(topic, 0, null, "p-" + i)).get(30, TimeUnit.SECONDS);
      }
      p1.abortTransaction();
      p2.commitTransaction();
    }
    // t1-0@0 t2-0@1 p-0@2 t1-1@3 t2-1@4 p-1@5, abort marker@6, commit marker@7
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_committed")) {
      c.assign(List.of(tp(topic, 0)));
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, 4, Duration.ofSeconds(20));
      long stop = System.nanoTime() + 500_000_000L;
      while (System.nanoTime() < stop) {
        c.poll(Duration.ofMillis(100)).forEach(got::add);
      }
      String t = topic + "/0@";
      assertEquals("[" + t + "1=t2-0, " + t + "2=p-0, " + t + "4=t2-1, " + t + "5=p-1]", Clients.describe(got), "read_committed");
    }
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_uncommitted")) {
      c.assign(List.of(tp(topic, 0)));
      String t = topic + "/0@";
      assertEquals("[" + t + "0=t1-0, " + t + "1=t2-0, " + t + "2=p-0, " + t + "3=t1-1, " + t + "4=t2-1, " + t + "5=p-1]",
          Clients.describe(Clients.pollN(c, 6, Duration.ofSeconds(20))), "read_uncommitted");
    }
  }
}
