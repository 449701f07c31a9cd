package httpapi

import (
	"net/http"
	"time"
)

// streamWriteTimeout bounds one write of an event stream (GET
// /tables/{t}/tail, GET /stats/stream). cmd/zombi sets no WriteTimeout (a
// stream never ends by itself), so without it a client that stops reading
// while keeping its connection open (its TCP window full) would hold the
// handler, the tail's watchers and the server's shutdown forever. A
// variable for tests.
var streamWriteTimeout = 30 * time.Second

// streamWriter sets a write deadline before each event of a stream.
type streamWriter struct {
	rc *http.ResponseController
}

func newStreamWriter(w http.ResponseWriter) streamWriter {
	return streamWriter{rc: http.NewResponseController(w)}
}

// arm gives the next write streamWriteTimeout. A writer that cannot set
// deadlines (a wrapping middleware without Unwrap) streams without one.
func (s streamWriter) arm() { _ = s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }

// disarm clears the deadline when the stream ends: a connection kept alive
// for the next request must not inherit it.
func (s streamWriter) disarm() { _ = s.rc.SetWriteDeadline(time.Time{}) }
