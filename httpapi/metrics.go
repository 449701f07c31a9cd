package httpapi

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zombi-dev/zombi/metrics"
	"github.com/zombi-dev/zombi/stats"
)

// The REST door's metrics. route is gin's route pattern (FullPath), never
// the raw URL, and method one of a fixed set, so the label sets stay few
// whatever clients send.
var (
	httpDuration = metrics.Factory.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "zombi_http_request_duration_seconds",
		Help:    "Time to handle one REST API request, by route pattern, method and status code.",
		Buckets: metrics.LatencyBuckets,
	}, []string{"route", "method", "code"})
	httpRequests = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
		Name: "zombi_http_requests_total",
		Help: "REST API requests handled, by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
)

// RequestDurations is zombi_http_request_duration_seconds{route,method,code}
// (the process-wide histogram vector), for the console's latency history.
func RequestDurations() prometheus.Collector { return httpDuration }

type routeMetrics struct {
	dur   prometheus.Observer
	count prometheus.Counter
}

// The children are cached per route pattern (a sync.Map keyed by the
// pattern string), method (a fixed index) and status code (a short
// copy-on-write list): a request costs a string-keyed map load and a scan
// of a few codes instead of WithLabelValues' label validation and hashing.
var (
	routeChildren sync.Map   // route pattern -> *routeEntry
	routeMu       sync.Mutex // serialises adding children
)

// methods are the method label values; the last is OTHER.
var methods = [...]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER"}

type routeEntry struct {
	byMethod [len(methods)]atomic.Pointer[[]codeChildren]
}

type codeChildren struct {
	code int
	m    *routeMetrics
}

// methodIndex bounds the method label: a client may send any token.
func methodIndex(m string) int {
	for i, v := range methods[:len(methods)-1] {
		if m == v {
			return i
		}
	}
	return len(methods) - 1
}

func childrenFor(route string, method, code int) *routeMetrics {
	if e, ok := routeChildren.Load(route); ok {
		if l := e.(*routeEntry).byMethod[method].Load(); l != nil {
			for _, c := range *l {
				if c.code == code {
					return c.m
				}
			}
		}
	}
	routeMu.Lock()
	defer routeMu.Unlock()
	v, _ := routeChildren.LoadOrStore(route, &routeEntry{})
	e := v.(*routeEntry)
	var cur []codeChildren
	if l := e.byMethod[method].Load(); l != nil {
		cur = *l
	}
	for _, c := range cur {
		if c.code == code {
			return c.m
		}
	}
	lv := []string{route, methods[method], strconv.Itoa(code)}
	m := &routeMetrics{dur: httpDuration.WithLabelValues(lv...), count: httpRequests.WithLabelValues(lv...)}
	next := append(append(make([]codeChildren, 0, len(cur)+1), cur...), codeChildren{code, m})
	e.byMethod[method].Store(&next)
	return m
}

// measure is the first middleware: it times the whole request, the
// authentication and the ACL check included.
func measure(c *gin.Context) {
	start := metrics.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched" // NoRoute and NoMethod
	}
	childrenFor(route, methodIndex(c.Request.Method), c.Writer.Status()).observe(start)
}

func (m *routeMetrics) observe(start metrics.Tick) {
	m.dur.Observe(start.Seconds())
	m.count.Inc()
}

// statsCollector reports the eleven zombi_* metrics /metrics had before
// client_golang (the /stats counters, names and meanings unchanged) and
// zombi_connections_refused_total{reason}.
type statsCollector struct {
	st       *stats.Stats
	security func() map[string]uint64
}

var (
	descUptime       = prometheus.NewDesc("zombi_uptime_seconds", "Seconds since the server started.", nil, nil)
	descWrites       = prometheus.NewDesc("zombi_writes_total", "Records written (HTTP and Kafka).", nil, nil)
	descWriteBytes   = prometheus.NewDesc("zombi_write_bytes_total", "Payload bytes written.", nil, nil)
	descWriteReqs    = prometheus.NewDesc("zombi_write_requests_total", "Write requests.", nil, nil)
	descWriteRate    = prometheus.NewDesc("zombi_write_rate_per_second", "Records written per second over the last seconds.", nil, nil)
	descWriteLatency = prometheus.NewDesc("zombi_write_latency_avg_microseconds", "Average write request latency.", nil, nil)
	descReads        = prometheus.NewDesc("zombi_reads_total", "Read requests.", nil, nil)
	descReadRecords  = prometheus.NewDesc("zombi_read_records_total", "Records returned by reads.", nil, nil)
	descReadRate     = prometheus.NewDesc("zombi_read_rate_per_second", "Read requests per second over the last seconds.", nil, nil)
	descReadLatency  = prometheus.NewDesc("zombi_read_latency_avg_microseconds", "Average read request latency.", nil, nil)
	descErrors       = prometheus.NewDesc("zombi_errors_total", "Failed requests.", nil, nil)
	descRefused      = prometheus.NewDesc("zombi_connections_refused_total", "Connections refused or closed for security reasons (caps, TLS, authentication), by reason; http_refused_connections is the REST API's, the others the Kafka door's.", []string{"reason"}, nil)
)

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUptime, descWrites, descWriteBytes, descWriteReqs, descWriteRate, descWriteLatency, descReads, descReadRecords, descReadRate, descReadLatency, descErrors, descRefused} {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.st.Snapshot()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descUptime, snap.UptimeSecs)
	counter(descWrites, snap.Writes.Total)
	counter(descWriteBytes, snap.Writes.BytesTotal)
	counter(descWriteReqs, snap.Writes.Requests)
	gauge(descWriteRate, snap.Writes.RatePerSec)
	gauge(descWriteLatency, snap.Writes.AvgLatencyUs)
	counter(descReads, snap.Reads.Total)
	counter(descReadRecords, snap.Reads.RecordsTotal)
	gauge(descReadRate, snap.Reads.RatePerSec)
	gauge(descReadLatency, snap.Reads.AvgLatencyUs)
	counter(descErrors, snap.ErrorsTotal)
	if c.security == nil {
		return
	}
	counters := c.security()
	reasons := make([]string, 0, len(counters))
	for r := range counters {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(counters[r]), r)
	}
}
