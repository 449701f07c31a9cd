package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/iceberg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// apiError is an error whose HTTP status the handler decided itself (bad
// parameters, bad bodies, a missing commit).
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

var errUnsupportedMediaType = &apiError{
	status: http.StatusUnsupportedMediaType,
	msg:    "unsupported Content-Type: use application/json or application/x-protobuf",
}

// errJSONOnly is the 415 of the routes that take JSON bodies only.
var errJSONOnly = &apiError{
	status: http.StatusUnsupportedMediaType,
	msg:    "unsupported Content-Type: this route takes application/json",
}

// errorStatus is the one table that maps log errors to HTTP statuses. The
// first entry whose error matches (errors.Is) wins; anything not listed is a
// bug and answers 500.
var errorStatus = []struct {
	err    error
	status int
}{
	{plog.ErrInvalidTopic, http.StatusBadRequest},
	{plog.ErrInternalTopic, http.StatusBadRequest},
	{topicconfig.ErrInvalid, http.StatusBadRequest},
	{plog.ErrTopicExists, http.StatusConflict},
	{iceberg.ErrTableClash, http.StatusConflict},
	{iceberg.ErrOtherTopic, http.StatusConflict},
	{plog.ErrInvalidPartitions, http.StatusBadRequest},
	{plog.ErrTooManyPartitions, http.StatusBadRequest},
	{plog.ErrInvalidGroup, http.StatusBadRequest},
	{plog.ErrInvalidOffset, http.StatusBadRequest},
	{plog.ErrOffsetOutOfRange, http.StatusBadRequest},
	{plog.ErrUnknownTopic, http.StatusNotFound}, // only when a table is deleted mid-request
	{plog.ErrStorage, http.StatusServiceUnavailable},
	{plog.ErrHotTierFull, http.StatusServiceUnavailable},
	{plog.ErrColdUnavailable, http.StatusServiceUnavailable},
	{plog.ErrClosed, http.StatusServiceUnavailable},
	{plog.ErrNotLeader, http.StatusServiceUnavailable}, // cluster mode: another node leads the partition
	{ErrNotEnoughReplicas, http.StatusServiceUnavailable},
	{errLeaderUnavailable, http.StatusServiceUnavailable},
	{errLeaderMoved, http.StatusServiceUnavailable},
	{ErrClusterUnavailable, http.StatusServiceUnavailable},
	{ErrNotCoordinator, http.StatusServiceUnavailable},
	{ErrCoordinatorNotAvailable, http.StatusServiceUnavailable},
	{ErrClusterInvalid, http.StatusBadRequest},
	{auth.ErrInvalid, http.StatusBadRequest},
	{auth.ErrNotFound, http.StatusNotFound},
	{auth.ErrStorage, http.StatusServiceUnavailable},
	{context.Canceled, http.StatusServiceUnavailable},
	{context.DeadlineExceeded, http.StatusServiceUnavailable},
}

// statusOf returns the HTTP status for err.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	for _, e := range errorStatus {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// fail answers err as {"error": "..."} with its status, counts it, and logs
// what is a bug or a storage failure.
func (s *server) fail(c *gin.Context, err error) {
	status := statusOf(err)
	msg := err.Error()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		msg = fmt.Sprintf("request body larger than %d bytes", mbe.Limit)
		plog.CountRefused("request_too_large")
	}
	switch {
	case status == http.StatusInternalServerError:
		s.logger.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		msg = "internal error: " + msg
	case status == http.StatusServiceUnavailable:
		if retryLater(err) {
			c.Writer.Header().Set("Retry-After", "1")
		}
		// The log reports a storage failure once; per-request lines would flood.
		s.logger.Debug("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	}
	s.stats.Error()
	if isIcebergPath(c.Request.URL.Path) {
		writeIcebergError(c, status, err, msg) // the Iceberg REST spec's error model
		return
	}
	if status == http.StatusServiceUnavailable && coordinatorRetry(err) {
		writeRetriable(c, msg)
		return
	}
	writeError(c, status, msg)
}

func writeError(c *gin.Context, status int, msg string) {
	b := make([]byte, 0, len(msg)+16)
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	b = append(b, '}', '\n')
	writeJSON(c, status, b)
}

var jsonContentType = []string{"application/json; charset=utf-8"}

// writeValue answers v as JSON (plain structs and maps of them:
// marshalling cannot fail).
func writeValue(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	writeJSON(c, status, b)
}

// writeJSON writes a prepared JSON body.
func writeJSON(c *gin.Context, status int, body []byte) {
	h := c.Writer.Header()
	h["Content-Type"] = jsonContentType
	c.Status(status)
	_, _ = c.Writer.Write(body)
}

// noInternalTable refuses every /tables/{t} route for Kafka's internal
// topics (__consumer_offsets, __transaction_state) with 400: they are not
// tables (no records, nothing to create, write, read or delete; Zombi keeps
// group offsets under /consumers), and the Kafka door answers
// INVALID_TOPIC_EXCEPTION, which is 400 here too. A 200 with no records, the
// answer for a table that does not exist yet, would suggest writing to it.
func (s *server) noInternalTable(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if t := c.Param("table"); plog.IsInternalTopic(t) {
			s.fail(c, fmt.Errorf("%w: %s belongs to the Kafka protocol and holds no records; it is not a table (group offsets: /consumers)", plog.ErrInternalTopic, t))
			return
		}
		h(c)
	}
}
