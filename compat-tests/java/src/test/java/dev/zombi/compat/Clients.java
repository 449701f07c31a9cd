package dev.zombi.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Clients of the broker under test and the waits the tests share. */
final class Clients {
  private Clients() {}

  static Admin admin() {
    Properties p = Broker.props();
    p.put("request.timeout.ms", "20000");
    p.put("default.api.timeout.ms", "30000");
    return Admin.create(p);
  }

  /** Creates a topic (replication factor 1) and waits until its metadata lists every partition. */
  static void createTopic(Admin admin, String topic, int partitions, Map<String, String> configs) throws Exception {
    NewTopic nt = new NewTopic(topic, partitions, (short) 1);
    if (configs != null) {
      nt.configs(configs);
    }
    admin.createTopics(List.of(nt)).all().get(30, TimeUnit.SECONDS);
    waitFor("topic " + topic + " with " + partitions + " partitions in metadata", Duration.ofSeconds(30), () -> {
      try {
        return admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS)
            .get(topic).partitions().size() == partitions;
      } catch (Exception e) {
        return false;
      }
    });
    // Apache Kafka hosts a new partition a moment after its metadata shows
    // it; a produce in between gets NOT_LEADER_OR_FOLLOWER, and the Java
    // idempotent producer with several batches in flight can then loop on
    // OUT_OF_ORDER_SEQUENCE_NUMBER. ListOffsets is answered by the hosting
    // leader only, so its success means every partition is ready (Zombi:
    // at once).
    Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
    for (int p = 0; p < partitions; p++) {
      latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
    }
    admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS);
  }

  static void createTopic(String topic, int partitions) throws Exception {
    try (Admin admin = admin()) {
      createTopic(admin, topic, partitions, null);
    }
  }

  static KafkaProducer<String, String> producer(Object... kv) {
    Properties p = Broker.props();
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("delivery.timeout.ms", "60000");
    p.put("request.timeout.ms", "20000");
    put(p, kv);
    return new KafkaProducer<>(p);
  }

  static KafkaProducer<byte[], byte[]> bytesProducer(Object... kv) {
    Properties p = Broker.props();
    p.put("key.serializer", ByteArraySerializer.class.getName());
    p.put("value.serializer", ByteArraySerializer.class.getName());
    p.put("delivery.timeout.ms", "60000");
    p.put("request.timeout.ms", "20000");
    put(p, kv);
    return new KafkaProducer<>(p);
  }

  /** A consumer of strings; group.protocol=classic when a group.id is given. */
  static KafkaConsumer<String, String> consumer(Object... kv) {
    Properties p = Broker.props();
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    p.put("auto.offset.reset", "earliest");
    p.put("enable.auto.commit", "false");
    p.put("request.timeout.ms", "20000");
    p.put("default.api.timeout.ms", "30000");
    put(p, kv);
    if (p.containsKey("group.id")) {
      p.putIfAbsent("group.protocol", "classic");
    }
    return new KafkaConsumer<>(p);
  }

  static KafkaConsumer<byte[], byte[]> bytesConsumer(Object... kv) {
    Properties p = Broker.props();
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    p.put("auto.offset.reset", "earliest");
    p.put("enable.auto.commit", "false");
    p.put("request.timeout.ms", "20000");
    put(p, kv);
    return new KafkaConsumer<>(p);
  }

  private static void put(Properties p, Object... kv) {
    if (kv.length % 2 != 0) {
      throw new IllegalArgumentException("key/value pairs");
    }
    for (int i = 0; i < kv.length; i += 2) {
      p.put(String.valueOf(kv[i]), String.valueOf(kv[i + 1]));
    }
  }

  /** Sends every record and waits for all acknowledgements. */
  static <K, V> List<RecordMetadata> sendAll(KafkaProducer<K, V> producer, List<ProducerRecord<K, V>> records)
      throws Exception {
    List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
    for (ProducerRecord<K, V> r : records) {
      fs.add(producer.send(r));
    }
    producer.flush();
    List<RecordMetadata> out = new ArrayList<>();
    for (var f : fs) {
      out.add(f.get(60, TimeUnit.SECONDS));
    }
    return out;
  }

  /** Polls until n records arrived (more are kept: the caller checks for extras). */
  static <K, V> List<ConsumerRecord<K, V>> pollN(KafkaConsumer<K, V> c, int n, Duration timeout) {
    List<ConsumerRecord<K, V>> got = new ArrayList<>();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (got.size() < n) {
      if (System.nanoTime() > deadline) {
        fail("got " + got.size() + " of " + n + " records within " + timeout + ": " + describe(got));
      }
      for (ConsumerRecord<K, V> r : c.poll(Duration.ofMillis(200))) {
        got.add(r);
      }
    }
    return got;
  }

  static <K, V> String describe(List<ConsumerRecord<K, V>> rs) {
    StringBuilder sb = new StringBuilder("[");
    for (var r : rs) {
      if (sb.length() > 1) {
        sb.append(", ");
      }
      sb.append(r.topic()).append('/').append(r.partition()).append('@').append(r.offset()).append('=').append(r.value());
      if (sb.length() > 2000) {
        sb.append(" ...");
        break;
      }
    }
    return sb.append(']').toString();
  }

  /** Polls cond every 50 ms until it holds; fails with what after timeout. */
  static void waitFor(String what, Duration timeout, BooleanSupplier cond) {
    waitFor(() -> what, timeout, cond);
  }

  static void waitFor(Supplier<String> what, Duration timeout, BooleanSupplier cond) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("timed out after " + timeout + " waiting for " + what.get());
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        fail("interrupted waiting for " + what.get());
      }
    }
  }

  static TopicPartition tp(String topic, int p) {
    return new TopicPartition(topic, p);
  }

  static void assertSameTopicPartitions(Collection<TopicPartition> want, Collection<TopicPartition> got, String msg) {
    assertEquals(Set.copyOf(want), Set.copyOf(got), msg);
  }

  /**
   * A group member polling in its own thread (a KafkaConsumer is used by one
   * thread only): its assignment after each poll, the listener's callbacks and
   * the records it consumed.
   */
  static final class Member implements AutoCloseable {
    final String name;
    final List<ConsumerRecord<String, String>> records = new CopyOnWriteArrayList<>();
    /** "assigned [..]", "revoked [..]", "lost [..]" in order. */
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<Collection<TopicPartition>> revoked = new CopyOnWriteArrayList<>();
    final AtomicReference<Set<TopicPartition>> assignment = new AtomicReference<>(Set.of());
    volatile int generation = -1;
    volatile String memberId = "";
    private final Thread thread;
    private volatile boolean stop;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    Member(String name, String topic, Object... kv) {
      this.name = name;
      KafkaConsumer<String, String> c = consumer(kv);
      thread = new Thread(() -> run(c, topic), "member-" + name);
      thread.setDaemon(true);
      thread.start();
    }

    private void run(KafkaConsumer<String, String> c, String topic) {
      try {
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
          @Override
          public void onPartitionsRevoked(Collection<TopicPartition> ps) {
            events.add("revoked " + ps);
            revoked.add(List.copyOf(ps));
            if (!ps.isEmpty()) {
              c.commitSync();
            }
          }

          @Override
          public void onPartitionsAssigned(Collection<TopicPartition> ps) {
            events.add("assigned " + ps);
          }

          @Override
          public void onPartitionsLost(Collection<TopicPartition> ps) {
            events.add("lost " + ps);
          }
        });
        while (!stop) {
          ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(100));
          for (ConsumerRecord<String, String> r : rs) {
            records.add(r);
          }
          if (!rs.isEmpty()) {
            c.commitSync();
          }
          assignment.set(Set.copyOf(c.assignment()));
          generation = c.groupMetadata().generationId();
          memberId = c.groupMetadata().memberId();
        }
      } catch (Throwable t) {
        failure.set(t);
      } finally {
        try {
          c.close(Duration.ofSeconds(10));
        } catch (Throwable t) {
          failure.compareAndSet(null, t);
        }
      }
    }

    Set<TopicPartition> assignment() {
      Throwable t = failure.get();
      if (t != null) {
        throw new AssertionError("member " + name + " failed", t);
      }
      return assignment.get();
    }

    @Override
    public void close() throws InterruptedException {
      stop = true;
      thread.join(30_000);
      if (thread.isAlive()) {
        fail("member " + name + " did not stop within 30 s");
      }
      Throwable t = failure.get();
      if (t != null) {
        throw new AssertionError("member " + name + " failed", t);
      }
    }
  }
}
