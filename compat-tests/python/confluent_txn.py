"""confluent-kafka (librdkafka) transactions against one broker.

Usage: python confluent_txn.py BOOTSTRAP OUT IN CTP GROUP TXNID [MANY FENCE]

Runs the transaction scenario of compat-tests/txn_clients_test.go and prints
what came back as one JSON object on stdout; the Go test makes the
assertions. Every wait has a deadline: a step that does not finish raises,
and the script exits non-zero with the step's name.

1. A transactional producer commits c1-0..5, aborts a-0..3 (flushed first,
   so that they are in the log), commits c2-0..3 to OUT, record i of a
   transaction to partition i % 2.
2. Consume-transform-produce: a read_committed member of GROUP reads IN
   three records at a time and writes "x-" + value to CTP (partition
   n % 2 for in-n) in a transaction with send_offsets_to_transaction:
   in-0..2 committed, in-3..5 aborted; then a new member resumes from the
   group's offset and commits in-3..5. The group's offset is read with the
   AdminClient (require_stable=False) while the first transaction is open,
   after its commit, once the new member has resumed, and at the end.
3. With MANY and FENCE: an lz4 producer writes 30 transactions of 5 records
   to MANY, aborting every third; then a second producer with the id of a
   first fences it while its transaction on FENCE is open (fenced-0,
   flushed): the old producer's commit fails, the new one commits fence-ok.
4. Two consumers, isolation.level read_committed and read_uncommitted, read
   every topic from the start with 1 KiB partition fetches.
"""

import json
import sys
import time

import confluent_kafka
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient

bootstrap, out_topic, in_topic, ctp_topic, group, txn_id = sys.argv[1:7]
many_topic, fence_topic = (sys.argv[7:9] + [None, None])[:2]
PARTS = 2


def deadline(step, seconds):
    end = time.monotonic() + seconds

    def check():
        if time.monotonic() > end:
            raise SystemExit(f"timeout after {seconds}s: {step}")
    return check


delivery_errors = []


def on_delivery(err, m):
    if err is not None:
        delivery_errors.append(str(err))


def producer(tid, **extra):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid,
                  "transaction.timeout.ms": 60000, "linger.ms": 5, **extra})
    p.init_transactions(30)
    return p


def end(p, commit):
    # abort_transaction purges what is not sent yet: flush so that the
    # aborted records are in the log for read_uncommitted to see.
    left = p.flush(30)
    if left:
        raise SystemExit(f"{left} records not delivered in 30s")
    if delivery_errors:
        raise SystemExit(f"delivery failed: {delivery_errors}")
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


out = {"client": "confluent-kafka %s (librdkafka %s)" % (confluent_kafka.__version__,
                                                          confluent_kafka.libversion()[0])}

# 1. Commit, abort, commit.
p = producer(txn_id)
for tag, n, commit in (("c1-", 6, True), ("a-", 4, False), ("c2-", 4, True)):
    p.begin_transaction()
    for i in range(n):
        p.produce(out_topic, value=f"{tag}{i}", partition=i % PARTS, on_delivery=on_delivery)
    end(p, commit)

# 2. Consume-transform-produce with the group's offsets in the transaction.
admin = AdminClient({"bootstrap.servers": bootstrap})


def committed():
    fs = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(in_topic, 0)])],
        require_stable=False, request_timeout=30)
    tp = fs[group].result(timeout=30).topic_partitions[0]
    if tp.error:
        raise KafkaException(tp.error)
    return tp.offset if tp.offset >= 0 else -1


def member():
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
    })
    c.subscribe([in_topic])
    return c


def take(c, n):
    got = []
    check = deadline(f"the group member reads {n} records of {in_topic}", 20)
    while len(got) < n:
        check()
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got.append(m)
    return got


offsets = out["offsets"] = {}
inputs = out["inputs"] = []
tp = producer(txn_id + "-ctp")


def wait_committed(want):
    # Kafka makes the offsets of a transaction visible when its coordinator
    # has written the markers, a moment after commit_transaction returns.
    stop = time.monotonic() + 10
    o = committed()
    while o != want and time.monotonic() < stop:
        time.sleep(0.05)
        o = committed()
    return o


def transform(c, msgs, commit, pending=False):
    inputs.append([m.value().decode() for m in msgs])
    tp.begin_transaction()
    for m in msgs:
        v = m.value().decode()
        tp.produce(ctp_topic, value="x-" + v, partition=int(v.split("-")[1]) % PARTS, on_delivery=on_delivery)
    tp.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
    if pending:
        offsets["pending"] = committed()
    end(tp, commit)


c = member()
transform(c, take(c, 3), True, pending=True)
offsets["after_commit"] = wait_committed(3)
transform(c, take(c, 3), False)
c.close()  # no commit of its own: enable.auto.commit is off
# A new member resumes from the group's offset: the abort did not move it.
c = member()
msgs = take(c, 3)
offsets["after_abort"] = committed()
transform(c, msgs, True)
offsets["final"] = wait_committed(6)
c.close()

# 3. (With MANY and FENCE) many small transactions, compressed; fencing.
if many_topic:
    m = producer(txn_id + "-many", **{"compression.type": "lz4"})
    for k in range(30):
        m.begin_transaction()
        for i in range(5):
            m.produce(many_topic, value=f"m{k}-{i}", partition=i % PARTS, on_delivery=on_delivery)
        end(m, k % 3 != 1)

    old = producer(txn_id + "-fence")
    old.begin_transaction()
    old.produce(fence_topic, value="fenced-0", partition=0, on_delivery=on_delivery)
    old.flush(30)
    new = producer(txn_id + "-fence")
    try:
        old.commit_transaction(30)
        out["fenced_error"] = ""
    except KafkaException as e:
        err = e.args[0]
        out["fenced_error"] = f"{err.name()} fatal={err.fatal()}: {err.str()}"
    new.begin_transaction()
    new.produce(fence_topic, value="fence-ok", partition=0, on_delivery=on_delivery)
    end(new, True)

# 4. Every topic at both isolation levels, with 1 KiB partition fetches (many
# of them end inside a transaction), the two consumers at once.
topics = {out_topic: PARTS, ctp_topic: PARTS}
want = {"read_committed": 10 + 6, "read_uncommitted": 14 + 9}
if many_topic:
    topics.update({many_topic: PARTS, fence_topic: 1})
    want["read_committed"] += 100 + 1
    want["read_uncommitted"] += 150 + 2
readers = {}
for iso in want:
    c = readers[iso] = Consumer({"bootstrap.servers": bootstrap, "group.id": group + "-reader",
                                 "isolation.level": iso, "enable.auto.commit": False,
                                 "max.partition.fetch.bytes": 1024})
    c.assign([TopicPartition(t, p, confluent_kafka.OFFSET_BEGINNING) for t, n in topics.items() for p in range(n)])
got = {iso: {t: [] for t in topics} for iso in want}


def poll_all():
    for iso, c in readers.items():
        m = c.poll(0.05)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got[iso][m.topic()].append({"p": m.partition(), "o": m.offset(), "v": m.value().decode()})


check = deadline(f"reads of {want} records", 20)
while any(sum(len(v) for v in got[iso].values()) < n for iso, n in want.items()):
    check()
    poll_all()
stop = time.monotonic() + 0.5  # nothing beyond them
while time.monotonic() < stop:
    poll_all()
for c in readers.values():
    c.close()
for key, iso, topic in (("committed", "read_committed", out_topic), ("uncommitted", "read_uncommitted", out_topic),
                        ("ctp_committed", "read_committed", ctp_topic), ("ctp_uncommitted", "read_uncommitted", ctp_topic),
                        ("many_committed", "read_committed", many_topic), ("many_uncommitted", "read_uncommitted", many_topic),
                        ("fence_committed", "read_committed", fence_topic), ("fence_uncommitted", "read_uncommitted", fence_topic)):
    if topic:
        out[key] = got[iso][topic]
print(json.dumps(out))
