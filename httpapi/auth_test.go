package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
	"github.com/zombi-dev/zombi/tlsconf"
)

const failedDelay = 30 * time.Millisecond

// authEnv is a server with users alice, bob and admin (superuser), ACLs on,
// and authentication required except on /health.
type authEnv struct {
	*testEnv
	svc *auth.Service
}

type authOpts struct {
	authorization bool
	requireAuth   bool
	public        []string
}

func newAuthEnv(t *testing.T, o authOpts) *authEnv {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), SyncWrites: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	svc, err := auth.Open(auth.LogStore(l), auth.Config{
		Superusers: []string{"admin"}, Authorization: o.authorization, FailedAuthDelay: failedDelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "admin"} {
		if err := svc.SetPassword(u, u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	st := stats.New()
	h := validating(t, New(l, st, Config{Auth: svc, RequireAuth: o.requireAuth, PublicPaths: o.public}, discardLogger()))
	return &authEnv{testEnv: &testEnv{t: t, log: l, stats: st, h: h}, svc: svc}
}

func secured(t *testing.T) *authEnv {
	return newAuthEnv(t, authOpts{authorization: true, requireAuth: true, public: []string{"/health"}})
}

func (e *authEnv) allow(principal string, rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) {
	e.t.Helper()
	e.acl(principal, rt, name, kmsg.ACLResourcePatternTypeLiteral, op, kmsg.ACLPermissionTypeAllow)
}

func (e *authEnv) acl(principal string, rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) {
	e.t.Helper()
	errs := e.svc.CreateACLs([]auth.ACL{{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: perm}})
	if errs[0] != nil {
		e.t.Fatal(errs[0])
	}
}

func (e *authEnv) token(user string, ttl time.Duration) (string, auth.TokenInfo) {
	e.t.Helper()
	secret, info, err := e.svc.CreateToken(auth.User(user), "test", ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret, info
}

func basic(user, pw string) []string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return []string{"Authorization", r.Header.Get("Authorization")}
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// req sends a request and returns the whole response.
func (e *authEnv) req(method, path, body string, hdr []string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	rq := httptest.NewRequest(method, path, r)
	if body != "" {
		rq.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		rq.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, rq)
	return w
}

func errorBody(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var m struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Error == "" {
		t.Fatalf("body %q is not {\"error\": ...}", w.Body.String())
	}
	return m.Error
}

func TestAuth401WithoutValidCredentials(t *testing.T) {
	e := secured(t)
	e.allow("User:alice", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationAll)
	revoked, rinfo := e.token("alice", 0)
	if err := e.svc.RevokeToken(rinfo.ID); err != nil {
		t.Fatal(err)
	}
	expired, _ := e.token("alice", time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	cases := []struct {
		name string
		hdr  []string
	}{
		{"none", nil},
		{"wrong password", basic("alice", "nope")},
		{"unknown user", basic("mallory", "alice-pw")},
		{"empty password", basic("alice", "")},
		{"malformed basic", []string{"Authorization", "Basic !!!"}},
		{"unknown scheme", []string{"Authorization", "Digest username=alice"}},
		{"bad token", bearer("zombi_0123456789abcdef_AAAA")},
		{"token of another shape", bearer("alice-pw")},
		{"revoked token", bearer(revoked)},
		{"expired token", bearer(expired)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, rt := range []struct{ method, path, body string }{
				{"POST", "/tables/orders", `{"payload":"x"}`},
				{"GET", "/tables/orders", ""},
				{"GET", "/stats", ""},
				{"GET", "/auth/tokens", ""},
				{"GET", "/nowhere", ""},
			} {
				w := e.req(rt.method, rt.path, rt.body, tc.hdr)
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("%s %s: status %d, want 401: %s", rt.method, rt.path, w.Code, w.Body)
				}
				if got := w.Header().Values("WWW-Authenticate"); !slices.Equal(got, []string{`Basic realm="zombi", charset="UTF-8"`, `Bearer realm="zombi"`}) {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				errorBody(t, w)
			}
		})
	}
	if hwm := e.hwms("orders"); hwm != nil {
		t.Fatalf("refused requests created the table: %v", hwm)
	}
}

func TestAuthWrongUserAndWrongPasswordLookTheSame(t *testing.T) {
	e := secured(t)
	start := time.Now()
	wu := e.req("GET", "/tables/orders", "", basic("mallory", "alice-pw"))
	tUser := time.Since(start)
	start = time.Now()
	wp := e.req("GET", "/tables/orders", "", basic("alice", "wrong"))
	tPass := time.Since(start)
	if wu.Code != wp.Code || !bytes.Equal(wu.Body.Bytes(), wp.Body.Bytes()) ||
		!slices.Equal(wu.Header().Values("WWW-Authenticate"), wp.Header().Values("WWW-Authenticate")) {
		t.Fatalf("unknown user: %d %q; wrong password: %d %q", wu.Code, wu.Body, wp.Code, wp.Body)
	}
	// Both wait the failed-authentication delay.
	if tUser < failedDelay || tPass < failedDelay {
		t.Fatalf("failures answered in %v (unknown user) and %v (wrong password), want >= %v", tUser, tPass, failedDelay)
	}
}

func TestAuthBasicAndBearer200(t *testing.T) {
	e := secured(t)
	e.allow("User:alice", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationWrite)
	e.allow("User:alice", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationRead)
	e.allow("User:alice", kmsg.ACLResourceTypeCluster, auth.ClusterName, kmsg.ACLOperationCreate)
	tok, _ := e.token("alice", time.Hour)
	for _, cred := range [][]string{basic("alice", "alice-pw"), bearer(tok)} {
		if w := e.req("POST", "/tables/orders", `{"payload":"x"}`, cred); w.Code != http.StatusAccepted {
			t.Fatalf("write with %s: %d %s", cred[1][:6], w.Code, w.Body)
		}
		if w := e.req("POST", "/tables/orders/bulk", `{"records":[{"payload":"y"}]}`, cred); w.Code != http.StatusAccepted {
			t.Fatalf("bulk with %s: %d %s", cred[1][:6], w.Code, w.Body)
		}
		if w := e.req("GET", "/tables/orders", "", cred); w.Code != http.StatusOK {
			t.Fatalf("read with %s: %d %s", cred[1][:6], w.Code, w.Body)
		}
		w := e.req("GET", "/auth/whoami", "", cred)
		var who struct {
			Principal string
			Superuser bool
		}
		if err := json.Unmarshal(w.Body.Bytes(), &who); err != nil || w.Code != 200 || who.Principal != "User:alice" || who.Superuser {
			t.Fatalf("whoami: %d %s", w.Code, w.Body)
		}
	}
	if got := e.hwms("orders"); !slices.Equal(got, []int64{4}) {
		t.Fatalf("orders holds %v, want 4 records", got)
	}
	// The superuser needs no ACL.
	for _, p := range []string{"/stats", "/metrics", "/consumers", "/tables/orders"} {
		if w := e.req("GET", p, "", basic("admin", "admin-pw")); w.Code != http.StatusOK {
			t.Fatalf("superuser GET %s: %d %s", p, w.Code, w.Body)
		}
	}
}

func TestAuthPublicPaths(t *testing.T) {
	e := secured(t)
	if w := e.req("GET", "/health", "", nil); w.Code != http.StatusOK {
		t.Fatalf("/health without credentials: %d %s", w.Code, w.Body)
	}
	// Wrong credentials on a public path are not even looked at.
	if w := e.req("GET", "/health", "", basic("alice", "wrong")); w.Code != http.StatusOK {
		t.Fatalf("/health with wrong credentials: %d", w.Code)
	}
	closed := newAuthEnv(t, authOpts{authorization: true, requireAuth: true})
	if w := closed.req("GET", "/health", "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("/health not public: %d", w.Code)
	}
	prefix := newAuthEnv(t, authOpts{authorization: true, requireAuth: true, public: []string{"/health", "/met*"}})
	if w := prefix.req("GET", "/metrics", "", nil); w.Code == http.StatusUnauthorized {
		t.Fatalf("/metrics under public /met*: 401")
	}
}

func TestAuth403PerRoute(t *testing.T) {
	e := secured(t)
	// The data exists (written by the superuser) so that only ACLs decide.
	admin := basic("admin", "admin-pw")
	if w := e.req("POST", "/tables/orders", `{"payload":"x"}`, admin); w.Code != 202 {
		t.Fatalf("admin write: %d %s", w.Code, w.Body)
	}
	if w := e.req("POST", "/consumers/g/commit", `{"topic":"orders","partition":0,"offset":1}`, admin); w.Code != 200 {
		t.Fatalf("admin commit: %d %s", w.Code, w.Body)
	}
	bob := basic("bob", "bob-pw")
	type route struct{ method, path, body string }
	routes := []struct {
		route
		grant func() // the ACLs that make it pass
	}{
		{route{"POST", "/tables/orders", `{"payload":"x"}`}, func() { e.allow("User:bob", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationWrite) }},
		{route{"POST", "/tables/orders/bulk", `{"records":[{"payload":"x"}]}`}, nil},
		{route{"GET", "/tables/orders", ""}, func() { e.allow("User:bob", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationRead) }},
		{route{"POST", "/consumers/g/commit", `{"topic":"orders","partition":0,"offset":1}`}, func() { e.allow("User:bob", kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationRead) }},
		{route{"GET", "/consumers/g/offset?topic=orders", ""}, nil},
		{route{"GET", "/consumers/g", ""}, nil},
		{route{"GET", "/stats", ""}, func() {
			e.allow("User:bob", kmsg.ACLResourceTypeCluster, auth.ClusterName, kmsg.ACLOperationDescribe)
		}},
		{route{"GET", "/metrics", ""}, nil},
		{route{"GET", "/cluster", ""}, nil},
	}
	for _, r := range routes {
		w := e.req(r.method, r.path, r.body, bob)
		if w.Code != http.StatusForbidden {
			t.Fatalf("%s %s without ACLs: %d %s, want 403", r.method, r.path, w.Code, w.Body)
		}
		if msg := errorBody(t, w); !strings.Contains(msg, "User:bob") {
			t.Fatalf("403 message %q does not say who was refused", msg)
		}
	}
	if got := e.hwms("orders"); !slices.Equal(got, []int64{1}) {
		t.Fatalf("refused writes appended: %v", got)
	}
	for _, r := range routes {
		if r.grant != nil {
			r.grant()
		}
	}
	for _, r := range routes {
		if w := e.req(r.method, r.path, r.body, bob); w.Code >= 300 {
			t.Fatalf("%s %s with ACLs: %d %s", r.method, r.path, w.Code, w.Body)
		}
	}
	// DENY wins over the ALLOW just granted.
	e.acl("User:bob", kmsg.ACLResourceTypeTopic, "ord", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeDeny)
	if w := e.req("POST", "/tables/orders", `{"payload":"x"}`, bob); w.Code != http.StatusForbidden {
		t.Fatalf("write after a prefixed DENY: %d", w.Code)
	}
}

func TestAuthCommitAndOffsetNeedTheTopicToo(t *testing.T) {
	e := secured(t)
	e.allow("User:bob", kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationRead)
	bob := basic("bob", "bob-pw")
	if w := e.req("POST", "/consumers/g/commit", `{"topic":"secret","partition":0,"offset":1}`, bob); w.Code != http.StatusForbidden {
		t.Fatalf("commit on a topic without READ: %d %s", w.Code, w.Body)
	}
	if w := e.req("GET", "/consumers/g/offset?topic=secret", "", bob); w.Code != http.StatusForbidden {
		t.Fatalf("offset of a topic without DESCRIBE: %d %s", w.Code, w.Body)
	}
	if _, found, _ := e.log.FetchOffset("g", "secret", 0); found {
		t.Fatal("a refused commit was stored")
	}
	e.allow("User:bob", kmsg.ACLResourceTypeTopic, "secret", kmsg.ACLOperationRead)
	if w := e.req("POST", "/consumers/g/commit", `{"topic":"secret","partition":0,"offset":1}`, bob); w.Code != 200 {
		t.Fatalf("commit with READ on group and topic: %d %s", w.Code, w.Body)
	}
	if w := e.req("GET", "/consumers/g/offset?topic=secret", "", bob); w.Code != 200 {
		t.Fatalf("offset with READ on group and topic: %d %s", w.Code, w.Body)
	}
}

// GET /consumers/{g} shows committed offsets, high watermarks and lag
// only for the topics the caller may DESCRIBE, as Kafka's OffsetFetch
// (and as GET /consumers/{g}/offset, which refuses the others).
func TestAuthGroupHidesTopicsWithoutDescribe(t *testing.T) {
	e := secured(t)
	admin := basic("admin", "admin-pw")
	for _, topic := range []string{"secret", "open"} {
		if w := e.req("POST", "/tables/"+topic, `{"payload":"x"}`, admin); w.Code != 202 {
			t.Fatalf("write %s: %d %s", topic, w.Code, w.Body)
		}
		if w := e.req("POST", "/consumers/g/commit", `{"topic":"`+topic+`","partition":0,"offset":1}`, admin); w.Code != 200 {
			t.Fatalf("commit %s: %d %s", topic, w.Code, w.Body)
		}
	}
	e.allow("User:bob", kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationDescribe)
	e.allow("User:bob", kmsg.ACLResourceTypeTopic, "open", kmsg.ACLOperationDescribe)
	w := e.req("GET", "/consumers/g", "", basic("bob", "bob-pw"))
	if w.Code != 200 {
		t.Fatalf("bob describes g: %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "secret") || !strings.Contains(w.Body.String(), `"open"`) {
		t.Fatalf("bob (DESCRIBE on topic open only) sees %s", w.Body)
	}
	if w := e.req("GET", "/consumers/g", "", admin); !strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("the superuser sees %s", w.Body)
	}
}

func TestAuthAutoCreateNeedsCreate(t *testing.T) {
	e := secured(t)
	bob := basic("bob", "bob-pw")
	e.acl("User:bob", kmsg.ACLResourceTypeTopic, "new", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow)
	for _, path := range []string{"/tables/new-a", "/tables/new-a/bulk"} {
		body := `{"payload":"x"}`
		if strings.HasSuffix(path, "bulk") {
			body = `{"records":[{"payload":"x"}]}`
		}
		w := e.req("POST", path, body, bob)
		if w.Code != http.StatusForbidden || !strings.Contains(errorBody(t, w), "CREATE") {
			t.Fatalf("%s without CREATE: %d %s", path, w.Code, w.Body)
		}
	}
	if _, ok := e.log.Topic("new-a"); ok {
		t.Fatal("the table was created without CREATE")
	}
	e.allow("User:bob", kmsg.ACLResourceTypeTopic, "new-a", kmsg.ACLOperationCreate)
	if w := e.req("POST", "/tables/new-a", `{"payload":"x"}`, bob); w.Code != 202 {
		t.Fatalf("with CREATE on the topic: %d %s", w.Code, w.Body)
	}
	// CREATE on the cluster covers every new table.
	e.allow("User:bob", kmsg.ACLResourceTypeCluster, auth.ClusterName, kmsg.ACLOperationCreate)
	if w := e.req("POST", "/tables/new-b/bulk", `{"records":[{"payload":"x"}]}`, bob); w.Code != 202 {
		t.Fatalf("with CREATE on the cluster: %d %s", w.Code, w.Body)
	}
}

func TestAuthListGroupsFiltered(t *testing.T) {
	e := secured(t)
	for _, g := range []string{"g-mine", "g-other"} {
		if w := e.req("POST", "/consumers/"+g+"/commit", `{"topic":"t","partition":0,"offset":1}`, basic("admin", "admin-pw")); w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	e.allow("User:bob", kmsg.ACLResourceTypeGroup, "g-mine", kmsg.ACLOperationDescribe)
	w := e.req("GET", "/consumers", "", basic("bob", "bob-pw"))
	var out struct {
		Groups []struct{ Group string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(out.Groups) != 1 || out.Groups[0].Group != "g-mine" {
		t.Fatalf("bob sees %+v, want only g-mine", out.Groups)
	}
	w = e.req("GET", "/consumers", "", basic("admin", "admin-pw"))
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Groups) != 2 {
		t.Fatalf("admin sees %s", w.Body)
	}
}

func TestAuthTokenRoutes(t *testing.T) {
	e := secured(t)
	alice, bob, admin := basic("alice", "alice-pw"), basic("bob", "bob-pw"), basic("admin", "admin-pw")
	create := func(cred []string, body string) (int, map[string]any) {
		w := e.req("POST", "/auth/tokens", body, cred)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	code, m := create(alice, `{"description":"ci","ttl_secs":3600}`)
	if code != http.StatusCreated || m["owner"] != "User:alice" || m["description"] != "ci" || m["expires"] == nil {
		t.Fatalf("create: %d %v", code, m)
	}
	tok, id := m["token"].(string), m["id"].(string)
	// The token works, and says who it is.
	w := e.req("GET", "/auth/whoami", "", bearer(tok))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"User:alice"`) {
		t.Fatalf("whoami with the new token: %d %s", w.Code, w.Body)
	}
	// A token cannot make tokens (as Kafka's delegation tokens): a
	// stolen short-lived token would otherwise mint one that never
	// expires and survives the revocation of the first.
	if code, _ := create(bearer(tok), `{}`); code != http.StatusForbidden {
		t.Fatalf("create with a bearer token: %d, want 403", code)
	}
	if code, _ := create(bearer(tok), `{"ttl_secs":0}`); code != http.StatusForbidden {
		t.Fatalf("create a non-expiring token with a bearer token: %d, want 403", code)
	}
	if code, _ := create(alice, `{"ttl_secs":-1}`); code != http.StatusBadRequest {
		t.Fatalf("negative ttl: %d", code)
	}
	// Another owner needs ALTER on the cluster.
	if code, _ := create(alice, `{"owner":"bob"}`); code != http.StatusForbidden {
		t.Fatalf("alice makes bob's token: %d", code)
	}
	code, m = create(admin, `{"owner":"User:bob"}`)
	if code != http.StatusCreated || m["owner"] != "User:bob" {
		t.Fatalf("superuser makes bob's token: %d %v", code, m)
	}
	bobID := m["id"].(string)
	if code, _ := create(admin, `{"owner":"nobody"}`); code != http.StatusBadRequest {
		t.Fatalf("token for a user that does not exist: %d", code)
	}
	// Listing: own tokens, or all with DESCRIBE on the cluster.
	list := func(cred []string) []string {
		w := e.req("GET", "/auth/tokens", "", cred)
		var out struct {
			Tokens []auth.TokenInfo
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 {
			t.Fatalf("list: %d %s", w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "zombi_") || strings.Contains(w.Body.String(), "hash") {
			t.Fatalf("the list shows secrets: %s", w.Body)
		}
		var owners []string
		for _, t := range out.Tokens {
			owners = append(owners, t.Owner)
		}
		return owners
	}
	if got := list(alice); !slices.Equal(got, []string{"User:alice"}) {
		t.Fatalf("alice lists %v", got)
	}
	if got := list(bob); !slices.Equal(got, []string{"User:bob"}) {
		t.Fatalf("bob lists %v", got)
	}
	if got := list(admin); len(got) != 2 {
		t.Fatalf("admin lists %v", got)
	}
	// Revoking: own, or with ALTER on the cluster.
	if w := e.req("DELETE", "/auth/tokens/"+id, "", bob); w.Code != http.StatusForbidden {
		t.Fatalf("bob revokes alice's token: %d", w.Code)
	}
	if w := e.req("DELETE", "/auth/tokens/"+id, "", alice); w.Code != http.StatusNoContent {
		t.Fatalf("alice revokes her token: %d %s", w.Code, w.Body)
	}
	if w := e.req("GET", "/auth/whoami", "", bearer(tok)); w.Code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", w.Code)
	}
	if w := e.req("DELETE", "/auth/tokens/"+id, "", alice); w.Code != http.StatusNotFound {
		t.Fatalf("revoking twice: %d", w.Code)
	}
	if w := e.req("DELETE", "/auth/tokens/"+bobID, "", admin); w.Code != http.StatusNoContent {
		t.Fatalf("superuser revokes bob's token: %d", w.Code)
	}
	// Token routes need authentication like every other.
	if w := e.req("GET", "/auth/tokens", "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous list: %d", w.Code)
	}
}

func TestAuthOff(t *testing.T) {
	e := newAuthEnv(t, authOpts{})
	if w := e.req("POST", "/tables/t", `{"payload":"x"}`, nil); w.Code != 202 {
		t.Fatalf("write with auth off: %d", w.Code)
	}
	if w := e.req("GET", "/auth/whoami", "", nil); !strings.Contains(w.Body.String(), "User:ANONYMOUS") {
		t.Fatalf("whoami: %s", w.Body)
	}
	// Tokens can be made before authentication is switched on, by a user
	// who proves who they are; never by anyone.
	if w := e.req("POST", "/auth/tokens", `{"owner":"alice"}`, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous token: %d %s", w.Code, w.Body)
	}
	if w := e.req("POST", "/auth/tokens", `{}`, basic("alice", "wrong")); w.Code != http.StatusUnauthorized {
		t.Fatalf("token with a wrong password: %d", w.Code)
	}
	w := e.req("POST", "/auth/tokens", `{}`, basic("alice", "alice-pw"))
	if w.Code != http.StatusCreated {
		t.Fatalf("alice's token with auth off: %d %s", w.Code, w.Body)
	}
	var made struct{ ID string }
	_ = json.Unmarshal(w.Body.Bytes(), &made)
	// Nor can anyone list them or revoke them (a token made now is meant
	// for when authentication is on).
	if w := e.req("GET", "/auth/tokens", "", nil); strings.Contains(w.Body.String(), made.ID) {
		t.Fatalf("anonymous lists alice's token: %d %s", w.Code, w.Body)
	}
	if w := e.req("DELETE", "/auth/tokens/"+made.ID, "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous revokes alice's token: %d %s", w.Code, w.Body)
	}
	if w := e.req("DELETE", "/auth/tokens/"+made.ID, "", basic("alice", "alice-pw")); w.Code != http.StatusNoContent {
		t.Fatalf("alice revokes her token with auth off: %d %s", w.Code, w.Body)
	}
	// Without the auth service at all.
	plain := newEnv(t, Config{})
	if code, _ := plain.do("POST", "/auth/tokens", "application/json", []byte(`{}`)); code != http.StatusServiceUnavailable {
		t.Fatalf("token routes without auth service: %d", code)
	}
}

func TestAuthAnonymousUnderACLsWithoutRequiredAuth(t *testing.T) {
	// ZOMBI_AUTHORIZATION=on with no authenticating listener: requests
	// without credentials are User:ANONYMOUS and the ACLs decide.
	e := newAuthEnv(t, authOpts{authorization: true, public: []string{"/health"}})
	if w := e.req("GET", "/stats", "", nil); w.Code != http.StatusForbidden {
		t.Fatalf("anonymous /stats: %d", w.Code)
	}
	e.allow("User:ANONYMOUS", kmsg.ACLResourceTypeCluster, auth.ClusterName, kmsg.ACLOperationDescribe)
	if w := e.req("GET", "/stats", "", nil); w.Code != http.StatusOK {
		t.Fatalf("anonymous /stats with an ACL: %d", w.Code)
	}
	if w := e.req("GET", "/stats", "", basic("alice", "wrong")); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong credentials are refused even where anonymous would do: %d", w.Code)
	}
}

// TestAuthClientCertificateOverHTTPS serves the API over real TLS with
// certificates from tlsconf: a client certificate verified by the client CA
// authenticates as User:<CN>; without one, credentials are needed.
func TestAuthClientCertificateOverHTTPS(t *testing.T) {
	e := secured(t)
	dir := t.TempDir()
	files, err := tlsconf.WriteDevCerts(dir, tlsconf.DevOptions{ClientCN: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := tlsconf.New(tlsconf.Config{CertFile: files.Cert, KeyFile: files.Key, ClientCAFile: files.CA, ClientAuth: "requested"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(e.h)
	srv.TLS = rel.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := newPool(t, caPEM)
	client := func(withCert bool) *http.Client {
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
		if withCert {
			cert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client, path string, hdr ...string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	withCert, noCert := client(true), client(false)
	if code, body := get(withCert, "/auth/whoami"); code != 200 || !strings.Contains(body, `"User:alice"`) {
		t.Fatalf("whoami with a client certificate: %d %s", code, body)
	}
	if code, _ := get(noCert, "/auth/whoami"); code != http.StatusUnauthorized {
		t.Fatalf("no certificate, no credentials: %d", code)
	}
	if code, body := get(noCert, "/auth/whoami", basic("bob", "bob-pw")...); code != 200 || !strings.Contains(body, `"User:bob"`) {
		t.Fatalf("Basic over HTTPS: %d %s", code, body)
	}
	// Explicit credentials win over the certificate.
	if code, body := get(withCert, "/auth/whoami", basic("bob", "bob-pw")...); code != 200 || !strings.Contains(body, `"User:bob"`) {
		t.Fatalf("Basic with a certificate: %d %s", code, body)
	}
	// The certificate principal is subject to ACLs like any other.
	if code, _ := get(withCert, "/stats"); code != http.StatusForbidden {
		t.Fatalf("alice's certificate on /stats without an ACL: %d", code)
	}
	if code, _ := get(noCert, "/health"); code != 200 {
		t.Fatalf("/health over HTTPS: %d", code)
	}
	// A certificate from another CA is refused at the handshake.
	other := filepath.Join(t.TempDir(), "other")
	of, err := tlsconf.WriteDevCerts(other, tlsconf.DevOptions{ClientCN: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := tls.LoadX509KeyPair(of.ClientCert, of.ClientKey)
	foreign := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{cert}}}, Timeout: 10 * time.Second}
	if resp, err := foreign.Get(srv.URL + "/auth/whoami"); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate from another CA was accepted: %d", resp.StatusCode)
	}
}

func newPool(t *testing.T, pemBytes []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in the CA file")
	}
	return p
}
