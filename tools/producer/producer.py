#!/usr/bin/env python3
"""Load-test producer for Zombi's REST API.

Sends events to POST /tables/{table} with one of four traffic profiles:

  bursty  random bursts of 50-200 events, 0.5-2 s apart (default)
  steady  a constant 10 events/s (--rate)
  spike   10 events/s (--rate) with 10x spikes: 1 s in every 5 s
  stress  maximum throughput with 10 threads (--threads)

and prints a summary at the end: sent, acknowledged, errors, rate and
latency percentiles. --json-summary prints the summary as one JSON object
on stdout (the human-readable text then goes to stderr).

Runs with pip's requests/protobuf or Debian's python3-requests and
python3-protobuf. --format protobuf needs events_pb2.py: generate it with
`protoc --python_out=. events.proto` (done automatically when protoc is on
PATH).
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

try:
    import requests
except ImportError:  # pragma: no cover - exercised by hand
    sys.stderr.write(
        "producer.py needs the requests package: pip install -r requirements.txt "
        "(or apt-get install python3-requests and run /usr/bin/python3)\n")
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))

PROFILES = ("bursty", "steady", "spike", "stress")

# Profile shapes; the same as `zombi bench` (bench/loadgen/profile.go).
STEADY_RATE = 10.0
SPIKE_RATE = 10.0
SPIKE_FACTOR = 10.0
SPIKE_CYCLE = 5.0   # seconds
SPIKE_START = 2.0   # the spike is the third second of each cycle
SPIKE_LENGTH = 1.0
BURST_MIN, BURST_MAX = 50, 200
BURST_GAP_MIN, BURST_GAP_MAX = 0.5, 2.0


class Schedule:
    """at(n) is the time in seconds, from the start, at which event n may go.

    None means unpaced (stress).
    """

    def __init__(self, profile, rate=None, seed=None):
        self.profile = profile
        self.rate = rate
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.bursts = []  # (first event index, start time)
        self.next_first = 0
        self.next_start = 0.0

    def at(self, n):
        p = self.profile
        if p == "stress":
            return None
        if p == "steady":
            return n / (self.rate or STEADY_RATE)
        if p == "spike":
            r = self.rate or SPIKE_RATE
            before = r * SPIKE_START
            during = r * SPIKE_FACTOR * SPIKE_LENGTH
            after = r * (SPIKE_CYCLE - SPIKE_START - SPIKE_LENGTH)
            per_cycle = before + during + after
            cycle = math.floor(n / per_cycle)
            m = n - cycle * per_cycle
            t = cycle * SPIKE_CYCLE
            if m < before:
                return t + m / r
            if m < before + during:
                return t + SPIKE_START + (m - before) / (r * SPIKE_FACTOR)
            return t + SPIKE_START + SPIKE_LENGTH + (m - before - during) / r
        # bursty: every event of a burst may go at the burst's start.
        with self.lock:
            while self.next_first <= n:
                size = self.rng.randint(BURST_MIN, BURST_MAX)
                self.bursts.append((self.next_first, self.next_start))
                self.next_first += size
                self.next_start += self.rng.uniform(BURST_GAP_MIN, BURST_GAP_MAX)
            lo, hi = 0, len(self.bursts) - 1
            while lo < hi:  # last burst whose first index <= n
                mid = (lo + hi + 1) // 2
                if self.bursts[mid][0] <= n:
                    lo = mid
                else:
                    hi = mid - 1
            return self.bursts[lo][1]


def load_events_pb2():
    """Imports events_pb2, generating it with protoc when it is missing."""
    sys.path.insert(0, HERE)
    try:
        import events_pb2  # noqa: F401
        return events_pb2
    except ImportError:
        pass
    protoc = shutil.which("protoc")
    if protoc is None:
        sys.stderr.write(
            "--format protobuf needs events_pb2.py, generated from events.proto:\n"
            "  cd %s && protoc --python_out=. events.proto\n"
            "(install protoc: apt-get install protobuf-compiler)\n" % HERE)
        sys.exit(2)
    out = HERE if os.access(HERE, os.W_OK) else tempfile.mkdtemp(prefix="zombi-producer-")
    res = subprocess.run([protoc, "--python_out=" + out, "-I", HERE, os.path.join(HERE, "events.proto")],
                         capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write("protoc failed: %s\n" % res.stderr.strip())
        sys.exit(2)
    if out not in sys.path:
        sys.path.insert(0, out)
    try:
        import events_pb2
    except Exception as e:  # a protoc newer than the protobuf runtime, say
        sys.stderr.write(
            "cannot load the generated events_pb2.py (%s): generate it with a protoc that matches "
            "the installed protobuf package (%s)\n" % (e, protobuf_version()))
        sys.exit(2)
    return events_pb2


def protobuf_version():
    try:
        import google.protobuf
        return google.protobuf.__version__
    except ImportError:
        return "not installed"


EVENT_TYPES = ("page_view", "click", "purchase", "signup", "search")


def make_payload(rng, seq):
    return {
        "event_type": rng.choice(EVENT_TYPES),
        "user_id": "user-%d" % rng.randint(1, 10000),
        "session": "%016x" % rng.getrandbits(64),
        "seq": seq,
        "value": round(rng.random() * 100, 2),
    }


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.acked = 0
        self.errors = 0
        self.latencies = []  # seconds, acknowledged requests only
        self.first_error = None

    def record(self, ok, latency, err=None):
        with self.lock:
            self.sent += 1
            if ok:
                self.acked += 1
                self.latencies.append(latency)
            else:
                self.errors += 1
                if self.first_error is None:
                    self.first_error = err


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, int(math.ceil(q / 100.0 * len(sorted_values))) - 1))
    return sorted_values[k]


class Producer:
    def __init__(self, args, pb2=None):
        self.args = args
        self.pb2 = pb2
        self.url = args.url.rstrip("/") + "/tables/" + args.table
        self.stats = Stats()
        self.schedule = Schedule(args.profile, args.rate, args.seed)
        self.next = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def claim(self):
        with self.lock:
            n = self.next
            self.next += 1
            return n

    def body(self, rng, seq):
        payload = make_payload(rng, seq)
        if self.pb2 is not None:
            ev = self.pb2.Event(payload=json.dumps(payload, separators=(",", ":")).encode(),
                                timestamp_ms=int(time.time() * 1000),
                                headers={"source": "producer.py"})
            return ev.SerializeToString(), "application/x-protobuf"
        return json.dumps({"payload": payload, "headers": {"source": "producer.py"}}), "application/json"

    def worker(self, i, start, deadline):
        rng = random.Random((self.args.seed or 0) * 1000 + i)
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            while not self.stop.is_set():
                n = self.claim()
                at = self.schedule.at(n)
                if at is not None:
                    wait = start + at - time.monotonic()
                    if start + at >= deadline:
                        return
                    if wait > 0 and self.stop.wait(wait):
                        return
                if time.monotonic() >= deadline:
                    return
                data, ctype = self.body(rng, n)
                t0 = time.monotonic()
                try:
                    resp = session.post(self.url, data=data, headers={"Content-Type": ctype},
                                        timeout=self.args.timeout)
                    lat = time.monotonic() - t0
                    if 200 <= resp.status_code < 300:
                        self.stats.record(True, lat)
                    else:
                        self.stats.record(False, lat, "HTTP %d: %s" % (resp.status_code, resp.text[:200]))
                except requests.RequestException as e:
                    self.stats.record(False, time.monotonic() - t0, str(e))
                    time.sleep(0.05)  # no hot loop against a server that is down
        finally:
            session.close()

    def run(self):
        a = self.args
        start = time.monotonic()
        deadline = start + a.duration
        threads = [threading.Thread(target=self.worker, args=(i, start, deadline), daemon=True)
                   for i in range(a.threads)]
        for t in threads:
            t.start()
        last_sent, last_t = 0, start
        try:
            while True:
                alive = [t for t in threads if t.is_alive()]
                if not alive:
                    break
                alive[0].join(timeout=0.2)
                now = time.monotonic()
                if not a.quiet and now - last_t >= a.progress_every:
                    with self.stats.lock:
                        sent, acked, errors = self.stats.sent, self.stats.acked, self.stats.errors
                    sys.stderr.write("[%5.1fs] sent=%d acked=%d errors=%d rate=%.1f/s\n" % (
                        now - start, sent, acked, errors, (sent - last_sent) / (now - last_t)))
                    sys.stderr.flush()
                    last_sent, last_t = sent, now
            # Paced profiles end when their next event falls after the
            # deadline: the run still lasts the whole duration.
            while time.monotonic() < deadline:
                time.sleep(min(0.2, deadline - time.monotonic()))
        except KeyboardInterrupt:
            self.stop.set()
            for t in threads:
                t.join(timeout=a.timeout + 1)
        return time.monotonic() - start

    def summary(self, elapsed):
        s = self.stats
        with s.lock:
            lat = sorted(s.latencies)
            out = {
                "profile": self.args.profile,
                "format": self.args.format,
                "url": self.url,
                "threads": self.args.threads,
                "duration_secs": round(elapsed, 3),
                "sent": s.sent,
                "acknowledged": s.acked,
                "errors": s.errors,
                "rate_per_sec": round(s.acked / elapsed, 2) if elapsed > 0 else 0.0,
                "latency_ms": {
                    "p50": round(percentile(lat, 50) * 1000, 3),
                    "p95": round(percentile(lat, 95) * 1000, 3),
                    "p99": round(percentile(lat, 99) * 1000, 3),
                    "max": round(lat[-1] * 1000, 3) if lat else 0.0,
                },
            }
            if s.first_error:
                out["first_error"] = s.first_error
        return out


def format_summary(s):
    l = s["latency_ms"]
    lines = [
        "Summary (%s profile, %s, %d threads, %.1f s) -> %s" % (
            s["profile"], s["format"], s["threads"], s["duration_secs"], s["url"]),
        "  sent:          %d" % s["sent"],
        "  acknowledged:  %d" % s["acknowledged"],
        "  errors:        %d" % s["errors"],
        "  rate:          %.1f events/s" % s["rate_per_sec"],
        "  latency (ms):  p50 %.2f  p95 %.2f  p99 %.2f  max %.2f" % (l["p50"], l["p95"], l["p99"], l["max"]),
    ]
    if s.get("first_error"):
        lines.append("  first error:   %s" % s["first_error"])
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Load-test producer for Zombi's REST API.")
    p.add_argument("--profile", choices=PROFILES, default="bursty", help="traffic profile (default bursty)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to send (default 60)")
    p.add_argument("--url", default=os.environ.get("ZOMBI_URL", "http://localhost:8080"),
                   help="Zombi base URL (default http://localhost:8080, or $ZOMBI_URL)")
    p.add_argument("--table", default="events", help="table to write to (default events)")
    p.add_argument("--format", choices=("json", "protobuf"), default="json", help="request body format")
    p.add_argument("--threads", type=int, default=None,
                   help="sending threads (default 10 for stress, 4 otherwise)")
    p.add_argument("--rate", type=float, default=None,
                   help="events/s of steady and of spike outside its spikes (default 10)")
    p.add_argument("--seed", type=int, default=None, help="random seed (bursts, payloads)")
    p.add_argument("--timeout", type=float, default=10.0, help="request timeout in seconds")
    p.add_argument("--json-summary", action="store_true",
                   help="print the summary as one JSON object on stdout (text goes to stderr)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--progress-every", type=float, default=5.0, help="seconds between progress lines")
    a = p.parse_args(argv)
    if a.threads is None:
        a.threads = 10 if a.profile == "stress" else 4
    if a.threads < 1 or a.duration <= 0 or (a.rate is not None and a.rate <= 0):
        p.error("--threads, --duration and --rate must be positive")
    return a


def main(argv=None):
    args = parse_args(argv)
    pb2 = load_events_pb2() if args.format == "protobuf" else None
    prod = Producer(args, pb2)
    if not args.quiet:
        sys.stderr.write("producing to %s: %s profile, %s, %d threads, %.0f s\n" % (
            prod.url, args.profile, args.format, args.threads, args.duration))
    elapsed = prod.run()
    s = prod.summary(elapsed)
    if args.json_summary:
        sys.stderr.write(format_summary(s))
        sys.stdout.write(json.dumps(s) + "\n")
    else:
        sys.stdout.write(format_summary(s))
    return 0 if s["acknowledged"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
