package dev.zombi.compat;

import static dev.zombi.compat.Clients.tp;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.GroupSubscribedToTopicException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.errors.UnknownTopicIdException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** kafka-clients 4.4.0 AdminClient. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AdminTest {
  private static Admin admin;

  @BeforeAll
  static void open() {
    admin = Clients.admin();
  }

  @AfterAll
  static void close() {
    if (admin != null) {
      admin.close(Duration.ofSeconds(10));
    }
  }

  private static <T> T get(org.apache.kafka.common.KafkaFuture<T> f) throws Exception {
    return f.get(30, TimeUnit.SECONDS);
  }

  private static Throwable cause(org.apache.kafka.common.KafkaFuture<?> f) {
    ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
    return e.getCause();
  }

  /** createTopics with partitions and configs, a second create of the same name, deleteTopics. */
  @Test
  void createAndDeleteTopics() throws Exception {
    String topic = Broker.unique("j-admin-topic");
    var created = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
        .configs(Map.of("retention.ms", "3600000", "cleanup.policy", "delete"))));
    get(created.all());
    assertEquals(3, get(created.numPartitions(topic)), "numPartitions in the CreateTopics response");
    assertEquals(1, get(created.replicationFactor(topic)), "replicationFactor in the CreateTopics response");
    Config cfg = get(created.config(topic));
    assertEquals("3600000", cfg.get("retention.ms").value(), "retention.ms in the CreateTopics response");
    assertNotNull(get(created.topicId(topic)), "topic id");

    Clients.waitFor("topic listed", Duration.ofSeconds(30), () -> {
      try {
        return get(admin.listTopics().names()).contains(topic);
      } catch (Exception e) {
        return false;
      }
    });
    TopicDescription d = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
    assertEquals(3, d.partitions().size(), "partitions");
    assertEquals(get(created.topicId(topic)), d.topicId(), "topic id in DescribeTopics");
    Node node = get(admin.describeCluster().nodes()).iterator().next();
    for (var p : d.partitions()) {
      assertEquals(node.id(), p.leader().id(), "leader of partition " + p.partition());
      assertEquals(List.of(node), p.replicas(), "replicas of partition " + p.partition());
      assertEquals(List.of(node), p.isr(), "isr of partition " + p.partition());
    }

    assertInstanceOf(TopicExistsException.class,
        cause(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all()), "creating it again");

    get(admin.deleteTopics(List.of(topic)).all());
    Clients.waitFor("topic gone from listTopics", Duration.ofSeconds(30), () -> {
      try {
        return !get(admin.listTopics().names()).contains(topic);
      } catch (Exception e) {
        return false;
      }
    });
    Clients.waitFor("describeTopics of the deleted topic fails", Duration.ofSeconds(30), () -> {
      try {
        get(admin.describeTopics(List.of(topic)).allTopicNames());
        return false;
      } catch (ExecutionException e) {
        return e.getCause() instanceof UnknownTopicOrPartitionException;
      } catch (Exception e) {
        return false;
      }
    });
    assertInstanceOf(UnknownTopicOrPartitionException.class,
        cause(admin.deleteTopics(List.of(topic)).all()), "deleting it again");
  }

  /** Topics by id (Metadata v12+, DeleteTopics v6+): describeTopics and deleteTopics with TopicCollection.ofTopicIds. */
  @Test
  void topicsById() throws Exception {
    String topic = Broker.unique("j-byid");
    Clients.createTopic(admin, topic, 2, null);
    Uuid id = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).topicId();
    assertNotNull(id, "topic id");
    assertFalse(Uuid.ZERO_UUID.equals(id), "a non-zero topic id");
    TopicDescription d = get(admin.describeTopics(TopicCollection.ofTopicIds(List.of(id))).allTopicIds()).get(id);
    assertEquals(topic, d.name(), "name of the topic described by id");
    assertEquals(2, d.partitions().size(), "partitions of the topic described by id");
    assertInstanceOf(UnknownTopicIdException.class,
        cause(admin.describeTopics(TopicCollection.ofTopicIds(List.of(Uuid.randomUuid()))).allTopicIds()),
        "describing an unknown topic id");
    get(admin.deleteTopics(TopicCollection.ofTopicIds(List.of(id))).all());
    Clients.waitFor("topic deleted by id gone from listTopics", Duration.ofSeconds(30), () -> {
      try {
        return !get(admin.listTopics().names()).contains(topic);
      } catch (Exception e) {
        return false;
      }
    });
  }

  /**
   * Topic configs are checked when the topic is created: an unknown name or a
   * bad value is refused (InvalidConfigurationException) and nothing is
   * created; validateOnly checks and creates nothing.
   */
  @Test
  void createTopicsChecksConfigs() throws Exception {
    Map<String, String> bad = new java.util.LinkedHashMap<>();
    bad.put("no.such.config", "x");
    bad.put("retention.ms", "abc");
    bad.put("segment.bytes", "100");
    bad.put("cleanup.policy", "foo");
    bad.put("compression.type", "none");
    bad.put("min.insync.replicas", "0");
    for (var e : bad.entrySet()) {
      String topic = Broker.unique("j-badcfg");
      Throwable t = cause(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
          .configs(Map.of(e.getKey(), e.getValue())))).all());
      assertInstanceOf(InvalidConfigurationException.class, t, e.getKey() + "=" + e.getValue());
      assertTrue(t.getMessage().contains(e.getKey()), "the message names the config: " + t.getMessage());
      assertFalse(get(admin.listTopics().names()).contains(topic), e.getKey() + "=" + e.getValue() + ": no topic created");
    }
    String topic = Broker.unique("j-validate");
    get(admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1)
        .configs(Map.of("cleanup.policy", "compact,delete", "retention.ms", "-1", "compression.type", "zstd"))),
        new CreateTopicsOptions().validateOnly(true)).all());
    assertFalse(get(admin.listTopics().names()).contains(topic), "validateOnly created the topic");
  }

  /**
   * Zombi is one broker, and so is this Apache Kafka: a replication factor
   * above 1 is refused with INVALID_REPLICATION_FACTOR by both, and nothing is
   * created.
   */
  @Test
  void replicationFactorAboveBrokerCount() throws Exception {
    String topic = Broker.unique("j-rf");
    assertInstanceOf(InvalidReplicationFactorException.class,
        cause(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 3))).all()),
        "replication factor 3 on a one-broker cluster");
    assertFalse(get(admin.listTopics().names()).contains(topic), "no topic created");
  }

  /** createPartitions grows a topic; a shrink is refused; the new partition takes records. */
  @Test
  void createPartitions() throws Exception {
    String topic = Broker.unique("j-parts");
    Clients.createTopic(admin, topic, 1, null);
    get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all());
    Clients.waitFor("3 partitions", Duration.ofSeconds(30), () -> {
      try {
        return get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).partitions().size() == 3;
      } catch (Exception e) {
        return false;
      }
    });
    assertInstanceOf(InvalidPartitionsException.class,
        cause(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all()), "decreasing to 2");
    assertInstanceOf(InvalidPartitionsException.class,
        cause(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all()), "the same count");
    try (KafkaProducer<String, String> p = Clients.producer("acks", "all")) {
      RecordMetadata md = p.send(new ProducerRecord<>(topic, 2, "k", "in the new partition")).get(60, TimeUnit.SECONDS);
      assertEquals(2, md.partition(), "partition");
      assertEquals(0, md.offset(), "offset");
    }
    try (KafkaConsumer<String, String> c = Clients.consumer()) {
      c.assign(List.of(tp(topic, 2)));
      assertEquals("in the new partition", Clients.pollN(c, 1, Duration.ofSeconds(30)).get(0).value(), "value");
    }
  }

  /** describeCluster: one node, which is also the controller the client is told about. */
  @Test
  void describeCluster() throws Exception {
    DescribeClusterResult r = admin.describeCluster();
    Collection<Node> nodes = get(r.nodes());
    assertEquals(1, nodes.size(), "nodes: " + nodes);
    Node node = nodes.iterator().next();
    String[] hp = Broker.bootstrap().split(":");
    assertEquals(Integer.parseInt(hp[hp.length - 1]), node.port(), "the node's advertised port");
    Node controller = get(r.controller());
    assertEquals(node.id(), controller.id(), "controller");
    String clusterId = get(r.clusterId());
    assertTrue(clusterId != null && !clusterId.isEmpty(), "cluster id");
  }

  /** describeConfigs of a topic (defaults and its own overrides) and of the broker. */
  @Test
  void describeConfigs() throws Exception {
    String topic = Broker.unique("j-configs");
    Clients.createTopic(admin, topic, 1, Map.of("retention.ms", "123456789", "min.compaction.lag.ms", "100"));
    ConfigResource tr = new ConfigResource(ConfigResource.Type.TOPIC, topic);
    int nodeId = get(admin.describeCluster().nodes()).iterator().next().id();
    ConfigResource br = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(nodeId));
    Map<ConfigResource, Config> all = get(admin.describeConfigs(List.of(tr, br)).all());

    Config tc = all.get(tr);
    ConfigEntry ret = tc.get("retention.ms");
    assertEquals("123456789", ret.value(), "retention.ms override");
    assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, ret.source(), "source of an override");
    assertFalse(ret.isDefault(), "an override is not a default");
    ConfigEntry lag = tc.get("min.compaction.lag.ms");
    assertEquals("100", lag.value(), "min.compaction.lag.ms override");
    assertEquals(ConfigEntry.ConfigType.LONG, lag.type(), "type of min.compaction.lag.ms");
    assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, lag.source(), "source of min.compaction.lag.ms");
    ConfigEntry cp = tc.get("cleanup.policy");
    assertEquals("delete", cp.value(), "cleanup.policy");
    assertTrue(cp.isDefault(), "cleanup.policy is a default: " + cp);
    for (String name : List.of("max.message.bytes", "min.insync.replicas", "segment.bytes", "compression.type",
        "message.timestamp.type")) {
      assertNotNull(tc.get(name), "topic config " + name + " listed");
      assertNotNull(tc.get(name).value(), "topic config " + name + " has a value");
    }
    assertEquals(ConfigEntry.ConfigType.INT, tc.get("max.message.bytes").type(), "type of max.message.bytes");

    Config bc = all.get(br);
    assertEquals("1", bc.get("num.partitions").value(), "num.partitions (both brokers run with 1)");
    assertEquals("true", bc.get("auto.create.topics.enable").value(), "auto.create.topics.enable");
    assertEquals("1048588", bc.get("message.max.bytes").value(), "message.max.bytes");
    assertEquals("1", bc.get("offsets.topic.replication.factor").value(), "offsets.topic.replication.factor");
    assertTrue(bc.get("advertised.listeners").value().contains(Broker.bootstrap()),
        "advertised.listeners " + bc.get("advertised.listeners").value() + " names " + Broker.bootstrap());

    assertInstanceOf(UnknownTopicOrPartitionException.class,
        cause(admin.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, Broker.unique("nope"))))
            .all()), "configs of a topic that does not exist");
  }

  /** listGroups/listConsumerGroups and describeConsumerGroups of a classic group: members, assignment, state. */
  @Test
  void listAndDescribeConsumerGroups() throws Exception {
    String topic = Broker.unique("j-groups");
    String group = Broker.unique("g-groups");
    Clients.createTopic(admin, topic, 2, null);
    Set<TopicPartition> parts = Set.of(tp(topic, 0), tp(topic, 1));
    try (Clients.Member m = new Clients.Member("m", topic, "group.id", group, "client.id", "member-m",
        "partition.assignment.strategy", RangeAssignor.class.getName())) {
      Clients.waitFor("m owns both partitions", Duration.ofSeconds(60), () -> m.assignment().equals(parts));

      Collection<GroupListing> listed = get(admin.listGroups().all());
      GroupListing gl = listed.stream().filter(g -> g.groupId().equals(group)).findFirst()
          .orElseThrow(() -> new AssertionError(group + " not listed in " + listed));
      assertEquals("consumer", gl.protocol(), "protocol type");
            var cgl = get(admin.listConsumerGroups().all()).stream().filter(g -> g.groupId().equals(group)).findFirst();
      assertTrue(cgl.isPresent(), "listConsumerGroups lists " + group);
      assertEquals(java.util.Optional.of(GroupState.STABLE), cgl.get().groupState(), "state in listConsumerGroups");
      assertEquals(java.util.Optional.of(GroupType.CLASSIC), gl.type(), "group type");
      // ListGroups filtered by state (v4+) and type (v5+), as kafka-consumer-groups --list --state does.
      assertTrue(listed(ListGroupsOptions.forConsumerGroups().inGroupStates(Set.of(GroupState.STABLE))).contains(group),
          "listed among STABLE groups");
      assertFalse(listed(ListGroupsOptions.forConsumerGroups().inGroupStates(Set.of(GroupState.EMPTY))).contains(group),
          "listed among EMPTY groups");
      assertTrue(listed(new ListGroupsOptions().withTypes(Set.of(GroupType.CLASSIC))).contains(group),
          "listed among CLASSIC groups");

      ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
      assertEquals(GroupState.STABLE, d.groupState(), "state");
      assertEquals("range", d.partitionAssignor(), "assignor");
      assertFalse(d.isSimpleConsumerGroup(), "simple");
      assertEquals(1, d.members().size(), "members: " + d.members());
      MemberDescription md = d.members().iterator().next();
      assertEquals("member-m", md.clientId(), "client id");
      assertEquals(m.memberId, md.consumerId(), "member id");
      assertEquals("/127.0.0.1", md.host(), "host (the member's address as Kafka writes it)");
      assertEquals(parts, md.assignment().topicPartitions(), "assignment");
      Node node = get(admin.describeCluster().nodes()).iterator().next();
      assertEquals(node.id(), d.coordinator().id(), "coordinator");
    }
    // The member left: the group is empty but known (it has no committed offsets here).
    Clients.waitFor("group empty", Duration.ofSeconds(30), () -> {
      try {
        ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
        return d.groupState() == GroupState.EMPTY && d.members().isEmpty();
      } catch (Exception e) {
        return false;
      }
    });
    get(admin.deleteConsumerGroups(List.of(group)).all());
    assertFalse(get(admin.listConsumerGroups().all()).stream().anyMatch(g -> g.groupId().equals(group)),
        "deleted group still listed");
  }

  private static Set<String> listed(ListGroupsOptions opts) throws Exception {
    Set<String> out = new java.util.HashSet<>();
    for (GroupListing g : get(admin.listGroups(opts).all())) {
      out.add(g.groupId());
    }
    return out;
  }

  /**
   * A group's committed offsets through the AdminClient, as kafka-consumer-groups
   * uses them: listConsumerGroupOffsets, alterConsumerGroupOffsets (an empty
   * group), deleteConsumerGroupOffsets.
   */
  @Test
  void consumerGroupOffsets() throws Exception {
    String topic = Broker.unique("j-goffsets");
    String group = Broker.unique("g-goffsets");
    Clients.createTopic(admin, topic, 2, null);
    TopicPartition p0 = tp(topic, 0), p1 = tp(topic, 1);
    try (KafkaConsumer<String, String> c = Clients.consumer("group.id", group)) {
      c.assign(List.of(p0, p1));
      c.commitSync(Map.of(p0, new OffsetAndMetadata(3, "m0"), p1, new OffsetAndMetadata(5)));
    }
    Map<TopicPartition, OffsetAndMetadata> got = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
    assertEquals(3, got.get(p0).offset(), "committed offset of partition 0");
    assertEquals("m0", got.get(p0).metadata(), "committed metadata of partition 0");
    assertEquals(5, got.get(p1).offset(), "committed offset of partition 1");
    get(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(1))).all());
    got = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
    assertEquals(1, got.get(p0).offset(), "partition 0 after alterConsumerGroupOffsets");
    get(admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all());
    got = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
    assertEquals(Set.of(p0), got.keySet(), "partitions with offsets after deleteConsumerGroupOffsets(p1)");
  }

  /**
   * What the AdminClient may not do to a group with members, as Kafka refuses
   * it: deleteConsumerGroups (GroupNotEmptyException), alterConsumerGroupOffsets
   * (UnknownMemberIdException: the group is not empty), deleteConsumerGroupOffsets
   * of a subscribed topic (GroupSubscribedToTopicException). And
   * removeMembersFromConsumerGroup (LeaveGroup v3+ by group.instance.id)
   * takes a static member out at once.
   */
  @Test
  void activeGroupRefusalsAndRemoveMembers() throws Exception {
    String topic = Broker.unique("j-active");
    String group = Broker.unique("g-active");
    Clients.createTopic(admin, topic, 1, null);
    TopicPartition p0 = tp(topic, 0);
    try (Clients.Member m = new Clients.Member("s", topic, "group.id", group, "group.instance.id", "s",
        "session.timeout.ms", "45000")) {
      Clients.waitFor("s owns the partition", Duration.ofSeconds(60), () -> m.assignment().equals(Set.of(p0)));
      assertInstanceOf(GroupNotEmptyException.class, cause(admin.deleteConsumerGroups(List.of(group)).all()),
          "deleting a group with a member");
      assertInstanceOf(UnknownMemberIdException.class,
          cause(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(0))).all()),
          "altering the offsets of a group with a member");
      assertInstanceOf(GroupSubscribedToTopicException.class,
          cause(admin.deleteConsumerGroupOffsets(group, Set.of(p0)).all()),
          "deleting the offsets of a topic the group is subscribed to");
    }
    // s closed without leaving (static): it stays a member until its session ends...
    ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
    assertEquals(1, d.members().size(), "the static member is still in the group: " + d.members());
    assertEquals(java.util.Optional.of("s"), d.members().iterator().next().groupInstanceId(), "its instance id");
    // ...unless the AdminClient removes it.
    get(admin.removeMembersFromConsumerGroup(group,
        new RemoveMembersFromConsumerGroupOptions(List.of(new MemberToRemove("s")))).all());
    d = get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
    assertEquals(GroupState.EMPTY, d.groupState(), "state after removing the static member");
    assertEquals(0, d.members().size(), "members after removing the static member");
    assertInstanceOf(UnknownMemberIdException.class,
        cause(admin.removeMembersFromConsumerGroup(group,
            new RemoveMembersFromConsumerGroupOptions(List.of(new MemberToRemove("nobody")))).all()),
        "removing an instance id that is not a member");
  }

  /** deleteRecords moves the log start offset; records below it are gone. */
  @Test
  void deleteRecords() throws Exception {
    String topic = Broker.unique("j-delrec");
    Clients.createTopic(admin, topic, 1, null);
    TopicPartition tp = tp(topic, 0);
    try (KafkaProducer<String, String> p = Clients.producer("acks", "all")) {
      List<ProducerRecord<String, String>> rs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        rs.add(new ProducerRecord<>(topic, 0, "k", "v" + i));
      }
      Clients.sendAll(p, rs);
    }
    var res = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4)));
    assertEquals(4, get(res.lowWatermarks().get(tp)).lowWatermark(), "low watermark");
    assertEquals(4, get(admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp)).offset(),
        "earliest offset after deleteRecords");
    assertEquals(10, get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp)).offset(),
        "latest offset after deleteRecords");
    try (KafkaConsumer<String, String> c = Clients.consumer("auto.offset.reset", "none")) {
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      var got = Clients.pollN(c, 6, Duration.ofSeconds(30));
      assertEquals(4, got.get(0).offset(), "first offset from the beginning");
      assertEquals("v4", got.get(0).value(), "first value from the beginning");
      c.seek(tp, 2);
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      OffsetOutOfRangeException oor = null;
      while (oor == null && System.nanoTime() < deadline) {
        try {
          var rs = c.poll(Duration.ofMillis(200));
          assertTrue(rs.isEmpty(), "records below the log start offset: " + rs.count());
        } catch (OffsetOutOfRangeException e) {
          oor = e;
        }
      }
      assertNotNull(oor, "fetching offset 2 (deleted) fails with OffsetOutOfRangeException");
      assertEquals(Map.of(tp, 2L), oor.offsetOutOfRangePartitions(), "the out-of-range position");
    }
    assertInstanceOf(org.apache.kafka.common.errors.OffsetOutOfRangeException.class,
        cause(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(11))).all()), "deleting past the end");
  }

  /** listOffsets: earliest, latest, by timestamp (first offset at or after it), and max timestamp. */
  @Test
  void listOffsetsByTime() throws Exception {
    String topic = Broker.unique("j-offsets");
    Clients.createTopic(admin, topic, 1, null);
    TopicPartition tp = tp(topic, 0);
    long t0 = System.currentTimeMillis() - 600_000;
    try (KafkaProducer<String, String> p = Clients.producer("acks", "all")) {
      List<ProducerRecord<String, String>> rs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        // Record 6 has the largest timestamp; the others grow by a second.
        long ts = i == 6 ? t0 + 100_000 : t0 + i * 1000L;
        rs.add(new ProducerRecord<>(topic, 0, ts, "k", "v" + i));
      }
      Clients.sendAll(p, rs);
    }
    ListOffsetsResultInfo e = get(admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp));
    assertEquals(0, e.offset(), "earliest");
    ListOffsetsResultInfo l = get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp));
    assertEquals(10, l.offset(), "latest");
    ListOffsetsResultInfo lc = get(admin.listOffsets(Map.of(tp, OffsetSpec.latest()),
        new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).partitionResult(tp));
    assertEquals(10, lc.offset(), "latest for read_committed (no transactions: the high watermark)");
    ListOffsetsResultInfo t = get(admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(t0 + 3500))).partitionResult(tp));
    assertEquals(4, t.offset(), "first offset at or after t0+3.5s");
    assertEquals(t0 + 4000, t.timestamp(), "its timestamp");
    ListOffsetsResultInfo exact = get(admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(t0 + 2000))).partitionResult(tp));
    assertEquals(2, exact.offset(), "offset at exactly t0+2s");
    ListOffsetsResultInfo after = get(admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(t0 + 200_000))).partitionResult(tp));
    assertEquals(-1, after.offset(), "a time after every record: no offset");
    ListOffsetsResultInfo max = get(admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp));
    assertEquals(6, max.offset(), "offset of the largest timestamp");
    assertEquals(t0 + 100_000, max.timestamp(), "the largest timestamp");
  }
}
