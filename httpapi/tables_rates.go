package httpapi

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// wantsRates says whether GET /tables asked for with=rates (a comma list).
func wantsRates(c *gin.Context) bool {
	for _, w := range strings.Split(c.Query("with"), ",") {
		if strings.TrimSpace(w) == "rates" {
			return true
		}
	}
	return false
}

// addRates gives each listed table its records in per second, one point
// per 30 s over the last 15 minutes (history.RatePoints, oldest first),
// when GET /tables asked for with=rates and the history runs; otherwise
// "rates" is left out. A map lookup per table: cheap on a page of any size.
func (s *server) addRates(c *gin.Context, tables []tableJSON) {
	if s.cfg.History == nil || !wantsRates(c) {
		return
	}
	for i := range tables {
		tables[i].Rates = s.cfg.History.TopicRates(tables[i].Name)
	}
}
