"""kafka-python (pure Python, its own protocol code) transactions against one broker.

Usage: python kafka_python_txn.py BOOTSTRAP OUT IN CTP GROUP TXNID

Runs the transaction scenario of compat-tests/txn_clients_test.go, as
confluent_txn.py does with librdkafka, and prints what came back as one JSON
object on stdout; the Go test makes the assertions. Every wait has a
deadline: a step that does not finish raises, and the script exits non-zero
with the step's name.

1. A transactional producer commits c1-0..5, aborts a-0..3 (flushed first),
   commits c2-0..3 to OUT, record i of a transaction to partition i % 2.
2. Consume-transform-produce: a read_committed member of GROUP reads IN
   three records at a time and writes "x-" + value to CTP (partition
   n % 2 for in-n) in a transaction with send_offsets_to_transaction (the
   consumer's group_metadata()): in-0..2 committed, in-3..5 aborted; then a
   new member resumes from the group's offset and commits in-3..5. The
   group's offset is read with the admin client while the first transaction
   is open, after its commit, once the new member has resumed, and at the end.
3. Two consumers, isolation_level read_committed and read_uncommitted, read
   OUT and CTP from the start.
"""

import json
import logging
import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata

bootstrap, out_topic, in_topic, ctp_topic, group, txn_id = sys.argv[1:7]
PARTS = 2
logging.basicConfig(level=logging.ERROR, stream=sys.stderr)


def deadline(step, seconds):
    end = time.monotonic() + seconds

    def check():
        if time.monotonic() > end:
            raise SystemExit(f"timeout after {seconds}s: {step}")
    return check


def producer(tid):
    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid, transaction_timeout_ms=60000,
                      linger_ms=5, request_timeout_ms=20000)
    p.init_transactions()
    return p


def end(p, futures, commit):
    # Every record acknowledged first: the aborted ones too are in the log.
    p.flush(timeout=30)
    for f in futures:
        f.get(timeout=30)
    if commit:
        p.commit_transaction()
    else:
        p.abort_transaction()


out = {"client": f"kafka-python {kafka.__version__}"}

# 1. Commit, abort, commit.
p = producer(txn_id)
for tag, n, commit in (("c1-", 6, True), ("a-", 4, False), ("c2-", 4, True)):
    p.begin_transaction()
    fs = [p.send(out_topic, value=f"{tag}{i}".encode(), partition=i % PARTS) for i in range(n)]
    end(p, fs, commit)
p.close(timeout=10)

# 2. Consume-transform-produce with the group's offsets in the transaction.
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
tp_in = TopicPartition(in_topic, 0)


def committed():
    o = admin.list_group_offsets({group: [tp_in]})[group].get(tp_in)
    return o.offset if o is not None and o.offset >= 0 else -1


def wait_committed(want):
    # Kafka makes the offsets of a transaction visible when its coordinator
    # has written the markers, a moment after commit_transaction returns.
    stop = time.monotonic() + 10
    o = committed()
    while o != want and time.monotonic() < stop:
        time.sleep(0.05)
        o = committed()
    return o


def member():
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, isolation_level="read_committed",
                      auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=10000,
                      heartbeat_interval_ms=500, fetch_max_wait_ms=200)
    c.subscribe([in_topic])
    return c


def take(c, n):
    got = []
    check = deadline(f"the group member reads {n} records of {in_topic}", 20)
    while len(got) < n:
        check()
        for recs in c.poll(timeout_ms=200, max_records=n - len(got)).values():
            got.extend(recs)
    return got


offsets = out["offsets"] = {}
inputs = out["inputs"] = []
tp = producer(txn_id + "-ctp")


def transform(c, msgs, commit, pending=False):
    inputs.append([m.value.decode() for m in msgs])
    tp.begin_transaction()
    fs = []
    for m in msgs:
        v = m.value.decode()
        fs.append(tp.send(ctp_topic, value=("x-" + v).encode(), partition=int(v.split("-")[1]) % PARTS))
    tp.send_offsets_to_transaction({tp_in: OffsetAndMetadata(msgs[-1].offset + 1, "", -1)}, c.group_metadata())
    if pending:
        offsets["pending"] = committed()
    end(tp, fs, commit)


c = member()
transform(c, take(c, 3), True, pending=True)
offsets["after_commit"] = wait_committed(3)
transform(c, take(c, 3), False)
c.close(autocommit=False)
# A new member resumes from the group's offset: the abort did not move it.
c = member()
msgs = take(c, 3)
offsets["after_abort"] = committed()
transform(c, msgs, True)
offsets["final"] = wait_committed(6)
c.close(autocommit=False)
tp.close(timeout=10)
admin.close()

# 3. Both topics at both isolation levels, the two consumers at once.
want = {"read_committed": 10 + 6, "read_uncommitted": 14 + 9}
readers = {}
for iso in want:
    r = readers[iso] = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=iso, enable_auto_commit=False,
                                     fetch_max_wait_ms=200)
    tps = [TopicPartition(t, p) for t in (out_topic, ctp_topic) for p in range(PARTS)]
    r.assign(tps)
    r.seek_to_beginning(*tps)
got = {iso: {out_topic: [], ctp_topic: []} for iso in want}


def poll_all():
    for iso, r in readers.items():
        for recs in r.poll(timeout_ms=50).values():
            for m in recs:
                got[iso][m.topic].append({"p": m.partition, "o": m.offset, "v": m.value.decode()})


check = deadline(f"reads of {want} records", 20)
while any(sum(len(v) for v in got[iso].values()) < n for iso, n in want.items()):
    check()
    poll_all()
stop = time.monotonic() + 0.5  # nothing beyond them
while time.monotonic() < stop:
    poll_all()
for r in readers.values():
    r.close()
out["committed"] = got["read_committed"][out_topic]
out["uncommitted"] = got["read_uncommitted"][out_topic]
out["ctp_committed"] = got["read_committed"][ctp_topic]
out["ctp_uncommitted"] = got["read_uncommitted"][ctp_topic]
print(json.dumps(out))
