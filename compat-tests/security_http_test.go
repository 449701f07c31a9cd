package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSecurityHTTP is the REST door of the secured Zombi (HTTPS with the
// test CA's certificate, ZOMBI_HTTP_TLS=true): 401 with WWW-Authenticate
// without or with bad credentials, 403 where the ACLs refuse, 200 with
// Basic, with a Bearer token made by POST /auth/tokens (and 401 once it is
// revoked), with alice's client certificate, /health open to all. Zombi
// only: Kafka has no REST API.
func TestSecurityHTTP(t *testing.T) {
	start := time.Now()
	z, err := zombiSec()
	if err == nil {
		err = grantAlice(z)
	}
	if err != nil {
		t.Fatal(err)
	}
	verifying := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: secTLS(t, false)}}
	withCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: secTLS(t, true)}}
	table := alicePrefix + fmt.Sprintf("http-%d", runs.Add(1))
	// POST to a table that does not exist creates it, which needs CREATE
	// (as Kafka's auto-creation): admin creates alice's table.
	if err := createSecTopic(testCtx(t, 30*time.Second), secAdmin(t, z), table); err != nil {
		t.Fatal(err)
	}

	// do sends a request; auth is "" (none), "basic:user:pass" or
	// "bearer:TOKEN".
	do := func(t *testing.T, cl *http.Client, method, path, auth string, body any) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, z.http+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		kind, cred, _ := strings.Cut(auth, ":")
		switch kind {
		case "basic":
			u, p, _ := strings.Cut(cred, ":")
			req.SetBasicAuth(u, p)
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, out
	}
	event := map[string]any{"payload": map[string]any{"by": "alice"}}
	want := func(t *testing.T, what string, code, status int, h http.Header, body []byte) {
		t.Helper()
		if code != status {
			t.Fatalf("%s: %d %s, want %d", what, code, body, status)
		}
		if status == http.StatusUnauthorized && len(h.Values("WWW-Authenticate")) == 0 {
			t.Fatalf("%s: 401 without WWW-Authenticate", what)
		}
	}

	t.Run("health-is-open", func(t *testing.T) {
		code, h, body := do(t, verifying, "GET", "/health", "", nil)
		want(t, "GET /health without credentials", code, http.StatusOK, h, body)
	})
	t.Run("401", func(t *testing.T) {
		for _, c := range []struct{ name, method, path, auth string }{
			{"no credentials", "POST", "/tables/" + table, ""},
			{"no credentials", "GET", "/tables/" + table, ""},
			{"no credentials", "GET", "/stats", ""},
			{"wrong password", "POST", "/tables/" + table, "basic:alice:not-alice-secret"},
			{"unknown user", "POST", "/tables/" + table, "basic:mallory:alice-secret"},
			{"bad bearer token", "POST", "/tables/" + table, "bearer:not-a-token"},
			{"unknown scheme", "GET", "/stats", "digest:x"},
		} {
			var body any
			if c.method == "POST" {
				body = event
			}
			code, h, out := do(t, verifying, c.method, c.path, c.auth, body)
			want(t, c.method+" "+c.path+" with "+c.name, code, http.StatusUnauthorized, h, out)
			if strings.Contains(string(out), "alice-secret") {
				t.Fatalf("the answer repeats the password: %s", out)
			}
		}
	})
	t.Run("403-by-ACL", func(t *testing.T) {
		code, h, out := do(t, verifying, "POST", "/tables/"+table, "basic:bob:bob-secret", event)
		want(t, "bob POST /tables/t without WRITE", code, http.StatusForbidden, h, out)
		code, h, out = do(t, verifying, "GET", "/tables/"+table, "basic:bob:bob-secret", nil)
		want(t, "bob GET /tables/t without READ", code, http.StatusForbidden, h, out)
		code, h, out = do(t, verifying, "GET", "/stats", "basic:alice:alice-secret", nil)
		want(t, "alice GET /stats without DESCRIBE on the cluster", code, http.StatusForbidden, h, out)
		code, h, out = do(t, verifying, "POST", "/tables/"+table+"-new", "basic:alice:alice-secret", event)
		want(t, "alice POST /tables/t to a new table (WRITE, no CREATE)", code, http.StatusForbidden, h, out)
	})
	t.Run("200-Basic", func(t *testing.T) {
		code, h, out := do(t, verifying, "POST", "/tables/"+table, "basic:alice:alice-secret", event)
		if code/100 != 2 {
			want(t, "alice POST /tables/t", code, http.StatusOK, h, out)
		}
		code, h, out = do(t, verifying, "GET", "/tables/"+table+"?limit=10", "basic:alice:alice-secret", nil)
		want(t, "alice GET /tables/t", code, http.StatusOK, h, out)
		if !strings.Contains(string(out), `\"by\":\"alice\"`) {
			t.Fatalf("alice GET /tables/t: %s, want her record", out)
		}
		code, h, out = do(t, verifying, "GET", "/stats", "basic:admin:admin-secret", nil)
		want(t, "admin (super user) GET /stats", code, http.StatusOK, h, out)
	})
	t.Run("200-Bearer", func(t *testing.T) {
		code, h, out := do(t, verifying, "POST", "/auth/tokens", "basic:alice:alice-secret", map[string]any{"description": "compat test"})
		if code != http.StatusCreated && code != http.StatusOK {
			want(t, "alice POST /auth/tokens", code, http.StatusCreated, h, out)
		}
		var tok struct {
			Token string `json:"token"`
			ID    string `json:"id"`
			Owner string `json:"owner"`
		}
		if err := json.Unmarshal(out, &tok); err != nil || tok.Token == "" || tok.ID == "" || tok.Owner != "User:alice" {
			t.Fatalf("POST /auth/tokens: %s (%v), want a token owned by User:alice", out, err)
		}
		code, h, out = do(t, verifying, "POST", "/tables/"+table, "bearer:"+tok.Token, event)
		if code/100 != 2 {
			want(t, "POST /tables/t with alice's token", code, http.StatusOK, h, out)
		}
		code, h, out = do(t, verifying, "GET", "/auth/whoami", "bearer:"+tok.Token, nil)
		want(t, "GET /auth/whoami with alice's token", code, http.StatusOK, h, out)
		if !strings.Contains(string(out), "User:alice") {
			t.Fatalf("whoami with alice's token: %s", out)
		}
		code, h, out = do(t, verifying, "GET", "/stats", "bearer:"+tok.Token, nil)
		want(t, "GET /stats with alice's token (no DESCRIBE on the cluster)", code, http.StatusForbidden, h, out)
		code, h, out = do(t, verifying, "DELETE", "/auth/tokens/"+tok.ID, "basic:alice:alice-secret", nil)
		if code/100 != 2 {
			want(t, "alice DELETE /auth/tokens/id", code, http.StatusNoContent, h, out)
		}
		code, h, out = do(t, verifying, "POST", "/tables/"+table, "bearer:"+tok.Token, event)
		want(t, "POST /tables/t with the revoked token", code, http.StatusUnauthorized, h, out)
	})
	t.Run("200-client-certificate", func(t *testing.T) {
		code, h, out := do(t, withCert, "GET", "/tables/"+table+"?limit=10", "", nil)
		want(t, "GET /tables/t with alice's client certificate", code, http.StatusOK, h, out)
		code, h, out = do(t, withCert, "GET", "/auth/whoami", "", nil)
		want(t, "GET /auth/whoami with alice's client certificate", code, http.StatusOK, h, out)
		if !strings.Contains(string(out), "User:alice") {
			t.Fatalf("whoami with alice's certificate: %s", out)
		}
	})
	t.Run("TLS-verified", func(t *testing.T) {
		// The server's certificate is the test CA's, for 127.0.0.1: the
		// default roots refuse it, plain HTTP gets no answer.
		_, err := (&http.Client{Timeout: 5 * time.Second}).Get(z.http + "/health")
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("GET /health with the system roots: %v, want a certificate error", err)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(strings.Replace(z.http, "https://", "http://", 1) + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP on the HTTPS port answered 200")
			}
		}
	})
	t.Logf("HTTP scenarios: %.1f s wall", time.Since(start).Seconds())
}
