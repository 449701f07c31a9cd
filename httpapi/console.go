package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/zombi-dev/zombi/ui"
)

// consoleRoutes mounts the web console (package ui) at /ui/, public like
// /openapi.json: its assets hold no data. A browser landing on the port is
// sent there.
func (s *server) consoleRoutes(e *gin.Engine) {
	h := gin.WrapH(ui.Handler())
	e.GET("/ui", h)
	e.GET("/ui/*path", h)
	e.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui/") })
}
