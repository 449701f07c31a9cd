package tlsconf

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// server is a TLS echo server: after the handshake it writes the client
// certificate's CN (or "-") and a newline, then echoes lines.
type server struct {
	addr string
	ln   net.Listener
}

func startServer(t *testing.T, r *Reloader) *server {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					return
				}
				cs := tc.ConnectionState()
				cn := ClientCN(&cs)
				if cn == "" {
					cn = "-"
				}
				if _, err := io.WriteString(tc, cn+"\n"); err != nil {
					return
				}
				_, _ = io.Copy(tc, tc)
			}(c)
		}
	}()
	return &server{addr: ln.Addr().String(), ln: ln}
}

// dial connects and reads the server's first line (the CN it saw).
func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, *bufio.Reader, string, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, nil, "", err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, nil, "", err
	}
	return c, br, strings.TrimSpace(line), nil
}

func mustCA(t *testing.T) *DevCA {
	t.Helper()
	ca, err := NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// must(t)(ca.Server()) fails the test on an issuing error.
func must(t *testing.T) func(Pair, error) Pair {
	return func(p Pair, err error) Pair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func serialOf(t *testing.T, p Pair) string {
	t.Helper()
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

func peerSerial(c *tls.Conn) string {
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func clientConfig(t *testing.T, ca *DevCA, client *Pair) *tls.Config {
	t.Helper()
	c, err := ca.ClientConfig(client)
	if err != nil {
		t.Fatal(err)
	}
	c.ServerName = "localhost"
	return c
}

func TestReloadPicksUpNewCertificateWithoutDroppingConnections(t *testing.T) {
	ca := mustCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	a := must(t)(ca.Server())
	if err := a.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{CertFile: certFile, KeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, r)
	old, oldR, _, err := dial(t, srv.addr, clientConfig(t, ca, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := peerSerial(old); got != serialOf(t, a) {
		t.Fatalf("first handshake: serial %s, want certificate A %s", got, serialOf(t, a))
	}

	b := must(t)(ca.Server())
	if err := b.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		c, _, _, err := dial(t, srv.addr, clientConfig(t, ca, nil))
		if err != nil {
			t.Fatalf("handshake during reload: %v", err)
		}
		got := peerSerial(c)
		c.Close()
		if got == serialOf(t, b) {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("new handshakes still get the old certificate %s after %v", got, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("reload took %v, want about one check interval (1s)", d)
	}
	// The connection opened before the reload still works.
	if _, err := io.WriteString(old, "still here\n"); err != nil {
		t.Fatalf("write on the old connection: %v", err)
	}
	line, err := oldR.ReadString('\n')
	if err != nil || line != "still here\n" {
		t.Fatalf("old connection after reload: %q, %v", line, err)
	}
}

func TestReloadKeepsOldCertificateWhenNewPairIsBad(t *testing.T) {
	ca := mustCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	a := must(t)(ca.Server())
	if err := a.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{CertFile: certFile, KeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, r)

	// Half a replacement: B's certificate with A's key.
	b := must(t)(ca.Server())
	if err := writeFile(certFile, b.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), EnvCertFile) {
		t.Fatalf("Reload of a mismatched pair: err %v, want one naming %s", err, EnvCertFile)
	}
	c, _, _, err := dial(t, srv.addr, clientConfig(t, ca, nil))
	if err != nil {
		t.Fatalf("handshake after a bad reload: %v", err)
	}
	if got := peerSerial(c); got != serialOf(t, a) {
		t.Fatalf("after a bad pair the server serves %s, want the old certificate A", got)
	}
	c.Close()
	// A garbage file is refused as well.
	if err := writeFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload of a garbage key succeeded")
	}
	// The second half lands: B is served.
	if err := writeFile(keyFile, b.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload of the completed pair: %v", err)
	}
	if got := r.Certificate().Leaf.SerialNumber.String(); got != serialOf(t, b) {
		t.Fatalf("after the fix the server has %s, want B", got)
	}
}

func TestClientAuthModes(t *testing.T) {
	ca := mustCA(t)
	other := mustCA(t)
	dir := t.TempDir()
	files, err := WriteDevCerts(dir, DevOptions{ClientCN: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// The server uses the written files; client certificates come from
	// this test's own CA, which is the client CA.
	caFile := filepath.Join(dir, "own-ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	serverCA, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA)
	good := must(t)(ca.Client("bob"))
	foreign := must(t)(other.Client("mallory"))

	cases := []struct {
		mode   string
		client *Pair
		wantCN string // "" = handshake must fail
	}{
		{"none", nil, "-"},
		{"none", &good, "-"}, // a certificate is not even asked for
		{"requested", nil, "-"},
		{"requested", &good, "bob"},
		{"requested", &foreign, ""},
		{"required", nil, ""},
		{"required", &good, "bob"},
		{"required", &foreign, ""},
	}
	for _, tc := range cases {
		name := tc.mode + "/none"
		if tc.client != nil {
			name = tc.mode + "/" + map[bool]string{true: "good", false: "foreign"}[tc.client == &good]
		}
		t.Run(name, func(t *testing.T) {
			r, err := New(Config{CertFile: files.Cert, KeyFile: files.Key, ClientCAFile: caFile, ClientAuth: tc.mode}, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv := startServer(t, r)
			cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
			if tc.client != nil {
				cert, err := tc.client.TLS()
				if err != nil {
					t.Fatal(err)
				}
				cfg.Certificates = []tls.Certificate{cert}
			}
			c, _, cn, err := dial(t, srv.addr, cfg)
			if tc.wantCN == "" {
				if err == nil {
					c.Close()
					t.Fatalf("mode %s accepted the connection (CN %q)", tc.mode, cn)
				}
				return
			}
			if err != nil {
				t.Fatalf("mode %s refused the connection: %v", tc.mode, err)
			}
			defer c.Close()
			if cn != tc.wantCN {
				t.Fatalf("server saw CN %q, want %q", cn, tc.wantCN)
			}
		})
	}
}

func TestTLS11ClientRefused(t *testing.T) {
	ca := mustCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := must(t)(ca.Server()).Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{CertFile: certFile, KeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, r)
	cfg := clientConfig(t, ca, nil)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, _, _, err := dial(t, srv.addr, cfg); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client completed a handshake")
	}
	cfg.MaxVersion = tls.VersionTLS12
	c, _, _, err := dial(t, srv.addr, cfg)
	if err != nil {
		t.Fatalf("TLS 1.2 client refused: %v", err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Errorf("negotiated %x, want TLS 1.2", v)
	}
	c.Close()
}

func TestNewValidationErrors(t *testing.T) {
	ca := mustCA(t)
	dir := t.TempDir()
	a := must(t)(ca.Server())
	b := must(t)(ca.Server())
	certFile, keyFile := filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem")
	if err := a.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "b-key.pem")
	if err := os.WriteFile(otherKey, b.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.pem")
	if err := os.WriteFile(unreadable, a.KeyPEM, 0o000); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name string
		cfg  Config
		want string // the setting the error must name
	}{
		{"cert without key", Config{CertFile: certFile}, EnvKeyFile},
		{"key without cert", Config{KeyFile: keyFile}, EnvCertFile},
		{"nothing", Config{}, EnvCertFile},
		{"missing cert", Config{CertFile: missing, KeyFile: keyFile}, EnvCertFile},
		{"missing key", Config{CertFile: certFile, KeyFile: missing}, EnvKeyFile},
		{"garbage cert", Config{CertFile: garbage, KeyFile: keyFile}, EnvCertFile},
		{"garbage key", Config{CertFile: certFile, KeyFile: garbage}, EnvKeyFile},
		{"key does not match", Config{CertFile: certFile, KeyFile: otherKey}, EnvKeyFile},
		{"bad client auth", Config{CertFile: certFile, KeyFile: keyFile, ClientAuth: "maybe"}, EnvClientAuth},
		{"required without CA", Config{CertFile: certFile, KeyFile: keyFile, ClientAuth: "required"}, EnvClientCAFile},
		{"requested without CA", Config{CertFile: certFile, KeyFile: keyFile, ClientAuth: "requested"}, EnvClientCAFile},
		{"missing CA", Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: missing}, EnvClientCAFile},
		{"garbage CA", Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: garbage}, EnvClientCAFile},
	}
	if os.Geteuid() != 0 { // root reads a 0000 file
		cases = append(cases, struct {
			name string
			cfg  Config
			want string
		}{"unreadable key", Config{CertFile: certFile, KeyFile: unreadable}, EnvKeyFile})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if err == nil {
				t.Fatal("New succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q should be one line naming %s", msg, tc.want)
			}
			if strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, string(a.KeyPEM[40:60])) {
				t.Fatalf("error quotes key material: %q", msg)
			}
		})
	}
	// A client CA with client auth none is fine.
	if _, err := New(Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, nil); err != nil {
		t.Fatalf("CA with auth none: %v", err)
	}
	if err := (Config{}).Check(); err != nil {
		t.Fatal("an empty config is a valid (TLS off) config for Check")
	}
}

func TestWriteDevCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	f, err := WriteDevCerts(dir, DevOptions{Hosts: []string{"zombi.internal", "10.1.2.3"}, ClientCN: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{f.CAKey, f.Key, f.ClientKey} {
		fi, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", key, fi.Mode().Perm())
		}
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	srv, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(srv.Certificate[0])
	for _, h := range []string{"127.0.0.1", "::1", "localhost", "zombi.internal", "10.1.2.3"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", h, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("server certificate verifies for example.com")
	}
	cli, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cleaf, _ := x509.ParseCertificate(cli.Certificate[0])
	if cleaf.Subject.CommonName != "svc" {
		t.Errorf("client CN %q, want svc", cleaf.Subject.CommonName)
	}
	if _, err := cleaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify: %v", err)
	}
	// The files work as the server's settings.
	if _, err := New(Config{CertFile: f.Cert, KeyFile: f.Key, ClientCAFile: f.CA, ClientAuth: "required"}, nil); err != nil {
		t.Fatalf("the written files do not load: %v", err)
	}
}
