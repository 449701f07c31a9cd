package dev.zombi.compat;

import java.util.Properties;
import java.util.UUID;

/** The broker under test, from the system properties the Go test passes. */
final class Broker {
  private Broker() {}

  /** bootstrap.servers of the broker under test (Zombi or Apache Kafka). */
  static String bootstrap() {
    String b = System.getProperty("bootstrap.servers");
    if (b == null || b.isBlank() || b.startsWith("${")) {
      throw new IllegalStateException("run with -Dbootstrap.servers=HOST:PORT (compat-tests/java_test.go does)");
    }
    return b;
  }

  /** "zombi" or "kafka": tests say where Zombi differs on purpose. */
  static String name() {
    return System.getProperty("broker", "zombi");
  }

  static boolean isZombi() {
    return name().equals("zombi");
  }

  /** A topic or group name unique to this run. */
  static String unique(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  /** Client properties with the bootstrap address set. */
  static Properties props() {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap());
    return p;
  }
}
