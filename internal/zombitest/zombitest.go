// Package zombitest builds the real zombi binary and runs it on free
// loopback ports, for the end-to-end tests (cmd/zombi, compat-tests,
// tools/producer): real processes, real ports, real data directories.
package zombitest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of the zombi binary: $ZOMBI_BIN when set (a binary
// built elsewhere), else ./cmd/zombi built once per test process.
func Binary() (string, error) {
	buildOnce.Do(func() {
		if binPath = os.Getenv("ZOMBI_BIN"); binPath != "" {
			return
		}
		dir, err := os.MkdirTemp("", "zombi-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "zombi")
		build := exec.Command("go", "build", "-o", binPath, "./cmd/zombi")
		build.Dir = repoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/zombi: %w\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// repoRoot is the module root, two levels above this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a running zombi process.
type Proc struct {
	Cmd       *exec.Cmd
	HTTPBase  string // http://127.0.0.1:PORT (https:// with ZOMBI_HTTP_TLS=true)
	KafkaAddr string // 127.0.0.1:PORT: the first of ZOMBI_KAFKA_LISTENERS when set
	LogPath   string // the process's stdout and stderr
	done      chan struct{}
	err       error
}

// Start runs the binary with data in dataDir (created if needed), logs in
// dataDir/../zombi-PORT.log, both listeners on free ports, and the extra
// environment (which wins over the defaults here); it returns once /health
// answers 200 and the Kafka port accepts connections. With
// ZOMBI_KAFKA_LISTENERS in env, the caller chose the Kafka ports: KafkaAddr
// is the first listener's. With ZOMBI_HTTP_TLS=true, HTTPBase is https://
// (the readiness check does not verify the certificate; tests do).
//
// A port of its own choosing that another process took in the meantime
// (FreePort's ports come from the range outgoing connections use too) is
// chosen again, up to three times.
func Start(dataDir string, env ...string) (*Proc, error) {
	for try := 1; ; try++ {
		p, ours, err := start(dataDir, env)
		if err == nil || try == 3 || !strings.Contains(err.Error(), "address already in use") || !mentionsAny(err.Error(), ours) {
			return p, err
		}
	}
}

// mentionsAny reports whether s names one of the ports.
func mentionsAny(s string, ports []int) bool {
	for _, p := range ports {
		if strings.Contains(s, ":"+strconv.Itoa(p)+":") || strings.Contains(s, ":"+strconv.Itoa(p)+" ") {
			return true
		}
	}
	return false
}

// start is one attempt of Start; ours are the ports it chose itself.
func start(dataDir string, env []string) (*Proc, []int, error) {
	bin, err := Binary()
	if err != nil {
		return nil, nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, nil, err
	}
	kafkaPort, err := FreePort()
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, nil, err
	}
	scheme := "http"
	if envValue(env, "ZOMBI_HTTP_TLS") == "true" {
		scheme = "https"
	}
	p := &Proc{
		HTTPBase:  fmt.Sprintf("%s://127.0.0.1:%d", scheme, httpPort),
		KafkaAddr: fmt.Sprintf("127.0.0.1:%d", kafkaPort),
		LogPath:   filepath.Join(filepath.Dir(filepath.Clean(dataDir)), fmt.Sprintf("zombi-%d.log", httpPort)),
		done:      make(chan struct{}),
	}
	ours := []int{httpPort}
	base := []string{
		"ZOMBI_DATA_DIR=" + dataDir,
		"ZOMBI_HOST=127.0.0.1",
		"ZOMBI_PORT=" + strconv.Itoa(httpPort),
		"ZOMBI_KAFKA_ADVERTISED_HOST=127.0.0.1",
		"ZOMBI_LOG=warn",
	}
	if ls := envValue(env, "ZOMBI_KAFKA_LISTENERS"); ls != "" {
		first, _, _ := strings.Cut(ls, ",")
		_, hostPort, ok := strings.Cut(first, "://")
		if !ok {
			return nil, ours, fmt.Errorf("ZOMBI_KAFKA_LISTENERS=%s: want a comma list of PROTOCOL://HOST:PORT", ls)
		}
		p.KafkaAddr = hostPort
	} else {
		base = append(base, "ZOMBI_KAFKA_PORT="+strconv.Itoa(kafkaPort))
		ours = append(ours, kafkaPort)
	}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return nil, nil, err
	}
	p.Cmd = exec.Command(bin)
	p.Cmd.Env = append(append(os.Environ(), base...), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	if err := p.Cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, err
	}
	go func() {
		p.err = p.Cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !p.ready() {
		select {
		case <-p.done:
			return nil, ours, fmt.Errorf("zombi exited during start-up: %v\n%s", p.err, p.Log())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return nil, ours, fmt.Errorf("zombi not ready after 30s\n%s", p.Log())
		}
	}
	return p, ours, nil
}

// StartT is Start for one test: it fails the test on error and kills the
// process (if still running) when the test ends.
func StartT(t testing.TB, dataDir string, env ...string) *Proc {
	t.Helper()
	p, err := Start(dataDir, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Kill()
		if t.Failed() {
			t.Logf("zombi log (%s):\n%s", p.LogPath, p.Log())
		}
	})
	return p
}

// envValue is the value of the last KEY=... in env, "" when absent.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// readyClient checks /health; readiness only: the tests check the server's
// certificate themselves.
var readyClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	DisableKeepAlives: true,
}}

func (p *Proc) ready() bool {
	resp, err := readyClient.Get(p.HTTPBase + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	conn, err := net.DialTimeout("tcp", p.KafkaAddr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit status.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Kill sends SIGKILL (a crash) and waits for the exit.
func (p *Proc) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	_ = p.Wait()
	return nil
}

// Stop sends SIGTERM and waits for a clean exit (SIGKILL after 15 s, which
// is an error).
func (p *Proc) Stop() error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(15 * time.Second):
		_ = p.Kill()
		return errors.New("zombi did not stop within 15s of SIGTERM")
	}
}

// Log returns the end of the process's output.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// Restart starts the binary again once p has exited, as p was started: the
// same data directory, ports and settings (a restart clients reconnect to
// at the same address). Its output goes on at the end of p's log.
func (p *Proc) Restart() (*Proc, error) {
	select {
	case <-p.done:
	default:
		return nil, errors.New("restart: the process is still running")
	}
	logf, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	q := &Proc{HTTPBase: p.HTTPBase, KafkaAddr: p.KafkaAddr, LogPath: p.LogPath, done: make(chan struct{})}
	q.Cmd = exec.Command(p.Cmd.Path)
	q.Cmd.Env = p.Cmd.Env
	q.Cmd.Stdout, q.Cmd.Stderr = logf, logf
	if err := q.Cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		q.err = q.Cmd.Wait()
		logf.Close()
		close(q.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !q.ready() {
		select {
		case <-q.done:
			return nil, fmt.Errorf("zombi exited during restart: %v\n%s", q.err, q.Log())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = q.Kill()
			return nil, fmt.Errorf("zombi not ready 30s after restart\n%s", q.Log())
		}
	}
	return q, nil
}
