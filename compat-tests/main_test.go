// Package compat runs real Kafka clients (franz-go, kcat, kafka-python, sarama,
// kafkajs, the Java client) and plain HTTP against the real zombi binary
// listening on real ports, and the Kafka scenarios against Apache Kafka 4.4
// too: the reference. A scenario that fails on Kafka is a wrong test.
package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/kafkatest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

var (
	srv *zombitest.Proc // shared by the tests; each test uses its own topics
	// ref is Apache Kafka 4.4, shared like srv; nil when refMissing says why.
	ref        *kafkatest.Broker
	refMissing string
)

// broker is one of the brokers a scenario runs against.
type broker struct {
	name string // "zombi" or "kafka"
	addr string // the Kafka listener, HOST:PORT
}

func (b broker) isZombi() bool { return b.name == "zombi" }

// eachBroker runs f as subtests "zombi" and "kafka" (Apache Kafka 4.4,
// skipped with the reason where it cannot run here).
func eachBroker(t *testing.T, f func(t *testing.T, b broker)) {
	t.Run("zombi", func(t *testing.T) { f(t, broker{"zombi", srv.KafkaAddr}) })
	t.Run("kafka", func(t *testing.T) {
		if ref == nil {
			t.Skip("Apache Kafka not running: " + refMissing)
		}
		f(t, broker{"kafka", ref.Addr})
	})
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "zombi-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if certs, err = writeSecCerts(filepath.Join(tmp, "certs")); err != nil {
		fmt.Fprintln(os.Stderr, "security test certificates:", err)
		return 1
	}
	secZombi.dir = tmp
	var refErr error
	refDone := make(chan struct{})
	go func() {
		defer close(refDone)
		ref, refMissing, refErr = startReference(filepath.Join(tmp, "kafka"))
	}()
	srv, err = startZombi(filepath.Join(tmp, "main"), nil)
	<-refDone
	if ref != nil {
		defer ref.Stop()
	}
	if err == nil {
		err = refErr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code != 0 && ref != nil {
		fmt.Fprintf(os.Stderr, "--- apache kafka log ---\n%s", ref.Log())
	}
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop zombi:", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- zombi log ---\n%s", srv.Log())
	}
	secLog, err := stopSecZombi()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stop the secured zombi:", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 && secLog != "" {
		fmt.Fprintf(os.Stderr, "--- secured zombi log ---\n%s", secLog)
	}
	return code
}

// startReference starts Apache Kafka 4.4 with Zombi's defaults where a
// scenario depends on them: one partition per auto-created topic, session
// timeouts from 1 s (Kafka's group.min.session.timeout.ms is 6 s; the group
// scenarios use 3 s so that a killed member's partitions move quickly),
// timed-out transactions looked for every second as Zombi does (Kafka: 10 s), and
// the security tests' listeners, users and authorizer beside the PLAINTEXT
// listener the other tests use (security_setup_test.go). It
// returns why not when it cannot run here (missing) and an error when it
// could but did not start. ZOMBI_COMPAT_KAFKA=off skips it.
func startReference(dir string) (b *kafkatest.Broker, missing string, err error) {
	if os.Getenv("ZOMBI_COMPAT_KAFKA") == "off" {
		return nil, "ZOMBI_COMPAT_KAFKA=off", nil
	}
	if why := kafkatest.Missing(); why != "" {
		return nil, why, nil
	}
	sec, err := refSecurity()
	if err != nil {
		return nil, "", err
	}
	b, err = kafkatest.Start(dir, append([]string{"num.partitions=1", "group.min.session.timeout.ms=1000",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=1000"}, sec...)...)
	if err != nil {
		return nil, "", fmt.Errorf("apache kafka: %w", err)
	}
	refSec[protoPlaintext] = b.Addr
	return b, "", nil
}

// startZombi starts the real binary (built once, or $ZOMBI_BIN) with its data
// in dir/data and extra environment, ready on both listeners.
func startZombi(dir string, env []string) (*zombitest.Proc, error) {
	return zombitest.Start(filepath.Join(dir, "data"), append([]string{"ZOMBI_AUTO_CREATE_TOPICS=true", "ZOMBI_DEFAULT_PARTITIONS=1"}, env...)...)
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// topicName makes a topic name unique to the test run: the same for every
// call within one test, different in the next run of it (go test -count=N
// reuses the shared server).
func topicName(t *testing.T, suffix string) string {
	k := nameKey{t, suffix}
	if v, ok := names.Load(k); ok {
		return v.(string)
	}
	name := t.Name() + "-" + suffix
	out := make([]byte, 0, len(name)+8)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			out = append(out, c)
		} else {
			out = append(out, '_')
		}
	}
	out = append(out, '-')
	out = strconv.AppendInt(out, runs.Add(1), 10)
	v, _ := names.LoadOrStore(k, string(out))
	return v.(string)
}

type nameKey struct {
	t      *testing.T
	suffix string
}

var (
	names sync.Map // nameKey -> topic name
	runs  atomic.Int64
)
