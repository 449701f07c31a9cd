// Package compat runs real Kafka clients (franz-go, kcat) and plain HTTP
// against the real zombi binary listening on real ports.
package compat

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// zombi is a running zombi process.
type zombi struct {
	cmd       *exec.Cmd
	httpBase  string
	kafkaAddr string
	logPath   string
	done      chan error
}

var (
	binPath string
	srv     *zombi // shared by the tests; each test uses its own topics
)

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
	// ZOMBI_BIN runs a binary built elsewhere (CI artifacts, bisecting).
	if binPath = os.Getenv("ZOMBI_BIN"); binPath == "" {
		binPath = filepath.Join(tmp, "zombi")
		build := exec.Command("go", "build", "-o", binPath, "./cmd/zombi")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build ./cmd/zombi: %v\n%s", err, out)
			return 1
		}
	}
	srv, err = startZombi(filepath.Join(tmp, "main"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := srv.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop zombi:", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		if b, err := os.ReadFile(srv.logPath); err == nil {
			fmt.Fprintf(os.Stderr, "--- zombi log ---\n%s", tail(b, 8000))
		}
	}
	return code
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// freePort returns a port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startZombi starts the binary with a data dir and extra environment, and
// waits until /health answers and the Kafka port accepts connections.
func startZombi(dir string, env []string) (*zombi, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	kafkaPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	z := &zombi{
		httpBase:  fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		kafkaAddr: fmt.Sprintf("127.0.0.1:%d", kafkaPort),
		logPath:   filepath.Join(dir, "zombi.log"),
		done:      make(chan error, 1),
	}
	logf, err := os.Create(z.logPath)
	if err != nil {
		return nil, err
	}
	z.cmd = exec.Command(binPath)
	z.cmd.Env = append(os.Environ(),
		"ZOMBI_DATA_DIR="+filepath.Join(dir, "data"),
		"ZOMBI_HOST=127.0.0.1",
		"ZOMBI_PORT="+strconv.Itoa(httpPort),
		"ZOMBI_KAFKA_PORT="+strconv.Itoa(kafkaPort),
		"ZOMBI_AUTO_CREATE_TOPICS=true",
		"ZOMBI_DEFAULT_PARTITIONS=1",
		"ZOMBI_LOG=warn",
	)
	z.cmd.Env = append(z.cmd.Env, env...)
	z.cmd.Stdout, z.cmd.Stderr = logf, logf
	if err := z.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { z.done <- z.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-z.done:
			b, _ := os.ReadFile(z.logPath)
			return nil, fmt.Errorf("zombi exited during start-up: %v\n%s", err, b)
		default:
		}
		if z.ready() {
			return z, nil
		}
		if time.Now().After(deadline) {
			_ = z.stop()
			b, _ := os.ReadFile(z.logPath)
			return nil, fmt.Errorf("zombi not ready after 30s\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (z *zombi) ready() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(z.httpBase + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	conn, err := net.DialTimeout("tcp", z.kafkaAddr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// stop sends SIGTERM and waits (SIGKILL after 15 s).
func (z *zombi) stop() error {
	_ = z.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-z.done:
		return err
	case <-time.After(15 * time.Second):
		_ = z.cmd.Process.Kill()
		<-z.done
		return fmt.Errorf("zombi did not stop within 15s of SIGTERM")
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// topicName makes a topic name unique to the test.
func topicName(t *testing.T, suffix string) string {
	name := t.Name() + "-" + suffix
	out := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			out = append(out, c)
		} else {
			out = append(out, '_')
		}
	}
	return string(out)
}
