package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/zombi-dev/zombi/internal/zombitest"
	"github.com/zombi-dev/zombi/tlsconf"
)

// runToExit runs the binary with env (on free loopback ports and a fresh
// data dir) and returns its exit code and output; it fails the test if the
// process is still running after 20 s.
func runToExit(t *testing.T, env ...string) (int, string) {
	t.Helper()
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(),
		"ZOMBI_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"ZOMBI_HOST=127.0.0.1",
		"ZOMBI_PORT="+strconv.Itoa(freePort(t)),
		"ZOMBI_KAFKA_PORT="+strconv.Itoa(freePort(t)),
		"ZOMBI_LOG=warn",
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("zombi did not stop on its own: %s", out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("zombi exited with %v: %s", err, out)
	}
	return ee.ExitCode(), string(out)
}

// TestSecurityStartupMistakes: each mistake stops start-up with one line
// naming the setting, and never prints a password.
func TestSecurityStartupMistakes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, err := ca.Server()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Server()
	if err != nil {
		t.Fatal(err)
	}
	cert, key, otherKey := filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem"), filepath.Join(dir, "b-key.pem")
	if err := a.Write(cert, key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherKey, b.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "Sup3r-s3cret-pw"
	sasl := "ZOMBI_KAFKA_LISTENERS=SASL_PLAINTEXT://{ZOMBI_HOST}:{ZOMBI_KAFKA_PORT}"
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"certificate without key", []string{"ZOMBI_TLS_CERT_FILE=" + cert}, "ZOMBI_TLS_KEY_FILE"},
		{"SSL listener without certificate", []string{"ZOMBI_KAFKA_LISTENERS=SSL://{ZOMBI_HOST}:{ZOMBI_KAFKA_PORT}"}, "ZOMBI_TLS_CERT_FILE"},
		{"HTTPS without certificate", []string{"ZOMBI_HTTP_TLS=true"}, "ZOMBI_TLS_CERT_FILE"},
		{"client auth required without CA", []string{"ZOMBI_TLS_CERT_FILE=" + cert, "ZOMBI_TLS_KEY_FILE=" + key, "ZOMBI_TLS_CLIENT_AUTH=required"}, "ZOMBI_TLS_CLIENT_CA_FILE"},
		{"certificate file missing", []string{"ZOMBI_TLS_CERT_FILE=" + cert + ".nope", "ZOMBI_TLS_KEY_FILE=" + key}, "ZOMBI_TLS_CERT_FILE"},
		{"key does not match", []string{"ZOMBI_TLS_CERT_FILE=" + cert, "ZOMBI_TLS_KEY_FILE=" + otherKey}, "ZOMBI_TLS_KEY_FILE"},
		{"SASL listener without any user", []string{sasl, "ZOMBI_SUPERUSERS=admin"}, "ZOMBI_BOOTSTRAP_USERS"},
		{"authorization without superuser", []string{sasl, "ZOMBI_BOOTSTRAP_USERS=admin:" + pw}, "ZOMBI_SUPERUSERS"},
		{"authorization on without superuser", []string{"ZOMBI_AUTHORIZATION=on"}, "ZOMBI_SUPERUSERS"},
		{"unknown mechanism", []string{"ZOMBI_SASL_MECHANISMS=SCRAM-SHA-1"}, "ZOMBI_SASL_MECHANISMS"},
		{"malformed bootstrap users", []string{"ZOMBI_BOOTSTRAP_USERS=admin:" + pw + ",bob"}, "ZOMBI_BOOTSTRAP_USERS"},
		{"bad bootstrap user name", []string{sasl, "ZOMBI_SUPERUSERS=admin", "ZOMBI_BOOTSTRAP_USERS=admin:" + pw + ",bad\tuser:" + pw}, "ZOMBI_BOOTSTRAP_USERS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runToExit(t, tc.env...)
			if code == 0 {
				t.Fatalf("exit 0: %s", out)
			}
			out = strings.TrimSpace(out)
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("want one line naming %s, got:\n%s", tc.want, out)
			}
			if strings.Contains(out, pw) {
				t.Fatalf("the output shows a password: %s", out)
			}
		})
	}
}

// TestSecurityExposureWarning: listening beyond loopback without
// authentication logs one warning; loopback only or with SASL, none.
func TestSecurityExposureWarning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	p := startZombi(t, t.TempDir(), "ZOMBI_HOST=0.0.0.0")
	if n := strings.Count(p.Log(), "listening beyond loopback without authentication"); n != 1 {
		t.Fatalf("0.0.0.0 without auth: %d warnings, want 1:\n%s", n, p.Log())
	}
	q := startZombi(t, t.TempDir())
	if strings.Contains(q.Log(), "beyond loopback") {
		t.Fatalf("loopback only: warned:\n%s", q.Log())
	}
}

type httpClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (h httpClient) do(method, path, body string, hdr ...string) (int, string) {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.base+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func basicAuth(user, pw string) []string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return []string{"Authorization", r.Header.Get("Authorization")}
}

// TestSecurityTokenAndBootstrapUsersSurviveKill9: a token made over HTTP
// and a bootstrap user's password change are durable when they are
// answered: kill -9, restart, both still hold; bootstrap users are never
// deleted by a later start that does not name them.
func TestSecurityTokenAndBootstrapUsersSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	dir := t.TempDir()
	// zombitest takes the Kafka address from ZOMBI_KAFKA_LISTENERS as written.
	listener := fmt.Sprintf("ZOMBI_KAFKA_LISTENERS=SASL_PLAINTEXT://127.0.0.1:%d", freePort(t))
	env := []string{listener, "ZOMBI_SUPERUSERS=admin", "ZOMBI_FAILED_AUTH_DELAY_MS=1"}
	p := startZombi(t, dir, append(env, "ZOMBI_BOOTSTRAP_USERS=admin:first,alice:alice-pw")...)
	h := httpClient{t, p.HTTPBase, &http.Client{Timeout: 10 * time.Second}}
	if code, _ := h.do("GET", "/stats", ""); code != http.StatusUnauthorized {
		t.Fatalf("SASL listener: the REST API must authenticate, /stats answered %d", code)
	}
	code, body := h.do("POST", "/auth/tokens", `{"description":"kill test"}`, basicAuth("alice", "alice-pw")...)
	if code != http.StatusCreated {
		t.Fatalf("create token: %d %s", code, body)
	}
	var tok struct{ Token, ID string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token answer %s", body)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}

	// Restart with admin's password changed.
	p = startZombi(t, dir, append(env, "ZOMBI_BOOTSTRAP_USERS=admin:second,alice:alice-pw")...)
	h.base = p.HTTPBase
	whoami := func(hdr ...string) (int, string) { return h.do("GET", "/auth/whoami", "", hdr...) }
	if code, body := whoami("Authorization", "Bearer "+tok.Token); code != 200 || !strings.Contains(body, `"User:alice"`) {
		t.Fatalf("token after kill -9: %d %s", code, body)
	}
	if code, _ := whoami(basicAuth("admin", "first")...); code != http.StatusUnauthorized {
		t.Fatalf("admin's old password after the change: %d", code)
	}
	if code, _ := h.do("GET", "/stats", "", basicAuth("admin", "second")...); code != 200 {
		t.Fatalf("admin's new password: %d", code)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}

	// A start that names no bootstrap user deletes nobody.
	p = startZombi(t, dir, env...)
	h.base = p.HTTPBase
	if code, _ := h.do("GET", "/stats", "", basicAuth("admin", "second")...); code != 200 {
		t.Fatalf("admin's changed password after a second kill -9: %d", code)
	}
	if code, _ := whoami(basicAuth("alice", "alice-pw")...); code != 200 {
		t.Fatalf("alice after a start without ZOMBI_BOOTSTRAP_USERS: %d", code)
	}
	if code, _ := whoami("Authorization", "Bearer "+tok.Token); code != 200 {
		t.Fatalf("token after the second restart: %d", code)
	}
}

// startTLS runs the binary with HTTPS (zombitest's readiness probe speaks
// plain HTTP) and waits for /health over TLS.
func startTLS(t *testing.T, dataDir string, roots *x509.CertPool, env ...string) (httpBase, kafkaAddr string) {
	t.Helper()
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	hp, kp := freePort(t), freePort(t)
	logPath := filepath.Join(t.TempDir(), "zombi.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ZOMBI_DATA_DIR="+dataDir, "ZOMBI_HOST=127.0.0.1", "ZOMBI_PORT="+strconv.Itoa(hp),
		"ZOMBI_KAFKA_PORT="+strconv.Itoa(kp), "ZOMBI_LOG=warn")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("zombi log:\n%s", b)
		}
	})
	httpBase = fmt.Sprintf("https://localhost:%d", hp)
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("zombi exited during start-up:\n%s", b)
		default:
		}
		if resp, err := c.Get(httpBase + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return httpBase, fmt.Sprintf("localhost:%d", kp)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("zombi not ready over HTTPS after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSecuritySASLSSLAndHTTPSWiring: the settings reach both doors. With
// certificates from zombi certs dev's code, a SASL_SSL listener serves
// franz-go with SCRAM-SHA-512 and PLAIN, refuses a wrong password, and the
// REST API answers HTTPS with the same certificate and the same users.
func TestSecuritySASLSSLAndHTTPSWiring(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	files, err := tlsconf.WriteDevCerts(filepath.Join(t.TempDir(), "certs"), tlsconf.DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	base, kafkaAddr := startTLS(t, filepath.Join(t.TempDir(), "data"), roots,
		"ZOMBI_KAFKA_LISTENERS=SASL_SSL://{ZOMBI_HOST}:{ZOMBI_KAFKA_PORT}",
		"ZOMBI_TLS_CERT_FILE="+files.Cert, "ZOMBI_TLS_KEY_FILE="+files.Key, "ZOMBI_HTTP_TLS=true",
		"ZOMBI_BOOTSTRAP_USERS=admin:admin-pw,alice:alice-pw", "ZOMBI_SUPERUSERS=admin", "ZOMBI_FAILED_AUTH_DELAY_MS=1")

	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	h := httpClient{t, base, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}}
	if code, body := h.do("GET", "/auth/whoami", "", basicAuth("admin", "admin-pw")...); code != 200 || !strings.Contains(body, `"User:admin"`) {
		t.Fatalf("HTTPS whoami: %d %s", code, body)
	}
	if code, _ := h.do("GET", "/stats", ""); code != http.StatusUnauthorized {
		t.Fatalf("HTTPS without credentials: %d", code)
	}
	// Plain HTTP to the HTTPS port is not served.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(strings.Replace(base, "https://", "http://", 1) + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the HTTPS port")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newClient := func(m kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.DialTLSConfig(tlsCfg.Clone()), m,
			kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	admin := newClient(kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha512Mechanism()))
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte("over SASL_SSL")}).FirstErr(); err != nil {
		t.Fatalf("produce over SASL_SSL with SCRAM-SHA-512: %v", err)
	}
	plainAdmin := newClient(kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism()))
	if err := plainAdmin.Ping(ctx); err != nil {
		t.Fatalf("PLAIN over SASL_SSL: %v", err)
	}
	wrong := newClient(kgo.SASL(scram.Auth{User: "admin", Pass: "nope"}.AsSha512Mechanism()))
	if err := wrong.Ping(ctx); err == nil {
		t.Fatal("a wrong password was accepted on the SASL_SSL listener")
	}
	// The record is there through the other door.
	if code, body := h.do("GET", "/tables/secure", "", basicAuth("admin", "admin-pw")...); code != 200 || !bytes.Contains([]byte(body), []byte("over SASL_SSL")) {
		t.Fatalf("read over HTTPS: %d %s", code, body)
	}
}

// TestSecurityCertificateReloadThroughBinary: replacing the certificate
// files of a running server changes what new HTTPS and SSL handshakes get
// within about a second, while a connection opened before goes on working.
func TestSecurityCertificateReloadThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	first, err := ca.Server()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	base, kafkaAddr := startTLS(t, filepath.Join(dir, "data"), ca.Pool(),
		"ZOMBI_KAFKA_LISTENERS=SSL://{ZOMBI_HOST}:{ZOMBI_KAFKA_PORT}", "ZOMBI_HTTP_TLS=true",
		"ZOMBI_TLS_CERT_FILE="+certFile, "ZOMBI_TLS_KEY_FILE="+keyFile)
	serialOf := func(p tlsconf.Pair) string {
		c, err := p.TLS()
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.String()
	}
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	handshake := func(addr string) string {
		c, err := tls.Dial("tcp", addr, tlsCfg)
		if err != nil {
			t.Fatalf("handshake with %s: %v", addr, err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	httpAddr := strings.TrimPrefix(base, "https://")
	if got := handshake(httpAddr); got != serialOf(first) {
		t.Fatalf("HTTPS serves %s, want the first certificate", got)
	}
	// A keep-alive HTTPS connection opened before the change.
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg.Clone(), MaxIdleConnsPerHost: 1}}
	getHealth := func(c *http.Client) *http.Response {
		resp, err := c.Get(base + "/health")
		if err != nil {
			t.Fatalf("GET /health: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	getHealth(old)

	second, err := ca.Server()
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, addr := range []string{httpAddr, kafkaAddr} {
		for handshake(addr) != serialOf(second) {
			if time.Since(start) > 3*time.Second {
				t.Fatalf("%s still serves the first certificate %v after the files changed", addr, time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("new certificate served after %v", time.Since(start))
	if resp := getHealth(old); resp.TLS.PeerCertificates[0].SerialNumber.String() != serialOf(first) || resp.StatusCode != 200 {
		t.Fatalf("the connection opened before the reload was replaced or failed: %d", resp.StatusCode)
	}
}
