"""confluent-kafka (librdkafka) transactions against one broker.

Usage: python confluent_txn.py BOOTSTRAP OUT IN CTP GROUP TXNID

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
3. Consumers read OUT and CTP from the start with isolation.level
   read_committed and read_uncommitted.
"""

import json
import sys
import time

import confluent_kafka
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient

bootstrap, out_topic, in_topic, ctp_topic, group, txn_id = sys.argv[1:7]
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


def producer(tid):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid,
                  "transaction.timeout.ms": 60000, "linger.ms": 5})
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

# 3. Read both topics at both isolation levels.


def read(topic, isolation, n):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group + "-reader", "isolation.level": isolation,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(PARTS)])
    got = []
    check = deadline(f"{isolation} read of {n} records of {topic}", 20)
    while len(got) < n:
        check()
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got.append({"p": m.partition(), "o": m.offset(), "v": m.value().decode()})
    # Nothing beyond them.
    stop = time.monotonic() + 0.5
    while time.monotonic() < stop:
        m = c.poll(0.1)
        if m is not None and not m.error():
            got.append({"p": m.partition(), "o": m.offset(), "v": m.value().decode()})
    c.close()
    return got


out["committed"] = read(out_topic, "read_committed", 10)
out["uncommitted"] = read(out_topic, "read_uncommitted", 14)
out["ctp_committed"] = read(ctp_topic, "read_committed", 6)
out["ctp_uncommitted"] = read(ctp_topic, "read_uncommitted", 9)
print(json.dumps(out))
