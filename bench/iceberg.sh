#!/usr/bin/env bash
# The Iceberg materializer's speed (issue 13 point 10), on the embedded
# default (a local warehouse in the data directory):
#   1. backfill: BENCH_RECORDS (default 10,000,000) records of 100 bytes are
#      produced into a 4-partition topic first, then zombi.iceberg.enable is
#      set and the time until the table holds them all is measured
#      (records/s), with the commit latency from /metrics;
#   2. the write path while it runs: a Kafka producer (4 batching workers,
#      100 records per batch, acks=all, 1 partition) for BENCH_DURATION, in
#      rounds interleaved three ways: "off" (no topic materialized), "live"
#      (the produced topic itself is materialized, commit interval 1 s) and
#      "backfill" (a backfill of BENCH_BACKFILL records of another topic
#      runs at the same time). Medians of BENCH_ROUNDS rounds.
# Run by `make bench-iceberg`; about 6 minutes with the defaults.
#
# Environment:
#   BENCH_RECORDS    records of the backfill measurement (default 10000000)
#   BENCH_BACKFILL   records of each round's background backfill (default 1000000)
#   BENCH_DURATION   time per produce run (default 5s)
#   BENCH_ROUNDS     rounds (default 5)
#   BENCH_DIR        parent of the temporary directory (default /var/tmp)
#   BENCH_ZOMBI_BIN  a zombi binary to use instead of building cmd/zombi
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RECORDS=${BENCH_RECORDS:-10000000}
BACKFILL=${BENCH_BACKFILL:-1000000}
DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-5}
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/zombi-iceberg.XXXXXX")
PID=

cleanup() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
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

HTTP=$(free_port)
KAFKA=$(free_port)
API=http://127.0.0.1:$HTTP
ZOMBI_DATA_DIR=$WORK/data ZOMBI_HOST=127.0.0.1 ZOMBI_PORT=$HTTP ZOMBI_KAFKA_PORT=$KAFKA ZOMBI_LOG=warn \
	"$BIN" >"$WORK/zombi.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
	curl -fsS -o /dev/null "$API/health" 2>/dev/null && break
	sleep 0.05
done

create() { # TOPIC PARTITIONS [CONFIGS-JSON]
	curl -fsS -o /dev/null -X PUT "$API/tables/$1" -H 'Content-Type: application/json' \
		-d "{\"partitions\":$2,\"configs\":${3:-{\}}}"
}

enable() { # TOPIC INTERVAL-MS
	curl -fsS -o /dev/null -X PATCH "$API/tables/$1/configs" -H 'Content-Type: application/json' \
		-d "{\"set\":{\"zombi.iceberg.enable\":\"true\",\"zombi.iceberg.commit.interval.ms\":\"$2\"}}"
}

prefill() { # TOPIC RECORDS
	"$BIN" bench kafka-produce --brokers "127.0.0.1:$KAFKA" --topic "$1" --records "$2" \
		--batch 1000 --concurrency 8 --acks all --payload-size 100 --quiet --json >/dev/null
}

# lag TOPIC: records not yet in the table (-1 before the table exists).
lag() {
	curl -fsS "$API/tables/$1/iceberg" 2>/dev/null | python3 -c 'import json,sys
s=json.load(sys.stdin); print(s["lag_records"] if s.get("snapshot_id") is not None else -1)' 2>/dev/null || echo -1
}

wait_caught_up() { # TOPIC
	while [ "$(lag "$1")" != 0 ]; do sleep 0.1; done
}

produce_rate() { # TOPIC: records/s of one run
	"$BIN" bench kafka-produce --brokers "127.0.0.1:$KAFKA" --topic "$1" --duration "$DURATION" \
		--batch 100 --concurrency 4 --acks all --payload-size 100 --quiet --json |
		python3 -c 'import json,sys; print(round(json.load(sys.stdin)["records_per_sec"]))'
}

metric() { # NAME: the value of an unlabelled sample from /metrics
	curl -fsS "$API/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

echo "machine: $(nproc) cores, $(awk '/model name/ { $1=$2=$3=""; print; exit }' /proc/cpuinfo | sed 's/^ *//'), $(free -g | awk '/Mem:/ { print $2 }') GiB"
echo "commit: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# 1. Backfill.
create big 4
echo "prefill: $RECORDS records of 100 B into 4 partitions..."
prefill big "$RECORDS"
start=$(date +%s.%N)
enable big 10000
wait_caught_up big
end=$(date +%s.%N)
secs=$(python3 -c "print($end - $start)")
commits=$(metric zombi_iceberg_commit_duration_seconds_count)
csum=$(metric zombi_iceberg_commit_duration_seconds_sum)
status=$(curl -fsS "$API/tables/big/iceberg")
python3 - "$RECORDS" "$secs" "$commits" "$csum" "$status" <<'EOF'
import json, sys
n, secs, commits, csum, st = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
print(f"backfill: {n:,} records in {secs:.1f} s = {n/secs:,.0f} records/s; {int(commits)} commits, mean commit {1000*csum/commits:.0f} ms; "
      f"table: {st['records']:,} rows, {st['files']} files, {st['bytes']/1e6:.1f} MB")
EOF

# 2. The write path: off, live, backfill, interleaved.
create off 1
create live 1 '{"zombi.iceberg.enable":"true","zombi.iceberg.commit.interval.ms":"1000"}'
declare -a OFF LIVE BACK
for r in $(seq 1 "$ROUNDS"); do
	create "bf$r" 4
	prefill "bf$r" "$BACKFILL"
	OFF+=("$(produce_rate off)")
	LIVE+=("$(produce_rate live)")
	enable "bf$r" 10000
	BACK+=("$(produce_rate off)")
	wait_caught_up "bf$r"
	wait_caught_up live
	echo "round $r: off ${OFF[-1]}, live ${LIVE[-1]}, backfill ${BACK[-1]} records/s"
done
python3 - "${OFF[*]}" "${LIVE[*]}" "${BACK[*]}" <<'EOF'
import statistics, sys
off, live, back = ([float(x) for x in a.split()] for a in sys.argv[1:4])
m = statistics.median
print(f"medians: off {m(off):,.0f}, live {m(live):,.0f} ({m(live)/m(off):.3f}x), backfill {m(back):,.0f} ({m(back)/m(off):.3f}x) records/s")
EOF
