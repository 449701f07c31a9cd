#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Zombi needs, only those missing.
#   build: RocksDB headers and libraries (cgo)
#   lint:  build + shellcheck
#   test:  build + kcat and kafka-python 2.0.2 (compat tests), protoc (the
#          Python load-test producer; its requests and protobuf come from
#          PyPI into a venv: scripts/pyvenv.sh), and Java 17 with Maven when
#          java or mvn is missing (Apache Kafka 4.4 and the Java client),
#          Chromium (the console's browser tests) and etcd with etcdctl
#          (cluster mode; installing starts no service)
#   ui:    build + Chromium (make ui-screenshots)
#   cluster: build + etcd and curl (make cluster)
set -euo pipefail

want=(librocksdb-dev)
case "${1:-build}" in
build) ;;
lint) want+=(shellcheck) ;;
test)
	want+=(kcat python3-kafka protobuf-compiler chromium etcd-server etcd-client)
	# Any Java 17+ and Maven will do (a JDK outside dpkg too): install only when absent.
	command -v java >/dev/null || want+=(openjdk-17-jdk-headless)
	command -v mvn >/dev/null || want+=(maven)
	;;
ui) want+=(chromium) ;;
cluster) want+=(etcd-server curl) ;;
*) echo "usage: $0 build|lint|test|ui|cluster" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
	echo "missing packages ${missing[*]} and no apt-get: install them by hand (RocksDB >= 7.8 dev files)" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${missing[*]} (apt-get)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
