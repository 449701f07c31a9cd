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
	Verify(ctx context.Context, topic string) (iceberg.Verification, error)
	Drop(ctx context.Context, topic string) (iceberg.DropResult, error)
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

// icebergCall runs f for the table in the path, mapping "no table" to 404.
func (s *server) icebergCall(c *gin.Context, f func(ctx context.Context, topic string) (any, error)) {
	name, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Iceberg == nil {
		s.fail(c, errIcebergOff)
		return
	}
	v, err := f(c.Request.Context(), name)
	if errors.Is(err, iceberg.ErrNotMaterialized) {
		s.fail(c, notFound("table %s has no Iceberg table", name))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	writeValue(c, http.StatusOK, v)
}

// getTableIcebergVerify: GET /tables/{t}/iceberg/verify, the table against
// the log per partition (`zombi iceberg verify`). It reads every data
// file's _partition and _offset columns: as long as a full scan of them.
func (s *server) getTableIcebergVerify(c *gin.Context) {
	s.icebergCall(c, func(ctx context.Context, topic string) (any, error) { return s.cfg.Iceberg.Verify(ctx, topic) })
}

// deleteTableIceberg: DELETE /tables/{t}/iceberg, every file of the
// topic's table and of its dead-letter table (`zombi iceberg drop`). The
// topic and its log are untouched; with zombi.iceberg.enable still true
// the table is rebuilt from the log start.
func (s *server) deleteTableIceberg(c *gin.Context) {
	s.icebergCall(c, func(ctx context.Context, topic string) (any, error) { return s.cfg.Iceberg.Drop(ctx, topic) })
}
