package kafka

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
)

// secEnv is a server with several listeners on one log.
type secEnv struct {
	l     *plog.Log
	s     *Server
	addrs map[SecurityProtocol]string
}

// startSecure serves each listener on its own 127.0.0.1:0 socket.
func startSecure(t testing.TB, cfg Config, ls ...Listener) *secEnv {
	t.Helper()
	return startSecureSync(t, cfg, false, ls...)
}

// startSecureSync is startSecure with durable (fsynced) writes on request.
func startSecureSync(t testing.TB, cfg Config, durable bool, ls ...Listener) *secEnv {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), SyncWrites: durable, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(l, stats.New(), cfg, slog.New(slog.DiscardHandler))
	e := &secEnv{l: l, s: s, addrs: map[SecurityProtocol]string{}}
	var wg sync.WaitGroup
	errs := make(chan error, len(ls))
	for _, li := range ls {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.addrs[li.Protocol] = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.ServeListener(ln, li)
		}()
	}
	t.Cleanup(func() {
		_ = s.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("ServeListener returned %v after Close", err)
			}
		}
		_ = l.Close()
	})
	return e
}

// dialRaw opens a raw protocol connection, over TLS when tc is not nil
// (handshake done).
func dialRaw(t testing.TB, addr string, tc *tls.Config) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if tc != nil {
		tlc := tls.Client(c, tc)
		_ = tlc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tlc.Handshake(); err != nil {
			_ = c.Close()
			t.Fatalf("TLS handshake: %v", err)
		}
		_ = tlc.SetDeadline(time.Time{})
		c = tlc
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// testPKI is a CA with a server certificate (SAN 127.0.0.1, localhost) and
// a client certificate, made for one test.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newPKI(t testing.TB, clientCN string) *testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zombi test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, server bool) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"zombi tests"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{
		pool:   pool,
		server: leaf(2, "zombi server", x509.ExtKeyUsageServerAuth, true),
		client: leaf(3, clientCN, x509.ExtKeyUsageClientAuth, false),
	}
}

// serverTLS verifies a client certificate when one is given
// (ZOMBI_TLS_CLIENT_AUTH=requested).
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool, ClientAuth: tls.VerifyClientCertIfGiven,
		MinVersion: tls.VersionTLS12,
	}
}

func (p *testPKI) clientTLS(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if withCert {
		c.Certificates = []tls.Certificate{p.client}
	}
	return c
}

// principalProbe wraps the Metadata handler to record the principal of each
// Metadata request. Call it before starting the server (the registry is
// global); the returned function reads the principals seen.
func principalProbe(t testing.TB) func() []auth.Principal {
	var mu sync.Mutex
	var seen []auth.Principal
	key := kmsg.Metadata.Int16()
	orig := apis[key]
	wrapped := orig
	wrapped.fn = func(s *Server, ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
		mu.Lock()
		seen = append(seen, principalFrom(ctx))
		mu.Unlock()
		return orig.fn(s, ctx, req)
	}
	apis[key] = wrapped
	t.Cleanup(func() { apis[key] = orig })
	return func() []auth.Principal {
		mu.Lock()
		defer mu.Unlock()
		return append([]auth.Principal(nil), seen...)
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
