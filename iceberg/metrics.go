package iceberg

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zombi-dev/zombi/metrics"
)

// The materializer's metrics: commits and records counted as they happen,
// lag read from the materializer at scrape time (Collector).
var (
	commitsTotal = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
		Name: "zombi_iceberg_commits_total",
		Help: "Iceberg table commits by the materializer, by topic and result (ok, conflict: another writer committed first, error).",
	}, []string{"topic", "result"})
	commitSeconds = metrics.Factory.NewHistogram(prometheus.HistogramOpts{
		Name:    "zombi_iceberg_commit_duration_seconds",
		Help:    "Time of one successful Iceberg commit: data file uploads, manifests, the conditional metadata write and the version hint.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12), // 5 ms .. ~20 min
	})
	recordsTotal = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
		Name: "zombi_iceberg_records_total",
		Help: "Records committed into Iceberg tables, by topic.",
	}, []string{"topic"})
	pausedSeconds = metrics.Factory.NewCounter(prometheus.CounterOpts{
		Name: "zombi_iceberg_paced_seconds_total",
		Help: "Time the materializer paused a catch-up to leave the machine to producers writing at the same time.",
	})
	cycleErrors = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
		Name: "zombi_iceberg_errors_total",
		Help: "Materializer cycles of a topic that failed (S3 unreachable, a table of an earlier topic, a mode that differs from the table's, a failed commit): the topic's table is not advancing while it grows.",
	}, []string{"topic"})
	descLag = prometheus.NewDesc("zombi_iceberg_lag_records",
		"Records in the log not yet in the topic's Iceberg table (high watermark minus the table's committed offset, summed over partitions).",
		[]string{"topic"}, nil)
)

// Collector reports zombi_iceberg_lag_records for the topics being
// materialized.
func (m *Materializer) Collector() prometheus.Collector { return lagCollector{m} }

type lagCollector struct{ m *Materializer }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descLag }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	type tc struct {
		name string
		snap snapInfo
	}
	var all []tc
	for name, ts := range c.m.topics {
		if ts.enabled {
			all = append(all, tc{name, ts.snap})
		}
	}
	c.m.mu.Unlock()
	for _, t := range all {
		lag, _ := c.m.lag(t.name, t.snap)
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lag), t.name)
	}
}
