package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/tlsconf"
)

// TestConfigInterNodeDefaults: the inter-node listener is the first
// PLAINTEXT one, else the first; SCRAM-SHA-512; TLS and SASL options only
// for a listener that needs them.
func TestConfigInterNodeDefaults(t *testing.T) {
	certs, err := tlsconf.WriteDevCerts(t.TempDir(), tlsconf.DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tlsEnv := map[string]string{"ZOMBI_TLS_CERT_FILE": certs.Cert, "ZOMBI_TLS_KEY_FILE": certs.Key, "ZOMBI_SUPERUSERS": "admin"}
	cases := []struct {
		listeners, want string
		opts            int // kgo options: TLS, SASL
	}{
		{"", "PLAINTEXT", 0},
		{"SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0", "PLAINTEXT", 0},
		{"SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0", "SASL_SSL", 2},
		{"SSL://127.0.0.1:0", "SSL", 1},
	}
	for _, tc := range cases {
		env := maps.Clone(tlsEnv)
		env["ZOMBI_KAFKA_LISTENERS"] = tc.listeners
		env["ZOMBI_INTER_NODE_USER"], env["ZOMBI_INTER_NODE_PASSWORD"] = "node", "pw"
		c, err := loadConfig(nil, envOf(env), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s: %v", tc.listeners, err)
		}
		if c.InterNode.Listener != tc.want || c.InterNode.Mechanism != "SCRAM-SHA-512" {
			t.Errorf("%s: inter-node listener %q mechanism %q, want %q SCRAM-SHA-512", tc.listeners, c.InterNode.Listener, c.InterNode.Mechanism, tc.want)
		}
		opts, err := c.interNodeKgoOpts(nil)
		if err != nil || len(opts) != tc.opts {
			t.Errorf("%s: %d kgo options (err %v), want %d", tc.listeners, len(opts), err, tc.opts)
		}
	}
	env := maps.Clone(tlsEnv)
	env["ZOMBI_KAFKA_LISTENERS"] = "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"
	env["ZOMBI_INTER_NODE_LISTENER"] = " sasl_ssl "
	env["ZOMBI_INTER_NODE_SASL_MECHANISM"] = "plain"
	c, err := loadConfig(nil, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.InterNode.Listener != "SASL_SSL" || c.InterNode.Mechanism != "PLAIN" {
		t.Errorf("given: listener %q mechanism %q, want SASL_SSL PLAIN", c.InterNode.Listener, c.InterNode.Mechanism)
	}
	// A node alone never dials another: no credentials needed.
	if c.Cluster.Enabled() {
		t.Fatal("cluster enabled without ZOMBI_ETCD_ENDPOINTS")
	}
}

// TestConfigInterNodeInvalid: each mistake is one line naming the
// setting; the password is never quoted nor printed.
func TestConfigInterNodeInvalid(t *testing.T) {
	const pw = "Inter-Node-Pa55"
	dir := t.TempDir()
	certs, err := tlsconf.WriteDevCerts(dir, tlsconf.DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"ZOMBI_TLS_CERT_FILE": certs.Cert, "ZOMBI_TLS_KEY_FILE": certs.Key, "ZOMBI_SUPERUSERS": "admin",
		"ZOMBI_KAFKA_LISTENERS": "SASL_SSL://127.0.0.1:0", "ZOMBI_ETCD_ENDPOINTS": "http://127.0.0.1:2379"}
	cases := []struct {
		env        map[string]string
		name, says string
	}{
		{map[string]string{}, "ZOMBI_INTER_NODE_USER", "SASL_SSL authenticates with SASL"},
		{map[string]string{"ZOMBI_INTER_NODE_LISTENER": "PLAINTEXT"}, "ZOMBI_INTER_NODE_LISTENER", "not a listener of ZOMBI_KAFKA_LISTENERS (SASL_SSL)"},
		{map[string]string{"ZOMBI_INTER_NODE_LISTENER": "SASL"}, "ZOMBI_INTER_NODE_LISTENER", "not a listener"},
		{map[string]string{"ZOMBI_INTER_NODE_USER": "node"}, "ZOMBI_INTER_NODE_PASSWORD", "go together"},
		{map[string]string{"ZOMBI_INTER_NODE_PASSWORD": pw}, "ZOMBI_INTER_NODE_USER", "go together"},
		{map[string]string{"ZOMBI_INTER_NODE_USER": "no\x01de", "ZOMBI_INTER_NODE_PASSWORD": pw}, "ZOMBI_INTER_NODE_USER", "control characters"},
		{map[string]string{"ZOMBI_INTER_NODE_USER": "node", "ZOMBI_INTER_NODE_PASSWORD": pw, "ZOMBI_INTER_NODE_SASL_MECHANISM": "GSSAPI"}, "ZOMBI_INTER_NODE_SASL_MECHANISM", "unknown mechanism"},
		{map[string]string{"ZOMBI_INTER_NODE_USER": "node", "ZOMBI_INTER_NODE_PASSWORD": pw, "ZOMBI_INTER_NODE_CA_FILE": "/nonexistent/ca.pem"}, "ZOMBI_INTER_NODE_CA_FILE", "no such file"},
		{map[string]string{"ZOMBI_INTER_NODE_USER": "node", "ZOMBI_INTER_NODE_PASSWORD": pw, "ZOMBI_INTER_NODE_CA_FILE": notPEM}, "ZOMBI_INTER_NODE_CA_FILE", "no PEM certificate"},
	}
	for _, tc := range cases {
		env := maps.Clone(base)
		maps.Copy(env, tc.env)
		_, err := loadConfig(nil, envOf(env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v should be one line naming %s and saying %q", tc.env, err, tc.name, tc.says)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%v: the error quotes the password: %v", tc.env, err)
		}
	}

	// Valid: the password is in the config, never in its printed form.
	env := maps.Clone(base)
	env["ZOMBI_INTER_NODE_USER"], env["ZOMBI_INTER_NODE_PASSWORD"], env["ZOMBI_INTER_NODE_CA_FILE"] = "node", pw, certs.CA
	c, err := loadConfig(nil, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.InterNode.Password) != pw {
		t.Errorf("password not kept as given")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, c); strings.Contains(s, pw) {
			t.Errorf("fmt %s of the config prints the inter-node password", f)
		}
	}
	opts, err := c.interNodeKgoOpts(nil)
	if err != nil || len(opts) != 2 {
		t.Errorf("SASL_SSL: %d kgo options (err %v), want TLS and SASL", len(opts), err)
	}
	tc, err := c.interNodeTLS(nil)
	if err != nil || tc.RootCAs == nil {
		t.Errorf("the inter-node TLS does not trust ZOMBI_INTER_NODE_CA_FILE (err %v)", err)
	}
}

// TestInterNodeTLSPresentsNodeCertificate: the inter-node TLS trusts the
// configured CA and presents the node's own certificate, so a peer that
// requires client certificates (SSL listener or HTTPS with
// ZOMBI_TLS_CLIENT_AUTH=required) takes it; the HTTPS forwarding client
// uses it.
func TestInterNodeTLSPresentsNodeCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(tlsconf.IssueOptions{CommonName: "zombi-node", Hosts: []string{"127.0.0.1"}, Server: true, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pair.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(nil, envOf(map[string]string{"ZOMBI_TLS_CERT_FILE": certFile, "ZOMBI_TLS_KEY_FILE": keyFile,
		"ZOMBI_TLS_CLIENT_CA_FILE": caFile, "ZOMBI_TLS_CLIENT_AUTH": "required", "ZOMBI_HTTP_TLS": "true",
		"ZOMBI_KAFKA_LISTENERS": "SSL://127.0.0.1:0", "ZOMBI_SUPERUSERS": "zombi-node", "ZOMBI_ETCD_ENDPOINTS": "http://127.0.0.1:2379"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.InterNode.Listener != "SSL" {
		t.Fatalf("inter-node listener %q, want SSL", c.InterNode.Listener)
	}
	certs, err := tlsconf.New(c.TLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, tlsconf.ClientCN(r.TLS))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	srv.TLS = certs.ServerConfig()
	// StartTLS would add its own certificate, which wins without SNI.
	srv.TLS.Certificates = []tls.Certificate{*certs.Certificate()}
	srv.StartTLS()
	defer srv.Close()

	cl, err := c.interNodeHTTPClient(certs)
	if err != nil || cl == nil {
		t.Fatalf("forward client: %v", err)
	}
	resp, err := cl.Get(srv.URL)
	if err != nil {
		t.Fatalf("HTTPS to a peer requiring client certificates: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "zombi-node" {
		t.Errorf("the peer saw client CN %q (status %d), want zombi-node", body, resp.StatusCode)
	}
	// Without the node's certificate the peer refuses the handshake.
	tc, err := c.interNodeTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
	if resp, err := bare.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Errorf("no client certificate: status %d, want a refused handshake", resp.StatusCode)
	}
	// A peer whose certificate another CA signed is not trusted.
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	other.Config.ErrorLog = log.New(io.Discard, "", 0)
	other.StartTLS()
	defer other.Close()
	if resp, err := cl.Get(other.URL); err == nil {
		resp.Body.Close()
		t.Errorf("a peer with an untrusted certificate: status %d, want a verification error", resp.StatusCode)
	}
}
