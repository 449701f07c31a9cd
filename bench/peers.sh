#!/usr/bin/env bash
# Side-by-side benchmark: Zombi (REST API and Kafka protocol), Apache Kafka
# 4.4 (fsync per message and its defaults), NATS JetStream and Redis Streams
# on loopback, one server at a time, each in a temporary directory, the same
# workloads with the same load generators against each (bench/peers/main.go),
# and Kafka's own perf tools against Zombi and Apache Kafka. Prints the
# machine, the disk's fsync latency and three tables: the workloads (with
# Zombi's ratio to each system), the servers (start-up, memory, disk per
# record) and the perf tools. Run by `make bench-peers`; about 12 minutes
# with the defaults (docs/BENCHMARKS.md, "Apache Kafka side by side").
#
# Environment:
#   BENCH_DURATION     time per workload (default 4s)
#   BENCH_DIR          parent of the temporary directories (default /var/tmp;
#                      must be a real disk: on tmpfs fsync costs nothing)
#   BENCH_SYSTEMS      comma-separated servers to run (default all): zombi,
#                      kafka-fsync, kafka-default, nats-sync, nats-2.9-nosync,
#                      redis-always, redis-everysec
#   BENCH_ONLY         run only the workloads whose name contains one of these
#                      comma-separated parts (e.g. "c=64,e2e"; "consume" needs
#                      "batch100 100B" too; "none" runs none: start-up and perf tools only)
#   BENCH_PERF         0 skips kafka-producer-perf-test / kafka-consumer-perf-test
#   BENCH_PERF_RECORDS records of the batched perf-test runs (default 2000000)
#   BENCH_PERF_SYNC_RECORDS records of the one-record-in-flight run (default 20000)
#   BENCH_PERF_TIMEOUT a perf-test run that takes longer is killed and left out (default 3m)
#   BENCH_E2E_RATE     records/s of the end-to-end workload (default 1000)
#   BENCH_WARMUP       per warm-up workload (100B c=16, then batch100 100B c=4) on
#                      each server before its measured ones (default 3s; a JVM compiles meanwhile)
#   BENCH_NATS_SYNC    0 skips the NATS build with sync_interval: always
#   BENCH_KEEP         1 keeps the temporary directory
#   BENCH_ZOMBI_BIN    a zombi binary to use instead of building cmd/zombi
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-4s}
ONLY=${BENCH_ONLY:-}
SYSTEMS=${BENCH_SYSTEMS:-zombi,kafka-fsync,kafka-default,nats-sync,nats-2.9-nosync,redis-always,redis-everysec}
PERF=${BENCH_PERF:-1}
PERF_RECORDS=${BENCH_PERF_RECORDS:-2000000}
PERF_SYNC_RECORDS=${BENCH_PERF_SYNC_RECORDS:-20000}
PERF_TIMEOUT=${BENCH_PERF_TIMEOUT:-3m}
E2E_RATE=${BENCH_E2E_RATE:-1000}
WARMUP=${BENCH_WARMUP:-3s}
KAFKA=$ROOT/tools/apache-kafka/kafka.sh
NATS_SYNC_VERSION=v2.14.9
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/zombi-peers.XXXXXX")
PIDS=()
KAFKA_DIRS=()
BEGAN=$(date +%s)

cleanup() {
	local pid dir
	for dir in "${KAFKA_DIRS[@]}"; do
		"$KAFKA" stop "$dir" || true
	done
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "== $*" >&2; }

# --- packages (installed only when missing) ---
need_pkg() { # command package
	if ! command -v "$1" >/dev/null 2>&1; then
		say "installing $2"
		apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
	fi
}
want() { case ",$SYSTEMS," in *",$1,"*) return 0 ;; esac; return 1; }
if want nats-sync || want nats-2.9-nosync; then need_pkg nats-server nats-server; fi
if want redis-always || want redis-everysec; then need_pkg redis-server redis-server; fi
if { want kafka-fsync || want kafka-default; } && ! command -v java >/dev/null; then
	say "no java: the Apache Kafka columns are left out (Apache Kafka 4.4 needs Java 17+ and Maven: tools/apache-kafka/kafka.sh)"
	SYSTEMS=$(echo ",$SYSTEMS," | sed 's/,kafka-fsync,/,/; s/,kafka-default,/,/')
fi

# --- builds ---
say "building zombi and the load generator"
if [ -n "${BENCH_ZOMBI_BIN:-}" ]; then cp "$BENCH_ZOMBI_BIN" "$WORK/zombi"; else (cd "$ROOT" && go build -o "$WORK/zombi" ./cmd/zombi); fi
(cd "$ROOT/bench/peers" && GOFLAGS=-mod=mod go build -o "$WORK/peers" .)
NATS_SYNC_BIN=$ROOT/.bin/nats-server-$NATS_SYNC_VERSION
if want nats-sync && [ "${BENCH_NATS_SYNC:-1}" != 0 ] && [ ! -x "$NATS_SYNC_BIN" ]; then
	# Debian's nats-server 2.9.10 has no sync_interval: it fsyncs every two
	# minutes, not before the PubAck. 2.10+ has sync_interval: always.
	say "building nats-server $NATS_SYNC_VERSION (about a minute, once)"
	mkdir -p "$WORK/gobin"
	GOBIN=$WORK/gobin go install "github.com/nats-io/nats-server/v2@$NATS_SYNC_VERSION"
	mkdir -p "$ROOT/.bin" && mv "$WORK/gobin/nats-server" "$NATS_SYNC_BIN"
fi

# --- machine ---
if [ "$(stat -f -c %T "$WORK")" = tmpfs ]; then
	say "WARNING: $WORK is on tmpfs: fsync is free there; set BENCH_DIR to a disk"
fi
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "disk:    $(df -hT "$WORK" | awk 'NR==2{print $1" ("$2")"}')"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the start"
echo "servers: $SYSTEMS"
echo "versions: zombi $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(command -v nats-server >/dev/null && echo ", nats-server $(nats-server --version | awk '{print $2}') (Debian)")$([ -x "$NATS_SYNC_BIN" ] && echo ", nats-server $NATS_SYNC_VERSION")$(command -v redis-server >/dev/null && echo ", redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2)")$(want kafka-fsync || want kafka-default && echo ", Apache Kafka 4.4.0 ($(java -version 2>&1 | head -1))")"
"$WORK/peers" fsync --dir "$WORK"
echo "each workload: $DURATION, unpaced (e2e: $E2E_RATE records/s), after two warm-up workloads of $WARMUP per server"
echo

# ready PID SERVER PROBE...: waits for the server's answers and records its
# start-up time (process start to the first answer of every probe).
ready() {
	local pid=$1 name=$2
	shift 2
	if ! "$WORK/peers" ready --pid "$pid" --server "$name" --out "$WORK/results.jsonl" "$@"; then
		say "$name did not start; the end of its log:"
		tail -30 "$WORK/$name.log" >&2 2>/dev/null || true
		return 1
	fi
}

stop() { # pid
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	PIDS=("${keep[@]}")
}

run() { # system label server pid addr
	[ "$ONLY" = none ] && return 0
	"$WORK/peers" run --system "$1" --label "$2" --server "$3" --pid "$4" --addr "$5" --duration "$DURATION" \
		--only "$ONLY" --e2e-rate "$E2E_RATE" --out "$WORK/results.jsonl"
}

warm() { # system server addr: out of the tables (its records count in the disk figures)
	"$WORK/peers" run --system "$1" --label warmup --server "$2" --addr "$3" --duration "$WARMUP" \
		--only "append 100B c=16,batch100 100B c=4" --out "$WORK/warmup.jsonl" 2>/dev/null
}

resources() { # server pid datadir: memory and disk at the end of the workloads
	"$WORK/peers" server --server "$1" --pid "$2" --data "$3" --out "$WORK/results.jsonl" "$WORK/results.jsonl" "$WORK/warmup.jsonl"
}

stopped_disk() { # server datadir: disk once the server has stopped (memtables flushed, files trimmed)
	"$WORK/peers" disk --server "$1" --data "$2" --out "$WORK/results.jsonl" "$WORK/results.jsonl" "$WORK/warmup.jsonl"
}

# perf_tests SERVER PID ADDR: Kafka's own perf tools against a Kafka-protocol
# server: 100-byte records, acks=all, batched (linger 5 ms, 64 KiB batches)
# and one record in flight (no batching, max.in.flight 1), then one consumer
# reading the batched run's topic.
perf_tests() {
	local name=$1 pid=$2 addr=$3
	[ "$PERF" = 1 ] || return 0
	say "$name: kafka-producer-perf-test and kafka-consumer-perf-test"
	"$WORK/peers" perf --kind producer --record-size 100 --name "producer-perf batched" --label "$name" --pid "$pid" --out "$WORK/results.jsonl" --log "$WORK/$name-perf.log" --timeout "$PERF_TIMEOUT" -- \
		"$KAFKA" kafka-producer-perf-test --bootstrap-server "$addr" --topic perf-batched --num-records "$PERF_RECORDS" \
		--record-size 100 --throughput -1 --command-property acks=all linger.ms=5 batch.size=65536
	"$WORK/peers" perf --kind producer --record-size 100 --name "producer-perf one in flight" --label "$name" --pid "$pid" --out "$WORK/results.jsonl" --log "$WORK/$name-perf.log" --timeout "$PERF_TIMEOUT" -- \
		"$KAFKA" kafka-producer-perf-test --bootstrap-server "$addr" --topic perf-sync --num-records "$PERF_SYNC_RECORDS" \
		--record-size 100 --throughput -1 --command-property acks=all linger.ms=0 batch.size=0 \
		max.in.flight.requests.per.connection=1
	"$WORK/peers" perf --kind consumer --name "consumer-perf of the batched run" --label "$name" --pid "$pid" --out "$WORK/results.jsonl" --log "$WORK/$name-perf.log" --timeout "$PERF_TIMEOUT" -- \
		"$KAFKA" kafka-consumer-perf-test --bootstrap-server "$addr" --topic perf-batched --num-records "$PERF_RECORDS" \
		--timeout 60000
}

# --- Zombi: durable writes (fsync before the acknowledgement) ---
if want zombi; then
	say "zombi"
	HP=$("$WORK/peers" freeport); KP=$("$WORK/peers" freeport)
	mkdir -p "$WORK/zombi-data"
	ZOMBI_DATA_DIR=$WORK/zombi-data ZOMBI_HOST=127.0.0.1 ZOMBI_PORT=$HP ZOMBI_KAFKA_PORT=$KP ZOMBI_LOG=warn \
		"$WORK/zombi" >"$WORK/zombi.log" 2>&1 &
	PID=$!; PIDS+=("$PID")
	ready "$PID" zombi --http "http://127.0.0.1:$HP" --kafka "127.0.0.1:$KP"
	warm zombi-http zombi "http://127.0.0.1:$HP"
	run zombi-http zombi-http zombi "$PID" "http://127.0.0.1:$HP"
	run zombi-kafka zombi-kafka zombi "$PID" "127.0.0.1:$KP"
	run zombi-kafka-wire zombi-kafka-wire zombi "$PID" "127.0.0.1:$KP"
	resources zombi "$PID" "$WORK/zombi-data"
	perf_tests zombi "$PID" "127.0.0.1:$KP"
	stop "$PID"
	stopped_disk zombi "$WORK/zombi-data"
fi

# --- Apache Kafka 4.4, one KRaft node (broker and controller), kafka.sh ---
kafka_run() { # name server.properties lines...
	local name=$1 dir=$WORK/$1 starter pid addr
	shift
	say "$name"
	"$KAFKA" start "$dir" "$@" >/dev/null 2>"$WORK/$name.log" &
	starter=$!
	KAFKA_DIRS+=("$dir")
	# kafka.sh formats the directory, then starts the broker and writes its pid.
	for _ in $(seq 1 1200); do
		[ -s "$dir/pid" ] && break
		kill -0 "$starter" 2>/dev/null || break
		sleep 0.05
	done
	if ! [ -s "$dir/pid" ]; then say "$name did not start:"; cat "$WORK/$name.log" >&2; return 1; fi
	pid=$(cat "$dir/pid"); addr=$(cat "$dir/addr")
	ready "$pid" "$name" --kafka "$addr"
	wait "$starter" || { say "$name: kafka.sh start failed:"; cat "$WORK/$name.log" >&2; return 1; }
	warm kafka "$name" "$addr"
	run kafka "$name" "$name" "$pid" "$addr"
	run kafka-wire "$name-wire" "$name" "$pid" "$addr"
	resources "$name" "$pid" "$dir/data"
	perf_tests "$name" "$pid" "$addr"
	"$KAFKA" stop "$dir"
	stopped_disk "$name" "$dir/data"
}
# log.flush.interval.messages=1: Kafka fsyncs the partition's log after every
# append, before it answers acks=all (Zombi's durability). Without it Kafka
# acknowledges from the page cache and fsyncs when the OS or a segment roll
# does (its default: durability by replication, of which a one-node cluster
# has none).
if want kafka-fsync; then kafka_run kafka-fsync log.flush.interval.messages=1; fi
if want kafka-default; then kafka_run kafka-default; fi

# --- NATS JetStream, file storage ---
nats_run() { # binary label sync(yes/no)
	local port dir conf
	port=$("$WORK/peers" freeport); dir=$WORK/$2; mkdir -p "$dir"; conf=$WORK/$2.conf
	{
		echo "listen: 127.0.0.1:$port"
		echo "jetstream {"
		echo "  store_dir: \"$dir\""
		[ "$3" = yes ] && echo "  sync_interval: always"
		echo "}"
	} >"$conf"
	say "$2"
	"$1" -c "$conf" >"$WORK/$2.log" 2>&1 &
	PID=$!; PIDS+=("$PID")
	ready "$PID" "$2" --nats "127.0.0.1:$port"
	warm nats "$2" "127.0.0.1:$port"
	run nats "$2" "$2" "$PID" "127.0.0.1:$port"
	resources "$2" "$PID" "$dir"
	stop "$PID"
	stopped_disk "$2" "$dir"
}
if want nats-sync && [ -x "$NATS_SYNC_BIN" ] && [ "${BENCH_NATS_SYNC:-1}" != 0 ]; then
	nats_run "$NATS_SYNC_BIN" nats-sync yes
fi
if want nats-2.9-nosync; then nats_run "$(command -v nats-server)" nats-2.9-nosync no; fi

# --- Redis Streams, AOF ---
redis_run() { # appendfsync label
	local port dir
	port=$("$WORK/peers" freeport); dir=$WORK/$2; mkdir -p "$dir"
	say "$2"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --appendfsync "$1" \
		--save '' --daemonize no --protected-mode no --logfile "$WORK/$2.log" &
	PID=$!; PIDS+=("$PID")
	ready "$PID" "$2" --redis "127.0.0.1:$port"
	warm redis "$2" "127.0.0.1:$port"
	run redis "$2" "$2" "$PID" "127.0.0.1:$port"
	resources "$2" "$PID" "$dir"
	stop "$PID"
	stopped_disk "$2" "$dir"
}
if want redis-always; then redis_run always redis-always; fi
if want redis-everysec; then redis_run everysec redis-everysec; fi

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
echo "took:    $(( ($(date +%s) - BEGAN) / 60 )) min $(( ($(date +%s) - BEGAN) % 60 )) s"
echo
"$WORK/peers" table "$WORK/results.jsonl"
