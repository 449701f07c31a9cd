package httpapi

// The read-only Apache Iceberg REST catalog at /iceberg/v1/ (issue 13):
// clients attach with uri http://host:port/iceberg (Spark, Trino,
// pyiceberg, DuckDB). It follows the REST catalog OpenAPI spec
// (apache/iceberg open-api/rest-catalog-open-api.yaml) for what a reader
// needs: config, namespaces (one: IcebergCatalog.Namespace), the tables
// of the warehouse, and loading a table. Zombi's materializer is the only
// writer of the tables, so every write route answers 405 in the spec's
// error model, {"error": {"message", "type", "code"}}, as does every
// other error under /iceberg/ (see fail).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// IcebergWarehouse is what the catalog reads; *iceberg.Warehouse is one.
type IcebergWarehouse interface {
	// Location is the warehouse URI: an absolute directory or s3://bucket/prefix.
	Location() string
	// Tables lists the tables of a namespace, sorted.
	Tables(ctx context.Context, namespace string) ([]string, error)
	// Current is a table's newest metadata file: its location and its
	// bytes. A missing table is fs.ErrNotExist.
	Current(ctx context.Context, namespace, name string) (location string, metadata []byte, err error)
}

// IcebergCatalog configures the read-only Iceberg REST catalog.
type IcebergCatalog struct {
	Warehouse IcebergWarehouse
	// Namespace is the one namespace (ZOMBI_ICEBERG_NAMESPACE); "" is "zombi".
	Namespace string
	// S3Endpoint and S3Region are handed to clients (the config of
	// /v1/config and of each loaded table) when the warehouse is on S3:
	// the endpoint as the clients reach it, with path-style access.
	S3Endpoint, S3Region string
	// VendCredentials, when set, gives the S3 keys handed out
	// (s3.access-key-id, s3.secret-access-key, s3.session-token) with each
	// loaded table whose topic the caller may READ (loading needs DESCRIBE
	// only); it is asked on each load, so rotating credentials stay
	// current (iceberg.Warehouse.S3Credentials). nil by default, set only
	// on an explicit opt-in (ZOMBI_ICEBERG_VEND_CREDENTIALS=true): the keys
	// are Zombi's own, with write access to the whole bucket, and the
	// catalog cannot scope them to one table; clients normally bring their
	// own read-only keys.
	VendCredentials func(ctx context.Context) (accessKeyID, secretAccessKey, sessionToken string, err error)
}

// DefaultIcebergNamespace is the namespace when IcebergCatalog leaves it empty.
const DefaultIcebergNamespace = "zombi"

// icebergPrefix is where the catalog is mounted: clients use uri
// http://host:port/iceberg and add /v1/... themselves.
const icebergPrefix = "/iceberg"

// errReadOnly is the answer to every write route of the spec.
var errReadOnly = &icebergError{status: http.StatusMethodNotAllowed, typ: "ReadOnlyCatalogException",
	msg: "this catalog is read-only: Zombi's materializer owns the tables"}

var errCatalogOff = &icebergError{status: http.StatusNotFound, typ: "NotFoundException",
	msg: "Iceberg is not enabled on this server (no Iceberg warehouse configured)"}

// icebergError is an error in the spec's model: status, type, message.
type icebergError struct {
	status int
	typ    string
	msg    string
}

func (e *icebergError) Error() string { return e.msg }

// Unwrap lets statusOf find the status.
func (e *icebergError) Unwrap() error { return &apiError{status: e.status, msg: e.msg} }

func noSuchNamespace(ns string) error {
	return &icebergError{status: http.StatusNotFound, typ: "NoSuchNamespaceException", msg: "Namespace does not exist: " + ns}
}

func noSuchTable(ns, t string) error {
	return &icebergError{status: http.StatusNotFound, typ: "NoSuchTableException", msg: "Table does not exist: " + ns + "." + t}
}

func icebergBadRequest(msg string) error {
	return &icebergError{status: http.StatusBadRequest, typ: "BadRequestException", msg: msg}
}

// isIcebergPath: errors under /iceberg/ use the spec's error model.
func isIcebergPath(p string) bool {
	return p == icebergPrefix || strings.HasPrefix(p, icebergPrefix+"/")
}

// icebergTypes names the error type of a status when the error did not.
var icebergTypes = map[int]string{
	http.StatusBadRequest:            "BadRequestException",
	http.StatusUnauthorized:          "NotAuthorizedException",
	http.StatusForbidden:             "ForbiddenException",
	http.StatusNotFound:              "NotFoundException",
	http.StatusMethodNotAllowed:      "ReadOnlyCatalogException",
	http.StatusRequestEntityTooLarge: "BadRequestException",
	http.StatusServiceUnavailable:    "ServiceUnavailableException",
	http.StatusInternalServerError:   "InternalServerError",
}

// writeIcebergError writes {"error": {"message", "type", "code"}}.
func writeIcebergError(c *gin.Context, status int, err error, msg string) {
	typ := icebergTypes[status]
	var ie *icebergError
	if errors.As(err, &ie) {
		typ = ie.typ
	}
	if typ == "" {
		typ = "RESTException"
	}
	if status == http.StatusMethodNotAllowed {
		c.Header("Allow", "GET, HEAD")
	}
	writeValue(c, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
}

// icebergFallback answers what no catalog route matched: a write (any
// method but GET and HEAD) is refused as read-only, a read is 404.
func (s *server) icebergFallback(c *gin.Context) {
	switch {
	case s.cfg.IcebergCatalog == nil:
		s.fail(c, errCatalogOff)
	case c.Request.Method != http.MethodGet && !isHead(c):
		s.fail(c, errReadOnly)
	default:
		s.fail(c, &icebergError{status: http.StatusNotFound, typ: "NotFoundException",
			msg: "no such Iceberg REST endpoint: " + c.Request.Method + " " + c.Request.URL.Path})
	}
}

// icebergRoutes registers the catalog. The routes exist whether or not a
// warehouse is configured (they then answer errCatalogOff), so that the
// router and openapi.json stay the same.
func (s *server) icebergRoutes(e *gin.Engine) {
	g := e.Group(icebergPrefix + "/v1")
	g.GET("/config", s.icebergConfig)
	g.GET("/namespaces", s.icebergNamespaces)
	g.GET("/namespaces/:namespace", s.icebergNamespace)
	g.GET("/namespaces/:namespace/tables", s.icebergTables)
	g.GET("/namespaces/:namespace/tables/:table", s.icebergLoadTable)
	g.POST("/namespaces/:namespace/tables/:table/metrics", s.icebergMetrics)
}

// catalog returns the configuration, or answers 404 and returns nil.
func (s *server) catalog(c *gin.Context) *IcebergCatalog {
	if s.cfg.IcebergCatalog == nil || s.cfg.IcebergCatalog.Warehouse == nil {
		s.fail(c, errCatalogOff)
		return nil
	}
	return s.cfg.IcebergCatalog
}

func (ic *IcebergCatalog) namespace() string {
	if ic.Namespace == "" {
		return DefaultIcebergNamespace
	}
	return ic.Namespace
}

// s3Config is what a client needs to read the warehouse's files on S3
// (both pyiceberg's s3.region and Java's client.region), with the keys
// when withKeys and the catalog vends them.
func (ic *IcebergCatalog) s3Config(ctx context.Context, withKeys bool) (map[string]string, error) {
	m := map[string]string{}
	if !strings.HasPrefix(ic.Warehouse.Location(), "s3://") {
		return m, nil
	}
	m["s3.path-style-access"] = "true"
	if ic.S3Endpoint != "" {
		m["s3.endpoint"] = ic.S3Endpoint
	}
	if ic.S3Region != "" {
		m["s3.region"] = ic.S3Region
		m["client.region"] = ic.S3Region
	}
	if withKeys && ic.VendCredentials != nil {
		id, secret, token, err := ic.VendCredentials(ctx)
		if err != nil {
			return nil, &icebergError{status: http.StatusServiceUnavailable, typ: "ServiceUnavailableException", msg: "S3 credentials to vend: " + err.Error()}
		}
		m["s3.access-key-id"] = id
		m["s3.secret-access-key"] = secret
		if token != "" {
			m["s3.session-token"] = token
		}
	}
	return m, nil
}

// authenticated: with ACLs on, the catalog's own routes need a principal
// (anonymous is refused), unless the operator made them public
// (ZOMBI_HTTP_PUBLIC_PATHS=/iceberg*: public paths read no credentials,
// and loading a table then needs ACLs for User:ANONYMOUS).
func (s *server) authenticated(c *gin.Context) bool {
	if !s.authz || principal(c) != auth.Anonymous || s.public.match(c.Request.URL.Path) {
		return true
	}
	s.unauthorized(c, errNoCredentials)
	return false
}

// icebergEndpoints are the routes the catalog serves, in the spec's
// notation: clients (Java's RESTSessionCatalog) then call no others.
var icebergEndpoints = []string{
	"GET /v1/{prefix}/namespaces",
	"GET /v1/{prefix}/namespaces/{namespace}",
	"HEAD /v1/{prefix}/namespaces/{namespace}",
	"GET /v1/{prefix}/namespaces/{namespace}/tables",
	"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
}

// icebergConfig: GET /iceberg/v1/config. The warehouse parameter is
// accepted and ignored (there is one warehouse); no prefix is returned,
// so every route is /iceberg/v1/namespaces/...
func (s *server) icebergConfig(c *gin.Context) {
	ic := s.catalog(c)
	if ic == nil || !s.authenticated(c) {
		return
	}
	defaults, err := ic.s3Config(c.Request.Context(), false)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeValue(c, http.StatusOK, map[string]any{
		"defaults":  defaults,
		"overrides": map[string]string{},
		"endpoints": icebergEndpoints,
	})
}

// icebergNamespaces: GET /iceberg/v1/namespaces: the one namespace, and
// nothing under it (parent=namespace).
func (s *server) icebergNamespaces(c *gin.Context) {
	ic := s.catalog(c)
	if ic == nil || !s.authenticated(c) {
		return
	}
	out := [][]string{}
	switch parent := c.Query("parent"); parent {
	case "":
		out = append(out, []string{ic.namespace()})
	case ic.namespace():
	default:
		s.fail(c, noSuchNamespace(parent))
		return
	}
	writeValue(c, http.StatusOK, map[string]any{"namespaces": out})
}

// namespaceParam checks the path's namespace, answering 404 when it is
// not the one namespace.
func (s *server) namespaceParam(c *gin.Context, ic *IcebergCatalog) bool {
	if ns := c.Param("namespace"); ns != ic.namespace() {
		s.fail(c, noSuchNamespace(strings.ReplaceAll(ns, "\x1f", ".")))
		return false
	}
	return true
}

// icebergNamespace: GET|HEAD /iceberg/v1/namespaces/{namespace}.
func (s *server) icebergNamespace(c *gin.Context) {
	ic := s.catalog(c)
	if ic == nil || !s.authenticated(c) || !s.namespaceParam(c, ic) {
		return
	}
	if isHead(c) {
		c.Status(http.StatusNoContent)
		return
	}
	writeValue(c, http.StatusOK, map[string]any{
		"namespace":  []string{ic.namespace()},
		"properties": map[string]string{"location": ic.Warehouse.Location() + "/" + ic.namespace()},
	})
}

// icebergTopic is the topic whose ACLs guard a table: the table's own name
// when that topic exists, else {topic} for the dead-letter table
// {topic}_dlq.
func (s *server) icebergTopic(table string) string {
	if s.log != nil {
		if _, ok := s.log.Topic(table); ok {
			return table
		}
	}
	if base, ok := strings.CutSuffix(table, "_dlq"); ok && base != "" {
		return base
	}
	return table
}

// defaultPageSize is the page when a client sends pageToken without pageSize.
const defaultPageSize = 100

// icebergTables: GET /iceberg/v1/namespaces/{namespace}/tables: the
// tables whose topic the caller may describe. Paged when the request has
// pageToken (the token is the last name of the previous page).
func (s *server) icebergTables(c *gin.Context) {
	ic := s.catalog(c)
	if ic == nil || !s.authenticated(c) || !s.namespaceParam(c, ic) {
		return
	}
	token, paged := c.GetQuery("pageToken")
	size := defaultPageSize
	if v, ok := c.GetQuery("pageSize"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(c, icebergBadRequest("pageSize must be an integer >= 1, not "+strconv.Quote(v)))
			return
		}
		size = n
	}
	names, err := ic.Warehouse.Tables(c.Request.Context(), ic.namespace())
	if err != nil {
		s.fail(c, &icebergError{status: http.StatusServiceUnavailable, typ: "ServiceUnavailableException", msg: "listing the warehouse: " + err.Error()})
		return
	}
	slices.Sort(names)
	ids := []map[string]any{}
	var next any
	for _, n := range names {
		if paged && token != "" && n <= token {
			continue
		}
		if !s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, s.icebergTopic(n)) {
			continue
		}
		if paged && len(ids) == size {
			next = ids[len(ids)-1]["name"]
			break
		}
		ids = append(ids, map[string]any{"namespace": []string{ic.namespace()}, "name": n})
	}
	out := map[string]any{"identifiers": ids}
	if paged {
		out["next-page-token"] = next
	}
	writeValue(c, http.StatusOK, out)
}

// validIcebergTable: a topic name, or a topic name with _dlq (which may
// pass 249 bytes).
func validIcebergTable(name string) bool {
	return validTopicChars(name) && len(name) <= 253 && name != "." && name != ".."
}

func validTopicChars(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// icebergTableParam checks namespace, table name and the caller's DESCRIBE on the
// table's topic (before existence, so that a refusal says nothing about
// what exists).
func (s *server) icebergTableParam(c *gin.Context, ic *IcebergCatalog) (string, bool) {
	if !s.namespaceParam(c, ic) {
		return "", false
	}
	t := c.Param("table")
	if !validIcebergTable(t) {
		s.fail(c, noSuchTable(ic.namespace(), t))
		return "", false
	}
	if !s.authorize(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, s.icebergTopic(t)) {
		return "", false
	}
	return t, true
}

// icebergLoadTable: GET|HEAD /iceberg/v1/namespaces/{namespace}/tables/{table}:
// the current vN.metadata.json as it is (snapshots=refs keeps only the
// snapshots a branch or tag points at), its location, and the S3 settings.
func (s *server) icebergLoadTable(c *gin.Context) {
	ic := s.catalog(c)
	if ic == nil {
		return
	}
	t, ok := s.icebergTableParam(c, ic)
	if !ok {
		return
	}
	mode := c.DefaultQuery("snapshots", "all")
	if mode != "all" && mode != "refs" {
		s.fail(c, icebergBadRequest(`snapshots must be "all" or "refs", not `+strconv.Quote(mode)))
		return
	}
	loc, md, err := ic.Warehouse.Current(c.Request.Context(), ic.namespace(), t)
	if errors.Is(err, fs.ErrNotExist) {
		s.fail(c, noSuchTable(ic.namespace(), t))
		return
	}
	if err != nil {
		s.fail(c, &icebergError{status: http.StatusServiceUnavailable, typ: "ServiceUnavailableException", msg: "reading the table's metadata: " + err.Error()})
		return
	}
	if isHead(c) {
		c.Status(http.StatusNoContent)
		return
	}
	// Metadata files are never rewritten: the location and the mode name
	// the content.
	sum := sha256.Sum256([]byte(loc + "\x00" + mode))
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	c.Header("ETag", etag)
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	if mode == "refs" {
		if md, err = refsOnly(md); err != nil {
			s.fail(c, err)
			return
		}
	} else if !json.Valid(md) {
		s.fail(c, errors.New("metadata "+loc+" is not JSON"))
		return
	}
	cfg, err := ic.s3Config(c.Request.Context(), s.allowed(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, s.icebergTopic(t)))
	if err != nil {
		s.fail(c, err)
		return
	}
	writeValue(c, http.StatusOK, map[string]any{
		"metadata-location": loc,
		"metadata":          json.RawMessage(md),
		"config":            cfg,
	})
}

// refsOnly drops the snapshots no branch or tag references.
func refsOnly(md []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(md, &m); err != nil {
		return nil, err
	}
	var refs map[string]struct {
		ID json.Number `json:"snapshot-id"`
	}
	var snaps []json.RawMessage
	if err := json.Unmarshal(m["refs"], &refs); m["refs"] != nil && err != nil {
		return nil, err
	}
	if err := json.Unmarshal(m["snapshots"], &snaps); m["snapshots"] != nil && err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, r := range refs {
		keep[r.ID.String()] = true
	}
	out := []json.RawMessage{}
	for _, sn := range snaps {
		var id struct {
			ID json.Number `json:"snapshot-id"`
		}
		if err := json.Unmarshal(sn, &id); err != nil {
			return nil, err
		}
		if keep[id.ID.String()] {
			out = append(out, sn)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	m["snapshots"] = b
	return json.Marshal(m)
}

// icebergMetrics: POST .../tables/{table}/metrics. Java clients report
// each scan here; the report is read and dropped (it changes nothing).
func (s *server) icebergMetrics(c *gin.Context) {
	ic := s.catalog(c)
	if ic == nil {
		return
	}
	if _, ok := s.icebergTableParam(c, ic); !ok {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c.Request.Body, s.cfg.MaxRequestBytes))
	c.Status(http.StatusNoContent)
}

// headKey marks a request that arrived as HEAD (headAsGet routes it as GET).
type headKey struct{}

func isHead(c *gin.Context) bool {
	v, _ := c.Request.Context().Value(headKey{}).(bool)
	return v
}
