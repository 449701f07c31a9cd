package dev.zombi.compat;

import static dev.zombi.compat.Clients.tp;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** kafka-clients 4.4.0 KafkaConsumer with the classic group protocol (group.protocol=classic). */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Execution(ExecutionMode.CONCURRENT) // mostly waiting for rebalances: the methods run at once
class ConsumerTest {

  private static void produce(String topic, int partitions, int perPartition) throws Exception {
    List<ProducerRecord<String, String>> rs = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      for (int i = 0; i < perPartition; i++) {
        rs.add(new ProducerRecord<>(topic, p, "k", "p" + p + "-" + i));
      }
    }
    try (KafkaProducer<String, String> pr = Clients.producer("acks", "all")) {
      Clients.sendAll(pr, rs);
    }
  }

  private static Set<TopicPartition> all(String topic, int partitions) {
    Set<TopicPartition> s = new HashSet<>();
    for (int p = 0; p < partitions; p++) {
      s.add(tp(topic, p));
    }
    return s;
  }

  /** Both members hold a non-empty share, disjoint, covering every partition. */
  private static void waitShared(Clients.Member a, Clients.Member b, Set<TopicPartition> partitions) {
    Clients.waitFor(() -> "a shared assignment: " + a.name + "=" + a.assignment.get() + " " + a.events + ", "
        + b.name + "=" + b.assignment.get() + " " + b.events, Duration.ofSeconds(60), () -> {
          Set<TopicPartition> x = a.assignment(), y = b.assignment();
          if (x.isEmpty() || y.isEmpty()) {
            return false;
          }
          Set<TopicPartition> u = new HashSet<>(x);
          u.addAll(y);
          return u.size() == x.size() + y.size() && u.equals(partitions);
        });
  }

  /**
   * Two members of one group share four partitions: each partition is owned by
   * exactly one member and every record is consumed once. Member a joins first
   * and owns all four; when b joins, the eager range assignor revokes all of
   * a's partitions, the cooperative-sticky assignor only the two that move.
   */
  @ParameterizedTest
  @ValueSource(strings = {"range", "cooperative-sticky"})
  void assignorSharesPartitions(String assignor) throws Exception {
    String topic = Broker.unique("j-assign");
    String group = Broker.unique("g-assign");
    Clients.createTopic(topic, 4);
    Set<TopicPartition> parts = all(topic, 4);
    String cls = assignor.equals("range") ? RangeAssignor.class.getName() : CooperativeStickyAssignor.class.getName();
    try (Clients.Member a = new Clients.Member("a", topic, "group.id", group, "partition.assignment.strategy", cls)) {
      Clients.waitFor(() -> "a owns all 4 partitions: " + a.assignment.get() + " " + a.events, Duration.ofSeconds(60),
          () -> a.assignment().equals(parts));
      int revokedBefore = a.revoked.size();
      try (Clients.Member b = new Clients.Member("b", topic, "group.id", group, "partition.assignment.strategy", cls)) {
        waitShared(a, b, parts);
        assertEquals(2, a.assignment().size(), assignor + ": a's share " + a.assignment());
        assertEquals(2, b.assignment().size(), assignor + ": b's share " + b.assignment());
        Set<TopicPartition> revokedFromA = new HashSet<>();
        for (var r : a.revoked.subList(revokedBefore, a.revoked.size())) {
          revokedFromA.addAll(r);
        }
        if (assignor.equals("range")) {
          assertEquals(parts, revokedFromA, "eager range: a gives up every partition in the rebalance " + a.events);
        } else {
          assertEquals(b.assignment(), revokedFromA,
              "cooperative-sticky: a gives up only the partitions b takes " + a.events);
        }
        produce(topic, 4, 10);
        Clients.waitFor(() -> "40 records consumed: a=" + a.records.size() + " b=" + b.records.size(),
            Duration.ofSeconds(60), () -> a.records.size() + b.records.size() >= 40);
        // A moment for duplicates, if any, to show.
        Thread.sleep(500);
        Set<String> seen = new HashSet<>();
        for (Clients.Member m : List.of(a, b)) {
          Set<TopicPartition> owned = m.assignment();
          for (ConsumerRecord<String, String> r : m.records) {
            assertTrue(owned.contains(tp(r.topic(), r.partition())),
                m.name + " consumed " + r.value() + " of a partition it does not own " + owned);
            assertTrue(seen.add(r.value()), "consumed twice: " + r.value());
          }
        }
        assertEquals(40, seen.size(), "records consumed once each");
      }
      // b closed: it left the group (LeaveGroup), so a gets every partition
      // back well before b's session (45 s) would have expired.
      Clients.waitFor(() -> "a owns all 4 partitions again after b left: " + a.assignment.get() + " " + a.events,
          Duration.ofSeconds(20), () -> a.assignment().equals(parts));
    }
  }

  /**
   * Static membership (group.instance.id): a member that closes and comes back
   * with the same instance id within session.timeout.ms gets the same
   * partitions, and the group does not rebalance (the other member keeps its
   * generation and sees no revocation or assignment), as Kafka's coordinator
   * does since 2.3 (KIP-345). Both for the group's leader (the first to join;
   * since JoinGroup v9 it is told to skip the assignment, KIP-814) and for a
   * follower.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void staticMembership(boolean restartLeader) throws Exception {
    String topic = Broker.unique("j-static");
    String group = Broker.unique("g-static");
    Clients.createTopic(topic, 4);
    Set<TopicPartition> parts = all(topic, 4);
    Object[] common = {"group.id", group, "session.timeout.ms", "30000", "heartbeat.interval.ms", "1000",
        "partition.assignment.strategy", RangeAssignor.class.getName()};
    List<Clients.Member> open = new ArrayList<>();
    try {
      Clients.Member go, stay;
      if (restartLeader) {
        go = new Clients.Member("go", topic, with(common, "group.instance.id", "go"));
        open.add(go);
        Clients.waitFor("the leader assigned", Duration.ofSeconds(60), () -> !go.assignment().isEmpty());
        stay = new Clients.Member("stay", topic, with(common, "group.instance.id", "stay"));
        open.add(stay);
      } else {
        stay = new Clients.Member("stay", topic, with(common, "group.instance.id", "stay"));
        open.add(stay);
        Clients.waitFor("the leader assigned", Duration.ofSeconds(60), () -> !stay.assignment().isEmpty());
        go = new Clients.Member("go", topic, with(common, "group.instance.id", "go"));
        open.add(go);
      }
      waitShared(go, stay, parts);
      // The first member may still be finishing the rebalance the second caused: wait for one generation.
      Clients.waitFor(() -> "one generation: go=" + go.generation + " stay=" + stay.generation, Duration.ofSeconds(30),
          () -> go.generation == stay.generation && go.generation > 0);
      Set<TopicPartition> goBefore = go.assignment();
      int generation = stay.generation;
      int stayEvents = stay.events.size();
      // A static member closes without leaving the group (no LeaveGroup) and comes back as go2.
      open.remove(go);
      go.close();
      Clients.Member go2 = new Clients.Member("go2", topic, with(common, "group.instance.id", "go"));
      open.add(go2);
      Clients.waitFor(() -> "go2 assigned: " + go2.assignment.get() + " " + go2.events, Duration.ofSeconds(60),
          () -> !go2.assignment().isEmpty());
      assertEquals(goBefore, go2.assignment(), "the returning static member's partitions");
      assertEquals(generation, go2.generation, "the returning static member joins the same generation");
      try (var admin = Clients.admin()) {
        var d = admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
        Map<String, Set<TopicPartition>> byInstance = new HashMap<>();
        for (var m : d.members()) {
          byInstance.put(m.groupInstanceId().orElse("?"), m.assignment().topicPartitions());
        }
        assertEquals(Map.of("go", goBefore, "stay", stay.assignment()), byInstance, "members by group.instance.id");
        assertEquals(go2.memberId, d.members().stream().filter(m -> m.groupInstanceId().equals(java.util.Optional.of("go")))
            .findFirst().get().consumerId(), "the returning member's new member id");
      }
      // stay keeps polling through it: no rebalance reaches it.
      Thread.sleep(2000);
      assertEquals(generation, stay.generation, "stay's generation after go came back");
      assertEquals(List.of(), stay.events.subList(stayEvents, stay.events.size()),
          "stay's rebalance callbacks after go came back");
      produce(topic, 4, 5);
      Clients.waitFor(() -> "20 records: go2=" + go2.records.size() + " stay=" + stay.records.size(),
          Duration.ofSeconds(60), () -> go2.records.size() + stay.records.size() >= 20);
      for (var r : go2.records) {
        assertTrue(goBefore.contains(tp(r.topic(), r.partition())), "go2 consumed from " + r.partition());
      }
    } finally {
      for (Clients.Member m : open) {
        m.close();
      }
    }
  }

  private static Object[] with(Object[] base, Object... more) {
    Object[] out = new Object[base.length + more.length];
    System.arraycopy(base, 0, out, 0, base.length);
    System.arraycopy(more, 0, out, base.length, more.length);
    return out;
  }

  /** seek to an offset, seekToBeginning/End, and seek by time through offsetsForTimes. */
  @Test
  void seekToOffsetAndTime() throws Exception {
    String topic = Broker.unique("j-seek");
    Clients.createTopic(topic, 1);
    TopicPartition tp = tp(topic, 0);
    long t0 = System.currentTimeMillis() - 3_600_000;
    List<ProducerRecord<String, String>> rs = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      rs.add(new ProducerRecord<>(topic, 0, t0 + i * 1000L, "k" + i, "v" + i));
    }
    try (KafkaProducer<String, String> p = Clients.producer("acks", "all", "linger.ms", "20")) {
      Clients.sendAll(p, rs);
    }
    try (KafkaConsumer<String, String> c = Clients.consumer()) {
      c.assign(List.of(tp));
      c.seek(tp, 7);
      assertEquals(7, c.position(tp), "position after seek");
      var got = Clients.pollN(c, 1, Duration.ofSeconds(30));
      assertEquals(7, got.get(0).offset(), "first record after seek(7)");
      assertEquals("v7", got.get(0).value(), "value at offset 7");

      Map<TopicPartition, OffsetAndTimestamp> byTime = c.offsetsForTimes(Map.of(tp, t0 + 11_500));
      assertNotNull(byTime.get(tp), "offsetsForTimes(t0+11.5s)");
      assertEquals(12, byTime.get(tp).offset(), "first offset at or after t0+11.5s");
      assertEquals(t0 + 12_000, byTime.get(tp).timestamp(), "its timestamp");
      assertEquals(0, c.offsetsForTimes(Map.of(tp, t0 - 5000)).get(tp).offset(), "a time before the first record");
      assertEquals(19, c.offsetsForTimes(Map.of(tp, t0 + 19_000)).get(tp).offset(), "the last record's own time");
      assertNull(c.offsetsForTimes(Map.of(tp, t0 + 60_000)).get(tp), "a time after the last record");

      c.seek(tp, byTime.get(tp).offset());
      got = Clients.pollN(c, 8, Duration.ofSeconds(30));
      assertEquals(12, got.get(0).offset(), "first record after seeking by time");
      assertEquals(t0 + 12_000, got.get(0).timestamp(), "its timestamp");
      assertEquals("v19", got.get(7).value(), "the last record");

      c.seekToBeginning(List.of(tp));
      assertEquals(0, c.position(tp), "position after seekToBeginning");
      c.seekToEnd(List.of(tp));
      assertEquals(20, c.position(tp), "position after seekToEnd");
      assertEquals(Map.of(tp, 0L), c.beginningOffsets(List.of(tp)), "beginningOffsets");
      assertEquals(Map.of(tp, 20L), c.endOffsets(List.of(tp)), "endOffsets");
    }
  }

  /**
   * commitSync and commitAsync: committed() returns what was committed (with
   * metadata), and a new consumer in the group resumes from there.
   */
  @Test
  void commitSyncAndAsync() throws Exception {
    String topic = Broker.unique("j-commit");
    String group = Broker.unique("g-commit");
    Clients.createTopic(topic, 2);
    produce(topic, 2, 10);
    TopicPartition p0 = tp(topic, 0), p1 = tp(topic, 1);
    try (KafkaConsumer<String, String> c = Clients.consumer("group.id", group)) {
      c.subscribe(List.of(topic));
      var got = Clients.pollN(c, 20, Duration.ofSeconds(60));
      assertEquals(20, got.size(), "records consumed");
      c.commitSync();
      Map<TopicPartition, OffsetAndMetadata> committed = c.committed(Set.of(p0, p1));
      assertEquals(10, committed.get(p0).offset(), "commitSync() of the positions, partition 0");
      assertEquals(10, committed.get(p1).offset(), "commitSync() of the positions, partition 1");

      c.commitSync(Map.of(p0, new OffsetAndMetadata(4, "sync-meta")));
      AtomicReference<Object> done = new AtomicReference<>();
      c.commitAsync(Map.of(p1, new OffsetAndMetadata(7, "async-meta")), (offsets, err) -> {
        done.set(err != null ? err : offsets);
      });
      Clients.waitFor("the commitAsync callback", Duration.ofSeconds(30), () -> {
        c.poll(Duration.ofMillis(50)); // callbacks run inside poll
        return done.get() != null;
      });
      assertTrue(done.get() instanceof Map, "commitAsync callback: " + done.get());
      committed = c.committed(Set.of(p0, p1));
      assertEquals(new OffsetAndMetadata(4, "sync-meta").offset(), committed.get(p0).offset(), "commitSync offset");
      assertEquals("sync-meta", committed.get(p0).metadata(), "commitSync metadata");
      assertEquals(7, committed.get(p1).offset(), "commitAsync offset");
      assertEquals("async-meta", committed.get(p1).metadata(), "commitAsync metadata");
    }
    // A new member of the group resumes from the committed offsets: 6 + 3 records.
    try (KafkaConsumer<String, String> c = Clients.consumer("group.id", group)) {
      c.subscribe(List.of(topic));
      var got = Clients.pollN(c, 9, Duration.ofSeconds(60));
      Map<Integer, Long> first = new HashMap<>();
      for (var r : got) {
        first.putIfAbsent(r.partition(), r.offset());
      }
      assertEquals(Map.of(0, 4L, 1, 7L), first, "first offsets of the new consumer");
      assertEquals(9, got.size(), "records after the committed offsets");
      assertEquals(List.of(), c.poll(Duration.ofMillis(500)).records(p0), "nothing more in partition 0");
    }
  }

  /**
   * isolation.level=read_committed without transactions: the last stable
   * offset is the high watermark, so every record is read.
   */
  @Test
  void readCommittedWithoutTransactions() throws Exception {
    String topic = Broker.unique("j-rc");
    Clients.createTopic(topic, 1);
    produce(topic, 1, 10);
    TopicPartition p0 = tp(topic, 0);
    try (KafkaConsumer<String, String> c = Clients.consumer("isolation.level", "read_committed")) {
      c.assign(List.of(p0));
      var got = Clients.pollN(c, 10, Duration.ofSeconds(30));
      assertEquals("p0-9", got.get(9).value(), "last record");
      assertEquals(Map.of(p0, 10L), c.endOffsets(List.of(p0)), "end offset (last stable offset)");
    }
  }

  /** pause: the paused partition returns nothing while the other flows; resume continues where it was. */
  @Test
  void pauseAndResume() throws Exception {
    String topic = Broker.unique("j-pause");
    Clients.createTopic(topic, 2);
    produce(topic, 2, 5);
    TopicPartition p0 = tp(topic, 0), p1 = tp(topic, 1);
    try (KafkaConsumer<String, String> c = Clients.consumer()) {
      c.assign(List.of(p0, p1));
      c.pause(List.of(p0));
      assertEquals(Set.of(p0), c.paused(), "paused()");
      var got = Clients.pollN(c, 5, Duration.ofSeconds(30));
      long deadline = System.nanoTime() + Duration.ofSeconds(1).toNanos();
      while (System.nanoTime() < deadline) {
        for (var r : c.poll(Duration.ofMillis(100))) {
          got.add(r);
        }
      }
      assertEquals(5, got.size(), "records while partition 0 is paused: " + Clients.describe(got));
      for (var r : got) {
        assertEquals(1, r.partition(), "record from a paused partition: " + r.value());
      }
      assertEquals(0, c.position(p0), "the paused partition's position");
      c.resume(List.of(p0));
      assertEquals(Set.of(), c.paused(), "paused() after resume");
      got = Clients.pollN(c, 5, Duration.ofSeconds(30));
      for (int i = 0; i < 5; i++) {
        assertEquals(0, got.get(i).partition(), "partition after resume");
        assertEquals(i, got.get(i).offset(), "offset after resume");
        assertEquals("p0-" + i, got.get(i).value(), "value after resume");
      }
    }
  }
}
