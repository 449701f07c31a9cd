#!/usr/bin/env bash
# Single-event POSTs from wrk (a C load generator, far lighter per request
# than Go's net/http client) against Zombi's REST API and against a gin
# no-op handler (bench/noop), alternating, each in its own process. Prints
# each run and the medians: requests/s, wrk's p50/p99, and each server's CPU
# per request from /proc. Run by `make bench-http`; about 2 minutes.
#
# Environment:
#   BENCH_DURATION  time per run (default 8s, after a 2 s warm-up)
#   BENCH_ROUNDS    runs per server (default 3)
#   BENCH_CONNS     keep-alive connections (default 64)
#   BENCH_DIR       parent of the temporary data directory (default /var/tmp;
#                   must be a real disk: on tmpfs fsync costs nothing)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-8s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
ZPORT=${BENCH_ZOMBI_PORT:-18480}
NPORT=${BENCH_NOOP_PORT:-18490}
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/zombi-wrk.XXXXXX")
PID=

cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v wrk >/dev/null 2>&1; then
	echo "== installing wrk" >&2
	apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
echo "== building zombi and bench/noop" >&2
(cd "$ROOT" && go build -o "$WORK/zombi" ./cmd/zombi && go build -o "$WORK/noop" ./bench/noop)

# The body of httpapi's BenchmarkPostSingle: about 110 bytes of JSON.
cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"payload":"hello world, this is a typical small event of about a hundred bytes","headers":{"src":"bench"}}'
wrk.headers["Content-Type"] = "application/json"
LUA

start() { # name port: starts the server, sets PID
	case $1 in
	zombi)
		rm -rf "$WORK/data"
		ZOMBI_DATA_DIR=$WORK/data ZOMBI_HOST=127.0.0.1 ZOMBI_PORT=$2 ZOMBI_KAFKA_PORT=$((ZPORT + 1)) ZOMBI_LOG=warn \
			"$WORK/zombi" >"$WORK/zombi.log" 2>&1 &
		;;
	noop) "$WORK/noop" --addr "127.0.0.1:$2" >"$WORK/noop.log" 2>&1 & ;;
	esac
	PID=$!
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
		if ! kill -0 "$PID" 2>/dev/null; then echo "$1 exited:" >&2; cat "$WORK/$1.log" >&2; return 1; fi
		sleep 0.05
	done
	echo "$1 not listening on $2" >&2
	return 1
}

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime+stime, 1/100 s

run() { # name port -> one result line: name rps p50 p99 cpu_us
	start "$1" "$2"
	local url=http://127.0.0.1:$2/tables/wrk t0 t1 out reqs rps p50 p99
	wrk -t2 -c"$CONNS" -d2s -s "$WORK/post.lua" "$url" >/dev/null
	t0=$(ticks "$PID")
	out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/post.lua" "$url")
	t1=$(ticks "$PID")
	kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "$1: errors in the run:" >&2; echo "$out" >&2; return 1
	fi
	reqs=$(awk '/requests in/{print $1}' <<<"$out")
	rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
	p50=$(awk '$1=="50%"{print $2}' <<<"$out")
	p99=$(awk '$1=="99%"{print $2}' <<<"$out")
	echo "$1 $rps $p50 $p99 $(( (t1 - t0) * 10000 / reqs ))"
}

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the start"
echo "zombi:   $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'); wrk -t2 -c$CONNS, $DURATION per run, $ROUNDS runs per server"
echo
printf '%-6s %12s %9s %9s %14s\n' server "requests/s" p50 p99 "server CPU/req"
: >"$WORK/results"
for _ in $(seq 1 "$ROUNDS"); do
	for s in zombi noop; do
		port=$ZPORT; [ "$s" = noop ] && port=$NPORT
		line=$(run "$s" "$port")
		echo "$line" >>"$WORK/results"
		read -r name rps p50 p99 cpu <<<"$line"
		printf '%-6s %12s %9s %9s %12s µs\n' "$name" "$rps" "$p50" "$p99" "$cpu"
	done
done
echo
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
zr=$(awk '$1=="zombi"{print $2}' "$WORK/results" | median)
nr=$(awk '$1=="noop"{print $2}' "$WORK/results" | median)
echo "median requests/s: zombi $zr, noop $nr; zombi / noop = $(awk -v a="$zr" -v b="$nr" 'BEGIN{printf "%.1f %%", 100*a/b}')"
