#!/usr/bin/env bash
# bench/compare-builds.sh BASE [HEAD]: the single-node write path of two
# builds in the same run (issue 19 point 10: cluster mode may not slow one
# node). Builds zombi at both revisions, then for BENCH_ROUNDS rounds (5),
# alternating which build goes first, starts each on a fresh data directory
# (one node, no settings: the embedded default) and drives it with the HEAD
# build's `zombi bench`: 64 blocking single-record producers (the wire
# client, acks=all) and 4 batching producers (franz-go, 100 records awaited
# together), BENCH_DURATION (5s) each. Prints the medians per build,
# HEAD's change against BASE, and the median of the rounds' HEAD/BASE ratios
# (each round runs both builds back to back, so the ratio cancels the
# machine's slow drifts), and the server's CPU time per record (from
# /proc: what the build costs, whatever the disk's fsync speed does).
#
#   bench/compare-builds.sh ac6b0f5            # before cluster mode vs now
#   BENCH_ROUNDS=3 BENCH_DURATION=3s bench/compare-builds.sh main HEAD
#
# Data goes under BENCH_DIR (/var/tmp: a real disk; fsync speed is the
# point), removed at the end.
set -euo pipefail

base=${1:?usage: bench/compare-builds.sh BASE [HEAD]}
head=${2:-HEAD}
rounds=${BENCH_ROUNDS:-5}
dur=${BENCH_DURATION:-5s}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/zombi-compare.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
	for n in base head; do git -C "$root" worktree remove --force "$work/src-$n" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

for n in base head; do
	rev=$base
	[ "$n" = head ] && rev=$head
	git -C "$root" worktree add -q --detach "$work/src-$n" "$rev"
	echo "building $n ($rev = $(git -C "$root" rev-parse --short "$rev"))" >&2
	(cd "$work/src-$n" && go build -o "$work/zombi-$n" ./cmd/zombi)
done

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# cpu_ticks PID: the process's user + system CPU time, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# workload BUILD NAME KAFKA_PORT ARGS...: one run of zombi bench against the
# server ($pid); appends "BUILD NAME rec/s p50 p99 server-CPU-us-per-record".
workload() {
	local n=$1 w=$2 kp=$3 before after
	shift 3
	before=$(cpu_ticks "$pid")
	"$work/zombi-head" bench kafka-produce --brokers "127.0.0.1:$kp" --duration "$dur" --json "$@" >"$work/out.json"
	after=$(cpu_ticks "$pid")
	python3 - "$n" "$w" "$before" "$after" "$(getconf CLK_TCK)" "$work/out.json" >>"$work/results" <<'PY'
import json, sys
n, w, before, after, hz, path = sys.argv[1:]
r = json.load(open(path))
cpu_us = (int(after) - int(before)) * 1e6 / int(hz)
print(n, w, r['records_per_sec'], r['latency']['p50_us'], r['latency']['p99_us'], cpu_us / max(r['records'], 1))
PY
}

# run BUILD ROUND: one server of BUILD, both workloads, results appended.
run() {
	local n=$1 r=$2 hp kp data
	hp=$(freeport); kp=$(freeport); data=$work/data-$n-$r
	mkdir -p "$data"
	ZOMBI_DATA_DIR=$data ZOMBI_HOST=127.0.0.1 ZOMBI_PORT=$hp ZOMBI_KAFKA_PORT=$kp ZOMBI_LOG=warn \
		"$work/zombi-$n" >"$work/zombi-$n-$r.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do
		curl -fs "http://127.0.0.1:$hp/health/ready" >/dev/null 2>&1 && break
		sleep 0.05
	done
	workload "$n" wire "$kp" --topic wire --client wire --concurrency 64
	workload "$n" batch "$kp" --topic batch --concurrency 4 --batch 100
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
	rm -rf "$data"
}

for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then order="base head"; else order="head base"; fi
	for n in $order; do
		echo "round $r: $n" >&2
		run "$n" "$r"
	done
done

python3 - "$work/results" "$base" "$head" "$rounds" "$dur" <<'PY'
import statistics, sys
path, base, head, rounds, dur = sys.argv[1:]
rows = {}
for line in open(path):
    n, w, rps, p50, p99, cpu = line.split()
    rows.setdefault((w, n), []).append((float(rps), int(p50), int(p99), float(cpu)))
print(f"single node, medians of {rounds} rounds of {dur}; records/s (p50 / p99 ms); client: HEAD's zombi bench")
print(f"| workload | BASE {base} | HEAD {head} | change of the medians | median of the rounds' HEAD/BASE | server CPU µs per record, BASE / HEAD (change) | all rounds' records/s, BASE / HEAD |")
print("|---|---:|---:|---:|---:|---:|---|")
for w, name in (("wire", "64 blocking producers (wire, acks=all)"), ("batch", "4 batching producers (kgo, batch 100, acks=all)")):
    b, h = rows[(w, "base")], rows[(w, "head")]
    mb, mh = (statistics.median(x[0] for x in v) for v in (b, h))
    def cell(v, m):
        return f"{m:,.0f} ({statistics.median(x[1] for x in v)/1000:.2f} / {statistics.median(x[2] for x in v)/1000:.2f})"
    # Each round runs both builds back to back: the ratio within a round
    # cancels the machine's slow drifts (the disk's fsync speed varies).
    paired = statistics.median(y[0] / x[0] for x, y in zip(b, h))
    cb, ch = (statistics.median(x[3] for x in v) for v in (b, h))
    print(f"| {name} | {cell(b, mb)} | {cell(h, mh)} | {100*(mh-mb)/mb:+.1f} % | {100*(paired-1):+.1f} % | {cb:.2f} / {ch:.2f} ({100*(ch-cb)/cb:+.1f} %) | {' '.join(f'{x[0]:.0f}' for x in b)} / {' '.join(f'{x[0]:.0f}' for x in h)} |")
PY
