package httpapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/zombi-dev/zombi/stats"
)

// getHealth: GET /health.
func (s *server) getHealth(c *gin.Context) {
	if err := s.log.Healthy(); err != nil {
		b := append([]byte(`{"status":"unhealthy","reason":`), appendString(nil, err.Error())...)
		writeJSON(c, http.StatusServiceUnavailable, append(b, '}', '\n'))
		return
	}
	writeJSON(c, http.StatusOK, []byte(`{"status":"healthy"}`+"\n"))
}

// getStats: GET /stats, the shared counters' snapshot.
func (s *server) getStats(c *gin.Context) {
	var v any = s.stats.Snapshot()
	if s.cfg.SecurityCounters != nil {
		v = struct {
			stats.Snapshot
			Security map[string]uint64 `json:"security"`
		}{s.stats.Snapshot(), s.cfg.SecurityCounters()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, append(b, '\n'))
}

var promContentType = []string{"text/plain; version=0.0.4; charset=utf-8"}

// getMetrics: GET /metrics, the same counters in Prometheus text format.
func (s *server) getMetrics(c *gin.Context) {
	snap := s.stats.Snapshot()
	var b []byte
	metric := func(name, typ, help string, v float64) {
		b = append(b, "# HELP "...)
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, help...)
		b = append(b, "\n# TYPE "...)
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, typ...)
		b = append(b, '\n')
		b = append(b, name...)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		b = append(b, '\n')
	}
	metric("zombi_uptime_seconds", "gauge", "Seconds since the server started.", snap.UptimeSecs)
	metric("zombi_writes_total", "counter", "Records written (HTTP and Kafka).", float64(snap.Writes.Total))
	metric("zombi_write_bytes_total", "counter", "Payload bytes written.", float64(snap.Writes.BytesTotal))
	metric("zombi_write_requests_total", "counter", "Write requests.", float64(snap.Writes.Requests))
	metric("zombi_write_rate_per_second", "gauge", "Records written per second over the last seconds.", snap.Writes.RatePerSec)
	metric("zombi_write_latency_avg_microseconds", "gauge", "Average write request latency.", snap.Writes.AvgLatencyUs)
	metric("zombi_reads_total", "counter", "Read requests.", float64(snap.Reads.Total))
	metric("zombi_read_records_total", "counter", "Records returned by reads.", float64(snap.Reads.RecordsTotal))
	metric("zombi_read_rate_per_second", "gauge", "Read requests per second over the last seconds.", snap.Reads.RatePerSec)
	metric("zombi_read_latency_avg_microseconds", "gauge", "Average read request latency.", snap.Reads.AvgLatencyUs)
	metric("zombi_errors_total", "counter", "Failed requests.", float64(snap.ErrorsTotal))
	if s.cfg.SecurityCounters != nil {
		const name = "zombi_connections_refused_total"
		b = append(b, "# HELP "+name+" Connections refused or closed for security reasons (caps, TLS, authentication), by reason; http_refused_connections is the REST API's, the others the Kafka door's.\n# TYPE "+name+" counter\n"...)
		counters := s.cfg.SecurityCounters()
		reasons := make([]string, 0, len(counters))
		for r := range counters {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			b = append(b, name+`{reason="`...)
			b = append(b, r...)
			b = append(b, `"} `...)
			b = strconv.AppendUint(b, counters[r], 10)
			b = append(b, '\n')
		}
	}
	h := c.Writer.Header()
	h["Content-Type"] = promContentType
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(b)
}
