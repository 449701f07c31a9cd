// Package e2e holds the cluster's end-to-end tests (issue 19 point 8):
// real etcd, real zombi processes on loopback (internal/clustertest), real
// Kafka clients (franz-go, librdkafka through internal/chaos), real faults
// (SIGKILL, SIGTERM, SIGSTOP, etcd stopped, a data directory removed).
//
//	go test ./cluster/e2e/                  # about 2.7 minutes on 2 cores
//	ZOMBI_SOAK=1 go test -run Soak ./cluster/e2e/ # ten leader kills
//	ZOMBI_E2E_BUGS=1 go test ./cluster/e2e/ # also the tests of known bugs
//
// ZOMBI_BIN names a prebuilt zombi binary (else one is built per run).
package e2e
