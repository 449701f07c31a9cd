// Package s3test starts the S3-protocol server the tests use, versitygw
// (v1.8.0 honours If-None-Match: * with 412), on a free port of its own.
package s3test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Credentials of the server's root user.
const (
	AccessKey = "testkey"
	SecretKey = "testsecret123"
)

// Binary finds versitygw: $ZOMBI_VERSITYGW, .bin/versitygw at the
// repository root (make test-deps puts it there), or PATH; "" when absent.
func Binary() string {
	if p := os.Getenv("ZOMBI_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	_, file, _, _ := runtime.Caller(0)
	if p := filepath.Join(filepath.Dir(file), "..", "..", ".bin", "versitygw"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Server is a running versitygw over a posix directory.
type Server struct {
	Addr string // 127.0.0.1:PORT
	Dir  string // where its buckets are directories

	t    testing.TB
	bin  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Endpoint is the server's URL.
func (s *Server) Endpoint() string { return "http://" + s.Addr }

// Start starts versitygw for the test (killed when it ends); the test
// skips with the install command when there is no binary.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("versitygw not found: run `GOBIN=$PWD/.bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` or set ZOMBI_VERSITYGW")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), Dir: t.TempDir(), t: t, bin: bin}
	ln.Close()
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// Stop kills the server (S3 down); its buckets stay in Dir. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again (after Stop) on the same address and
// directory, and returns once it listens.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, "--port", s.Addr, "--quiet", "posix", s.Dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+AccessKey, "ROOT_SECRET_ACCESS_KEY="+SecretKey)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", s.Addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not listen on %s", s.Addr)
		}
	}
}
