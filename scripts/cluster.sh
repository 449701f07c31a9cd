#!/usr/bin/env bash
# make cluster: one etcd, the S3 test server (versitygw over a directory)
# and three Zombi nodes on this machine, in the foreground. The nodes share
# one bucket, the cluster's cold tier (each partition's leader flushes it,
# every replica reads it). Ctrl-C (or SIGTERM) stops them all: the nodes
# first (a controlled shutdown needs etcd), then etcd and S3. The data stays
# for the next run under $CLUSTER_DIR (make cluster-clean removes it).
#
# Every port and path can be moved by the environment (deploy/cluster_test.go
# runs this script on free ports):
#   ZOMBI_BIN            the zombi binary          (bin/zombi)
#   ZOMBI_ETCD_BIN       the etcd binary           (etcd on $PATH, /usr/bin/etcd)
#   CLUSTER_DIR          data and logs             (bin/cluster)
#   CLUSTER_NAME         ZOMBI_CLUSTER_NAME        (zombi)
#   CLUSTER_ETCD_PORT    etcd client port          (2379)
#   CLUSTER_ETCD_PEER_PORT etcd peer port          (2380)
#   CLUSTER_KAFKA_PORTS  node 1..3 Kafka ports     (9091,9092,9093)
#   CLUSTER_HTTP_PORTS   node 1..3 HTTP ports      (8081,8082,8083)
#   CLUSTER_SESSION_TIMEOUT_MS                     (ZOMBI_SESSION_TIMEOUT_MS, the node default when empty)
#   ZOMBI_VERSITYGW      the versitygw binary      (.bin/versitygw, versitygw on $PATH)
#   CLUSTER_S3_PORT      the S3 server's port      (7070)
#   CLUSTER_S3           off: no S3, every node keeps everything in its hot tier
set -euo pipefail

bin=${ZOMBI_BIN:-bin/zombi}
etcd_bin=${ZOMBI_ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}
dir=${CLUSTER_DIR:-bin/cluster}
name=${CLUSTER_NAME:-zombi}
etcd_port=${CLUSTER_ETCD_PORT:-2379}
etcd_peer=${CLUSTER_ETCD_PEER_PORT:-2380}
IFS=, read -r -a kafka_ports <<<"${CLUSTER_KAFKA_PORTS:-9091,9092,9093}"
IFS=, read -r -a http_ports <<<"${CLUSTER_HTTP_PORTS:-8081,8082,8083}"
session=${CLUSTER_SESSION_TIMEOUT_MS:-}
s3=${CLUSTER_S3:-on}
s3_port=${CLUSTER_S3_PORT:-7070}
s3_bin=${ZOMBI_VERSITYGW:-}
if [ -z "$s3_bin" ]; then
	if [ -x .bin/versitygw ]; then s3_bin=.bin/versitygw; else s3_bin=$(command -v versitygw || true); fi
fi

die() { echo "cluster: $*" >&2; exit 1; }

[ -x "$bin" ] || die "no zombi binary at $bin (make build, or set ZOMBI_BIN)"
[ -x "$etcd_bin" ] || die "no etcd at $etcd_bin (scripts/ensure-deps.sh cluster installs Debian's etcd-server)"
if [ "$s3" != off ] && { [ -z "$s3_bin" ] || [ ! -x "$s3_bin" ]; }; then
	die "no versitygw for the cluster's bucket (make test-deps installs it in .bin/, or set ZOMBI_VERSITYGW; CLUSTER_S3=off runs without S3)"
fi
if [ ${#kafka_ports[@]} -ne 3 ] || [ ${#http_ports[@]} -ne 3 ]; then
	die "CLUSTER_KAFKA_PORTS and CLUSTER_HTTP_PORTS need three comma-separated ports each"
fi

# A port someone already listens on would make a node fail later with a less
# clear line (or, for etcd, join someone else's etcd): refuse up front.
busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
s3_ports=()
[ "$s3" = off ] || s3_ports=("$s3_port")
for p in "$etcd_port" "$etcd_peer" "${kafka_ports[@]}" "${http_ports[@]}" "${s3_ports[@]}"; do
	busy "$p" && die "port $p on 127.0.0.1 is in use (another make cluster? set the CLUSTER_*_PORT(S) variables)"
done

mkdir -p "$dir"
pids=()
s3_pid=
stopping=0

# stop: SIGTERM to the nodes (controlled shutdown, bounded at 10 s by the
# node), then to etcd; SIGKILL to whatever is left after 20 s. No orphans.
# shellcheck disable=SC2317 # called by the traps
stop() {
	[ "$stopping" -eq 1 ] && return
	stopping=1
	trap '' INT TERM
	echo "cluster: stopping" >&2
	local n=${#pids[@]} i
	# Nodes are pids[1..]; etcd is pids[0].
	for ((i = n - 1; i >= 0; i--)); do
		if [ "$i" -eq 0 ]; then
			# etcd and S3 go last: the nodes need etcd to hand leadership
			# over, and S3 for the flushes in flight.
			for ((j = 1; j < n; j++)); do wait_gone "${pids[$j]}" 20; done
			[ -z "$s3_pid" ] || kill -TERM "$s3_pid" 2>/dev/null || true
		fi
		kill -TERM "${pids[$i]}" 2>/dev/null || true
	done
	wait_gone "${pids[0]:-}" 10
	wait_gone "$s3_pid" 10
	wait 2>/dev/null || true
	echo "cluster: stopped; data kept in $dir (make cluster-clean removes it)" >&2
}

# wait_gone PID SECONDS: waits for PID to exit, SIGKILL past the deadline.
# shellcheck disable=SC2317 # called by stop
wait_gone() {
	local pid=$1 left=$(($2 * 10))
	[ -n "$pid" ] || return 0
	while kill -0 "$pid" 2>/dev/null && [ "$left" -gt 0 ]; do
		sleep 0.1
		left=$((left - 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "cluster: pid $pid did not stop in $2 s: SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

# wait_http URL SECONDS PID WHAT: until URL answers 200, or PID died.
wait_http() {
	local url=$1 left=$(($2 * 10)) pid=$3 what=$4
	until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || die "$what exited at start: see its log"
		[ "$left" -gt 0 ] || die "$what not ready after $2 s ($url): see its log"
		sleep 0.1
		left=$((left - 1))
	done
}

etcd_url=http://127.0.0.1:$etcd_port
peer_url=http://127.0.0.1:$etcd_peer
# etcd runs in a session of its own so that the terminal's Ctrl-C (SIGINT to
# the foreground process group) does not reach it: the nodes' controlled
# shutdown needs etcd, and stop() ends etcd once the nodes are gone.
setsid "$etcd_bin" --name zombi-cluster --data-dir "$dir/etcd" \
	--listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
	--listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
	--initial-cluster "zombi-cluster=$peer_url" >>"$dir/etcd.log" 2>&1 &
pids+=($!)
wait_http "$etcd_url/health" 20 "${pids[0]}" "etcd (log $dir/etcd.log)"

s3_env=()
s3_line="S3           none (CLUSTER_S3=off): every node keeps its data in its hot tier"
if [ "$s3" != off ]; then
	s3_url=http://127.0.0.1:$s3_port
	mkdir -p "$dir/s3"
	# Its own session too (Ctrl-C must not stop it before the nodes).
	ROOT_ACCESS_KEY_ID=zombi ROOT_SECRET_ACCESS_KEY=zombi-cluster-secret \
		setsid "$s3_bin" --port "127.0.0.1:$s3_port" --quiet posix "$dir/s3" >>"$dir/s3.log" 2>&1 &
	s3_pid=$!
	until (: <"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; do
		kill -0 "$s3_pid" 2>/dev/null || die "versitygw exited at start: see $dir/s3.log"
		sleep 0.1
	done
	s3_env=(ZOMBI_S3_BUCKET=zombi-cluster ZOMBI_S3_ENDPOINT="$s3_url" ZOMBI_S3_REGION=us-east-1
		AWS_ACCESS_KEY_ID=zombi AWS_SECRET_ACCESS_KEY=zombi-cluster-secret)
	s3_line="S3           $s3_url bucket zombi-cluster (versitygw, data $dir/s3, log $dir/s3.log)"
fi

seeds=()
for i in 1 2 3; do
	k=${kafka_ports[$((i - 1))]} h=${http_ports[$((i - 1))]}
	env ZOMBI_ETCD_ENDPOINTS="$etcd_url" ZOMBI_CLUSTER_NAME="$name" ZOMBI_NODE_ID="$i" \
		${session:+ZOMBI_SESSION_TIMEOUT_MS="$session"} \
		ZOMBI_DATA_DIR="$dir/node-$i" ZOMBI_HOST=127.0.0.1 ZOMBI_PORT="$h" \
		ZOMBI_KAFKA_PORT="$k" ZOMBI_KAFKA_ADVERTISED_HOST=127.0.0.1 ZOMBI_LOG="${ZOMBI_LOG:-info}" \
		"${s3_env[@]}" "$bin" >>"$dir/node-$i.log" 2>&1 &
	pids+=($!)
	seeds+=("127.0.0.1:$k")
done
for i in 1 2 3; do
	wait_http "http://127.0.0.1:${http_ports[$((i - 1))]}/health/ready" 60 "${pids[$i]}" "node $i (log $dir/node-$i.log)"
done

cat <<EOF
cluster: etcd and three Zombi nodes are up
  etcd         $etcd_url (data $dir/etcd, log $dir/etcd.log)
  $s3_line
  node 1       Kafka 127.0.0.1:${kafka_ports[0]}  HTTP http://127.0.0.1:${http_ports[0]}  log $dir/node-1.log
  node 2       Kafka 127.0.0.1:${kafka_ports[1]}  HTTP http://127.0.0.1:${http_ports[1]}  log $dir/node-2.log
  node 3       Kafka 127.0.0.1:${kafka_ports[2]}  HTTP http://127.0.0.1:${http_ports[2]}  log $dir/node-3.log
  seeds        $(
	IFS=,
	echo "${seeds[*]}"
)
  try          $bin cluster info --api http://localhost:${http_ports[0]}
Ctrl-C stops all; the data stays for the next run (make cluster-clean removes it).
EOF

# Runs until a signal, or until one process exits on its own (then stops the
# rest). wait is interrupted by a trapped signal at once, so Ctrl-C runs the
# INT trap before the nodes' own exits (they get the SIGINT too) are noticed.
set +e
wait -n
set -e
echo "cluster: a process exited on its own: stopping the others (logs in $dir)" >&2
exit 1
