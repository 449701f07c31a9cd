# Zombi: `make run` starts the server with working defaults, `make test` runs
# every test. Both install the system packages they need (apt-get).

GO          ?= go
BIN         ?= bin/zombi
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages whose state is shared between goroutines run under the race detector.
RACE_PKGS   := ./log/... ./txn/... ./history/... ./auth/... ./tlsconf/... ./stats/... ./metrics/... ./httpapi/... ./kafka/... ./tiering/... ./bench/loadgen/... ./iceberg/... ./cluster ./cluster/catalog/... ./cluster/meta/... ./cluster/replica/... ./cluster/coordlog/...

.PHONY: all deps test-deps build run test test-short test-kgo test-kgo-cluster test-cluster bench-cluster cluster cluster-clean lint bench bench-peers bench-security bench-iceberg bench-http fuzz clean ui-screenshots

all: build

deps:
	@scripts/ensure-deps.sh build

# The S3-protocol server the tiering tests start (kept out of git in .bin/).
VERSITYGW := $(CURDIR)/.bin/versitygw
$(VERSITYGW):
	GOBIN=$(CURDIR)/.bin $(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0

# kafkajs for compat-tests (npm registry; TestKafkaJS skips where there is no node).
KAFKAJS := compat-tests/kafkajs/node_modules/kafkajs/package.json
$(KAFKAJS): compat-tests/kafkajs/package-lock.json
	@if command -v npm >/dev/null; then cd compat-tests/kafkajs && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: TestKafkaJS will skip" >&2; fi

# The independent Iceberg reader of internal/icebergread (hyparquet, icebird,
# aws4; ReadJS returns ErrUnavailable and its tests skip where there is no node).
ICEBERGREAD_JS := internal/icebergread/js/node_modules/.package-lock.json
$(ICEBERGREAD_JS): internal/icebergread/js/package-lock.json
	@if command -v npm >/dev/null; then cd internal/icebergread/js && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the internal/icebergread tests will skip" >&2; fi

# Python virtual environments from PyPI (scripts/pyvenv.sh: outside git in
# ~/.cache/zombi, made once, re-made when a requirements file changes): the
# current Python Kafka clients, the spec's load producer, and the Iceberg
# readers (pyiceberg, DuckDB 1.5.5 with its extension wheels). Exit status 3 is
# "no python3": those tests skip.
PY_REQS := compat-tests/python/requirements.txt tools/producer/requirements.txt internal/icebergread/py/requirements.txt

# helm for the chart tests (deploy/): built once from the Go module proxy into
# ~/.cache/zombi by scripts/ensure-helm.sh (a few minutes cold).
test-deps: $(VERSITYGW) $(KAFKAJS) $(ICEBERGREAD_JS)
	@scripts/ensure-deps.sh test
	@scripts/ensure-helm.sh >/dev/null
	@tools/apache-kafka/kafka.sh fetch
	@for r in $(PY_REQS); do scripts/pyvenv.sh $$r >/dev/null || { s=$$?; [ $$s -eq 3 ] || exit $$s; echo "no python3: the tests of $$r will skip" >&2; }; done

# zombi version / --version: stamped here (git describe, commit, UTC build time).
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE  ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -X github.com/zombi-dev/zombi/cli.Version=$(VERSION) -X github.com/zombi-dev/zombi/cli.Commit=$(COMMIT) -X github.com/zombi-dev/zombi/cli.Date=$(BUILD_DATE)

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/zombi

run: build
	./$(BIN)

# Unit tests with -race, then the end-to-end tests (real binary, real clients).
test: export ZOMBI_VERSITYGW := $(VERSITYGW)
test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m ./cmd/... ./cli/... ./compat-tests/... ./tools/... ./internal/... ./deploy/... ./cluster/e2e/...
	@mkdir -p $(UI_ARTIFACTS)
	$(GO) test -count=1 -timeout 5m -artifacts -outputdir $(UI_ARTIFACTS) ./ui/...

# The console in headless Chromium (ui/browser_test.go): each test's final
# screenshot, and its logs, stay in $(UI_ARTIFACTS) (inside the git-ignored bin/).
UI_ARTIFACTS := $(CURDIR)/bin/ui-artifacts

# Refreshes the README's console screenshots (docs/img/console-*.png) from the browser tests.
ui-screenshots: deps
	@scripts/ensure-deps.sh ui
	@mkdir -p $(UI_ARTIFACTS)
	ZOMBI_UI_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -timeout 10m -run '^TestConsole' -artifacts -outputdir $(UI_ARTIFACTS) ./ui/

# franz-go's own pkg/kgo suite alone against a fresh Zombi (about 1 min; part
# of make test too): compat-tests/kgo_suite_test.go, allow-list
# compat-tests/kgo-allowlist.txt. KGO_TEST_RECORDS=100000 soaks; the runner's
# deadline is ZOMBI_KGO_TIMEOUT (default 6m).
KGO_TEST_RECORDS ?= 10000
test-kgo: deps
	KGO_TEST_RECORDS=$(KGO_TEST_RECORDS) ZOMBI_COMPAT_KAFKA=off $(GO) test -count=1 -v -timeout 30m -run '^TestFranzGoKgoSuite$$' ./compat-tests/

# franz-go's suite against three nodes on one etcd, KGO_TEST_RF=3 (issue 19,
# point 9; part of make test too): compat-tests/kgo_cluster_test.go.
test-kgo-cluster: deps
	@scripts/ensure-deps.sh test
	KGO_TEST_RECORDS=$(KGO_TEST_RECORDS) ZOMBI_COMPAT_KAFKA=off $(GO) test -count=1 -v -timeout 30m -run '^TestFranzGoKgoSuiteCluster$$' ./compat-tests/

# The cluster's longer soak (three real nodes, etcd, ten kill -9 of a busy
# leader: failover median and max), beside the cluster tests of make test.
test-cluster: deps
	@scripts/ensure-deps.sh test
	ZOMBI_SOAK=1 $(GO) test -count=1 -v -timeout 20m -run 'Soak' ./cluster/e2e/

# The cluster's benchmarks (issue 19, point 10; docs/BENCHMARKS.md "Cluster"):
# RF 3 acks=all against RF 1 acks=1 (64 blocking and 4 batching producers),
# the controlled leader move, and the failover over ten kill -9 (the soak).
# Run it on a quiet machine.
bench-cluster: deps
	@scripts/ensure-deps.sh test
	ZOMBI_BENCH_CLUSTER=1 ZOMBI_SOAK=1 $(GO) test -count=1 -v -timeout 40m -run '^(TestClusterBench|TestClusterKillLeaderSoak)$$' ./cluster/e2e/

# One etcd, the S3 test server and three nodes on this machine, in the
# foreground (scripts/cluster.sh: Kafka 127.0.0.1:9091-9093, HTTP :8081-8083,
# etcd :2379, S3 :7070 with the shared bucket zombi-cluster, data and logs in
# bin/cluster). Ctrl-C stops all and keeps the data; cluster-clean removes it.
cluster: export ZOMBI_VERSITYGW := $(VERSITYGW)
cluster: build $(VERSITYGW)
	@scripts/ensure-deps.sh cluster
	@scripts/cluster.sh

cluster-clean:
	rm -rf bin/cluster

# The fast inner loop: no race detector, no real-process tests.
test-short: deps
	$(GO) test -short ./...

lint: deps
	@scripts/ensure-deps.sh lint
	shellcheck $$(git ls-files '*.sh')
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd bench/peers && $(GO) vet . && $(GO) run $(STATICCHECK) .
	cd deploy/kubecheck && $(GO) vet . && $(GO) run $(STATICCHECK) .
	cd deploy/promcheck && $(GO) vet . && $(GO) run $(STATICCHECK) .

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 3 ./log/ ./httpapi/ ./kafka/ ./tiering/

# Zombi beside Apache Kafka 4.4, NATS JetStream and Redis Streams (about 12 min;
# BENCH_SYSTEMS, BENCH_ONLY, BENCH_PERF pick a subset; docs/BENCHMARKS.md).
bench-peers: deps
	bench/peers.sh

# What TLS, SASL and ACL checks cost on the Kafka write path (about 6 min).
bench-security: deps
	bench/security.sh

# The Iceberg materializer: a 10 M record backfill, and the write path while it runs (about 6 min; docs/BENCHMARKS.md "Iceberg").
bench-iceberg: deps
	bench/iceberg.sh

# Single-event POSTs from wrk against Zombi and a no-op gin handler (about 2 min; docs/BENCHMARKS-httpapi.md).
bench-http: deps
	bench/http-wrk.sh

# Runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz: deps
	$(GO) test -run '^$$' -fuzz FuzzRecords -fuzztime $(FUZZTIME) ./log/batch/
	$(GO) test -run '^$$' -fuzz FuzzDecodeJSONEvent -fuzztime $(FUZZTIME) ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzDecodeProtobufEvent -fuzztime $(FUZZTIME) ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzRequest -fuzztime $(FUZZTIME) ./kafka/
	$(GO) test -run '^$$' -fuzz FuzzMessagesQuery -fuzztime $(FUZZTIME) ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./cluster/coordlog/

clean:
	rm -rf bin
