"""One idempotent acks=all librdkafka producer (confluent-kafka) for internal/chaos.

Usage: python produce.py BOOTSTRAP TOPIC NAME RATE GRACE_S [CONFIG_JSON]

Produces records with unique keys NAME-0-SEQ (value "v:" + key) at RATE
records per second (0: as fast as the queue allows) until stdin closes,
then flushes for at most GRACE_S seconds. Prints one JSON line per delivery
report on stdout: {"k": key, "p": partition, "o": offset, "e": error or null},
{"fatal": error} on a fatal producer error (then exits 1), and finally
{"done": true, "undelivered": n}. CONFIG_JSON adds librdkafka settings
(security, ...). Diagnostics go to stderr.
"""

import json
import sys
import threading
import time

from confluent_kafka import KafkaError, Producer

bootstrap, topic, name, rate, grace = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
extra = (json.loads(sys.argv[6]) if len(sys.argv) > 6 else None) or {}

stop = threading.Event()
fatal = []


def watch_stdin():
    # The Go side closes stdin to stop us: no signals, nothing left behind.
    sys.stdin.read()
    stop.set()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def on_error(err):
    if err.fatal():
        fatal.append(str(err))
        stop.set()
    else:
        print(f"librdkafka: {err}", file=sys.stderr, flush=True)


def on_delivery(err, msg):
    emit({"k": msg.key().decode(), "p": msg.partition(), "o": msg.offset(),
          "e": None if err is None else str(err)})


conf = {
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 2,
    "error_cb": on_error,
}
conf.update(extra)
producer = Producer(conf)
threading.Thread(target=watch_stdin, daemon=True).start()

interval = 1.0 / rate if rate > 0 else 0.0
next_at = time.monotonic()
seq = 0
while not stop.is_set():
    if interval:
        delay = next_at - time.monotonic()
        if delay > 0:
            producer.poll(delay)
            continue
        next_at += interval
    key = f"{name}-0-{seq}"
    try:
        producer.produce(topic, key=key.encode(), value=("v:" + key).encode(), on_delivery=on_delivery)
        seq += 1
    except BufferError:
        producer.poll(0.05)  # the queue is full (a broker is down): wait for room
        continue
    producer.poll(0)

if fatal:
    emit({"fatal": fatal[0]})
    sys.exit(1)
left = producer.flush(grace)
if fatal:
    emit({"fatal": fatal[0]})
    sys.exit(1)
emit({"done": True, "undelivered": left})
