"""confluent-kafka (librdkafka) from PyPI against one broker.

Usage: python confluent_client.py BOOTSTRAP TOPIC GROUP

Runs the scenario of compat-tests/python_pypi_test.go and prints what came
back as one JSON object on stdout; the Go test makes the assertions. Every
wait has a deadline: a step that does not finish raises, and the script
exits non-zero with the step's name.

1. AdminClient.create_topics (2 partitions, retention.ms set), list_topics,
   describe_configs.
2. Two consumers of one group subscribe and poll until each holds one of the
   two partitions.
3. Four idempotent acks=all producers (gzip, snappy, lz4, zstd) send keyed
   records with headers, alternately to partitions 0 and 1; the delivery
   reports give the offsets.
4. The two consumers read every record, commit synchronously and close.
5. Five more records, with timestamps a second apart; a new consumer of the
   group reads the committed offsets, resumes from them and commits.
6. Offsets by time and the rest of the AdminClient: list_offsets (earliest,
   latest, a timestamp, max_timestamp), offsets_for_times, describe_cluster,
   list/describe consumer groups and their offsets, create_partitions,
   delete_records, incremental_alter_configs (an error is reported, not
   raised: Zombi has not got it yet, issue 12), delete_consumer_groups.
7. AdminClient.delete_topics, then list_topics until the topic is gone.
"""

import json
import sys
import time

from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewPartitions, NewTopic, OffsetSpec)

bootstrap, topic, group = sys.argv[1:4]
COMPRESSIONS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 10
EXTRA = 5
RETENTION_MS = "123456789"
# The extra records' timestamps: T0 + i seconds, two minutes ahead of now (within
# Kafka's log.message.timestamp.after.max.ms) so that they are the newest.
T0 = (int(time.time()) + 120) * 1000


def deadline(step, seconds):
    end = time.monotonic() + seconds

    def check():
        if time.monotonic() > end:
            raise SystemExit(f"timeout after {seconds}s: {step}")
    return check


def record(m):
    if m.error():
        raise KafkaException(m.error())
    return {
        "p": m.partition(), "o": m.offset(),
        "k": m.key().decode() if m.key() is not None else None,
        "v": m.value().decode(),
        "h": [[k, v.decode()] for k, v in (m.headers() or [])],
    }


out = {"librdkafka": list(__import__("confluent_kafka").libversion())}
admin = AdminClient({"bootstrap.servers": bootstrap})

# 1. Admin: create, list, describe.
fs = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                   config={"retention.ms": RETENTION_MS})],
                         operation_timeout=30, request_timeout=30)
fs[topic].result(timeout=30)
md = admin.list_topics(topic=topic, timeout=30)
out["partitions"] = sorted(md.topics[topic].partitions)
cfg = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)], request_timeout=30)
entries = list(cfg.values())[0].result(timeout=30)
out["configs"] = {k: entries[k].value for k in ("retention.ms", "cleanup.policy") if k in entries}

# 2. Two consumers of one group share the two partitions.
assigned = {}


def consumer(name):
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
        "topic.metadata.refresh.interval.ms": 1000,
    })

    def on_assign(c, parts):
        assigned[name] = sorted(p.partition for p in parts)

    def on_revoke(c, parts):
        assigned[name] = []
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    return c


consumers = {"c1": consumer("c1"), "c2": consumer("c2")}
got = {"c1": [], "c2": []}
check = deadline("two consumers hold one partition each", 60)
while not (len(assigned.get("c1", [])) == 1 and len(assigned.get("c2", [])) == 1):
    check()
    for n, c in consumers.items():
        m = c.poll(0.2)
        if m is not None:
            got[n].append(record(m))
out["assignments"] = dict(assigned)

# 3. Idempotent acks=all producers, one per codec.
deliveries = []


def on_delivery(err, m):
    if err is not None:
        deliveries.append({"error": str(err)})
        return
    deliveries.append({"p": m.partition(), "o": m.offset(), "k": m.key().decode(), "v": m.value().decode()})


def produce(codec, n, tag, t0=None):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "compression.type": codec, "linger.ms": 20})
    for i in range(n):
        ts = {} if t0 is None else {"timestamp": t0 + i * 1000}
        p.produce(topic, key=f"{tag}-k{i}", value=f"{tag}-v{i}", partition=i % 2,
                  headers=[("codec", codec.encode()), ("i", str(i).encode())], on_delivery=on_delivery, **ts)
    left = p.flush(30)
    if left:
        raise SystemExit(f"{codec}: {left} records not delivered in 30s")


for codec in COMPRESSIONS:
    produce(codec, PER_CODEC, codec)
out["deliveries"] = list(deliveries)

# 4. Read everything, commit, close.
total = len(COMPRESSIONS) * PER_CODEC
check = deadline(f"the group reads {total} records", 60)
while sum(len(v) for v in got.values()) < total:
    check()
    for n, c in consumers.items():
        m = c.poll(0.2)
        if m is not None:
            got[n].append(record(m))
out["consumed"] = got
out["assignments_end"] = dict(assigned)
for c in consumers.values():
    c.commit(asynchronous=False)
    c.close()

# 5. Five more records, a new consumer resumes from the commit.
deliveries.clear()
produce("zstd", EXTRA, "extra", T0)
out["extra_deliveries"] = list(deliveries)
c3 = consumer("c3")
parts = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
out["committed"] = {str(tp.partition): tp.offset for tp in c3.committed(parts, timeout=30)}
resumed = []
check = deadline("the new consumer reads the extra records", 60)
while len(resumed) < EXTRA:
    check()
    m = c3.poll(0.2)
    if m is not None:
        resumed.append(record(m))
# Nothing beyond them.
end = time.monotonic() + 1
while time.monotonic() < end:
    m = c3.poll(0.2)
    if m is not None:
        resumed.append(record(m))
out["resumed"] = resumed
c3.commit(asynchronous=False)

# 6. Offsets by time, the rest of the AdminClient.
tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]


def list_offsets(spec):
    fs = admin.list_offsets({tp: spec for tp in tps}, request_timeout=30)
    return {str(tp.partition): f.result(timeout=30).offset for tp, f in fs.items()}


x = out["admin"] = {"t0": T0}
x["earliest"] = list_offsets(OffsetSpec.earliest())
x["latest"] = list_offsets(OffsetSpec.latest())
x["for_timestamp"] = list_offsets(OffsetSpec.for_timestamp(T0 + 1500))
x["max_timestamp"] = list_offsets(OffsetSpec.max_timestamp())
x["offsets_for_times"] = {str(tp.partition): tp.offset for tp in c3.offsets_for_times(
    [TopicPartition(topic, p, T0 + 1500) for p in (0, 1)], timeout=30)}
c3.close()
cl = admin.describe_cluster(request_timeout=30).result(timeout=30)
x["cluster"] = {"id": cl.cluster_id, "nodes": [n.id for n in cl.nodes],
                "controller": cl.controller.id if cl.controller else None}
x["groups"] = sorted(g.group_id for g in admin.list_consumer_groups(request_timeout=30).result(timeout=30).valid
                     if g.group_id == group)
g = admin.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=30)
x["group"] = {"state": g.state.name, "members": len(g.members)}
x["group_offsets"] = {str(tp.partition): tp.offset for tp in admin.list_consumer_group_offsets(
    [ConsumerGroupTopicPartitions(group)], request_timeout=30)[group].result(timeout=30).topic_partitions}
admin.create_partitions([NewPartitions(topic, 3)], request_timeout=30)[topic].result(timeout=30)
x["partitions_after"] = len(admin.list_topics(topic=topic, timeout=30).topics[topic].partitions)
x["low_watermark"] = admin.delete_records([TopicPartition(topic, 0, 2)], request_timeout=30)[
    TopicPartition(topic, 0, 2)].result(timeout=30).low_watermark
x["earliest_after_delete"] = list_offsets(OffsetSpec.earliest())
try:
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    list(admin.incremental_alter_configs([res], request_timeout=30).values())[0].result(timeout=30)
    entries = list(admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)],
                                          request_timeout=30).values())[0].result(timeout=30)
    x["retention_after_alter"] = entries["retention.ms"].value
except KafkaException as e:
    x["alter_error"] = e.args[0].name()
admin.delete_consumer_groups([group], request_timeout=30)[group].result(timeout=30)
x["groups_after_delete"] = [g.group_id for g in admin.list_consumer_groups(request_timeout=30).result(timeout=30).valid
                            if g.group_id == group]

# 7. Delete the topic.
admin.delete_topics([topic], operation_timeout=30, request_timeout=30)[topic].result(timeout=30)
check = deadline("the deleted topic leaves the metadata", 30)
while topic in admin.list_topics(timeout=10).topics:
    check()
    time.sleep(0.2)
out["deleted"] = True

json.dump(out, sys.stdout)
