"""kafka-python 3.0 (pure Python, from PyPI) against one broker.

Usage: python kafka_python_client.py BOOTSTRAP TOPIC GROUP

The same scenario as confluent_client.py (steps 1-7), with kafka-python's
KafkaAdminClient, KafkaProducer and KafkaConsumer; prints what came back as
one JSON object on stdout, with "requests": every request kind and version
the client sent (from its connection log), since 3.x negotiates much newer
versions than 2.0.
"""

import json
import logging
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetSpec, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions
from kafka.errors import KafkaError
from kafka.consumer.subscription_state import ConsumerRebalanceListener

bootstrap, topic, group = sys.argv[1:4]
COMPRESSIONS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 10
EXTRA = 5
RETENTION_MS = "123456789"
# The extra records' timestamps, as in confluent_client.py.
T0 = (int(time.time()) + 120) * 1000

sent = set()


class RequestLog(logging.Handler):
    """Collects 'ApiName vN' from kafka.net.connection's 'Request %d: %s'."""

    def emit(self, rec):
        if rec.msg == '%s Request %d: %s' and len(rec.args) == 3:
            r = rec.args[2]
            sent.add(f"{type(r).__name__} v{r.API_VERSION}")


conn_log = logging.getLogger("kafka.net.connection")
conn_log.setLevel(logging.DEBUG)
conn_log.addHandler(RequestLog())
conn_log.propagate = False
logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                    format="%(asctime)s %(levelname)s %(name)s %(message)s")
# The group's story on stderr, for a failure's message.
logging.getLogger("kafka.coordinator").setLevel(logging.INFO)


def deadline(step, seconds):
    end = time.monotonic() + seconds

    def check():
        if time.monotonic() > end:
            raise SystemExit(f"timeout after {seconds}s: {step} (assignments {assigned})")
    return check


def record(m):
    return {
        "p": m.partition, "o": m.offset,
        "k": m.key.decode() if m.key is not None else None,
        "v": m.value.decode(),
        "h": [[k, v.decode()] for k, v in (m.headers or [])],
    }


out = {"kafka_python": __import__("kafka").__version__}
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)

# 1. Admin: create, describe, configs.
admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1,
                             "configs": {"retention.ms": RETENTION_MS}}}, timeout_ms=30000)
check = deadline("the new topic in the metadata", 30)
while True:
    t = [x for x in admin.describe_topics([topic]) if x["name"] == topic and x["error_code"] == 0]
    if t and len(t[0]["partitions"]) == 2:
        break
    check()
    time.sleep(0.2)
out["partitions"] = sorted(p["partition_index"] for p in t[0]["partitions"])
out["listed"] = topic in admin.list_topics()
cfg = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
entries = list(list(cfg.values())[0].values())[0]
out["configs"] = {k: entries[k]["value"] for k in ("retention.ms", "cleanup.policy") if k in entries}

# 2. Two consumers of one group share the two partitions.
assigned = {}


class Listener(ConsumerRebalanceListener):
    def __init__(self, name):
        self.name = name

    def on_partitions_assigned(self, parts):
        assigned[self.name] = sorted(p.partition for p in parts)

    def on_partitions_revoked(self, parts):
        assigned[self.name] = []


def consumer(name):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, client_id=name,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      session_timeout_ms=10000, heartbeat_interval_ms=500,
                      metadata_max_age_ms=1000)
    c.subscribe([topic], listener=Listener(name))
    return c


consumers = {"c1": consumer("c1"), "c2": consumer("c2")}
got = {"c1": [], "c2": []}


def poll(n, c, timeout_ms=1000):
    # 1 s while the group may rebalance: kafka-python 3.0.12 drops a JoinGroup/SyncGroup round
    # that completes after poll() has returned on its timeout (the next poll
    # sees the finished task and sends a new JoinGroup instead of taking its
    # assignment, coordinator/base.py join_group_async). With 200 ms polls
    # and a busy machine the leader lost round after round (up to 73, once
    # for over a minute): a rebalance storm, seen against Zombi, from client
    # code that is the same against any broker (Zombi's log shows the leader
    # rejoining each stable generation of its own accord).
    for recs in c.poll(timeout_ms=timeout_ms).values():
        got[n].extend(record(m) for m in recs)


check = deadline("two consumers hold one partition each", 60)
while not (len(assigned.get("c1", [])) == 1 and len(assigned.get("c2", [])) == 1):
    check()
    for n, c in consumers.items():
        poll(n, c)
out["assignments"] = dict(assigned)

# 3. Idempotent acks=all producers, one per codec.
deliveries = []


def produce(codec, n, tag, t0=None):
    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                      compression_type=codec, linger_ms=20)
    futs = [p.send(topic, key=f"{tag}-k{i}".encode(), value=f"{tag}-v{i}".encode(), partition=i % 2,
                   headers=[("codec", codec.encode()), ("i", str(i).encode())],
                   timestamp_ms=None if t0 is None else t0 + i * 1000) for i in range(n)]
    p.flush(timeout=30)
    for i, f in enumerate(futs):
        md = f.get(timeout=30)
        deliveries.append({"p": md.partition, "o": md.offset, "k": f"{tag}-k{i}", "v": f"{tag}-v{i}"})
    p.close(timeout=10)


for codec in COMPRESSIONS:
    produce(codec, PER_CODEC, codec)
out["deliveries"] = list(deliveries)

# 4. Read everything, commit, close.
total = len(COMPRESSIONS) * PER_CODEC
check = deadline(f"the group reads {total} records", 60)
while sum(len(v) for v in got.values()) < total:
    check()
    for n, c in consumers.items():
        poll(n, c, 200)  # the group is stable: short polls, not 1 s on the idle one
out["consumed"] = got
out["assignments_end"] = dict(assigned)
for c in consumers.values():
    c.commit()
for c in consumers.values():
    c.close()

# 5. Five more records, a new consumer resumes from the commit.
deliveries.clear()
produce("zstd", EXTRA, "extra", T0)
out["extra_deliveries"] = list(deliveries)
c3 = consumer("c3")
out["committed"] = {str(p): c3.committed(TopicPartition(topic, p)) for p in (0, 1)}
got["c3"] = []
check = deadline("the new consumer reads the extra records", 60)
while len(got["c3"]) < EXTRA:
    check()
    poll("c3", c3)
end = time.monotonic() + 1
while time.monotonic() < end:
    poll("c3", c3)
out["resumed"] = got.pop("c3")
c3.commit()

# 6. Offsets by time and the rest of the admin client.
tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]


def by_partition(d, f=lambda v: v):
    return {str(tp.partition): f(v) for tp, v in d.items()}


x = out["admin"] = {"t0": T0}
x["earliest"] = by_partition(c3.beginning_offsets(tps))
x["latest"] = by_partition(c3.end_offsets(tps))
x["offsets_for_times"] = by_partition(c3.offsets_for_times({tp: T0 + 1500 for tp in tps}), lambda v: v.offset)
x["for_timestamp"] = by_partition(admin.list_partition_offsets({tp: T0 + 1500 for tp in tps}), lambda v: v.offset)
x["max_timestamp"] = by_partition(admin.list_partition_offsets({tp: OffsetSpec.MAX_TIMESTAMP for tp in tps}),
                                  lambda v: v.offset)
c3.close()
cl = admin.describe_cluster()
x["cluster"] = {"id": cl["cluster_id"], "nodes": [b["broker_id"] for b in cl["brokers"]],
                "controller": cl["controller_id"]}
x["groups"] = [g["group_id"] for g in admin.list_groups() if g["group_id"] == group]
g = admin.describe_groups([group])[group]
x["group"] = {"state": g["group_state"].upper(), "members": len(g["members"])}
x["group_offsets"] = by_partition(admin.list_group_offsets({group: None})[group], lambda v: v.offset)
admin.create_partitions({topic: NewPartitions(3)})
x["partitions_after"] = len([p for t in admin.describe_topics([topic]) if t["name"] == topic for p in t["partitions"]])
x["low_watermark"] = admin.delete_records({TopicPartition(topic, 0): 2})[TopicPartition(topic, 0)]["low_watermark"]
x["earliest_after_delete"] = by_partition(admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps}),
                                          lambda v: v.offset)
try:
    # IncrementalAlterConfigs where the broker has it, else AlterConfigs.
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "7200000"})])
    cfg = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    x["retention_after_alter"] = list(list(cfg.values())[0].values())[0]["retention.ms"]["value"]
except (KafkaError, ValueError) as e:
    x["alter_error"] = type(e).__name__
admin.delete_groups([group])
x["groups_after_delete"] = [g["group_id"] for g in admin.list_groups() if g["group_id"] == group]

# 7. Delete the topic.
admin.delete_topics([topic], timeout_ms=30000)
check = deadline("the deleted topic leaves the metadata", 30)
while topic in admin.list_topics():
    check()
    time.sleep(0.2)
out["deleted"] = True
admin.close()

out["requests"] = sorted(sent)
json.dump(out, sys.stdout)
