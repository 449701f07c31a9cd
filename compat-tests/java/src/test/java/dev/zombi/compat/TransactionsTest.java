package dev.zombi.compat;

import static dev.zombi.compat.Clients.tp;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * kafka-clients 4.4.0 transactions (issue 14): a KafkaProducer with a
 * transactional.id and read_committed / read_uncommitted KafkaConsumers. Against
 * Zombi the client uses the explicit AddPartitionsToTxn / AddOffsetsToTxn
 * requests (Zombi advertises no transaction.version feature); against Apache
 * Kafka 4.4, transaction version 2. Offsets are Kafka's: each commit or abort
 * marker takes one in each partition of its transaction.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Execution(ExecutionMode.CONCURRENT) // each test its own topics and transactional ids
class TransactionsTest {

  private static final int PARTS = 2;

  /** A record as read: partition, offset, value. */
  record Rec(int p, long o, String v) {
    @Override
    public String toString() {
      return p + "@" + o + "=" + v;
    }
  }

  /** One transaction: values, record i to partition i % 2 (or n % 2 for x-in-n), committed or aborted. */
  record Txn(List<String> values, boolean commit) {}

  private static List<String> seq(String prefix, int from, int n) {
    List<String> out = new ArrayList<>();
    for (int i = from; i < from + n; i++) {
      out.add(prefix + i);
    }
    return out;
  }

  private static int partition(String v, int i) {
    return v.startsWith("x-in-") ? Integer.parseInt(v.substring(5)) % PARTS : i % PARTS;
  }

  /** What a consumer sees of txns at one isolation level, in (partition, offset) order. */
  private static List<Rec> expect(List<Txn> txns, boolean committedOnly) {
    long[] next = new long[PARTS];
    List<Rec> out = new ArrayList<>();
    for (Txn t : txns) {
      boolean[] touched = new boolean[PARTS];
      for (int i = 0; i < t.values().size(); i++) {
        String v = t.values().get(i);
        int p = partition(v, i);
        if (t.commit() || !committedOnly) {
          out.add(new Rec(p, next[p], v));
        }
        next[p]++;
        touched[p] = true;
      }
      for (int p = 0; p < PARTS; p++) {
        if (touched[p]) {
          next[p]++; // the marker
        }
      }
    }
    out.sort(Comparator.comparingInt(Rec::p).thenComparingLong(Rec::o));
    return out;
  }

  /** Reads n records of topic's partitions from the start at an isolation level, then half a second more. */
  private static List<Rec> read(String topic, String isolation, int n) {
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < PARTS; p++) {
      tps.add(tp(topic, p));
    }
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", isolation)) {
      c.assign(tps);
      c.seekToBeginning(tps);
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, n, Duration.ofSeconds(20));
      long stop = System.nanoTime() + 500_000_000L;
      while (System.nanoTime() < stop) {
        c.poll(Duration.ofMillis(100)).forEach(got::add);
      }
      List<Rec> out = new ArrayList<>();
      for (var r : got) {
        out.add(new Rec(r.partition(), r.offset(), r.value()));
      }
      out.sort(Comparator.comparingInt(Rec::p).thenComparingLong(Rec::o));
      return out;
    }
  }

  private static KafkaProducer<String, String> txnProducer(String id) {
    KafkaProducer<String, String> p = Clients.producer("transactional.id", id, "transaction.timeout.ms", "60000",
        "linger.ms", "5");
    p.initTransactions();
    return p;
  }

  /** Sends the values (to partition(v, i)) in a transaction, flushes, then commits or aborts. */
  private static void run(KafkaProducer<String, String> p, String topic, Txn t) {
    run(p, topic, t, () -> {});
  }

  /** run, with beforeEnd done in the transaction after the sends. */
  private static void run(KafkaProducer<String, String> p, String topic, Txn t, Runnable beforeEnd) {
    p.beginTransaction();
    for (int i = 0; i < t.values().size(); i++) {
      String v = t.values().get(i);
      p.send(new ProducerRecord<>(topic, partition(v, i), null, v));
    }
    beforeEnd.run();
    p.flush(); // the aborted records too are in the log, for read_uncommitted
    if (t.commit()) {
      p.commitTransaction();
    } else {
      p.abortTransaction();
    }
  }

  /** Commit 6, abort 4, commit 4: read_committed sees the 10 committed, read_uncommitted all 14, no marker. */
  @Test
  void commitAbortCommit() throws Exception {
    String topic = Broker.unique("j-txn");
    Clients.createTopic(topic, PARTS);
    List<Txn> txns = List.of(new Txn(seq("c1-", 0, 6), true), new Txn(seq("a-", 0, 4), false),
        new Txn(seq("c2-", 0, 4), true));
    try (KafkaProducer<String, String> p = txnProducer(Broker.unique("j-txn-id"))) {
      for (Txn t : txns) {
        run(p, topic, t);
      }
    }
    assertEquals(expect(txns, true), read(topic, "read_committed", 10), "read_committed");
    assertEquals(expect(txns, false), read(topic, "read_uncommitted", 14), "read_uncommitted");
  }

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

  /** A transaction.timeout.ms above the broker's transaction.max.timeout.ms (15 min) is refused at initTransactions. */
  @Test
  void transactionTimeoutAboveTheMaximum() {
    try (KafkaProducer<String, String> p = Clients.producer("transactional.id", Broker.unique("j-maxto-id"),
        "transaction.timeout.ms", Integer.toString(15 * 60 * 1000 + 1))) {
      KafkaException e = assertThrows(KafkaException.class, p::initTransactions, "initTransactions with 15 min + 1 ms");
      // The client reports INVALID_TRANSACTION_TIMEOUT as an unexpected error with the error's message.
      assertTrue(String.valueOf(e.getMessage()).contains("transaction.max.timeout.ms"),
          "INVALID_TRANSACTION_TIMEOUT, not " + e);
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
   * A second producer with the same transactional.id fences the first: its open transaction is
   * aborted and its commit fails with ProducerFencedException.
   */
  @Test
  void newProducerFencesTheOld() throws Exception {
    String topic = Broker.unique("j-fence");
    Clients.createTopic(topic, 1);
    String id = Broker.unique("j-fence-id");
    try (KafkaProducer<String, String> old = txnProducer(id)) {
      old.beginTransaction();
      old.send(new ProducerRecord<>(topic, 0, null, "old")).get(30, TimeUnit.SECONDS);
      try (KafkaProducer<String, String> next = txnProducer(id)) {
        KafkaException e = assertThrows(KafkaException.class, old::commitTransaction, "commit by the fenced producer");
        assertTrue(e instanceof ProducerFencedException || e.getCause() instanceof ProducerFencedException,
            "the fenced producer's commit fails with ProducerFencedException, not " + e);
        run(next, topic, new Txn(List.of("new"), true));
      }
    }
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_committed")) {
      c.assign(List.of(tp(topic, 0)));
      List<ConsumerRecord<String, String>> got = Clients.pollN(c, 1, Duration.ofSeconds(20));
      assertEquals("[" + topic + "/0@2=new]", Clients.describe(got),
          "read_committed: the fenced producer's record was aborted (its marker at 1)");
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

  /**
   * A transaction left open past its transaction.timeout.ms (1 s) is aborted by the coordinator:
   * read_committed moves past it without the producer, which is fenced (its commit fails). Kafka
   * looks for timed-out transactions every transaction.abort.timed.out.transaction.cleanup.interval.ms
   * (1 s in compat-tests/main_test.go), Zombi every second.
   */
  @Test
  void timedOutTransactionIsAborted() throws Exception {
    String topic = Broker.unique("j-timeout");
    Clients.createTopic(topic, 1);
    TopicPartition tp0 = tp(topic, 0);
    try (KafkaProducer<String, String> p = Clients.producer("transactional.id", Broker.unique("j-timeout-id"),
        "transaction.timeout.ms", "1000");
        KafkaProducer<String, String> plain = Clients.producer("acks", "all");
        KafkaConsumer<String, String> rc = Clients.consumer("isolation.level", "read_committed")) {
      p.initTransactions();
      p.beginTransaction();
      p.send(new ProducerRecord<>(topic, 0, null, "abandoned")).get(30, TimeUnit.SECONDS);
      plain.send(new ProducerRecord<>(topic, 0, null, "plain")).get(30, TimeUnit.SECONDS);
      long sent = System.nanoTime();
      rc.assign(List.of(tp0));
      List<ConsumerRecord<String, String>> got = Clients.pollN(rc, 1, Duration.ofSeconds(20));
      long read = System.nanoTime();
      assertEquals("[" + topic + "/0@1=plain]", Clients.describe(got), "read_committed once the open transaction timed out");
      Clients.waitFor("read_committed end offset 3 (abandoned@0, plain@1, abort marker@2)", Duration.ofSeconds(10),
          () -> rc.endOffsets(List.of(tp0)).get(tp0) == 3L);
      KafkaException e = assertThrows(KafkaException.class, p::commitTransaction,
          "commit of a transaction the coordinator aborted on timeout");
      System.err.printf("TransactionsTest.timedOutTransactionIsAborted on %s: read_committed moved on after %d ms; the commit failed with %s%n",
          Broker.name(), (read - sent) / 1_000_000, e);
    }
  }

  /**
   * The operator's view of a hanging transaction (what kafka-transactions.sh describe-producers and
   * abort do): describeProducers shows the open transaction's producer and first offset; Kafka's
   * Admin.abortTransaction writes the abort marker to the partition (WriteTxnMarkers), after which
   * read_committed moves on. Zombi does not take WriteTxnMarkers from clients: it must refuse at
   * once (UnsupportedVersionException, from ApiVersions), not hang.
   */
  @Test
  void describeProducersAndAbortTransaction() throws Exception {
    String topic = Broker.unique("j-hanging");
    Clients.createTopic(topic, 1);
    TopicPartition tp0 = tp(topic, 0);
    try (KafkaProducer<String, String> p = txnProducer(Broker.unique("j-hanging-id"));
        KafkaProducer<String, String> plain = Clients.producer("acks", "all");
        Admin admin = Clients.admin()) {
      plain.send(new ProducerRecord<>(topic, 0, null, "before")).get(30, TimeUnit.SECONDS);
      p.beginTransaction();
      p.send(new ProducerRecord<>(topic, 0, null, "hanging")).get(30, TimeUnit.SECONDS);
      List<ProducerState> active = admin.describeProducers(List.of(tp0)).partitionResult(tp0)
          .get(20, TimeUnit.SECONDS).activeProducers();
      ProducerState open = active.stream().filter(s -> s.currentTransactionStartOffset().isPresent()).findFirst()
          .orElseThrow(() -> new AssertionError("describeProducers: no producer with an open transaction in " + active));
      assertEquals(1L, open.currentTransactionStartOffset().getAsLong(), "describeProducers: first offset of the open transaction");
      assertTrue(open.lastSequence() >= 0, "describeProducers: last sequence of " + open);
      var abort = admin.abortTransaction(new AbortTransactionSpec(tp0, open.producerId(), (short) open.producerEpoch(),
          open.coordinatorEpoch().orElse(-1))).all();
      if (Broker.isZombi()) {
        long start = System.nanoTime();
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> abort.get(20, TimeUnit.SECONDS),
            "Admin.abortTransaction on Zombi");
        assertInstanceOf(UnsupportedVersionException.class, e.getCause(), "Admin.abortTransaction on Zombi");
        assertTrue(System.nanoTime() - start < 5_000_000_000L, "Admin.abortTransaction refused at once");
        p.abortTransaction();
      } else {
        abort.get(20, TimeUnit.SECONDS);
      }
      try (KafkaConsumer<String, String> rc = Clients.consumer("isolation.level", "read_committed")) {
        rc.assign(List.of(tp0));
        plain.send(new ProducerRecord<>(topic, 0, null, "after")).get(30, TimeUnit.SECONDS);
        List<ConsumerRecord<String, String>> got = Clients.pollN(rc, 2, Duration.ofSeconds(20));
        assertEquals("[" + topic + "/0@0=before, " + topic + "/0@3=after]", Clients.describe(got),
            "read_committed after the abort (marker@2)");
      }
    }
  }

  /**
   * A group member's offsets in a transaction carry its generation (TxnOffsetCommit v3+): after a
   * rebalance, offsets sent with the old generation are refused (ILLEGAL_GENERATION:
   * CommitFailedException in the client) and the transaction can only be aborted; with the
   * current generation they commit.
   */
  @Test
  void staleGenerationCannotCommitOffsets() throws Exception {
    String in = Broker.unique("j-gen-in");
    String out = Broker.unique("j-gen-out");
    String group = Broker.unique("j-gen-g");
    Clients.createTopic(in, 2);
    Clients.createTopic(out, 1);
    Object[] kv = {"group.id", group, "isolation.level", "read_committed", "session.timeout.ms", "10000",
        "heartbeat.interval.ms", "500"};
    try (Admin admin = Clients.admin();
        KafkaProducer<String, String> p = txnProducer(Broker.unique("j-gen-id"));
        Clients.Member m1 = new Clients.Member("m1", in, kv)) {
      Clients.waitFor("m1 in the group", Duration.ofSeconds(30), () -> m1.assignment().size() == 2);
      ConsumerGroupMetadata stale = new ConsumerGroupMetadata(group, m1.generation, m1.memberId, Optional.empty());
      try (Clients.Member m2 = new Clients.Member("m2", in, kv)) {
        Clients.waitFor("a rebalance: m1 and m2 hold one partition each", Duration.ofSeconds(30),
            () -> m1.assignment().size() == 1 && m2.assignment().size() == 1 && m1.generation > stale.generationId());
        Map<TopicPartition, OffsetAndMetadata> offsets = Map.of(tp(in, 0), new OffsetAndMetadata(1));
        p.beginTransaction();
        p.send(new ProducerRecord<>(out, 0, null, "stale")).get(30, TimeUnit.SECONDS);
        KafkaException e = assertThrows(KafkaException.class, () -> {
          p.sendOffsetsToTransaction(offsets, stale);
          p.commitTransaction();
        }, "offsets of generation " + stale.generationId() + " after a rebalance to " + m1.generation);
        assertInstanceOf(CommitFailedException.class, e, "the stale member's offsets");
        p.abortTransaction();
        ConsumerGroupMetadata current = new ConsumerGroupMetadata(group, m1.generation, m1.memberId, Optional.empty());
        run(p, out, new Txn(List.of("current"), true), () -> p.sendOffsetsToTransaction(offsets, current));
        Clients.waitFor("the group's offset 1 after the commit", Duration.ofSeconds(10),
            () -> committed(admin, group, in) == 1);
      }
    }
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_committed")) {
      c.assign(List.of(tp(out, 0)));
      assertEquals("[" + out + "/0@2=current]", Clients.describe(Clients.pollN(c, 1, Duration.ofSeconds(20))),
          "read_committed: the stale transaction was aborted (marker@1)");
    }
  }

  /**
   * Consume-transform-produce: a read_committed group member reads 6 records three at a time and
   * writes them to another topic in transactions with sendOffsetsToTransaction: in-0..2 committed,
   * in-3..5 aborted; a new member resumes from the group's offset (3: the abort did not move it)
   * and commits in-3..5. The group's offset moves only at each commit.
   */
  @Test
  void consumeTransformProduce() throws Exception {
    String in = Broker.unique("j-ctp-in");
    String out = Broker.unique("j-ctp-out");
    String group = Broker.unique("j-ctp-g");
    Clients.createTopic(in, 1);
    Clients.createTopic(out, PARTS);
    try (KafkaProducer<String, String> plain = Clients.producer("acks", "all")) {
      for (int i = 0; i < 6; i++) {
        plain.send(new ProducerRecord<>(in, 0, null, "in-" + i)).get(30, TimeUnit.SECONDS);
      }
    }
    List<List<String>> inputs = new ArrayList<>();
    try (Admin admin = Clients.admin();
        KafkaProducer<String, String> p = txnProducer(Broker.unique("j-ctp-id"))) {
      try (KafkaConsumer<String, String> c = member(group, in)) {
        transform(p, c, take(c, 3), out, true, inputs,
            () -> {
              assertEquals(-1, committed(admin, group, in), "the group's offset while the first transaction is open");
              // A read_committed consumer asks with require_stable: the broker answers
              // UNSTABLE_OFFSET_COMMIT while the transaction is open, the client retries until its timeout.
              try (KafkaConsumer<String, String> probe = Clients.consumer("group.id", group, "isolation.level", "read_committed")) {
                assertThrows(TimeoutException.class, () -> probe.committed(Set.of(tp(in, 0)), Duration.ofSeconds(2)),
                    "committed() with require_stable while the transaction's offsets are pending");
              }
            });
        Clients.waitFor("the group's offset 3 after the first commit", Duration.ofSeconds(10),
            () -> committed(admin, group, in) == 3);
        try (KafkaConsumer<String, String> probe = Clients.consumer("group.id", group, "isolation.level", "read_committed")) {
          OffsetAndMetadata o = probe.committed(Set.of(tp(in, 0)), Duration.ofSeconds(10)).get(tp(in, 0));
          assertEquals(3L, o == null ? -1 : o.offset(), "committed() with require_stable after the commit");
        }
        List<ConsumerRecord<String, String>> msgs = take(c, 3);
        transform(p, c, msgs, out, false, inputs, () -> {});
      }
      try (KafkaConsumer<String, String> c = member(group, in)) {
        List<ConsumerRecord<String, String>> msgs = take(c, 3);
        assertEquals(3, committed(admin, group, in), "the group's offset after the abort");
        transform(p, c, msgs, out, true, inputs, () -> {});
        Clients.waitFor("the group's offset 6 after the last commit", Duration.ofSeconds(10),
            () -> committed(admin, group, in) == 6);
      }
    }
    assertEquals(List.of(seq("in-", 0, 3), seq("in-", 3, 3), seq("in-", 3, 3)), inputs,
        "what each transaction read (the third resumes from the first's offset)");
    List<Txn> txns = List.of(new Txn(seq("x-in-", 0, 3), true), new Txn(seq("x-in-", 3, 3), false),
        new Txn(seq("x-in-", 3, 3), true));
    assertEquals(expect(txns, true), read(out, "read_committed", 6), "read_committed");
    assertEquals(expect(txns, false), read(out, "read_uncommitted", 9), "read_uncommitted");
  }

  private static KafkaConsumer<String, String> member(String group, String topic) {
    KafkaConsumer<String, String> c = Clients.consumer("group.id", group, "isolation.level", "read_committed",
        "max.poll.records", "1", "session.timeout.ms", "10000", "heartbeat.interval.ms", "500");
    c.subscribe(List.of(topic));
    return c;
  }

  /** Exactly n records (max.poll.records is 1). */
  private static List<ConsumerRecord<String, String>> take(KafkaConsumer<String, String> c, int n) {
    return Clients.pollN(c, n, Duration.ofSeconds(20));
  }

  /** The group's committed offset of topic/0 as the Admin client reads it (no require_stable); -1: none. */
  private static long committed(Admin admin, String group, String topic) {
    try {
      Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(group)
          .partitionsToOffsetAndMetadata().get(20, TimeUnit.SECONDS);
      OffsetAndMetadata o = m.get(tp(topic, 0));
      return o == null ? -1 : o.offset();
    } catch (Exception e) {
      throw new AssertionError("listConsumerGroupOffsets " + group, e);
    }
  }

  private static void transform(KafkaProducer<String, String> p, KafkaConsumer<String, String> c,
      List<ConsumerRecord<String, String>> msgs, String out, boolean commit, List<List<String>> inputs,
      Runnable whileOpen) {
    List<String> values = new ArrayList<>();
    for (var m : msgs) {
      values.add(m.value());
    }
    inputs.add(values);
    assertEquals(3, msgs.size(), "records per transaction: " + values);
    p.beginTransaction();
    for (String v : values) {
      p.send(new ProducerRecord<>(out, partition("x-" + v, 0), null, "x-" + v));
    }
    ConsumerRecord<String, String> last = msgs.get(msgs.size() - 1);
    p.sendOffsetsToTransaction(Map.of(tp(last.topic(), last.partition()), new OffsetAndMetadata(last.offset() + 1)),
        c.groupMetadata());
    p.flush();
    whileOpen.run();
    if (commit) {
      p.commitTransaction();
    } else {
      p.abortTransaction();
    }
  }
}
