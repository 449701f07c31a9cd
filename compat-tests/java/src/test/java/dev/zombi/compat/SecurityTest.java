package dev.zombi.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Java client with the settings the README gives, against the secured
 * broker of the security tests (compat-tests/security_setup_test.go: users
 * admin, alice and bob, alice may use topics and groups named sec-*): SASL_SSL
 * with SCRAM-SHA-512 and a PEM truststore, SASL_PLAINTEXT with PLAIN, a wrong
 * password, and an ACL refusal. Skipped when the Go test passes no secured
 * broker (-Dsec.sasl_ssl).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SecurityTest {

  private static Properties sasl(String listener, String protocol, String mechanism, String user, String password) {
    String addr = System.getProperty(listener);
    assumeTrue(addr != null && !addr.isBlank() && !addr.startsWith("${"), "no secured broker (-D" + listener + ")");
    Properties p = new Properties();
    p.put("bootstrap.servers", addr);
    p.put("security.protocol", protocol);
    p.put("sasl.mechanism", mechanism);
    String module = mechanism.equals("PLAIN")
        ? "org.apache.kafka.common.security.plain.PlainLoginModule"
        : "org.apache.kafka.common.security.scram.ScramLoginModule";
    p.put("sasl.jaas.config", module + " required username=\"" + user + "\" password=\"" + password + "\";");
    if (protocol.equals("SASL_SSL")) {
      p.put("ssl.truststore.type", "PEM");
      p.put("ssl.truststore.location", System.getProperty("sec.ca"));
    }
    p.put("request.timeout.ms", "20000");
    p.put("default.api.timeout.ms", "30000");
    return p;
  }

  /** alice produces and consumes over a listener with one mechanism. */
  private void roundTrip(String listener, String protocol, String mechanism) throws Exception {
    Properties admin = sasl(listener, protocol, mechanism, "admin", "admin-secret");
    String topic = Broker.unique("sec-java");
    try (Admin a = Admin.create(admin)) {
      Clients.createTopic(a, topic, 1, null);
    }
    Properties pp = sasl(listener, protocol, mechanism, "alice", "alice-secret");
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
      for (int i = 0; i < 5; i++) {
        p.send(new ProducerRecord<>(topic, "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
      }
    }
    Properties cp = sasl(listener, protocol, mechanism, "alice", "alice-secret");
    cp.put("group.id", Broker.unique("sec-java-g"));
    cp.put("auto.offset.reset", "earliest");
    cp.put("key.deserializer", StringDeserializer.class.getName());
    cp.put("value.deserializer", StringDeserializer.class.getName());
    List<String> got = new ArrayList<>();
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
      c.subscribe(List.of(topic));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (got.size() < 5 && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
          got.add(r.value());
        }
      }
      c.commitSync();
    }
    assertEquals(List.of("v0", "v1", "v2", "v3", "v4"), got);
  }

  @Test
  void saslSslScramSha512() throws Exception {
    roundTrip("sec.sasl_ssl", "SASL_SSL", "SCRAM-SHA-512");
  }

  @Test
  void saslPlaintextPlain() throws Exception {
    roundTrip("sec.sasl_plaintext", "SASL_PLAINTEXT", "PLAIN");
  }

  @Test
  void wrongPasswordRefused() {
    Properties pp = sasl("sec.sasl_ssl", "SASL_SSL", "SCRAM-SHA-512", "alice", "not-her-password");
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    pp.put("max.block.ms", "20000");
    try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
      Exception e = assertThrows(Exception.class, () -> p.send(new ProducerRecord<>("sec-java-x", "v")).get(30, TimeUnit.SECONDS));
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      assertInstanceOf(SaslAuthenticationException.class, cause, "wrong password: " + e);
    }
  }

  @Test
  void aclRefusal() throws Exception {
    Properties admin = sasl("sec.sasl_ssl", "SASL_SSL", "SCRAM-SHA-512", "admin", "admin-secret");
    String topic = Broker.unique("sec-java-bob");
    try (Admin a = Admin.create(admin)) {
      Clients.createTopic(a, topic, 1, null);
    }
    Properties pp = sasl("sec.sasl_ssl", "SASL_SSL", "SCRAM-SHA-512", "bob", "bob-secret");
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    pp.put("max.block.ms", "20000");
    try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
      Exception e = assertThrows(Exception.class, () -> p.send(new ProducerRecord<>(topic, "v")).get(30, TimeUnit.SECONDS));
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      assertInstanceOf(TopicAuthorizationException.class, cause, "bob without WRITE: " + e);
    }
  }
}
