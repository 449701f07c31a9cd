package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zombi-dev/zombi/metrics"
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

// metricsHandler: GET /metrics, every metric of the process (package
// metrics' registry) and this server's scrape-time collectors: the /stats
// counters under their old names, the log's topic metrics, and whatever
// Config.Metrics adds (the Kafka door's groups, the build, the tier).
func (s *server) metricsHandler() gin.HandlerFunc {
	cs := append([]prometheus.Collector{statsCollector{s.stats, s.cfg.SecurityCounters}, s.log.Collector()}, s.cfg.Metrics...)
	return gin.WrapH(metrics.Handler(cs...))
}
