package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/iceberg"
	"github.com/zombi-dev/zombi/internal/pyvenv"
	"github.com/zombi-dev/zombi/stats"
)

// The read-only Iceberg REST catalog against a real local warehouse whose
// tables iceberg.Create and Append wrote: orders (two snapshots, and a
// stale version hint), orders_dlq (one snapshot) and empty (none).

// icebergWarehouse makes the warehouse and returns it with its directory.
func icebergWarehouse(t testing.TB) (*iceberg.Warehouse, string) {
	t.Helper()
	dir := t.TempDir()
	w, err := iceberg.OpenWarehouse(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fillWarehouse(t, w)
	return w, dir
}

// fillWarehouse writes the three tables.
func fillWarehouse(t testing.TB, w *iceberg.Warehouse) {
	t.Helper()
	ctx := context.Background()
	raw := iceberg.Layout{Mode: iceberg.ModeRaw, Partitioning: iceberg.PartitionDay}
	mk := func(name string, l iceberg.Layout, appends ...int) {
		tb, err := iceberg.Create(ctx, w.Storage("zombi", name), table.Identifier{"zombi", name}, l)
		if err != nil {
			t.Fatal(err)
		}
		off := int64(0)
		for _, n := range appends {
			recs := make([]iceberg.Record, n)
			for i := range recs {
				o := off + int64(i)
				recs[i] = iceberg.Record{Partition: 0, Offset: o, Timestamp: time.Date(2026, 12, 6, 10, 0, int(o), 0, time.UTC),
					Key: []byte(fmt.Sprintf("k%d", o)), Value: []byte(fmt.Sprintf("%s-%d", name, o))}
				if l.Mode == iceberg.ModeDLQ {
					recs[i].Error = "not JSON"
				}
			}
			off += int64(n)
			if err := tb.Append(ctx, "inc", recs, map[int32]int64{0: off}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("orders", raw, 3, 2)
	mk(iceberg.DLQName("orders"), iceberg.DLQLayout(raw), 1)
	mk("empty", raw)
	// A crash between v3.metadata.json and the hint: the catalog must
	// probe past the hint as Load does.
	if err := w.Storage("zombi", "orders").Write(ctx, "metadata/version-hint.text", []byte("2")); err != nil {
		t.Fatal(err)
	}
}

func icebergEnv(t *testing.T) (*testEnv, string) {
	w, dir := icebergWarehouse(t)
	return newEnv(t, Config{IcebergCatalog: &IcebergCatalog{Warehouse: w}}), dir
}

// icebergErr checks an error answer: status, the spec's model, its type.
func icebergErr(t *testing.T, what string, code int, body []byte, status int, typ string) map[string]any {
	t.Helper()
	if code != status {
		t.Fatalf("%s: %d %s, want %d", what, code, body, status)
	}
	m := decodeMap(t, body)
	e, _ := m["error"].(map[string]any)
	if e == nil || e["type"] != typ || num(e["code"]) != int64(status) || e["message"] == "" {
		t.Fatalf("%s: %s, want type %s in the Iceberg error model", what, body, typ)
	}
	return e
}

func TestIcebergCatalogConfigAndNamespaces(t *testing.T) {
	e, _ := icebergEnv(t)
	code, m := e.doJSON("GET", "/iceberg/v1/config?warehouse=anything", "")
	if code != 200 || len(m["overrides"].(map[string]any)) != 0 || len(m["defaults"].(map[string]any)) != 0 {
		t.Fatalf("config: %d %v (a local warehouse has no S3 settings, and there is no prefix)", code, m)
	}
	if eps := m["endpoints"].([]any); !slices.Contains(eps, any("GET /v1/{prefix}/namespaces/{namespace}/tables/{table}")) {
		t.Fatalf("endpoints: %v", eps)
	}
	if code, m = e.doJSON("GET", "/iceberg/v1/namespaces", ""); code != 200 || fmt.Sprint(m["namespaces"]) != "[[zombi]]" {
		t.Fatalf("namespaces: %d %v", code, m)
	}
	if code, m = e.doJSON("GET", "/iceberg/v1/namespaces?parent=zombi", ""); code != 200 || fmt.Sprint(m["namespaces"]) != "[]" {
		t.Fatalf("namespaces under zombi: %d %v", code, m)
	}
	code, b := e.do("GET", "/iceberg/v1/namespaces?parent=other", "", nil)
	icebergErr(t, "parent=other", code, b, 404, "NoSuchNamespaceException")
	if code, m = e.doJSON("GET", "/iceberg/v1/namespaces/zombi", ""); code != 200 || fmt.Sprint(m["namespace"]) != "[zombi]" {
		t.Fatalf("namespace: %d %v", code, m)
	}
	if code, b = e.do("HEAD", "/iceberg/v1/namespaces/zombi", "", nil); code != 204 || len(b) != 0 {
		t.Fatalf("HEAD namespace: %d %q, want 204", code, b)
	}
	for _, p := range []string{"/iceberg/v1/namespaces/other", "/iceberg/v1/namespaces/other/tables", "/iceberg/v1/namespaces/other/tables/orders", "/iceberg/v1/namespaces/zombi%1Fx/tables"} {
		code, b = e.do("GET", p, "", nil)
		icebergErr(t, p, code, b, 404, "NoSuchNamespaceException")
	}
	code, b = e.do("HEAD", "/iceberg/v1/namespaces/other", "", nil)
	if code != 404 || len(b) == 0 { // httptest keeps the body net/http would drop
		t.Fatalf("HEAD other namespace: %d", code)
	}
	code, b = e.do("GET", "/iceberg/v1/nosuch", "", nil)
	icebergErr(t, "unknown route", code, b, 404, "NotFoundException")
}

func TestIcebergCatalogListTables(t *testing.T) {
	e, _ := icebergEnv(t)
	names := func(m map[string]any) []string {
		var out []string
		for _, id := range m["identifiers"].([]any) {
			id := id.(map[string]any)
			if fmt.Sprint(id["namespace"]) != "[zombi]" {
				t.Fatalf("identifier %v", id)
			}
			out = append(out, id["name"].(string))
		}
		return out
	}
	code, m := e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables", "")
	if got := names(m); code != 200 || fmt.Sprint(got) != "[empty orders orders_dlq]" {
		t.Fatalf("tables: %d %v", code, m)
	}
	if _, ok := m["next-page-token"]; ok {
		t.Fatalf("unpaged answer has next-page-token: %v", m)
	}
	// Paged: one table a page, until next-page-token is null.
	var all []string
	token := ""
	for i := 0; ; i++ {
		code, m = e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables?pageSize=2&pageToken="+token, "")
		if code != 200 || i > 3 {
			t.Fatalf("page %d: %d %v", i, code, m)
		}
		all = append(all, names(m)...)
		next, ok := m["next-page-token"]
		if !ok {
			t.Fatalf("paged answer without next-page-token: %v", m)
		}
		if next == nil {
			break
		}
		token = next.(string)
	}
	if fmt.Sprint(all) != "[empty orders orders_dlq]" {
		t.Fatalf("pages: %v", all)
	}
	for _, q := range []string{"pageSize=0", "pageSize=x", "pageSize=-1"} {
		code, b := e.do("GET", "/iceberg/v1/namespaces/zombi/tables?"+q, "", nil)
		icebergErr(t, q, code, b, 400, "BadRequestException")
	}
}

func TestIcebergCatalogLoadTable(t *testing.T) {
	e, dir := icebergEnv(t)
	code, m := e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "")
	if code != 200 {
		t.Fatalf("load: %d %v", code, m)
	}
	// v3 (two appends after v1), found past the stale hint "2".
	want := filepath.Join(dir, "zombi", "orders", "metadata", "v3.metadata.json")
	if m["metadata-location"] != want {
		t.Fatalf("metadata-location %v, want %s", m["metadata-location"], want)
	}
	raw, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if md := m["metadata"].(map[string]any); num(md["format-version"]) != 2 || md["location"] != filepath.Join(dir, "zombi", "orders") || len(md["snapshots"].([]any)) != 2 {
		t.Fatalf("metadata: %v", md)
	}
	// Verbatim: the body holds the file's bytes.
	_, body := e.do("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "", nil)
	if !strings.Contains(string(body), `"metadata":`+strings.TrimSpace(string(raw))) {
		t.Fatalf("metadata not verbatim:\n%s\nfile:\n%s", body, raw)
	}
	if len(m["config"].(map[string]any)) != 0 {
		t.Fatalf("config of a local table: %v", m["config"])
	}
	// The same as iceberg.Load reads.
	w, _ := iceberg.OpenWarehouse(dir, nil)
	tb, err := iceberg.Load(context.Background(), w.Storage("zombi", "orders"), table.Identifier{"zombi", "orders"})
	if err != nil {
		t.Fatal(err)
	}
	md := m["metadata"].(map[string]any)
	if fmt.Sprint(md["current-snapshot-id"]) != fmt.Sprint(tb.Iceberg().CurrentSnapshot().SnapshotID) {
		t.Fatalf("current snapshot %v, Load has %d", md["current-snapshot-id"], tb.Iceberg().CurrentSnapshot().SnapshotID)
	}

	// snapshots=refs: only main's snapshot.
	if code, m = e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables/orders?snapshots=refs", ""); code != 200 {
		t.Fatalf("refs: %d %v", code, m)
	}
	snaps := m["metadata"].(map[string]any)["snapshots"].([]any)
	if len(snaps) != 1 || fmt.Sprint(snaps[0].(map[string]any)["snapshot-id"]) != fmt.Sprint(md["current-snapshot-id"]) {
		t.Fatalf("refs snapshots: %v", snaps)
	}
	code, b := e.do("GET", "/iceberg/v1/namespaces/zombi/tables/orders?snapshots=some", "", nil)
	icebergErr(t, "snapshots=some", code, b, 400, "BadRequestException")

	// ETag: 304 while the table has not changed.
	req := httptest.NewRequest("GET", "/iceberg/v1/namespaces/zombi/tables/orders", nil)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	etag := rec.Header().Get("ETag")
	if code, _ := e.do("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "", nil, "If-None-Match", etag); etag == "" || code != 304 {
		t.Fatalf("If-None-Match %q: %d, want 304", etag, code)
	}

	// The DLQ table, a table without snapshots, HEAD.
	if code, m = e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables/orders_dlq", ""); code != 200 || !strings.HasSuffix(m["metadata-location"].(string), "/orders_dlq/metadata/v2.metadata.json") {
		t.Fatalf("dlq: %d %v", code, m)
	}
	if code, m = e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables/empty", ""); code != 200 || !strings.HasSuffix(m["metadata-location"].(string), "/v1.metadata.json") {
		t.Fatalf("empty: %d %v", code, m)
	}
	if code, b = e.do("HEAD", "/iceberg/v1/namespaces/zombi/tables/orders", "", nil); code != 204 || len(b) != 0 {
		t.Fatalf("HEAD table: %d %q", code, b)
	}

	// Unknown and hostile names: 404, and nothing read outside the warehouse.
	if err := os.MkdirAll(filepath.Join(dir, "zombi", "nometa"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nosuch", "nometa", "..", ".", "%2e%2e", "x%00y", strings.Repeat("a", 300)} {
		code, b = e.do("GET", "/iceberg/v1/namespaces/zombi/tables/"+name, "", nil)
		icebergErr(t, name, code, b, 404, "NoSuchTableException")
		code, _ = e.do("HEAD", "/iceberg/v1/namespaces/zombi/tables/"+name, "", nil)
		if code != 404 {
			t.Fatalf("HEAD %s: %d", name, code)
		}
	}
	code, b = e.do("GET", "/iceberg/v1/namespaces/zombi/tables/a%2Fb", "", nil)
	icebergErr(t, "a%2Fb", code, b, 404, "NotFoundException")
}

// TestIcebergCatalogReadOnly: every write of the spec is refused with 405
// in the error model, and the warehouse is unchanged.
func TestIcebergCatalogReadOnly(t *testing.T) {
	e, dir := icebergEnv(t)
	before := treeOf(t, dir)
	for _, c := range []struct{ method, path string }{
		{"POST", "/iceberg/v1/namespaces"},                       // create namespace
		{"DELETE", "/iceberg/v1/namespaces/zombi"},               // drop namespace
		{"POST", "/iceberg/v1/namespaces/zombi/properties"},      // set properties
		{"POST", "/iceberg/v1/namespaces/zombi/tables"},          // create table
		{"POST", "/iceberg/v1/namespaces/zombi/register"},        // register table
		{"POST", "/iceberg/v1/namespaces/zombi/tables/orders"},   // commit
		{"DELETE", "/iceberg/v1/namespaces/zombi/tables/orders"}, // drop
		{"DELETE", "/iceberg/v1/namespaces/zombi/tables/orders?purgeRequested=true"},
		{"PUT", "/iceberg/v1/namespaces/zombi/tables/orders"},
		{"POST", "/iceberg/v1/tables/rename"},
		{"POST", "/iceberg/v1/transactions/commit"},
		{"POST", "/iceberg/v1/namespaces/zombi/views"},
		{"POST", "/iceberg/v1/oauth/tokens"},
		{"DELETE", "/iceberg/v1/namespaces/nosuch/tables/nosuch"},
	} {
		code, b := e.do(c.method, c.path, "application/json", []byte(`{"identifier":{"namespace":["zombi"],"name":"x"},"name":"x","schema":{"type":"struct","fields":[]}}`))
		er := icebergErr(t, c.method+" "+c.path, code, b, 405, "ReadOnlyCatalogException")
		if er["message"] != "this catalog is read-only: Zombi's materializer owns the tables" {
			t.Fatalf("%s %s: message %v", c.method, c.path, er["message"])
		}
	}
	// A scan report is accepted and dropped.
	if code, b := e.do("POST", "/iceberg/v1/namespaces/zombi/tables/orders/metrics", "application/json", []byte(`{"report-type":"scan-report"}`)); code != 204 {
		t.Fatalf("metrics: %d %s", code, b)
	}
	code, b := e.do("POST", "/iceberg/v1/namespaces/zombi/tables/nosuch/metrics", "application/json", []byte(`{}`))
	if code != 204 && code != 404 {
		t.Fatalf("metrics of no table: %d %s", code, b)
	}
	if after := treeOf(t, dir); !slices.Equal(before, after) {
		t.Fatalf("the warehouse changed:\nbefore %v\nafter  %v", before, after)
	}
}

// treeOf lists every file under dir with its size.
func treeOf(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s:%d", p, info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIcebergCatalogDisabled(t *testing.T) {
	e := newEnv(t, Config{})
	for _, c := range []struct{ method, path string }{
		{"GET", "/iceberg/v1/config"},
		{"GET", "/iceberg/v1/namespaces"},
		{"GET", "/iceberg/v1/namespaces/zombi/tables/orders"},
		{"POST", "/iceberg/v1/namespaces"},
		{"GET", "/iceberg/v1/other"},
	} {
		code, b := e.do(c.method, c.path, "", nil)
		er := icebergErr(t, c.method+" "+c.path, code, b, 404, "NotFoundException")
		if !strings.Contains(er["message"].(string), "Iceberg is not enabled") {
			t.Fatalf("%s %s: %v", c.method, c.path, er["message"])
		}
	}
}

// TestIcebergCatalogAuth: with authentication and ACLs on, the catalog
// needs credentials (Basic or a Bearer token), loading needs DESCRIBE on
// the topic ({topic}_dlq: on {topic}), and the list shows what the caller
// may describe.
func TestIcebergCatalogAuth(t *testing.T) {
	w, _ := icebergWarehouse(t)
	for _, requireAuth := range []bool{true, false} {
		a := newAuthEnv(t, authOpts{authorization: true, requireAuth: requireAuth})
		a.h = validating(t, New(a.log, stats.New(), Config{Auth: a.svc, RequireAuth: requireAuth, IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
		for _, p := range []string{"/iceberg/v1/config", "/iceberg/v1/namespaces", "/iceberg/v1/namespaces/zombi", "/iceberg/v1/namespaces/zombi/tables"} {
			code, b := a.do("GET", p, "", nil)
			icebergErr(t, fmt.Sprintf("%s without credentials (requireAuth %v)", p, requireAuth), code, b, 401, "NotAuthorizedException")
		}
		code, b := a.do("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "", nil)
		if code != 401 && code != 403 {
			t.Fatalf("load without credentials: %d %s", code, b)
		}
		code, b = a.do("GET", "/iceberg/v1/config", "", nil, "Authorization", "Bearer zombi_nope_nope")
		icebergErr(t, "a wrong token", code, b, 401, "NotAuthorizedException")
	}

	// Made public by the operator: anonymous lists and loads what
	// User:ANONYMOUS may describe.
	p := newAuthEnv(t, authOpts{authorization: true, requireAuth: true})
	p.h = validating(t, New(p.log, stats.New(), Config{Auth: p.svc, RequireAuth: true, PublicPaths: []string{"/iceberg*"}, IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	p.allow("User:ANONYMOUS", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDescribe)
	if code, b := p.do("GET", "/iceberg/v1/namespaces/zombi/tables", "", nil); code != 200 || !strings.Contains(string(b), `"orders_dlq"`) || strings.Contains(string(b), `"empty"`) {
		t.Fatalf("public catalog, anonymous list: %d %s", code, b)
	}
	if code, b := p.do("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "", nil); code != 200 {
		t.Fatalf("public catalog, anonymous load: %d %s", code, b)
	}
	code, b := p.do("GET", "/iceberg/v1/namespaces/zombi/tables/empty", "", nil)
	icebergErr(t, "public catalog, anonymous load of empty", code, b, 403, "ForbiddenException")

	a := secured(t)
	a.h = validating(t, New(a.log, stats.New(), Config{Auth: a.svc, RequireAuth: true, IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	a.allow("User:alice", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDescribe)
	tok, _ := a.token("alice", time.Hour)
	bearer := []string{"Authorization", "Bearer " + tok}
	code, b = a.do("GET", "/iceberg/v1/config", "", nil, bearer...)
	if code != 200 {
		t.Fatalf("config with alice's token: %d %s", code, b)
	}
	code, b = a.do("GET", "/iceberg/v1/namespaces/zombi/tables", "", nil, bearer...)
	if code != 200 || !strings.Contains(string(b), `"orders"`) || !strings.Contains(string(b), `"orders_dlq"`) || strings.Contains(string(b), `"empty"`) {
		t.Fatalf("alice's tables: %d %s (want orders and its DLQ, not empty)", code, b)
	}
	for _, tb := range []string{"orders", "orders_dlq"} {
		if code, b = a.do("GET", "/iceberg/v1/namespaces/zombi/tables/"+tb, "", nil, bearer...); code != 200 {
			t.Fatalf("alice loads %s: %d %s", tb, code, b)
		}
	}
	// empty: refused before existence is checked; so is a table that does
	// not exist.
	for _, tb := range []string{"empty", "nosuch"} {
		code, b = a.do("GET", "/iceberg/v1/namespaces/zombi/tables/"+tb, "", nil, bearer...)
		icebergErr(t, "alice loads "+tb, code, b, 403, "ForbiddenException")
	}
	// Basic works too (pyiceberg's auth type basic).
	req := httptest.NewRequest("GET", "/iceberg/v1/namespaces/zombi/tables/orders", nil)
	req.SetBasicAuth("alice", "alice-pw")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("alice with Basic: %d %s", rec.Code, rec.Body)
	}
	// bob may describe nothing: the list is empty, not an error.
	req = httptest.NewRequest("GET", "/iceberg/v1/namespaces/zombi/tables", nil)
	req.SetBasicAuth("bob", "bob-pw")
	rec = httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"identifiers":[]`) {
		t.Fatalf("bob's tables: %d %s", rec.Code, rec.Body)
	}
	// Writes are refused whoever asks (admin is a superuser).
	req = httptest.NewRequest("DELETE", "/iceberg/v1/namespaces/zombi/tables/orders", nil)
	req.SetBasicAuth("admin", "admin-pw")
	rec = httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code != 405 {
		t.Fatalf("admin drops a table: %d %s", rec.Code, rec.Body)
	}
}

// fakeWarehouse stands for an S3 warehouse (the catalog only hands its
// settings to the clients).
type fakeWarehouse struct{ *iceberg.Warehouse }

func (fakeWarehouse) Location() string { return "s3://bucket/iceberg" }

// TestIcebergCatalogS3Settings: an S3 warehouse's endpoint, path style and
// region go to the clients; the keys only with VendCredentials, to READers.
func TestIcebergCatalogS3Settings(t *testing.T) {
	w, _ := icebergWarehouse(t)
	ic := &IcebergCatalog{Warehouse: fakeWarehouse{w}, Namespace: "zombi", S3Endpoint: "http://s3.local:9000", S3Region: "eu-west-1"}
	e := newEnv(t, Config{IcebergCatalog: ic})
	_, cfg := e.doJSON("GET", "/iceberg/v1/config", "")
	_, lt := e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "")
	for what, m := range map[string]any{"config defaults": cfg["defaults"], "table config": lt["config"]} {
		got := m.(map[string]any)
		if got["s3.endpoint"] != "http://s3.local:9000" || got["s3.path-style-access"] != "true" || got["s3.region"] != "eu-west-1" || got["client.region"] != "eu-west-1" {
			t.Fatalf("%s: %v", what, got)
		}
		if _, ok := got["s3.secret-access-key"]; ok {
			t.Fatalf("%s hands out the keys without VendCredentials: %v", what, got)
		}
	}
	ic.VendCredentials = func(context.Context) (string, string, string, error) { return "AKID", "SECRET", "", nil }
	_, cfg = e.doJSON("GET", "/iceberg/v1/config", "")
	_, lt = e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "")
	if got := lt["config"].(map[string]any); got["s3.access-key-id"] != "AKID" || got["s3.secret-access-key"] != "SECRET" {
		t.Fatalf("vended table config: %v", got)
	}
	if _, ok := cfg["defaults"].(map[string]any)["s3.secret-access-key"]; ok {
		t.Fatal("/v1/config hands out the keys (only a table load, after DESCRIBE, may)")
	}

	// With ACLs: the keys go only to a caller that may READ the topic.
	a := secured(t)
	a.h = validating(t, New(a.log, stats.New(), Config{Auth: a.svc, RequireAuth: true, IcebergCatalog: ic}, discardLogger()))
	a.allow("User:alice", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDescribe)
	a.allow("User:bob", kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationRead) // READ implies DESCRIBE
	for user, keys := range map[string]bool{"alice": false, "bob": true} {
		for _, tb := range []string{"orders", "orders_dlq"} {
			req := httptest.NewRequest("GET", "/iceberg/v1/namespaces/zombi/tables/"+tb, nil)
			req.SetBasicAuth(user, user+"-pw")
			rec := httptest.NewRecorder()
			a.h.ServeHTTP(rec, req)
			got := decodeMap(t, rec.Body.Bytes())
			cfg, _ := got["config"].(map[string]any)
			if _, has := cfg["s3.secret-access-key"]; rec.Code != 200 || has != keys || cfg["s3.endpoint"] != "http://s3.local:9000" {
				t.Fatalf("%s loads %s: %d %v, want keys %v", user, tb, rec.Code, cfg, keys)
			}
		}
	}

	// Credentials that cannot be had: 503, not a table without keys.
	ic.VendCredentials = func(context.Context) (string, string, string, error) { return "", "", "", errors.New("no IMDS") }
	code, b := e.do("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "", nil)
	icebergErr(t, "no credentials to vend", code, b, 503, "ServiceUnavailableException")
}

// icebergPyRequirements is the readers' Python environment (pyiceberg,
// pyarrow, duckdb 1.5.5 and its iceberg extension), shared so that one
// virtual environment serves both.
const icebergPyRequirements = "internal/icebergread/py/requirements.txt"

// icebergVenv skips without python3 or without the requirements file.
func icebergVenv(t *testing.T) pyvenv.Venv {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Python end-to-end test")
	}
	if _, err := os.Stat(filepath.Join(pyvenv.Root(), icebergPyRequirements)); err != nil {
		t.Skipf("no %s (the Iceberg readers' Python environment, with pyiceberg[pyarrow]==0.12.0): %v", icebergPyRequirements, err)
	}
	return pyvenv.EnsureT(t, icebergPyRequirements)
}

// runPy runs a script of testdata with a time limit and returns its JSON.
func runPy(t *testing.T, v pyvenv.Venv, script string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.Python(), append([]string{filepath.Join("testdata", script)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	return decodeMap(t, stdout.Bytes())
}

// TestIcebergCatalogPyiceberg: pyiceberg 0.12.0's RestCatalog, over a
// real socket, lists, loads and scans the tables through the catalog, and
// its writes are refused; with authentication on, with a Bearer token
// (pyiceberg's token property) and with Basic (its auth manager "basic").
func TestIcebergCatalogPyiceberg(t *testing.T) {
	v := icebergVenv(t)
	w, dir := icebergWarehouse(t)
	loc := filepath.Join(dir, "zombi", "orders", "metadata", "v3.metadata.json")
	check := func(what string, out map[string]any) { t.Helper(); checkPyiceberg(t, what, out, loc) }

	e := newEnv(t, Config{})
	srv := httptest.NewServer(New(e.log, stats.New(), Config{IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	t.Cleanup(srv.Close)
	check("no auth", runPy(t, v, "iceberg_pyiceberg.py", srv.URL+"/iceberg"))

	a := secured(t)
	a.allow("User:alice", kmsg.ACLResourceTypeTopic, "*", kmsg.ACLOperationDescribe)
	tok, _ := a.token("alice", time.Hour)
	srv = httptest.NewServer(New(a.log, stats.New(), Config{Auth: a.svc, RequireAuth: true, IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	t.Cleanup(srv.Close)
	check("bearer token", runPy(t, v, "iceberg_pyiceberg.py", srv.URL+"/iceberg", "token="+tok))
	// pyiceberg 0.12 sends "Bearer <token>" (even "Bearer None") over any
	// header.Authorization: Basic goes through its auth manager.
	check("basic", runPy(t, v, "iceberg_pyiceberg.py", srv.URL+"/iceberg", `auth={"type":"basic","basic":{"username":"alice","password":"alice-pw"}}`))
}

// checkPyiceberg checks the output of testdata/iceberg_pyiceberg.py.
func checkPyiceberg(t *testing.T, what string, out map[string]any, loc string) {
	t.Helper()
	if fmt.Sprint(out["namespaces"]) != "[[zombi]]" || fmt.Sprint(out["tables"]) != "[zombi.empty zombi.orders zombi.orders_dlq]" {
		t.Fatalf("%s: lists %v %v", what, out["namespaces"], out["tables"])
	}
	if out["namespace_exists"] != true || out["other_namespace_exists"] != false || out["table_exists"] != true || out["missing_table_exists"] != false {
		t.Fatalf("%s: exists %v", what, out)
	}
	if out["metadata_location"] != loc {
		t.Fatalf("%s: metadata location %v", what, out["metadata_location"])
	}
	ids := out["field_ids"].(map[string]any)
	if num(ids["_partition"]) != 1 || num(ids["_offset"]) != 2 || num(ids["value"]) != 6 {
		t.Fatalf("%s: field ids %v", what, ids)
	}
	rows := out["rows"].([]any)
	if len(rows) != 5 {
		t.Fatalf("%s: %d rows: %v", what, len(rows), rows)
	}
	for i, r := range rows {
		r := r.(map[string]any)
		if num(r["offset"]) != int64(i) || r["key"] != fmt.Sprintf("k%d", i) || r["value"] != fmt.Sprintf("orders-%d", i) {
			t.Fatalf("%s: row %d: %v", what, i, r)
		}
	}
	if out["missing_table"] != "NoSuchTableError" {
		t.Fatalf("%s: loading a missing table: %v", what, out["missing_table"])
	}
	// pyiceberg reads the endpoints of /v1/config and refuses the
	// writes the catalog does not list without asking it (a client
	// that asks gets 405, TestIcebergCatalogReadOnly).
	for _, k := range []string{"create_namespace", "create_table", "drop_table"} {
		if s, _ := out[k].(string); !strings.HasPrefix(s, "NotImplementedError: Server does not support endpoint: ") {
			t.Fatalf("%s: %s: %v", what, k, out[k])
		}
	}
}

// TestIcebergCatalogDuckDB: DuckDB 1.5.5's iceberg extension (from the
// PyPI extension wheels, offline, signatures checked) ATTACHes the
// catalog, lists the tables, reads the rows, and its CREATE TABLE gets the
// read-only refusal; with authentication on, through a Bearer token secret.
func TestIcebergCatalogDuckDB(t *testing.T) {
	v := icebergVenv(t)
	w, _ := icebergWarehouse(t)
	check := func(what string, out map[string]any) { t.Helper(); checkDuckDB(t, what, out) }
	e := newEnv(t, Config{})
	srv := httptest.NewServer(New(e.log, stats.New(), Config{IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	t.Cleanup(srv.Close)
	check("no auth", runPy(t, v, "iceberg_duckdb.py", srv.URL+"/iceberg"))

	a := secured(t)
	a.allow("User:alice", kmsg.ACLResourceTypeTopic, "*", kmsg.ACLOperationDescribe)
	tok, _ := a.token("alice", time.Hour)
	srv = httptest.NewServer(New(a.log, stats.New(), Config{Auth: a.svc, RequireAuth: true, IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	t.Cleanup(srv.Close)
	check("bearer token", runPy(t, v, "iceberg_duckdb.py", srv.URL+"/iceberg", tok))
}

// checkDuckDB checks the output of testdata/iceberg_duckdb.py.
func checkDuckDB(t *testing.T, what string, out map[string]any) {
	t.Helper()
	if fmt.Sprint(out["tables"]) != "[zombi.empty zombi.orders zombi.orders_dlq]" || num(out["empty_count"]) != 0 {
		t.Fatalf("%s: %v", what, out)
	}
	rows := out["rows"].([]any)
	if len(rows) != 5 {
		t.Fatalf("%s: %d rows: %v", what, len(rows), rows)
	}
	for i, r := range rows {
		r := r.(map[string]any)
		if num(r["offset"]) != int64(i) || r["key"] != fmt.Sprintf("k%d", i) || r["value"] != fmt.Sprintf("orders-%d", i) {
			t.Fatalf("%s: row %d: %v", what, i, r)
		}
	}
	if s, _ := out["create_table"].(string); !strings.Contains(s, "this catalog is read-only: Zombi's materializer owns the tables") {
		t.Fatalf("%s: CREATE TABLE: %v", what, out["create_table"])
	}
}

// BenchmarkIcebergLoadTable: GET .../tables/orders on a local warehouse
// (hint, probe of v{N+1}, metadata read, response).
func BenchmarkIcebergLoadTable(b *testing.B) {
	w, _ := icebergWarehouse(b)
	e := newEnv(b, Config{})
	h := New(e.log, stats.New(), Config{IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger())
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/iceberg/v1/namespaces/zombi/tables/orders", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}

// FuzzIcebergCatalog: any method, path and query under /iceberg/ answers a
// status of the catalog with a JSON body (the Iceberg error model for
// errors) and never changes the warehouse.
func FuzzIcebergCatalog(f *testing.F) {
	for _, s := range []struct{ method, path string }{
		{"GET", "v1/namespaces/zombi/tables/orders?snapshots=refs"},
		{"GET", "v1/namespaces/zombi/tables?pageToken=orders&pageSize=1"},
		{"POST", "v1/namespaces/zombi/tables/orders"},
		{"GET", "v1/namespaces/zombi/tables/..%2F..%2Fetc"},
		{"DELETE", "v1/namespaces/zombi"},
		{"GET", "v1/namespaces?parent=zombi%1Fx"},
		{"HEAD", "v1/namespaces/zombi/tables/orders_dlq"},
		{"PATCH", "v1/config?warehouse=s3://x"},
	} {
		f.Add(s.method, s.path)
	}
	w, dir := icebergWarehouse(f)
	h := New(nil, stats.New(), Config{IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger())
	before := treeOf(f, dir)
	f.Fuzz(func(t *testing.T, method, path string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return
		}
		req, err := http.NewRequest(method, "http://zombi/iceberg/"+path, strings.NewReader(`{"x":1}`))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 204, 304:
		case 301, 307: // gin's trailing-slash redirect (the whole API has it)
		case 400, 404, 405:
			if err := checkIcebergError(rec.Body.Bytes(), rec.Code); err != nil && method != "HEAD" {
				t.Fatalf("%s %s: %d %s: %v", method, path, rec.Code, rec.Body, err)
			}
		default:
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	})
	if after := treeOf(f, dir); !slices.Equal(before, after) {
		f.Fatalf("the warehouse changed")
	}
}
