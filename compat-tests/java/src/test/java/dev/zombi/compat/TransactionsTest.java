package dev.zombi.compat;

import static dev.zombi.compat.Clients.tp;
import static dev.zombi.compat.Txns.PARTS;
import static dev.zombi.compat.Txns.expect;
import static dev.zombi.compat.Txns.partition;
import static dev.zombi.compat.Txns.read;
import static dev.zombi.compat.Txns.run;
import static dev.zombi.compat.Txns.seq;
import static dev.zombi.compat.Txns.txnProducer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.zombi.compat.Txns.Txn;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ProducerState;
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
 * marker takes one in each partition of its transaction. Here the producer's
 * side (commit and abort, fencing, timeouts, offsets in transactions, the
 * operator's admin calls); ReadCommittedTest the consumer's.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Execution(ExecutionMode.CONCURRENT) // each test its own topics and transactional ids
class TransactionsTest {

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
