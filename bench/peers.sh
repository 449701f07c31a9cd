#!/usr/bin/env bash
# Side-by-side benchmark: Zombi (REST API and Kafka protocol), NATS JetStream
# and Redis Streams on loopback, one system at a time, each in a temporary
# directory, the same workloads against each (bench/peers/main.go). Prints
# the machine, the disk's fsync latency and one table with Zombi's ratio to
# each system. Run by `make bench-peers`; finishes in about 5 minutes.
#
# Environment:
#   BENCH_DURATION  time per workload (default 4s)
#   BENCH_DIR       parent of the temporary directories (default /var/tmp;
#                   must be a real disk: on tmpfs fsync costs nothing)
#   BENCH_NATS_SYNC 0 skips the NATS build with sync_interval: always
#   BENCH_ONLY      run only the workloads whose name contains this
#   BENCH_KEEP      1 keeps the temporary directory
#   BENCH_ZOMBI_BIN a zombi binary to use instead of building cmd/zombi
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-4s}
ONLY=${BENCH_ONLY:-}
NATS_SYNC_VERSION=v2.14.9
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/zombi-peers.XXXXXX")
PIDS=()

cleanup() {
	local pid
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
need_pkg nats-server nats-server
need_pkg redis-server redis-server

# --- builds ---
say "building zombi and the load generator"
if [ -n "${BENCH_ZOMBI_BIN:-}" ]; then cp "$BENCH_ZOMBI_BIN" "$WORK/zombi"; else (cd "$ROOT" && go build -o "$WORK/zombi" ./cmd/zombi); fi
(cd "$ROOT/bench/peers" && GOFLAGS=-mod=mod go build -o "$WORK/peers" .)
NATS_SYNC_BIN=$ROOT/.bin/nats-server-$NATS_SYNC_VERSION
if [ "${BENCH_NATS_SYNC:-1}" != 0 ] && [ ! -x "$NATS_SYNC_BIN" ]; then
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
echo "servers: zombi $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'), nats-server $(nats-server --version | awk '{print $2}') (Debian)$([ -x "$NATS_SYNC_BIN" ] && echo ", nats-server $NATS_SYNC_VERSION"), redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2)"
"$WORK/peers" fsync --dir "$WORK"
echo "each workload: $DURATION, unpaced, after one warm-up workload per system"
echo

wait_port() { # port pid name
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		if ! kill -0 "$2" 2>/dev/null; then say "$3 exited; its log:"; cat "$WORK/$3.log" >&2; return 1; fi
		sleep 0.05
	done
	say "$3 not listening on $1"; return 1
}

stop() { # pid
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	PIDS=("${keep[@]}")
}

run() { # system label addr
	"$WORK/peers" run --system "$1" --label "$2" --addr "$3" --duration "$DURATION" --only "$ONLY" --out "$WORK/results.jsonl"
}

warm() { # system addr: one short unrecorded run
	"$WORK/peers" run --system "$1" --label warmup --addr "$2" --duration 1s --only "100B c=16" --out "$WORK/warmup.jsonl" 2>/dev/null
}

# --- Zombi: durable writes (fsync before the acknowledgement) ---
say "zombi"
HP=$("$WORK/peers" freeport); KP=$("$WORK/peers" freeport)
mkdir -p "$WORK/zombi-data"
ZOMBI_DATA_DIR=$WORK/zombi-data ZOMBI_HOST=127.0.0.1 ZOMBI_PORT=$HP ZOMBI_KAFKA_PORT=$KP ZOMBI_LOG=warn \
	"$WORK/zombi" >"$WORK/zombi.log" 2>&1 &
PID=$!; PIDS+=("$PID")
wait_port "$HP" "$PID" zombi && wait_port "$KP" "$PID" zombi
warm zombi-http "http://127.0.0.1:$HP"
run zombi-http zombi-http "http://127.0.0.1:$HP"
run zombi-kafka zombi-kafka "127.0.0.1:$KP"
run zombi-kafka-wire zombi-kafka-wire "127.0.0.1:$KP"
stop "$PID"

# --- NATS JetStream, file storage ---
nats_run() { # binary label sync(yes/no)
	local port dir conf
	port=$("$WORK/peers" freeport); dir=$WORK/$2; mkdir -p "$dir"; conf=$dir/nats.conf
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
	wait_port "$port" "$PID" "$2"
	warm nats "127.0.0.1:$port"
	run nats "$2" "127.0.0.1:$port"
	stop "$PID"
}
if [ -x "$NATS_SYNC_BIN" ] && [ "${BENCH_NATS_SYNC:-1}" != 0 ]; then
	nats_run "$NATS_SYNC_BIN" nats-sync yes
fi
nats_run "$(command -v nats-server)" nats-2.9-nosync no

# --- Redis Streams, AOF ---
redis_run() { # appendfsync label
	local port dir
	port=$("$WORK/peers" freeport); dir=$WORK/$2; mkdir -p "$dir"
	say "$2"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --appendfsync "$1" \
		--save '' --daemonize no --protected-mode no --logfile "$WORK/$2.log" &
	PID=$!; PIDS+=("$PID")
	wait_port "$port" "$PID" "$2"
	warm redis "127.0.0.1:$port"
	run redis "$2" "127.0.0.1:$port"
	stop "$PID"
}
redis_run always redis-always
redis_run everysec redis-everysec

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
echo
"$WORK/peers" table "$WORK/results.jsonl"
