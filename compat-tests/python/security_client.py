"""One case of compat-tests/security_clients_test.go for a Python client.

argv[1] is a JSON object: lib (confluent, kafka-python-pypi or
kafka-python-debian), bootstrap, protocol, mechanism, username, password,
ca, cert, key, topic, group, values, refused. Without refused, the client
produces the values to partition 0 of topic (acks=all) and consumes them
back; with refused, it only connects and must fail. It prints one JSON
object: version, values (consumed), error, auth_error (the client reported
an authentication failure, in its own terms), log (the client's warnings).
"""

import io
import json
import logging
import sys
import time

conf = json.loads(sys.argv[1])
log = io.StringIO()
logging.basicConfig(stream=log, level=logging.WARNING)
out = {"version": "", "values": [], "error": "", "auth_error": False}


def confluent():
    import confluent_kafka as ck

    out["version"] = "confluent-kafka %s, librdkafka %s" % (ck.version()[0], ck.libversion()[0])
    errors = []
    c = {
        "bootstrap.servers": conf["bootstrap"],
        "security.protocol": conf["protocol"],
        "error_cb": errors.append,
    }
    if conf["mechanism"]:
        c.update({"sasl.mechanisms": conf["mechanism"], "sasl.username": conf["username"],
                  "sasl.password": conf["password"]})
    if conf.get("ca"):
        c["ssl.ca.location"] = conf["ca"]  # host name checked: librdkafka's default
    if conf.get("cert"):
        c.update({"ssl.certificate.location": conf["cert"], "ssl.key.location": conf["key"]})

    def auth_failed():
        return any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors)

    if conf["refused"]:
        # librdkafka retries; the refusal reaches error_cb from poll().
        p = ck.Producer(c)
        deadline = time.time() + 15
        while not errors and time.time() < deadline:
            p.poll(0.1)
        out["error"] = "; ".join(str(e) for e in errors)
        out["auth_error"] = auth_failed()
        return
    p = ck.Producer(dict(c, acks="all"))
    failed = []
    for v in conf["values"]:
        p.produce(conf["topic"], v.encode(), partition=0,
                  on_delivery=lambda err, msg: err and failed.append(str(err)))
    left = p.flush(30)
    if failed or left:
        out["error"] = "produce: %s (%d undelivered); errors: %s" % (failed, left, errors)
        return
    cons = ck.Consumer(dict(c, **{"group.id": conf["group"], "enable.auto.commit": False}))
    cons.assign([ck.TopicPartition(conf["topic"], 0, ck.OFFSET_BEGINNING)])
    deadline = time.time() + 30
    while len(out["values"]) < len(conf["values"]) and time.time() < deadline:
        m = cons.poll(1)
        if m is None:
            continue
        if m.error():
            out["error"] = "consume: %s" % m.error()
            break
        out["values"].append(m.value().decode())
    cons.close()
    if len(out["values"]) < len(conf["values"]) and not out["error"]:
        out["error"] = "consumed %d of %d; errors: %s" % (len(out["values"]), len(conf["values"]), errors)


def deliver_before_eof():
    """kafka-python 3.0.12 drops the bytes read together with the end of
    the connection (KafkaTCPTransport._sock_recv returns them with the
    error, _read_from_sock aborts without passing them on). A broker that
    answers SASL_AUTHENTICATION_FAILED and then closes, as Kafka and Zombi
    do, often loses its answer that way on a busy machine, and the client
    reports only "socket disconnected". Deliver the bytes first, the end of
    the connection on the next read."""
    from kafka.net import transport

    for cls in (transport.KafkaTCPTransport, transport.KafkaSSLTransport):
        orig = cls.__dict__.get("_sock_recv")
        if orig is None:
            continue

        def _sock_recv(self, orig=orig):
            pending = self.__dict__.pop("_eof_pending", None)
            if pending is not None:
                return b"", pending
            data, err = orig(self)
            if data and err is not None:
                self._eof_pending = err
                return data, None
            return data, err

        cls._sock_recv = _sock_recv


def kafka_python():
    import kafka
    import kafka.errors as ke

    out["version"] = "kafka-python %s" % kafka.__version__
    if kafka.__version__ == "3.0.12":
        deliver_before_eof()
    kw = {"bootstrap_servers": conf["bootstrap"], "security_protocol": conf["protocol"]}
    if conf["mechanism"]:
        kw.update(sasl_mechanism=conf["mechanism"], sasl_plain_username=conf["username"],
                  sasl_plain_password=conf["password"])
    if conf.get("ca"):
        kw["ssl_cafile"] = conf["ca"]  # ssl_check_hostname defaults to True
    if conf.get("cert"):
        kw.update(ssl_certfile=conf["cert"], ssl_keyfile=conf["key"])
    if conf["refused"]:
        # 2.0.2 has AuthenticationFailedError, 3.x SaslAuthenticationFailedError.
        auth_errors = tuple(getattr(ke, n) for n in ("AuthenticationFailedError", "SaslAuthenticationFailedError")
                            if hasattr(ke, n))
        if not kafka.__version__.startswith("2."):
            kw["bootstrap_timeout_ms"] = 5000  # 3.x retries a refused bootstrap for 30 s
        try:
            p = kafka.KafkaProducer(max_block_ms=10000, **kw)
            p.partitions_for(conf["topic"])
            p.close()
        except Exception as e:  # the assertions are in Go
            out["error"] = "%s: %s" % (type(e).__name__, e)
            out["auth_error"] = isinstance(e, auth_errors)
        # Both log the broker's refusal and then raise NoBrokersAvailable
        # (or time out): the log says why. kafka-python 2.0.2 uses
        # SaslHandshake v0, where the broker refuses by closing the
        # connection (no error frame): it logs a failed receive while
        # <authenticating>.
        text = log.getvalue()
        if not out["auth_error"]:
            said = [l for l in text.splitlines() if "AuthenticationFailedError" in l]
            if said:
                out["auth_error"] = True
                out["error"] = "logged: %s; then %s" % (said[0], out["error"])
            elif "<authenticating>" in text and "Error receiving reply from server" in text:
                out["auth_error"] = True
                out["error"] = "closed while <authenticating> (SaslHandshake v0); then %s" % out["error"]
        return
    p = kafka.KafkaProducer(acks="all", **kw)
    futs = [p.send(conf["topic"], v.encode(), partition=0) for v in conf["values"]]
    for f in futs:
        f.get(timeout=30)
    p.close()
    c = kafka.KafkaConsumer(group_id=None, consumer_timeout_ms=2000, auto_offset_reset="earliest", **kw)
    tp = kafka.TopicPartition(conf["topic"], 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    deadline = time.time() + 30
    while len(out["values"]) < len(conf["values"]) and time.time() < deadline:
        for m in c:
            out["values"].append(m.value.decode())
            if len(out["values"]) == len(conf["values"]):
                break
    c.close()
    if len(out["values"]) < len(conf["values"]):
        out["error"] = "consumed %d of %d" % (len(out["values"]), len(conf["values"]))


try:
    if conf["lib"] == "confluent":
        confluent()
    else:
        kafka_python()
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
out["log"] = log.getvalue()[-4000:]
print(json.dumps(out))
