package dev.zombi.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 20, point 5: a Kafka Streams word count with a persistent (RocksDB) state store, so a
 * changelog topic, and a groupBy on the word, so a repartition topic, against the broker under
 * test. Run twice with the same application.id: the second instance starts with an empty state
 * directory, restores the store from the changelog topic and must go on counting where the first
 * stopped.
 *
 * <p>What Streams asks of the broker here: the classic group protocol with its own assignor
 * (StreamsPartitionAssignor, subscription userData), CreateTopics with configs for its internal
 * topics (cleanup.policy=compact for the changelog: Zombi stores the config but does not compact;
 * the counts are the same since the test reads the last value per key), DeleteRecords on the
 * repartition topic once its records are consumed, ListOffsets, OffsetFetch with require_stable,
 * DescribeConfigs and DescribeCluster through its admin client.
 *
 * <p>Everything is named with Broker.unique and kept in local variables: the class runs beside
 * the module's other test classes in one JVM.
 */
class StreamsWordCountTest {
  private static final Duration WAIT = Duration.ofSeconds(120);
  private static final String STORE = "counts";
  private static final String REPARTITION = "words";

  /**
   * The processing guarantees under test: at_least_once, and exactly_once_v2 (transactional
   * producers, read_committed consumers, offsets sent with each transaction; issue 14).
   */
  static Stream<String> guarantees() {
    return Stream.of(StreamsConfig.AT_LEAST_ONCE, StreamsConfig.EXACTLY_ONCE_V2);
  }

  private static final List<String> FIRST =
      List.of(
          "the quick brown fox jumps over the lazy dog",
          "all that glitters is not gold",
          "the dog barks and the fox runs",
          "to be or not to be that is the question",
          "a stitch in time saves nine",
          "the early bird catches the worm",
          "Fox and dog and bird",
          "zombi speaks the kafka protocol",
          "kafka streams counts the words",
          "every word counts once");
  private static final List<String> SECOND =
      List.of(
          "the fox is back",
          "the dog too and a new word appears",
          "counts continue after the restart",
          "no reset and no double counting",
          "the end");

  @ParameterizedTest(name = "processing.guarantee={0}")
  @MethodSource("guarantees")
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void wordCountWithStateStoreSurvivesRestart(String guarantee, @TempDir Path tmp)
      throws Exception {
    String app = Broker.unique("wordcount");
    String input = Broker.unique("wc-lines");
    String output = Broker.unique("wc-counts");
    String changelog = app + "-" + STORE + "-changelog";
    String repartition = app + "-" + REPARTITION + "-repartition";

    try (Admin admin = Admin.create(adminProps())) {
      admin
          .createTopics(List.of(new NewTopic(input, 3, (short) 1), new NewTopic(output, 3, (short) 1)))
          .all()
          .get(30, TimeUnit.SECONDS);

      // First run.
      produce(input, FIRST);
      Map<String, Long> expected = countWords(FIRST);
      Path state1 = Files.createDirectory(tmp.resolve("state-1"));
      AtomicLong restored1 = new AtomicLong();
      try (KafkaStreams streams = start(app, input, output, guarantee, state1, 1, restored1)) {
        waitForCounts(output, expected, "first run");

        Set<String> topics =
            admin.listTopics(new ListTopicsOptions().listInternal(true)).names().get(30, TimeUnit.SECONDS);
        assertTrue(
            topics.contains(changelog),
            "changelog topic " + changelog + " missing; topics: " + topics);
        assertTrue(
            topics.contains(repartition),
            "repartition topic " + repartition + " missing; topics: " + topics);
        // The repartition topic gets as many partitions as the input topic.
        assertEquals(
            3,
            admin.describeTopics(List.of(repartition)).allTopicNames().get(30, TimeUnit.SECONDS)
                .get(repartition).partitions().size(),
            "partitions of " + repartition);
        // Streams created its changelog compacted (CreateTopics with configs). Zombi stores
        // cleanup.policy but does not compact; the test reads the last value per key, the same
        // on both.
        Config cfg =
            admin
                .describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, changelog)))
                .all()
                .get(30, TimeUnit.SECONDS)
                .get(new ConfigResource(ConfigResource.Type.TOPIC, changelog));
        assertEquals(
            "compact",
            cfg.get("cleanup.policy") == null ? null : cfg.get("cleanup.policy").value(),
            "cleanup.policy of " + changelog);
        // Streams purges consumed repartition records with DeleteRecords
        // (repartition.purge.interval.ms is short below): the log start moves up.
        waitFor(
            () -> sumOffsets(admin, repartition, OffsetSpec.earliest()) > 0,
            "DeleteRecords by Streams on " + repartition + " (log start offsets stay 0)");
        // As KafkaStreams.close() does by default: no LeaveGroup. The next instance joins a group
        // whose old member is still there until its session (6 s) expires on the coordinator.
        close(streams, CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP);
      }
      assertEquals(0, restored1.get(), "first run, empty changelog: nothing to restore");
      // The changelog holds the store's contents: last value per key = the counts.
      assertEquals(
          new TreeMap<>(expected),
          new TreeMap<>(lastValues(changelog)),
          "changelog " + changelog + " after the first run");

      // Second run: more lines, same application.id, a new empty state directory, so the store
      // is restored from the changelog topic. After a clean close nothing is processed twice,
      // even with at_least_once.
      produce(input, SECOND);
      Map<String, Long> all = countWords(List.of(FIRST, SECOND).stream().flatMap(List::stream).toList());
      Path state2 = Files.createDirectory(tmp.resolve("state-2"));
      AtomicLong restored2 = new AtomicLong();
      // Two stream threads: two members of the group, which the StreamsPartitionAssignor gives
      // the six tasks (three partitions of each sub-topology) between them.
      try (KafkaStreams streams = start(app, input, output, guarantee, state2, 2, restored2)) {
        waitForCounts(output, all, "second run, after the restart");
        // A classic group of two consumers with Streams' own assignor ("stream").
        AtomicReference<String> seen = new AtomicReference<>("nothing");
        waitFor(
            () -> {
              ConsumerGroupDescription g = describeGroup(admin, app);
              seen.set(g.toString());
              return g.type() == GroupType.CLASSIC
                  && g.groupState() == GroupState.STABLE
                  && "stream".equals(g.partitionAssignor())
                  && g.members().size() == 2;
            },
            () -> "group " + app + ": classic, Stable, assignor \"stream\", 2 members; last seen " + seen.get());
        close(streams, CloseOptions.GroupMembershipOperation.LEAVE_GROUP);
      }
      assertTrue(
          restored2.get() >= expected.size(),
          "second run restored " + restored2.get() + " records from " + changelog
              + ", want at least one per word (" + expected.size() + ")");
      assertEquals(
          new TreeMap<>(all),
          new TreeMap<>(lastValues(changelog)),
          "changelog " + changelog + " after the second run");

      // With the record cache off every input word gives one output record, so each word's
      // counts in the output are exactly 1, 2, ..., n: no reset (a 1 after the restart would
      // repeat) and no double counting (a repeated or skipped value).
      Map<String, List<Long>> seq = allValues(output);
      for (Map.Entry<String, Long> e : all.entrySet()) {
        List<Long> want = new ArrayList<>();
        for (long i = 1; i <= e.getValue(); i++) want.add(i);
        assertEquals(want, seq.get(e.getKey()), "output counts of \"" + e.getKey() + "\"");
      }
      assertEquals(all.keySet(), seq.keySet(), "words in the output");

      // The second instance left the group on close: it is empty and can go, with its offsets.
      admin.deleteConsumerGroups(List.of(app)).all().get(30, TimeUnit.SECONDS);
      admin.deleteTopics(List.of(input, output, changelog, repartition)).all().get(30, TimeUnit.SECONDS);
    }
  }

  private static Properties adminProps() {
    Properties p = Broker.props();
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 30000);
    return p;
  }

  private static Topology topology(String input, String output) {
    StreamsBuilder b = new StreamsBuilder();
    b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
        .filter((k, w) -> !w.isEmpty())
        // groupBy changes the key: Streams writes through the repartition topic.
        .groupBy((k, w) -> w, Grouped.with(REPARTITION, Serdes.String(), Serdes.String()))
        // A persistent (RocksDB) store with logging on (the default): the changelog topic.
        .count(
            Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(STORE)
                .withKeySerde(Serdes.String())
                .withValueSerde(Serdes.Long()))
        .toStream()
        .to(output, Produced.with(Serdes.String(), Serdes.Long()));
    return b.build();
  }

  private static KafkaStreams start(
      String app,
      String input,
      String output,
      String guarantee,
      Path stateDir,
      int threads,
      AtomicLong restored)
      throws InterruptedException {
    Properties p = Broker.props();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    // Classic group protocol (JoinGroup/SyncGroup with the StreamsPartitionAssignor): Zombi
    // implements the classic coordinator, not KIP-1071's "streams" protocol
    // (StreamsGroupHeartbeat). It is the default in 4.4; said explicitly so that a later default
    // does not change what is tested.
    p.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, "classic");
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    // No record cache: every update goes to the changelog and the output at once.
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
    p.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 200);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // Kafka's group.min.session.timeout.ms: a closed member that did not leave is gone soon.
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);

    KafkaStreams streams = new KafkaStreams(topology(input, output), p);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    streams.setUncaughtExceptionHandler(
        e -> {
          failure.compareAndSet(null, e);
          return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
              .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    streams.setGlobalStateRestoreListener(
        new StateRestoreListener() {
          @Override
          public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

          @Override
          public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {}

          @Override
          public void onRestoreEnd(TopicPartition tp, String store, long total) {
            restored.addAndGet(total);
          }
        });
    streams.start();
    waitFor(
        () -> {
          if (failure.get() != null) {
            throw new AssertionError("Kafka Streams failed: " + failure.get(), failure.get());
          }
          KafkaStreams.State s = streams.state();
          if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.NOT_RUNNING) {
            throw new AssertionError("Kafka Streams stopped: " + s);
          }
          return s == KafkaStreams.State.RUNNING;
        },
        () -> "Kafka Streams RUNNING (state " + streams.state() + ")");
    return streams;
  }

  /** A clean close: the stores flushed, the offsets committed. */
  private static void close(KafkaStreams streams, CloseOptions.GroupMembershipOperation op) {
    boolean closed =
        streams.close(
            CloseOptions.groupMembershipOperation(op).withTimeout(Duration.ofSeconds(60)));
    assertTrue(closed, "Kafka Streams did not close within 60 s");
    assertEquals(KafkaStreams.State.NOT_RUNNING, streams.state(), "state after close");
  }

  private static void produce(String topic, List<String> lines) throws Exception {
    Properties p = Broker.props();
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      int i = 0;
      for (String line : lines) {
        // Keys spread the lines over the input's three partitions.
        producer.send(new ProducerRecord<>(topic, "line-" + i++, line)).get(30, TimeUnit.SECONDS);
      }
    }
  }

  private static Map<String, Long> countWords(List<String> lines) {
    return lines.stream()
        .flatMap(l -> Arrays.stream(l.toLowerCase(Locale.ROOT).split("\\W+")))
        .filter(w -> !w.isEmpty())
        .collect(Collectors.groupingBy(w -> w, Collectors.counting()));
  }

  /** Waits until the output topic's last count per word equals want. */
  private static void waitForCounts(String output, Map<String, Long> want, String what) {
    Map<String, Long> last = new HashMap<>();
    try (KafkaConsumer<String, Long> c = consumer()) {
      List<TopicPartition> tps = partitions(c, output);
      c.assign(tps);
      c.seekToBeginning(tps);
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (!last.equals(want)) {
        if (System.nanoTime() > deadline) {
          fail(what + ": output " + output + " after " + WAIT.toSeconds() + " s has "
              + new TreeMap<>(last) + ", want " + new TreeMap<>(want));
        }
        for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(500))) {
          last.put(r.key(), r.value());
        }
      }
    }
  }

  /** The last value per key of a topic, read to its end offsets. */
  private static Map<String, Long> lastValues(String topic) {
    Map<String, Long> last = new HashMap<>();
    for (Map.Entry<String, List<Long>> e : allValues(topic).entrySet()) {
      last.put(e.getKey(), e.getValue().get(e.getValue().size() - 1));
    }
    return last;
  }

  /** Every value per key of a topic in offset order, read from the start to its end offsets. */
  private static Map<String, List<Long>> allValues(String topic) {
    Map<String, List<Long>> all = new HashMap<>();
    try (KafkaConsumer<String, Long> c = consumer()) {
      List<TopicPartition> tps = partitions(c, topic);
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (tps.stream().anyMatch(tp -> c.position(tp, Duration.ofSeconds(30)) < end.get(tp))) {
        if (System.nanoTime() > deadline) {
          fail("reading " + topic + " to its end offsets " + end + " took over " + WAIT.toSeconds() + " s");
        }
        for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(500))) {
          all.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
        }
      }
    }
    return all;
  }

  private static KafkaConsumer<String, Long> consumer() {
    Properties p = Broker.props();
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    return new KafkaConsumer<>(p);
  }

  private static List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
    List<TopicPartition> tps =
        c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
            .map(pi -> new TopicPartition(topic, pi.partition()))
            .toList();
    assertFalse(tps.isEmpty(), "no partitions for " + topic);
    return tps;
  }

  private static ConsumerGroupDescription describeGroup(Admin admin, String group) {
    try {
      return admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
    } catch (Exception e) {
      throw new AssertionError("DescribeGroups " + group + ": " + e, e);
    }
  }

  private static long sumOffsets(Admin admin, String topic, OffsetSpec spec) {
    try {
      int n =
          admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
              .get(topic).partitions().size();
      Map<TopicPartition, OffsetSpec> req = new HashMap<>();
      for (int i = 0; i < n; i++) req.put(new TopicPartition(topic, i), spec);
      return admin.listOffsets(req).all().get(30, TimeUnit.SECONDS).values().stream()
          .mapToLong(r -> r.offset())
          .sum();
    } catch (Exception e) {
      throw new AssertionError("ListOffsets on " + topic + ": " + e, e);
    }
  }

  private static void waitFor(BooleanSupplier cond, String what) throws InterruptedException {
    waitFor(cond, () -> what);
  }

  private static void waitFor(BooleanSupplier cond, Supplier<String> what)
      throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("timed out after " + WAIT.toSeconds() + " s waiting for " + what.get());
      }
      Thread.sleep(100);
    }
  }
}
