package cluster

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/tlsconf"
)

// tlsEtcd runs a real etcd serving https:// with client certificates
// required (etcdtest has no TLS mode), and returns its endpoint and the
// CA, client certificate and key files.
func tlsEtcd(t *testing.T) (endpoint, caFile, certFile, keyFile string) {
	t.Helper()
	bin := etcdtest.Binary()
	if bin == "" {
		t.Skip("etcd not installed")
	}
	dir := t.TempDir()
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.Client("zombi")
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cl.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if err := srv.Write(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")); err != nil {
		t.Fatal(err)
	}
	ports := make([]int, 2)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	endpoint = "https://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--name", "n1", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "n1="+peer,
		"--cert-file", filepath.Join(dir, "server.pem"), "--key-file", filepath.Join(dir, "server-key.pem"),
		"--client-cert-auth", "--trusted-ca-file", caFile,
		"--heartbeat-interval", "50", "--election-timeout", "500")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pair, err := cl.TLS()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}}}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := hc.Get(endpoint + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			t.Fatalf("TLS etcd not healthy within 20 s:\n%s", b)
		}
	}
	return endpoint, caFile, certFile, keyFile
}

// TestConnectTLS: with the CA and a client certificate Connect reaches an
// etcd that requires one; without the certificate it is one clear error.
func TestConnectTLS(t *testing.T) {
	t.Parallel() // waits out the 5 s connect bound
	ep, ca, cert, key := tlsEtcd(t)
	cfg := Config{Endpoints: []string{ep}, Name: "zombi", CAFile: ca, CertFile: cert, KeyFile: key}
	cli := connect(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/zombi/x/probe", "1"); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
	cfg.CertFile, cfg.KeyFile = "", ""
	start := time.Now()
	if c, err := Connect(ctx, cfg); err == nil {
		c.Close()
		t.Fatal("Connect without the client certificate succeeded")
	} else if msg := err.Error(); !strings.Contains(msg, ep) || !strings.Contains(msg, "TLS: remote error: tls:") ||
		!strings.Contains(msg, "ZOMBI_ETCD_CERT_FILE") || time.Since(start) > 10*time.Second {
		t.Fatalf("error %q after %s: want the endpoint, the TLS refusal and the settings named, within 10 s", msg, time.Since(start))
	}
}
