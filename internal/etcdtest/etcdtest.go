// Package etcdtest runs a real one-member etcd (Debian's etcd-server, the
// binary at /usr/bin/etcd or $ZOMBI_ETCD_BIN) on free loopback ports, for the
// cluster tests: like Gazette's etcdtest, a real process, never a fake. It
// can be stopped, restarted on the same ports and data, and paused.
package etcdtest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/zombitest"
)

// Binary returns the etcd binary: $ZOMBI_ETCD_BIN, else etcd on $PATH
// (Debian's etcd-server puts it at /usr/bin/etcd); "" when there is none.
func Binary() string {
	if b := os.Getenv("ZOMBI_ETCD_BIN"); b != "" {
		return b
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	return ""
}

// Etcd is a running (or stopped) one-member etcd.
type Etcd struct {
	// Endpoint is the client URL, http://127.0.0.1:PORT.
	Endpoint string
	Dir      string // data directory
	LogPath  string

	bin          string
	client, peer int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts etcd with data under t.TempDir() and stops it when the test
// ends. It skips the test when etcd is not installed (`make test` installs
// it: scripts/ensure-deps.sh test).
func Start(t testing.TB) *Etcd {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("etcd not installed (apt-get install etcd-server; make test installs it)")
	}
	dir := t.TempDir()
	var e *Etcd
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a free port may be taken meanwhile
		if e, err = start(bin, dir); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(e.LogPath); err == nil {
				t.Logf("etcd log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	return e
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func start(bin, dir string) (*Etcd, error) {
	c, err := zombitest.FreePort()
	if err != nil {
		return nil, err
	}
	p, err := zombitest.FreePort()
	if err != nil {
		return nil, err
	}
	e := &Etcd{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(c),
		Dir:      filepath.Join(dir, "etcd-data"),
		LogPath:  filepath.Join(dir, "etcd.log"),
		bin:      bin, client: c, peer: p,
	}
	if err := e.Start(); err != nil {
		return nil, err
	}
	return e, nil
}

// Start (re)starts a stopped etcd on the same ports and data directory and
// waits until it answers /health.
func (e *Etcd) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd != nil {
		return errors.New("etcdtest: already running")
	}
	peer := "http://127.0.0.1:" + strconv.Itoa(e.peer)
	logf, err := os.OpenFile(e.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(e.bin,
		"--name", "n1", "--data-dir", e.Dir,
		"--listen-client-urls", e.Endpoint, "--advertise-client-urls", e.Endpoint,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "n1="+peer,
		// Small and quick: tests elect at once and keep little history.
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--auto-compaction-retention", "1h", "--quota-backend-bytes", strconv.Itoa(1<<30))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("etcdtest: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.cmd, e.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-done:
			e.cmd = nil
			b, _ := os.ReadFile(e.LogPath)
			return fmt.Errorf("etcdtest: etcd exited at start:\n%s", tail(b, 2048))
		default:
		}
		if resp, err := hc.Get(e.Endpoint + "/health"); err == nil {
			ok := resp.StatusCode == http.StatusOK
			resp.Body.Close()
			if ok {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.kill()
	return errors.New("etcdtest: etcd not healthy within 20 s")
}

// Stop stops etcd (SIGTERM, then SIGKILL after 5 s) and waits for it; the
// data directory stays for Start.
func (e *Etcd) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGCONT) // a paused etcd cannot handle SIGTERM
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
	e.cmd = nil
}

// kill is Stop with SIGKILL; e.mu held.
func (e *Etcd) kill() {
	if e.cmd != nil {
		_ = e.cmd.Process.Kill()
		<-e.done
		e.cmd = nil
	}
}

// Pause stops the process with SIGSTOP (it keeps its ports: clients time
// out instead of being refused); Resume continues it.
// It returns once every thread of etcd is stopped: SIGSTOP is delivered
// asynchronously, and a request sent before the stop takes effect would
// still be answered.
func (e *Etcd) Pause() error {
	if err := e.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	e.mu.Lock()
	pid := e.cmd.Process.Pid
	e.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("etcdtest: etcd %d not stopped 10 s after SIGSTOP", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// allStopped reports whether every thread of pid is in state T (stopped),
// from /proc/PID/task/*/stat.
func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			return false
		}
		// The state follows the parenthesised command name.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Resume continues a paused etcd.
func (e *Etcd) Resume() error { return e.signal(syscall.SIGCONT) }

func (e *Etcd) signal(s syscall.Signal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return errors.New("etcdtest: not running")
	}
	return e.cmd.Process.Signal(s)
}

// Endpoints is Endpoint as ZOMBI_ETCD_ENDPOINTS takes it.
func (e *Etcd) Endpoints() string { return e.Endpoint }

// Env is the environment a zombi node needs to join a cluster named name on
// this etcd.
func (e *Etcd) Env(name string) []string {
	return []string{"ZOMBI_ETCD_ENDPOINTS=" + e.Endpoint, "ZOMBI_CLUSTER_NAME=" + strings.TrimSpace(name)}
}
