// Package compat runs real Kafka clients (franz-go, kcat, kafka-python, sarama,
// kafkajs) and plain HTTP against the real zombi binary listening on real
// ports.
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

	"github.com/zombi-dev/zombi/internal/zombitest"
)

var srv *zombitest.Proc // shared by the tests; each test uses its own topics

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
	srv, err = startZombi(filepath.Join(tmp, "main"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop zombi:", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- zombi log ---\n%s", srv.Log())
	}
	return code
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
