package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecurityStateSurvivesKill9: users made with AlterUserScramCredentials,
// a user deleted the same way, ACLs made with CreateAcls and a bearer token
// made with POST /auth/tokens are all as they were after SIGKILL and a
// restart on the same data directory; ZOMBI_BOOTSTRAP_USERS changed for the
// restart updates a password and deletes no one (Zombi only: it is Zombi's
// storage under test).
func TestSecurityStateSurvivesKill9(t *testing.T) {
	start := time.Now()
	ls, err := secListeners()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(secZombi.dir, "crash-")
	if err != nil {
		t.Fatal(err)
	}
	env := zombiSecEnv(ls)
	p, err := startZombi(dir, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	b := secBroker{name: "zombi", listeners: ls, http: p.HTTPBase}
	ctx := testCtx(t, 2*time.Minute)
	const topic = "dave-t"

	// Before: dave and erin created, erin deleted, dave's ACLs, a token.
	{
		adm := secAdmin(t, b)
		for _, u := range []kadm.UpsertSCRAM{
			{User: "dave", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "dave-secret"},
			{User: "dave", Mechanism: kadm.ScramSha512, Iterations: 5000, Password: "dave-secret"},
			{User: "erin", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "erin-secret"},
		} {
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{u})
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				t.Fatalf("upsert %s %v: %v", u.User, u.Mechanism, err)
			}
		}
		res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "erin", Mechanism: kadm.ScramSha256}}, nil)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("delete erin: %v", err)
		}
		if err := createACLs(ctx, adm,
			kadm.NewACLs().Allow("User:dave").AllowHosts().Topics("dave-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite, kadm.OpRead),
			kadm.NewACLs().Deny("User:dave").DenyHosts().Topics("dave-secret-topic").Operations(kadm.OpAll),
		); err != nil {
			t.Fatal(err)
		}
		if err := createSecTopic(ctx, adm, topic); err != nil {
			t.Fatal(err)
		}
		if err := produceOne(ctx, userKgo(t, b, "SCRAM-SHA-256", "dave", "dave-secret"), topic, "before the kill"); err != nil {
			t.Fatalf("dave produces before the kill: %v", err)
		}
	}
	token := createToken(t, b, "dave", "dave-secret")

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	// The restart also changes ZOMBI_BOOTSTRAP_USERS: alice's password
	// is updated, bob is no longer listed (and must not be deleted).
	p2, err := startZombi(dir, append(slices.Clone(env), "ZOMBI_BOOTSTRAP_USERS=admin:admin-secret,alice:alice-new-secret"))
	if err != nil {
		t.Fatalf("restart after SIGKILL: %v", err)
	}
	t.Cleanup(func() {
		if err := p2.Stop(); err != nil {
			t.Errorf("stop: %v\n%s", err, p2.Log())
		}
	})
	b.http = p2.HTTPBase

	// After: all as before.
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
		if err := produceOne(ctx, userKgo(t, b, mech, "dave", "dave-secret"), topic, "after with "+mech); err != nil {
			t.Fatalf("dave (%s) produces after the restart: %v", mech, err)
		}
	}
	got, err := consumeAsUser(ctx, b, "dave", "dave-secret", topic, 4)
	if want := []string{"before the kill", "after with SCRAM-SHA-256", "after with SCRAM-SHA-512", "after with PLAIN"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("dave consumes after the restart: %q, %v; want %q", got, err, want)
	}
	if err := userKgo(t, b, "SCRAM-SHA-256", "erin", "erin-secret").Ping(ctx); !kgoAuthFailed(err) {
		t.Fatalf("erin, deleted before the kill, after the restart: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if err := userKgo(t, b, "SCRAM-SHA-256", "dave", "not-dave-secret").Ping(ctx); !kgoAuthFailed(err) {
		t.Fatalf("dave with a wrong password after the restart: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if err := userKgo(t, b, "SCRAM-SHA-512", "alice", "alice-new-secret").Ping(ctx); err != nil {
		t.Fatalf("alice with the password ZOMBI_BOOTSTRAP_USERS now gives: %v", err)
	}
	if err := userKgo(t, b, "SCRAM-SHA-256", "alice", "alice-secret").Ping(ctx); !kgoAuthFailed(err) {
		t.Fatalf("alice with her previous password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if err := userKgo(t, b, "PLAIN", "bob", "bob-secret").Ping(ctx); err != nil {
		t.Fatalf("bob, no longer in ZOMBI_BOOTSTRAP_USERS (created, never deleted): %v", err)
	}
	adm := secAdmin(t, b)
	described, err := adm.DescribeUserSCRAMs(ctx, "dave")
	if err == nil {
		err = described.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var creds []string
	for _, ci := range described["dave"].CredInfos {
		creds = append(creds, fmt.Sprintf("%v/%d", ci.Mechanism, ci.Iterations))
	}
	slices.Sort(creds)
	if !slices.Equal(creds, []string{"SCRAM-SHA-256/4096", "SCRAM-SHA-512/5000"}) {
		t.Fatalf("dave's credentials after the restart: %v", creds)
	}
	acls, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow("User:dave").AllowHosts().Deny("User:dave").DenyHosts().
		Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range acls {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		n += len(r.Described)
	}
	if n != 3 {
		t.Fatalf("dave's ACLs after the restart: %d described, want 3 (WRITE, READ on dave- prefixed; DENY ALL on dave-secret-topic)", n)
	}
	code := httpStatus(t, b, "GET", "/auth/whoami", "Bearer "+token)
	if code != http.StatusOK {
		t.Fatalf("dave's token after the restart: %d, want 200", code)
	}
	t.Logf("kill -9 scenario: %.1f s wall", time.Since(start).Seconds())
}

// userKgo is a franz-go client of user with mechanism on b's SASL_PLAINTEXT
// listener, closed when the test ends.
func userKgo(t *testing.T, b secBroker, mech, user, pass string) *kgo.Client {
	t.Helper()
	opts, err := secKgoOpts(b, protoSASLPlaintext, mech, user, pass, false)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RecordDeliveryTimeout(15*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeAsUser is consumeAs for a user outside secUsers.
func consumeAsUser(ctx context.Context, b secBroker, user, pass, topic string, n int) ([]string, error) {
	opts, err := secKgoOpts(b, protoSASLPlaintext, "SCRAM-SHA-256", user, pass, false)
	if err != nil {
		return nil, err
	}
	return consumeWith(ctx, opts, topic, n)
}

// createToken makes a bearer token for user with POST /auth/tokens.
func createToken(t *testing.T, b secBroker, user, pass string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", b.http+"/auth/tokens", bytes.NewReader([]byte(`{"description":"kill -9"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, pass)
	resp, err := secHTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode/100 != 2 || tok.Token == "" {
		t.Fatalf("POST /auth/tokens as %s: %d, %v", user, resp.StatusCode, err)
	}
	return tok.Token
}

// httpStatus sends a request with an Authorization header and returns the
// status.
func httpStatus(t *testing.T, b secBroker, method, path, authorization string) int {
	t.Helper()
	req, _ := http.NewRequest(method, b.http+path, nil)
	req.Header.Set("Authorization", authorization)
	resp, err := secHTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// secHTTPClient verifies the server against the test CA.
func secHTTPClient(t *testing.T) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: secTLS(t, false)}}
}
