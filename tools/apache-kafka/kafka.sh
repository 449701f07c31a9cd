#!/usr/bin/env bash
# Apache Kafka 4.4.0 on this machine, from Maven Central (no download site):
# the broker (KRaft, broker and controller in one process), its command-line
# tools and Kafka Connect. Java 17 or newer and Maven are needed.
#
#   kafka.sh fetch                  resolve the jars and the Connect plugins into the cache (Maven; once)
#   kafka.sh start DIR [k=v ...]    format DIR and start a single-node cluster on free loopback ports;
#                                   extra k=v lines go into server.properties; prints the bootstrap address
#                                   (the PLAINTEXT listener). Two options among them:
#                                     --listener=PROTOCOL://HOST:PORT  one more listener named after its
#                                       protocol (SSL, SASL_PLAINTEXT, SASL_SSL), advertised as given
#                                     --add-scram=MECH=[name=U,password=P]  a SCRAM credential written when
#                                       formatting (kafka-storage format --add-scram)
#   kafka.sh stop DIR               SIGTERM, then SIGKILL after 30 s
#   kafka.sh addr DIR               the bootstrap address of a started cluster
#   kafka.sh TOOL [args ...]        a command-line tool: kafka-topics, kafka-console-producer,
#                                   kafka-console-consumer, kafka-consumer-groups, kafka-configs,
#                                   kafka-get-offsets, kafka-producer-perf-test, kafka-consumer-perf-test,
#                                   kafka-e2e-latency, kafka-broker-api-versions, kafka-delete-records,
#                                   kafka-transactions, kafka-acls, kafka-reassign-partitions,
#                                   kafka-leader-election, kafka-storage, connect-standalone,
#                                   connect-distributed
#   kafka.sh classpath              the classpath (lib/*) for java -cp
#   kafka.sh plugin-path            the directory to give Connect workers as plugin.path: the file
#                                   connectors (connect-file 4.3.1, the newest on Maven Central here)
#                                   with the kafka-clients 4.3.1 they were built against
#
# Environment: ZOMBI_KAFKA_CACHE (default ~/.cache/zombi/apache-kafka-4.4.0),
# KAFKA_PORT and KAFKA_CONTROLLER_PORT (default: free ports), KAFKA_HEAP_OPTS
# (default -Xmx1G -Xms1G, as Kafka's own scripts).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=4.4.0
cache=${ZOMBI_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zombi/apache-kafka-$version}

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_java() {
	command -v java >/dev/null || die "java not found: Apache Kafka $version needs Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"
}

# fetch copies the jars into $cache/lib once per pom.xml; later calls do not run Maven.
fetch() {
	local stamp sum
	sum=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
	stamp="$cache/.fetched"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found: Maven resolves Kafka from Maven Central (Debian: apt-get install maven)"
	need_java
	echo "kafka.sh: resolving Apache Kafka $version from Maven Central into $cache" >&2
	rm -rf "$cache/lib.tmp"
	mkdir -p "$cache"
	mvn -B -q -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$cache/lib.tmp" >&2 ||
		die "Maven could not resolve Kafka $version (see above)"
	rm -rf "${cache:?}/lib"
	mv "$cache/lib.tmp" "$cache/lib"
	cat >"$cache/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.target = SYSTEM_ERR
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${env:KAFKA_LOG_LEVEL:-WARN}
rootLogger.appenderRef.out.ref = out
PROPS
	echo "$sum" >"$stamp"
}

# plugins resolves the Connect plugin directory $cache/plugins once. connect-file
# 4.3.1 calls org.apache.kafka.common.utils.AppInfoParser, which kafka-clients
# 4.4.0 moved to ...utils.internals: on the 4.4 classpath its connectors fail
# with NoClassDefFoundError. As a plugin (plugin.path) beside kafka-clients
# 4.3.1, Connect's plugin class loader finds the class there when the 4.4
# classpath lacks it; everything else still comes from 4.4.
plugins() {
	local stamp=$cache/plugins/.fetched want="connect-file-4.3.1 kafka-clients-4.3.1"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found: Maven resolves the Connect file connectors from Maven Central (Debian: apt-get install maven)"
	# Workers started together each resolve into their own directory; the
	# first to finish installs it, the others drop theirs.
	local tmp=$cache/plugins.tmp.$$ a
	rm -rf "$tmp"
	mkdir -p "$tmp/connect-file"
	for a in org.apache.kafka:connect-file:4.3.1 org.apache.kafka:kafka-clients:4.3.1; do
		mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="$a" -DoutputDirectory="$tmp/connect-file" >&2 ||
			{ rm -rf "$tmp"; die "Maven could not resolve $a (see above)"; }
	done
	echo "$want" >"$tmp/.fetched"
	if [ -d "$cache/plugins" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		rm -rf "${cache:?}/plugins" # an older plugin set
	fi
	mv -T "$tmp" "$cache/plugins" 2>/dev/null || rm -rf "$tmp"
}

# connect_run CLASS args...: a Connect worker; its workers' plugin.path is
# kafka.sh plugin-path, where the file connectors are.
connect_run() {
	need_java
	fetch
	plugins
	KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512M} java_run "$@"
}

# java_run CLASS args...: a Kafka class on the cached classpath, as Kafka's bin/ scripts run it.
java_run() {
	local class=$1
	shift
	need_java
	fetch
	# shellcheck disable=SC2086 # KAFKA_HEAP_OPTS and KAFKA_JVM_OPTS hold several options
	exec java ${KAFKA_HEAP_OPTS:--Xmx256M} ${KAFKA_JVM_OPTS:-} \
		-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$cache/log4j2.properties" \
		-cp "$cache/lib/*" "$class" "$@"
}

# cluster_id is a random Kafka cluster id (base64url of 16 bytes). Like
# Kafka's Uuid.randomUuid it never starts with '-', which a command line
# would read as an option (1 id in 64 otherwise).
cluster_id() {
	python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
	local dir=${1:?usage: kafka.sh start DIR [key=value ...]}
	shift
	need_java
	fetch
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		die "a Kafka is already running from $dir (pid $(cat "$dir/pid"))"
	fi
	local port=${KAFKA_PORT:-$(free_port)} cport=${KAFKA_CONTROLLER_PORT:-$(free_port)}
	local kv extra="" protos="" scram=() props=()
	for kv in "$@"; do
		case "$kv" in
		--listener=*://*)
			kv=${kv#--listener=}
			extra+=",$kv"
			protos+=",${kv%%://*}:${kv%%://*}"
			;;
		--add-scram=*) scram+=(--add-scram "${kv#--add-scram=}") ;;
		--*) die "unknown option: $kv" ;;
		*=*) props+=("$kv") ;;
		*) die "not key=value: $kv" ;;
		esac
	done
	rm -rf "$dir/data"
	cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$extra
advertised.listeners=PLAINTEXT://127.0.0.1:$port$extra
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$protos
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
	for kv in "${props[@]}"; do
		echo "$kv" >>"$dir/server.properties"
	done
	(KAFKA_HEAP_OPTS=-Xmx256M KAFKA_LOG_LEVEL=WARN java_run kafka.tools.StorageTool format \
		--config "$dir/server.properties" --cluster-id="$(cluster_id)" \
		--ignore-formatted "${scram[@]}") >"$dir/format.log" 2>&1 || die "format failed: $(cat "$dir/format.log")"
	echo "127.0.0.1:$port" >"$dir/addr"
	local started
	started=$(date +%s%N)
	KAFKA_LOG_LEVEL=${KAFKA_LOG_LEVEL:-INFO} KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G} java_run kafka.Kafka "$dir/server.properties" >"$dir/server.log" 2>&1 &
	echo $! >"$dir/pid"
	for _ in $(seq 1 1200); do
		if grep -q 'Kafka Server started' "$dir/server.log" 2>/dev/null; then
			echo "$(( ($(date +%s%N) - started) / 1000000 ))" >"$dir/startup-ms"
			echo "127.0.0.1:$port"
			return 0
		fi
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "Kafka exited during start-up: $(tail -30 "$dir/server.log")"
		sleep 0.1
	done
	stop "$dir"
	die "Kafka not started after 120 s: $(tail -30 "$dir/server.log")"
}

stop() {
	local dir=${1:?usage: kafka.sh stop DIR} pid
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kill "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/pid"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
fetch) fetch && plugins ;;
start) start "$@" ;;
stop) stop "$@" ;;
addr) cat "${1:?usage: kafka.sh addr DIR}/addr" ;;
classpath) fetch && echo "$cache/lib/*" ;;
kafka-topics) java_run org.apache.kafka.tools.TopicCommand "$@" ;;
kafka-console-producer) java_run org.apache.kafka.tools.ConsoleProducer "$@" ;;
kafka-console-consumer) java_run org.apache.kafka.tools.consumer.ConsoleConsumer "$@" ;;
kafka-consumer-groups) java_run org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@" ;;
kafka-configs) java_run org.apache.kafka.tools.ConfigCommand "$@" ;;
kafka-get-offsets) java_run org.apache.kafka.tools.GetOffsetShell "$@" ;;
kafka-producer-perf-test) java_run org.apache.kafka.tools.ProducerPerformance "$@" ;;
kafka-consumer-perf-test) java_run org.apache.kafka.tools.ConsumerPerformance "$@" ;;
kafka-e2e-latency) java_run org.apache.kafka.tools.EndToEndLatency "$@" ;;
kafka-broker-api-versions) java_run org.apache.kafka.tools.BrokerApiVersionsCommand "$@" ;;
kafka-delete-records) java_run org.apache.kafka.tools.DeleteRecordsCommand "$@" ;;
kafka-transactions) java_run org.apache.kafka.tools.TransactionsCommand "$@" ;;
kafka-acls) java_run org.apache.kafka.tools.AclCommand "$@" ;;
kafka-reassign-partitions) java_run org.apache.kafka.tools.reassign.ReassignPartitionsCommand "$@" ;;
kafka-leader-election) java_run org.apache.kafka.tools.LeaderElectionCommand "$@" ;;
kafka-storage) java_run kafka.tools.StorageTool "$@" ;;
plugin-path) fetch && plugins && echo "$cache/plugins" ;;
connect-standalone) connect_run org.apache.kafka.connect.cli.ConnectStandalone "$@" ;;
connect-distributed) connect_run org.apache.kafka.connect.cli.ConnectDistributed "$@" ;;
*) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
