#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Zombi needs, only those missing.
#   build: RocksDB headers and libraries (cgo)
#   test:  build + kcat and kafka-python (compat tests), requests, protobuf
#          and protoc (the Python load-test producer), Java 17 and Maven
#          (Apache Kafka 4.4 and the Java client tests in compat-tests/java)
set -euo pipefail

want=(librocksdb-dev)
case "${1:-build}" in
build) ;;
test) want+=(kcat python3-kafka python3-requests python3-protobuf protobuf-compiler openjdk-17-jdk-headless maven) ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
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
