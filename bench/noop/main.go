// Command noop is the ceiling the REST API's single-event POST is judged
// against (docs/BENCHMARKS-httpapi.md): a gin server whose
// POST /tables/:table reads the body and answers Zombi's response shape
// without storing anything. bench/http-wrk.sh drives it and Zombi with the
// same wrk load.
//
//	noop --addr 127.0.0.1:18090
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/tables/:table", func(c *gin.Context) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)); err != nil {
			c.Data(http.StatusRequestEntityTooLarge, "application/json; charset=utf-8", []byte(`{"error":"body too large"}`))
			return
		}
		c.Data(http.StatusAccepted, "application/json; charset=utf-8",
			fmt.Appendf(nil, `{"offset":0,"partition":0,"table":%q}`, c.Param("table")))
	})
	slog.Info("noop listening", "addr", *addr)
	if err := http.ListenAndServe(*addr, e); err != nil {
		slog.Error("noop", "err", err)
		os.Exit(1)
	}
}
