package dev.zombi.compat;

import static dev.zombi.compat.Clients.tp;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/** What the transaction tests share: the records they write and what a consumer must see of them. */
final class Txns {
  private Txns() {}

  static final int PARTS = 2;

  /** A record as read: partition, offset, value. */
  record Rec(int p, long o, String v) {
    @Override
    public String toString() {
      return p + "@" + o + "=" + v;
    }
  }

  /** One transaction: values, record i to partition i % 2 (or n % 2 for x-in-n), committed or aborted. */
  record Txn(List<String> values, boolean commit) {}

  static List<String> seq(String prefix, int from, int n) {
    List<String> out = new ArrayList<>();
    for (int i = from; i < from + n; i++) {
      out.add(prefix + i);
    }
    return out;
  }

  static int partition(String v, int i) {
    return v.startsWith("x-in-") ? Integer.parseInt(v.substring(5)) % PARTS : i % PARTS;
  }

  /** What a consumer sees of txns at one isolation level, in (partition, offset) order. */
  static List<Rec> expect(List<Txn> txns, boolean committedOnly) {
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
  static List<Rec> read(String topic, String isolation, int n) {
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

  static KafkaProducer<String, String> txnProducer(String id) {
    KafkaProducer<String, String> p = Clients.producer("transactional.id", id, "transaction.timeout.ms", "60000",
        "linger.ms", "5");
    p.initTransactions();
    return p;
  }

  /** Sends the values (to partition(v, i)) in a transaction, flushes, then commits or aborts. */
  static void run(KafkaProducer<String, String> p, String topic, Txn t) {
    run(p, topic, t, () -> {});
  }

  /** run, with beforeEnd done in the transaction after the sends. */
  static void run(KafkaProducer<String, String> p, String topic, Txn t, Runnable beforeEnd) {
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
}
