package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/zombi-dev/zombi/iceberg"
)

// Materializer is what the REST API asks the Iceberg materializer
// (*iceberg.Materializer).
type Materializer interface {
	Status(ctx context.Context, topic string) (iceberg.Status, error)
}

var errIcebergOff = &apiError{status: http.StatusNotFound, msg: "Iceberg tables are not enabled on this server"}

// getTableIceberg: GET /tables/{t}/iceberg, the topic's Iceberg table:
// snapshot, committed offsets per partition, lag in records and seconds,
// files and bytes. A deleted or disabled topic's table is still reported.
func (s *server) getTableIceberg(c *gin.Context) {
	name, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Iceberg == nil {
		s.fail(c, errIcebergOff)
		return
	}
	st, err := s.cfg.Iceberg.Status(c.Request.Context(), name)
	if errors.Is(err, iceberg.ErrNotMaterialized) {
		s.fail(c, notFound("table %s has no Iceberg table: set its topic config zombi.iceberg.enable=true", name))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	writeValue(c, http.StatusOK, st)
}
