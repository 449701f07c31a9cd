// Package httpapi is Zombi's REST API (gin): writes and reads of tables
// (Kafka topics), consumer offsets, /health, /stats and /metrics. See
// README.md in this directory for the contract details.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
)

// Config configures the API.
type Config struct {
	MaxRequestBytes   int64 // ZOMBI_MAX_REQUEST_BYTES, default 1 MiB: larger bodies -> 413
	DefaultPartitions int32 // ZOMBI_DEFAULT_PARTITIONS, partitions of auto-created tables
	// StreamsDone, closed when the server shuts down, ends the open event
	// streams (GET /tables/{t}/tail): http.Server.Shutdown waits for every
	// handler, and a stream never ends by itself (cmd/zombi closes it from
	// http.Server.RegisterOnShutdown). nil: streams end with their clients.
	StreamsDone <-chan struct{}
	// Groups is the Kafka door's group coordinator (kafka.Server.Groups())
	// for GET /consumers and GET /consumers/{g}; nil: groups are known by
	// their committed offsets only.
	Groups GroupLister
	// SecurityCounters, when set, adds the Kafka door's security counters
	// (refused connections by reason) to /stats ("security") and /metrics.
	SecurityCounters func() map[string]uint64
	// Auth is the security core: users and tokens for authentication, the
	// ACLs for authorization (enforced when Auth.Enabled()). nil: no
	// authentication and no ACLs.
	Auth *auth.Service
	// RequireAuth makes every route except PublicPaths need credentials
	// (Basic, Bearer, or a client certificate verified by the TLS client
	// CA): set when any door authenticates.
	RequireAuth bool
	// PublicPaths need no credentials (ZOMBI_HTTP_PUBLIC_PATHS); a trailing
	// '*' matches a prefix. /health/live, /health/ready and /openapi.json
	// are always public.
	PublicPaths []string
	// Metrics are scrape-time collectors /metrics reports besides the
	// process-wide registry, this server's /stats counters and its log's
	// topics: kafka.Server.Collector(), metrics.BuildInfo, the REST
	// listener's zombi_connections.
	Metrics []prometheus.Collector
	// Ready is GET /health/ready's check beyond the log being open (with a
	// bucket: the cold tier is loaded); nil: ready once the log is open.
	Ready func() error
	// Iceberg is the Iceberg materializer (GET /tables/{t}/iceberg); nil:
	// Iceberg tables are off.
	Iceberg Materializer
	// History is the console's in-memory history (*history.Sampler) behind
	// GET /stats/history, GET /stats/stream, GET /consumers/{g}/lag-history,
	// GET /tables?with=rates and the live figures of GET /overview. nil: the
	// first three answer 404 "history is not enabled", rates are left out
	// and /overview's hot bytes, cold pending bytes, S3 reachability and
	// connections are 0.
	History History
	// Overview is the static part of GET /overview (build, limits, bucket).
	Overview OverviewInfo
	// IcebergCatalog serves the read-only Iceberg REST catalog at /iceberg/v1/
	// (iceberg_catalog.go); nil: its routes answer 404 "not enabled".
	IcebergCatalog *IcebergCatalog
	// Cluster is cluster mode (cluster.Runtime): writes go to each
	// partition's leader, topic changes through the cluster's catalog,
	// GET /cluster describes the nodes (cluster.go, forward.go). nil: one
	// node, as before.
	Cluster Cluster
	// ForwardClient sends writes forwarded to other nodes' REST APIs (nil:
	// a client with ForwardTimeout).
	ForwardClient *http.Client
	// ClusterID, LocalListeners and LocalHTTP are GET /cluster's answer
	// for a node alone (its Kafka listeners and REST base URL).
	ClusterID      string
	LocalListeners []ClusterListener
	LocalHTTP      string
}

// alwaysPublic are served without credentials whatever PublicPaths says:
// probes cannot authenticate, and the API's schema is no secret.
// The console's assets (/ui/) hold no data: it calls the API with the
// user's own credentials.
var alwaysPublic = []string{"/health/live", "/health/ready", "/openapi.json", "/", "/ui", "/ui/*"}

// DefaultMaxRequestBytes is the request body limit when Config leaves it 0.
const DefaultMaxRequestBytes = 1 << 20

type server struct {
	log    *plog.Log
	stats  *stats.Stats
	cfg    Config
	logger *slog.Logger
	rr     roundRobin
	co     *coalescer
	authz  bool // ACLs enforced: Auth != nil && Auth.Enabled()
	public publicPaths
}

// New returns the REST API handler over l. st is shared with the Kafka door.
func New(l *plog.Log, st *stats.Stats, cfg Config, logger *slog.Logger) http.Handler {
	return newServer(l, st, cfg, logger, true).handler()
}

// newServer builds the server; coalesce false sends each single write as its
// own Append (a baseline for benchmarks).
func newServer(l *plog.Log, st *stats.Stats, cfg Config, logger *slog.Logger, coalesce bool) *server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &server{log: l, stats: st, cfg: cfg, logger: logger.With("component", "httpapi"),
		authz: cfg.Auth != nil && cfg.Auth.Enabled(), public: newPublicPaths(append(cfg.PublicPaths[:len(cfg.PublicPaths):len(cfg.PublicPaths)], alwaysPublic...))}
	if coalesce {
		s.co = newCoalescer(l)
	}
	return s
}

// handler serves every route, HEAD as GET.
func (s *server) handler() http.Handler { return headAsGet(s.engine()) }

// engine is the gin router of every route.
func (s *server) engine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(measure, s.recovery)
	authAll := s.cfg.RequireAuth || s.authz
	if authAll {
		e.Use(s.authenticate)
	}
	// Each route's ACL, as its Kafka counterpart (README.md "Security");
	// handlers check what depends on the body or on existing state.
	const topic, group, cluster = kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster
	read, write, describe, del := kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete
	e.GET("/tables", s.getTables) // filtered per table
	s.route(e.GET, "/tables/:table/info", s.need(describe, topic, "table"), s.getTableInfo)
	s.route(e.GET, "/tables/:table/iceberg", s.need(describe, topic, "table"), s.getTableIceberg)
	s.route(e.GET, "/tables/:table/iceberg/verify", s.need(describe, topic, "table"), s.getTableIcebergVerify)
	s.route(e.DELETE, "/tables/:table/iceberg", s.need(del, topic, "table"), s.deleteTableIceberg)
	s.route(e.DELETE, "/tables/:table", s.need(del, topic, "table"), s.deleteTable)
	s.route(e.POST, "/tables/:table", s.need(write, topic, "table"), s.postEvent)
	s.route(e.POST, "/tables/:table/bulk", s.need(write, topic, "table"), s.postBulk)
	s.route(e.GET, "/tables/:table", s.need(read, topic, "table"), s.getTable)
	// The console's message browser and live tail (SSE).
	s.route(e.GET, "/tables/:table/messages", s.need(read, topic, "table"), s.getMessages)
	s.route(e.GET, "/tables/:table/tail", s.need(read, topic, "table"), s.getTail)
	e.PUT("/tables/:table", s.noInternalTable(s.putTable)) // CREATE on the cluster or the topic, checked inside
	s.route(e.PATCH, "/tables/:table/configs", s.need(kmsg.ACLOperationAlterConfigs, topic, "table"), s.patchTableConfigs)
	s.route(e.POST, "/consumers/:group/commit", s.need(read, group, "group"), s.onCoordinator(s.postCommit))
	s.route(e.GET, "/consumers/:group/offset", s.need(read, group, "group"), s.onCoordinator(s.getOffset))
	e.GET("/consumers", s.getGroups) // filtered per group
	s.route(e.GET, "/consumers/:group", s.need(describe, group, "group"), s.onCoordinator(s.getGroup))
	s.route(e.POST, "/consumers/:group/reset", s.need(read, group, "group"), s.onCoordinator(s.postReset))
	s.route(e.DELETE, "/consumers/:group", s.need(del, group, "group"), s.onCoordinator(s.deleteConsumerGroup))
	e.GET("/health", s.getHealth)
	e.GET("/health/live", s.getLive)
	e.GET("/health/ready", s.getReady)
	e.GET("/openapi.json", s.getOpenAPI)
	s.consoleRoutes(e)
	s.route(e.GET, "/cluster", s.need(describe, cluster, ""), s.getCluster)
	if s.cfg.Cluster != nil {
		// Writes forwarded by another node (forward.go): WRITE on the
		// topic, with the client's own credentials.
		s.route(e.POST, forwardPath, s.need(write, topic, "table"), s.postForwarded)
		s.route(e.GET, forwardPath, s.need(read, topic, "table"), s.getForwarded)
	}
	s.route(e.GET, "/stats", s.need(describe, cluster, ""), s.getStats)
	s.route(e.GET, "/metrics", s.need(describe, cluster, ""), s.metricsHandler())
	// The console's live numbers (console_stats.go, consumers_lag.go).
	s.route(e.GET, "/overview", s.need(describe, cluster, ""), s.getOverview)
	s.route(e.GET, "/stats/history", s.need(describe, cluster, ""), s.getStatsHistory)
	s.route(e.GET, "/stats/stream", s.need(describe, cluster, ""), s.getStatsStream)
	s.route(e.GET, "/consumers/:group/lag-history", s.need(describe, group, "group"), s.onCoordinator(s.getLagHistory))
	// The token routes read credentials even when nothing else does, so
	// that a user can make tokens before authentication is switched on.
	ag := e.Group("/auth")
	if !authAll && s.cfg.Auth != nil {
		ag.Use(s.authenticate)
	}
	ag.POST("/tokens", s.postToken)
	ag.GET("/tokens", s.getTokens)
	ag.DELETE("/tokens/:id", s.deleteToken)
	ag.GET("/whoami", s.getWhoami)
	s.icebergRoutes(e)
	e.NoRoute(func(c *gin.Context) {
		if isIcebergPath(c.Request.URL.Path) {
			s.icebergFallback(c)
			return
		}
		s.fail(c, notFound("no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		if isIcebergPath(c.Request.URL.Path) {
			s.icebergFallback(c)
			return
		}
		s.fail(c, &apiError{status: http.StatusMethodNotAllowed, msg: "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path})
	})
	return e
}

// headAsGet answers HEAD as the GET of the same path without its body
// (curl -I, load balancer probes): net/http drops the body of a response to
// a HEAD request, and gin routes the GET.
func headAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			// Marked: the Iceberg catalog answers HEAD with 204.
			g := r.WithContext(context.WithValue(r.Context(), headKey{}, true))
			g.Method = http.MethodGet
			r = g
		}
		h.ServeHTTP(w, r)
	})
}

// recovery turns a panic into a JSON 500 and logs it with its stack.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
			panic(v)
		}
		s.logger.Error("panic in handler", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		s.stats.Error()
		if !c.Writer.Written() {
			writeError(c, http.StatusInternalServerError, "internal error")
		}
		c.Abort()
	}()
	c.Next()
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readBody reads the request body, at most cfg.MaxRequestBytes. The returned
// buffer goes back to bodyPool through release once nothing refers to it.
func (s *server) readBody(c *gin.Context) (*[]byte, error) {
	r := c.Request
	if r.ContentLength > s.cfg.MaxRequestBytes {
		drainRefused(c)
		return nil, &http.MaxBytesError{Limit: s.cfg.MaxRequestBytes}
	}
	body := http.MaxBytesReader(c.Writer, r.Body, s.cfg.MaxRequestBytes)
	bp := bodyPool.Get().(*[]byte)
	b := (*bp)[:0]
	if n := r.ContentLength; n > 0 && int64(cap(b)) < n+1 {
		b = make([]byte, 0, n+1)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = b
			releaseBody(bp)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				drainRefused(c)
				return nil, err
			}
			return nil, badRequest("read request body: %v", err)
		}
	}
	*bp = b
	return bp, nil
}

// maxDrainBytes bounds how much of a refused body drainRefused reads.
const maxDrainBytes = 64 << 20

// drainRefused reads and discards the rest of a body refused as too large,
// so that a client that sends its whole body before reading the answer (no
// Expect: 100-continue, as Python's urllib and requests) gets the 413: a
// socket closed with unread data answers the client's next bytes with a
// reset, which destroys the response in flight (net/http only drains 256
// KiB itself). Past maxDrainBytes the connection is closed after the answer.
// A client that sent Expect: 100-continue sends nothing before the answer:
// reading would invite the body, so nothing is read and net/http closes.
func drainRefused(c *gin.Context) {
	r := c.Request
	if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	if r.ContentLength > maxDrainBytes {
		c.Writer.Header().Set("Connection", "close")
		return
	}
	n, err := io.CopyN(io.Discard, r.Body, maxDrainBytes+1)
	if n > maxDrainBytes || (err != nil && err != io.EOF) { //nolint:errorlint // io.EOF is returned unwrapped
		c.Writer.Header().Set("Connection", "close")
	}
}

func releaseBody(bp *[]byte) {
	if cap(*bp) > 64<<10 {
		return // let big buffers go
	}
	*bp = (*bp)[:0]
	bodyPool.Put(bp)
}
