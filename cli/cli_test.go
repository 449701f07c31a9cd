package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/zombi-dev/zombi/internal/zombitest"
	"github.com/zombi-dev/zombi/tlsconf"
)

// secured is a real zombi process with a SASL_SSL listener, HTTPS and an
// admin superuser; the commands run in this process against it, as a user
// would run them.
type secured struct {
	proc   *zombitest.Proc
	certs  tlsconf.DevFiles
	broker string
	env    map[string]string // the admin's connection settings
}

func startSecured(t *testing.T) *secured {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the zombi binary")
	}
	dir := t.TempDir()
	certs, err := tlsconf.WriteDevCerts(filepath.Join(dir, "certs"), tlsconf.DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	broker := fmt.Sprintf("127.0.0.1:%d", port)
	p := zombitest.StartT(t, filepath.Join(dir, "data"),
		"ZOMBI_KAFKA_LISTENERS=SASL_SSL://"+broker,
		"ZOMBI_TLS_CERT_FILE="+certs.Cert, "ZOMBI_TLS_KEY_FILE="+certs.Key,
		"ZOMBI_HTTP_TLS=true",
		"ZOMBI_BOOTSTRAP_USERS=admin:admin-secret", "ZOMBI_SUPERUSERS=admin",
		"ZOMBI_FAILED_AUTH_DELAY_MS=1")
	return &secured{proc: p, certs: certs, broker: broker, env: map[string]string{
		"ZOMBI_BROKERS": broker, "ZOMBI_API": p.HTTPBase, "ZOMBI_CLIENT_TLS_CA_FILE": certs.CA,
		"ZOMBI_USER": "admin", "ZOMBI_PASSWORD": "admin-secret",
	}}
}

// run runs one command line with the admin's settings in the environment
// (overridden by env) and returns the exit status, stdout and stderr.
func (s *secured) run(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range s.env {
		t.Setenv(k, v)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := Execute(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func (s *secured) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := s.run(t, stdin, nil, args...)
	if code != 0 {
		t.Fatalf("zombi %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// client is a franz-go client logged in as user over SASL_SSL with
// SCRAM-SHA-512.
func (s *secured) client(t *testing.T, user, pass string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	pem, err := os.ReadFile(s.certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	ca := x509.NewCertPool()
	if !ca.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in", s.certs.CA)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(s.broker),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()),
		kgo.RetryTimeout(5 * time.Second),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestUserCommands(t *testing.T) {
	s := startSecured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if out := s.must(t, "bob-secret\n", "user", "create", "bob", "--new-password-stdin"); !strings.Contains(out, "SCRAM-SHA-256, SCRAM-SHA-512") {
		t.Fatalf("user create said %q", out)
	}
	var users []struct {
		Name        string
		Credentials []struct {
			Mechanism  string
			Iterations int
		}
	}
	if err := json.Unmarshal([]byte(s.must(t, "", "user", "list", "-o", "json")), &users); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range users {
		if u.Name == "bob" {
			found = len(u.Credentials) == 2 && u.Credentials[0].Iterations == 4096
		}
	}
	if !found {
		t.Fatalf("user list -o json: bob with two 4096-iteration credentials missing: %+v", users)
	}
	// The new user logs in; a wrong password does not.
	if err := s.client(t, "bob", "bob-secret").Ping(ctx); err != nil {
		t.Fatalf("bob cannot log in after user create: %v", err)
	}
	if err := s.client(t, "bob", "wrong").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: got %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	// A new password replaces the old one.
	s.must(t, "", "user", "create", "bob", "--new-password", "bob-2", "--mechanism", "SCRAM-SHA-512")
	if err := s.client(t, "bob", "bob-2").Ping(ctx); err != nil {
		t.Fatalf("bob cannot log in with the new password: %v", err)
	}
	s.must(t, "", "user", "delete", "bob")
	if err := s.client(t, "bob", "bob-2").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted user: got %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if out := s.must(t, "", "user", "list"); strings.Contains(out, "bob") {
		t.Fatalf("user list still shows bob:\n%s", out)
	}
	// Refusals: a non-superuser may not manage users; bad usage is exit 2.
	s.must(t, "carol-secret\n", "user", "create", "carol", "--new-password-stdin")
	code, _, errs := s.run(t, "x\n", map[string]string{"ZOMBI_USER": "carol", "ZOMBI_PASSWORD": "carol-secret"},
		"user", "create", "mallory", "--new-password-stdin")
	if code != 1 || !strings.Contains(errs, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Fatalf("carol creating a user: exit %d, stderr %q; want 1 and CLUSTER_AUTHORIZATION_FAILED", code, errs)
	}
	if code, _, errs := s.run(t, "", nil, "user", "create", "dave"); code != 2 || !strings.Contains(errs, "password") {
		t.Fatalf("user create without a password: exit %d, stderr %q; want 2", code, errs)
	}
	code, _, errs = s.run(t, "", map[string]string{"ZOMBI_PASSWORD": "wrong"}, "user", "list", "--timeout", "5s")
	if code != 1 || !strings.Contains(errs, "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("wrong admin password: exit %d, stderr %q", code, errs)
	}
}

func TestACLCommands(t *testing.T) {
	s := startSecured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.must(t, "alice-secret\n", "user", "create", "alice", "--new-password-stdin")
	s.must(t, "", "acl", "create", "--allow", "User:admin", "--operation", "create", "--cluster")

	alice := s.client(t, "alice", "alice-secret", kgo.DefaultProduceTopic("orders-eu"), kgo.AllowAutoTopicCreation())
	// The topic exists (made by admin), alice has no ACL yet.
	admin := s.client(t, "admin", "admin-secret", kgo.DefaultProduceTopic("orders-eu"), kgo.AllowAutoTopicCreation())
	if err := admin.ProduceSync(ctx, &kgo.Record{Value: []byte("a0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Value: []byte("a1")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice without ACLs: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	s.must(t, "", "acl", "create", "--allow", "User:alice", "--operation", "write,describe", "--topic", "orders-", "--pattern", "prefixed")
	if err := alice.ProduceSync(ctx, &kgo.Record{Value: []byte("a2")}).FirstErr(); err != nil {
		t.Fatalf("alice with a PREFIXED WRITE ACL: %v", err)
	}
	var rows []aclRow
	if err := json.Unmarshal([]byte(s.must(t, "", "acl", "list", "--principal", "User:alice", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ResourceName != "orders-" || rows[0].PatternType != "prefixed" {
		t.Fatalf("acl list: %+v", rows)
	}
	// match: the ACLs that apply to one topic name.
	if out := s.must(t, "", "acl", "list", "--topic", "orders-eu", "--pattern", "match"); strings.Count(out, "User:alice") != 2 {
		t.Fatalf("acl list --pattern match:\n%s", out)
	}
	// DENY wins.
	s.must(t, "", "acl", "create", "--deny", "User:alice", "--operation", "write", "--topic", "orders-eu")
	if err := alice.ProduceSync(ctx, &kgo.Record{Value: []byte("a3")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice under a DENY: got %v", err)
	}
	if out := s.must(t, "", "acl", "delete", "--principal", "User:alice"); !strings.Contains(out, "deleted 3 ACL(s)") {
		t.Fatalf("acl delete --principal: %q", out)
	}
	if out := s.must(t, "", "acl", "list", "--principal", "User:alice"); strings.Contains(out, "alice") {
		t.Fatalf("ACLs left after delete:\n%s", out)
	}
	if code, _, _ := s.run(t, "", nil, "acl", "delete"); code != 2 {
		t.Fatalf("acl delete with no filter: exit %d, want 2 (needs --all)", code)
	}
	if code, _, errs := s.run(t, "", nil, "acl", "create", "--allow", "User:x", "--operation", "fly", "--topic", "t"); code != 2 || !strings.Contains(errs, "fly") {
		t.Fatalf("unknown operation: exit %d %q", code, errs)
	}
}

func TestTokenCommands(t *testing.T) {
	s := startSecured(t)
	token := strings.TrimSpace(s.must(t, "", "token", "create", "--description", "ci", "--ttl", "1h"))
	if !strings.HasPrefix(token, "zombi_") {
		t.Fatalf("token create printed %q", token)
	}
	pem, err := os.ReadFile(s.certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	ca := x509.NewCertPool()
	if !ca.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in", s.certs.CA)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca}}}
	whoami := func() int {
		req, _ := http.NewRequest(http.MethodGet, s.proc.HTTPBase+"/auth/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := whoami(); code != http.StatusOK {
		t.Fatalf("bearer token: %d", code)
	}
	var list []tokenInfo
	if err := json.Unmarshal([]byte(s.must(t, "", "token", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Owner != "User:admin" || list[0].Description != "ci" || list[0].Expires.IsZero() {
		t.Fatalf("token list: %+v", list)
	}
	if strings.Contains(s.must(t, "", "token", "list"), token) {
		t.Fatal("token list prints the secret")
	}
	s.must(t, "", "token", "revoke", list[0].ID)
	if code := whoami(); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d, want 401", code)
	}
	code, _, errs := s.run(t, "", map[string]string{"ZOMBI_PASSWORD": "wrong"}, "token", "list")
	if code != 1 || !strings.Contains(errs, "401") {
		t.Fatalf("token list with a wrong password: exit %d %q", code, errs)
	}
}

func TestHealthAndVersion(t *testing.T) {
	s := startSecured(t)
	if out := s.must(t, "", "health"); out != "healthy\n" {
		t.Fatalf("zombi health: %q", out)
	}
	code, _, errs := s.run(t, "", map[string]string{"ZOMBI_API": "http://127.0.0.1:1"}, "health", "--timeout", "2s")
	if code != 1 || !strings.Contains(errs, "health") {
		t.Fatalf("health of nothing: exit %d %q, want 1", code, errs)
	}
	var b BuildInfo
	if err := json.Unmarshal([]byte(s.must(t, "", "version", "-o", "json")), &b); err != nil {
		t.Fatal(err)
	}
	if b.Version == "" || b.Commit == "" || b.Date == "" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Fatalf("version: %+v", b)
	}
	if out := s.must(t, "", "version"); !strings.HasPrefix(out, "zombi "+b.Version+" (commit ") {
		t.Fatalf("version: %q", out)
	}
}
