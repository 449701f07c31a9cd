package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// getLive: GET /health/live: 200 while the process serves (a liveness
// probe restarts what does not answer, so it checks nothing else).
func (s *server) getLive(c *gin.Context) {
	writeJSON(c, http.StatusOK, []byte(`{"status":"live"}`+"\n"))
}

// getReady: GET /health/ready: 200 once the log is open and healthy and,
// with a cold tier, that tier is loaded (Config.Ready); else 503 with the
// reason.
func (s *server) getReady(c *gin.Context) {
	err := s.log.Healthy()
	if err == nil && s.cfg.Ready != nil {
		err = s.cfg.Ready()
	}
	if err != nil {
		b := append([]byte(`{"status":"not ready","reason":`), appendString(nil, err.Error())...)
		writeJSON(c, http.StatusServiceUnavailable, append(b, '}', '\n'))
		return
	}
	writeJSON(c, http.StatusOK, []byte(`{"status":"ready"}`+"\n"))
}
