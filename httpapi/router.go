// Package httpapi is Zombi's REST API (gin): writes and reads of tables
// (Kafka topics), consumer offsets, /health, /stats and /metrics. See
// README.md in this directory for the contract details.
package httpapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
)

// Config configures the API.
type Config struct {
	MaxRequestBytes   int64 // ZOMBI_MAX_REQUEST_BYTES, default 1 MiB: larger bodies -> 413
	DefaultPartitions int32 // ZOMBI_DEFAULT_PARTITIONS, partitions of auto-created tables
	// Groups is the Kafka door's group coordinator (kafka.Server.Groups())
	// for GET /consumers and GET /consumers/{g}; nil: groups are known by
	// their committed offsets only.
	Groups GroupLister
}

// DefaultMaxRequestBytes is the request body limit when Config leaves it 0.
const DefaultMaxRequestBytes = 1 << 20

type server struct {
	log    *plog.Log
	stats  *stats.Stats
	cfg    Config
	logger *slog.Logger
	rr     roundRobin
	co     *coalescer
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
	s := &server{log: l, stats: st, cfg: cfg, logger: logger.With("component", "httpapi")}
	if coalesce {
		s.co = newCoalescer(l)
	}
	return s
}

func (s *server) handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(s.recovery)
	e.POST("/tables/:table", s.postEvent)
	e.POST("/tables/:table/bulk", s.postBulk)
	e.GET("/tables/:table", s.getTable)
	e.POST("/consumers/:group/commit", s.postCommit)
	e.GET("/consumers/:group/offset", s.getOffset)
	e.GET("/consumers", s.getGroups)
	e.GET("/consumers/:group", s.getGroup)
	e.GET("/health", s.getHealth)
	e.GET("/stats", s.getStats)
	e.GET("/metrics", s.getMetrics)
	e.NoRoute(func(c *gin.Context) {
		s.fail(c, notFound("no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		s.fail(c, &apiError{status: http.StatusMethodNotAllowed, msg: "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path})
	})
	return e
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
				return nil, err
			}
			return nil, badRequest("read request body: %v", err)
		}
	}
	*bp = b
	return bp, nil
}

func releaseBody(bp *[]byte) {
	if cap(*bp) > 64<<10 {
		return // let big buffers go
	}
	*bp = (*bp)[:0]
	bodyPool.Put(bp)
}
