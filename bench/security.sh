#!/usr/bin/env bash
# What security costs on the write path (issue 11 point 10): the same Kafka
# produce workloads against
#   plaintext        a Zombi with no security at all (today's default)
#   plaintext-acl    a secured Zombi's PLAINTEXT listener: User:ANONYMOUS,
#                    every request through the ACL authorizer
#   sasl-plaintext   its SASL_PLAINTEXT listener, SCRAM-SHA-256, ACLs
#   sasl-ssl         its SASL_SSL listener, SCRAM-SHA-512 over TLS 1.3, ACLs
# in the same run, rounds interleaved so drift hits every target alike. The
# bench user is not a superuser: it reaches the topic through a PREFIXED
# ALLOW among other ACLs. Workloads: 64 blocking producers (the wire client:
# one connection, one record in flight each) and 4 batching producers (kgo,
# 100 records per batch), acks=all, 100-byte records, one partition.
# Prints medians of the rounds (records/s, p99) and each target's ratio to
# plaintext. Run by `make bench-security`; about 6 minutes with the defaults.
#
# Environment:
#   BENCH_DURATION   time per run (default 4s)
#   BENCH_ROUNDS     rounds (default 5)
#   BENCH_DIR        parent of the temporary directory (default /var/tmp: a real
#                    disk, fsync costs there)
#   BENCH_ZOMBI_BIN  a zombi binary to use instead of building cmd/zombi
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-4s}
ROUNDS=${BENCH_ROUNDS:-5}
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/zombi-security.XXXXXX")
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

BIN=${BENCH_ZOMBI_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$WORK/zombi
	(cd "$ROOT" && go build -o "$BIN" ./cmd/zombi)
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_health() { # URL LOG
	local i
	for i in $(seq 1 200); do
		if curl -fsS -o /dev/null "$1/health" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "security.sh: zombi did not become healthy; its log:" >&2
	cat "$2" >&2
	exit 1
}

"$BIN" certs dev --out "$WORK/certs" >/dev/null

# The plain server: today's defaults.
A_HTTP=$(free_port)
A_KAFKA=$(free_port)
ZOMBI_DATA_DIR=$WORK/a ZOMBI_HOST=127.0.0.1 ZOMBI_PORT=$A_HTTP ZOMBI_KAFKA_PORT=$A_KAFKA ZOMBI_LOG=warn \
	"$BIN" >"$WORK/a.log" 2>&1 &
PIDS+=($!)

# The secured server: three listeners, users, ACLs.
B_HTTP=$(free_port)
B_PLAIN=$(free_port)
B_SASL=$(free_port)
B_SSL=$(free_port)
ADMIN_PW=admin-$RANDOM$RANDOM
BENCH_PW=bench-$RANDOM$RANDOM
ZOMBI_DATA_DIR=$WORK/b ZOMBI_HOST=127.0.0.1 ZOMBI_PORT=$B_HTTP ZOMBI_LOG=warn \
	ZOMBI_KAFKA_LISTENERS="PLAINTEXT://127.0.0.1:$B_PLAIN,SASL_PLAINTEXT://127.0.0.1:$B_SASL,SASL_SSL://127.0.0.1:$B_SSL" \
	ZOMBI_TLS_CERT_FILE=$WORK/certs/server.pem ZOMBI_TLS_KEY_FILE=$WORK/certs/server-key.pem \
	ZOMBI_BOOTSTRAP_USERS="admin:$ADMIN_PW,bench:$BENCH_PW" ZOMBI_SUPERUSERS=admin \
	"$BIN" >"$WORK/b.log" 2>&1 &
PIDS+=($!)
wait_health "http://127.0.0.1:$A_HTTP" "$WORK/a.log"
wait_health "http://127.0.0.1:$B_HTTP" "$WORK/b.log"

admin=(--brokers "127.0.0.1:$B_SASL" --user admin --sasl-mechanism SCRAM-SHA-256)
# Some unrelated ACLs, so the authorizer has more than one entry to look at.
for i in $(seq 1 50); do
	ZOMBI_PASSWORD=$ADMIN_PW "$BIN" acl create "${admin[@]}" --allow "User:other$i" --operation read,write --topic "other-$i-" --pattern prefixed >/dev/null
done
ZOMBI_PASSWORD=$ADMIN_PW "$BIN" acl create "${admin[@]}" --allow User:bench,User:ANONYMOUS \
	--operation write,describe,create --topic bench- --pattern prefixed >/dev/null
ZOMBI_PASSWORD=$ADMIN_PW "$BIN" acl create "${admin[@]}" --allow User:bench,User:ANONYMOUS \
	--operation idempotent_write --cluster >/dev/null

# target name, then zombi bench flags.
target_args() {
	case $1 in
	plaintext) echo "--brokers 127.0.0.1:$A_KAFKA" ;;
	plaintext-acl) echo "--brokers 127.0.0.1:$B_PLAIN" ;;
	sasl-plaintext) echo "--brokers 127.0.0.1:$B_SASL --user bench --sasl-mechanism SCRAM-SHA-256" ;;
	sasl-ssl) echo "--brokers localhost:$B_SSL --user bench --sasl-mechanism SCRAM-SHA-512 --tls-ca $WORK/certs/ca.pem" ;;
	esac
}
TARGETS=(plaintext plaintext-acl sasl-plaintext sasl-ssl)
WORKLOADS=("c64-blocking|--client wire --concurrency 64 --batch 1" "c4-batch100|--client kgo --concurrency 4 --batch 100 --clients 0")

RES=$WORK/results.tsv
: >"$RES"
# Round 0 warms every target up (connections, TLS, caches) and is not counted.
for round in $(seq 0 "$ROUNDS"); do
	for w in "${WORKLOADS[@]}"; do
		wname=${w%%|*}
		wargs=${w#*|}
		for t in "${TARGETS[@]}"; do
			# shellcheck disable=SC2046,SC2086 # word splitting of the flag lists is intended
			out=$(ZOMBI_PASSWORD=$BENCH_PW "$BIN" bench kafka-produce --quiet --json --acks all --payload-size 100 \
				--duration "$DURATION" --topic "bench-$t-$wname" $(target_args "$t") $wargs) || {
				echo "security.sh: $t $wname failed: $out" >&2
				exit 1
			}
			if [ "$round" -gt 0 ]; then
				python3 -c 'import json,sys; r=json.load(sys.stdin); print("\t".join([sys.argv[1], sys.argv[2], sys.argv[3], "%.0f" % r["records_per_sec"], str(r["latency"]["p99_us"]), str(r["errors"])]))' \
					"$round" "$wname" "$t" <<<"$out" >>"$RES"
			fi
		done
	done
	echo "security.sh: round $round of $ROUNDS done" >&2
done

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); $ROUNDS rounds of $DURATION"
python3 - "$RES" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = {}
for rnd, w, t, rps, p99, errs in rows:
    by.setdefault((w, t), []).append((float(rps), int(p99), int(errs)))
workloads = list(dict.fromkeys(w for _, w, _, _, _, _ in rows))
targets = list(dict.fromkeys(t for _, _, t, _, _, _ in rows))
print("| workload | target | records/s (median) | p99 µs (median) | vs plaintext | errors |")
print("|---|---|---:|---:|---:|---:|")
for w in workloads:
    base = statistics.median(r[0] for r in by[(w, "plaintext")])
    for t in targets:
        rs = by[(w, t)]
        med = statistics.median(r[0] for r in rs)
        p99 = statistics.median(r[1] for r in rs)
        print(f"| {w} | {t} | {med:,.0f} | {p99:,.0f} | {med/base:.3f} | {sum(r[2] for r in rs)} |")
PY
