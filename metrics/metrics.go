// Package metrics holds Zombi's one Prometheus registry and the /metrics
// handler. It is a leaf: the packages that measure something declare their
// metrics next to what they measure (log/metrics.go, kafka/metrics.go,
// httpapi/metrics.go, tiering/metrics.go) with Factory, which registers them
// here; values the log or the coordinator already know are computed at
// scrape time by collectors those packages hand to Handler.
package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds the process-wide metrics: the package-level vars of every
// package (through Factory) and the Go and process collectors.
var Registry = prometheus.NewRegistry()

// Factory creates metrics registered in Registry (promauto style).
var Factory = promauto.With(Registry)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

// LatencyBuckets are the buckets of the request and append duration
// histograms, in seconds: 50 µs to 10 s, about ×2.5 apart, since an fsync'd
// append takes around a millisecond and a long-polling Fetch seconds.
var LatencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Handler serves Registry plus the given per-server collectors (a server's
// scrape-time views of its log, coordinator and counters) in the Prometheus
// text format. Each call has its own registry for them, so that several
// servers in one process (tests) do not collide.
func Handler(collectors ...prometheus.Collector) http.Handler {
	own := prometheus.NewRegistry()
	for _, c := range collectors {
		if c != nil {
			own.MustRegister(c)
		}
	}
	return promhttp.HandlerFor(prometheus.Gatherers{Registry, own}, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, // one failing collector does not hide the rest
	})
}

// BuildInfo is zombi_build_info{version,commit,go_version} 1; the caller
// passes the values the Makefile stamped (cli.Build()) so that low packages
// need not import cli.
func BuildInfo(version, commit string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "zombi_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "go_version": runtime.Version()},
	}, func() float64 { return 1 })
}

var descConnections = prometheus.NewDesc("zombi_connections",
	"Open client connections, by listener (the Kafka listeners as protocol://address, http for the REST API).", []string{"listener"}, nil)

// Connections is zombi_connections{listener}, from open at scrape time
// (listener name -> open connections).
func Connections(open func() map[string]int) prometheus.Collector {
	return connections(open)
}

type connections func() map[string]int

func (c connections) Describe(ch chan<- *prometheus.Desc) { ch <- descConnections }

func (c connections) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c() {
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(n), name)
	}
}

// epoch anchors Tick readings.
var epoch = time.Now()

// Tick is a monotonic clock reading for the request histograms: one clock
// read where time.Now takes two (wall and monotonic), which on a virtual
// machine without a fast clock source is a good part of what a measured
// request pays.
type Tick time.Duration

// Now reads the clock.
func Now() Tick { return Tick(time.Since(epoch)) }

// Seconds is the time since t.
func (t Tick) Seconds() float64 { return (time.Since(epoch) - time.Duration(t)).Seconds() }
