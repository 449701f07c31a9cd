#!/usr/bin/env bash
# Checks the Dockerfile's runtime image without a Docker engine (run as root on Debian/Ubuntu):
#   1. a minimal Debian root made by debootstrap stands in for the runtime stage's base image
#      (cached in $ZOMBI_ROOTFS/base, default /tmp/zombi-rootfs/base);
#   2. a fresh copy of it runs the runtime stage's RUN commands, read from the Dockerfile;
#   3. zombi is built on this machine the way the build stage builds it and copied in;
#   4. zombi runs in that root as the Dockerfile's USER with its ENV (ports moved to free ones):
#      every shared library resolves, /health answers, the HEALTHCHECK command exits 0 (and
#      non-zero once zombi is stopped), an HTTP write reads back, kcat produces and consumes,
#      and the data survive a restart (SIGTERM must exit 0).
# Exits non-zero on the first failure. Needs: debootstrap, go, gcc, librocksdb-dev, curl, kcat
# (apt-get install -y debootstrap curl kcat; `scripts/ensure-deps.sh build` for the rest) and
# network access to a Debian mirror.
#
#   ZOMBI_ROOTFS          cache and work directory (default /tmp/zombi-rootfs)
#   ZOMBI_DEBIAN_MIRROR   default http://deb.debian.org/debian
#   ZOMBI_DEBIAN_SECURITY default http://deb.debian.org/debian-security
#   ZOMBI_CHECK_KEEP=1    leave the image root and its logs in place afterwards
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile=$repo/Dockerfile
rootfs=${ZOMBI_ROOTFS:-/tmp/zombi-rootfs}
mirror=${ZOMBI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${ZOMBI_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
base=$rootfs/base
img=$rootfs/image
logdir=$rootfs/logs

die() { echo "check-runtime-image: FAIL: $*" >&2; exit 1; }
say() { echo "check-runtime-image: $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
for tool in debootstrap go curl kcat chroot timeout python3; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

# The runtime stage: everything after the last FROM, continuation lines joined, comments dropped.
runtime_stage() {
	awk '
		/^[[:space:]]*#/ { next }
		{ line = line $0 }
		/\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); next }
		{ print line; line = "" }
	' "$dockerfile" | awk 'toupper($1) == "FROM" { n++; buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }'
}
stage=$(runtime_stage)
from=$(printf '%s\n' "$stage" | awk 'toupper($1) == "FROM" { print $2; exit }')
[[ $from =~ ^debian:([a-z]+)-slim$ ]] || die "runtime stage is FROM '$from'; this script knows only debian:SUITE-slim"
suite=${BASH_REMATCH[1]}
mapfile -t runs < <(printf '%s\n' "$stage" | sed -n 's/^RUN[[:space:]]\{1,\}//p')
[ "${#runs[@]}" -gt 0 ] || die "no RUN in the runtime stage"
env_line=$(printf '%s\n' "$stage" | sed -n 's/^ENV[[:space:]]\{1,\}//p')
user=$(printf '%s\n' "$stage" | sed -n 's/^USER[[:space:]]\{1,\}//p' | tail -n 1)
[ -n "$user" ] || die "no USER in the runtime stage"
grep -q '^COPY --from=build /out/zombi /usr/local/bin/zombi$' <<<"$stage" ||
	die "the runtime stage no longer copies /out/zombi to /usr/local/bin/zombi; update this script"
read -r -a image_env <<<"$(printf '%s' "$env_line" | tr '\n' ' ')"
# HEALTHCHECK [--options] CMD ["exec", "form"]: the command as an argument list.
hc_line=$(printf '%s\n' "$stage" | sed -n 's/^HEALTHCHECK[[:space:]]\{1,\}//p' | tail -n 1)
[ -n "$hc_line" ] || die "no HEALTHCHECK in the runtime stage"
mapfile -d '' -t healthcheck < <(python3 -c '
import json, re, sys
m = re.search(r"\bCMD\s+(\[.*\])\s*$", sys.argv[1])
if not m:
    sys.exit("HEALTHCHECK is not in the exec form CMD [...]")
sys.stdout.write("".join(a + "\0" for a in json.loads(m.group(1))))
' "$hc_line") || die "cannot read HEALTHCHECK '$hc_line'"
[ "${#healthcheck[@]}" -gt 0 ] || die "cannot read HEALTHCHECK '$hc_line'"
for kv in "${image_env[@]}"; do
	[[ $kv =~ ^[A-Z_][A-Z0-9_]*=[^\"\']*$ ]] || die "cannot read ENV entry '$kv'"
done

zpid=
cleanup() {
	if [ -n "$zpid" ] && kill -0 "$zpid" 2>/dev/null; then kill -KILL "$zpid" 2>/dev/null || true; fi
	if mountpoint -q "$img/proc" 2>/dev/null; then umount "$img/proc" || return; fi
	if [ "${ZOMBI_CHECK_KEEP:-0}" != 1 ] && [ -d "$img" ]; then rm -rf --one-file-system "$img"; fi
}
trap cleanup EXIT

# 1. The base root, as debian:SUITE-slim ships its apt sources.
if [ ! -e "$base/.complete" ]; then
	say "debootstrap --variant=minbase $suite $base $mirror"
	rm -rf "$base"
	mkdir -p "$rootfs"
	debootstrap --variant=minbase "$suite" "$base" "$mirror" >"$rootfs/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $rootfs/debootstrap.log"
	rm -f "$base/etc/apt/sources.list"
	cat >"$base/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	rm -rf "$base"/var/lib/apt/lists/* "$base"/var/cache/apt/archives/*.deb
	touch "$base/.complete"
else
	say "using cached $base"
fi

# 2. A fresh image root: the runtime stage's RUN commands, each through /bin/sh -c as Docker runs them.
if mountpoint -q "$img/proc" 2>/dev/null; then umount "$img/proc"; fi
rm -rf --one-file-system "$img" "$logdir"
mkdir -p "$logdir"
cp -a "$base" "$img"
rm -f "$img/.complete"
cp /etc/resolv.conf "$img/etc/resolv.conf"
mount -t proc proc "$img/proc"
for cmd in "${runs[@]}"; do
	say "RUN $cmd"
	chroot "$img" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		/bin/sh -c "$cmd" >>"$logdir/run.log" 2>&1 || die "RUN failed, see $logdir/run.log"
done

# 3. The binary, built as the build stage builds it.
say "go build ./cmd/zombi"
(cd "$repo" && CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o "$img/usr/local/bin/zombi" ./cmd/zombi) ||
	die "go build failed"

# 4. Run it.
missing=$(chroot "$img" ldd /usr/local/bin/zombi | grep 'not found' || true)
[ -z "$missing" ] || die "unresolved libraries in the image: $missing"
say "ldd: every library resolves"

uid=$(chroot "$img" id -u "${user%%:*}") || die "USER ${user%%:*} does not exist in the image"
if [[ $user == *:* ]]; then
	gid=$(chroot "$img" getent group "${user#*:}" | cut -d: -f3)
else
	gid=$(chroot "$img" id -g "$user")
fi
[ -n "$gid" ] || die "group of USER $user does not exist in the image"
home=$(chroot "$img" getent passwd "$uid" | cut -d: -f6)
run_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "HOME=$home" "${image_env[@]}"
	"ZOMBI_PORT=${ZOMBI_CHECK_HTTP_PORT:-0}" "ZOMBI_KAFKA_PORT=${ZOMBI_CHECK_KAFKA_PORT:-0}" ZOMBI_LOG=info)

http='' kafka=''
start() { # $1: log name
	local log=$logdir/$1.log i
	chroot --userspec="$uid:$gid" "$img" /usr/bin/env -i "${run_env[@]}" /usr/local/bin/zombi >"$log" 2>&1 &
	zpid=$!
	for i in $(seq 100); do
		if grep -q 'msg="zombi listening"' "$log"; then break; fi
		kill -0 "$zpid" 2>/dev/null || die "zombi exited at start: $(cat "$log")"
		sleep 0.1
		[ "$i" -lt 100 ] || die "zombi did not start: $(cat "$log")"
	done
	http=$(sed -n 's/.*msg="zombi listening" http=[^ ]*:\([0-9]\{1,\}\) .*/\1/p' "$log" | tail -n 1)
	kafka=$(sed -n 's/.*msg="zombi listening" .* kafka=[^ ]*:\([0-9]\{1,\}\) .*/\1/p' "$log" | tail -n 1)
	if [ -z "$http" ] || [ -z "$kafka" ]; then die "cannot read the listening ports from $log"; fi
	[ "$(stat -c %u "/proc/$zpid")" = "$uid" ] || die "zombi does not run as uid $uid"
	say "zombi running as $user (uid $uid), HTTP :$http, Kafka :$kafka"
}
stop() {
	local rc=0
	kill -TERM "$zpid"
	wait "$zpid" || rc=$?
	zpid=
	[ "$rc" -eq 0 ] || die "zombi exited $rc on SIGTERM"
}
get() { # $1: URL path; prints the body
	curl -fsS --max-time 5 "http://localhost:$http$1"
}
post() { # $1: URL path, $2: JSON body; prints the body
	curl -fsS --max-time 5 -X POST "http://localhost:$http$1" -H 'Content-Type: application/json' -d "$2"
}
health_check() { # runs the HEALTHCHECK command in the image as USER, with the container's env
	chroot --userspec="$uid:$gid" "$img" /usr/bin/env -i "${run_env[@]}" "ZOMBI_PORT=$http" \
		timeout 30 "${healthcheck[@]}" >>"$logdir/healthcheck.log" 2>&1
}
kcat_count() { # $1: topic
	timeout 20 kcat -C -b "localhost:$kafka" -t "$1" -o beginning -e -q -f '%s\n' | wc -l
}

topic=image-check
start first
body=$(get /health) || die "/health"
[[ $body == *healthy* ]] || die "/health: $body"
say "/health ok"
health_check || die "the HEALTHCHECK command failed against a running zombi, see $logdir/healthcheck.log"
say "HEALTHCHECK ok (${healthcheck[*]})"
body=$(post "/tables/$topic" '{"payload": "from-http"}') || die "POST /tables/$topic"
[[ $body == *'"offset":0'* ]] || die "POST /tables/$topic: $body"
body=$(get "/tables/$topic") || die "GET /tables/$topic"
[[ $body == *'"from-http"'* ]] || die "GET /tables/$topic: $body"
say "HTTP write and read ok"
printf 'k1\nk2\nk3\n' | timeout 20 kcat -P -b "localhost:$kafka" -t "$topic" -p 0 || die "kcat produce"
[ "$(kcat_count "$topic")" -eq 4 ] || die "kcat did not consume the 4 records"
say "kcat produce and consume ok"
stop

start restarted
body=$(get "/tables/$topic") || die "GET /tables/$topic after restart"
[[ $body == *'"from-http"'* ]] || die "HTTP record lost on restart: $body"
[ "$(kcat_count "$topic")" -eq 4 ] || die "records lost on restart"
body=$(post "/tables/$topic" '{"payload": "after-restart"}') || die "POST after restart"
[[ $body == *'"offset":4'* ]] || die "offsets did not continue after restart: $body"
stop
say "data survive a restart"
if health_check; then die "the HEALTHCHECK command exits 0 with zombi stopped"; fi
say "HEALTHCHECK fails once zombi is stopped"
say "OK"
