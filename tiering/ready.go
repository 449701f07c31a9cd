package tiering

import (
	"errors"
	"io"
)

// Running is a started cold tier (a Tier, or one still retrying its start
// after S3 was unreachable): Close stops it, Ready says whether it is
// loaded (GET /health/ready).
type Running interface {
	io.Closer
	Ready() error
	Status() Status
}

// errNotStarted is Ready's answer while the tier retries its start.
var errNotStarted = errors.New("cold tier not loaded yet: S3 unreachable since start-up, retrying")

// Ready reports whether the cold tier is loaded: a started Tier always is.
func (t *Tier) Ready() error { return nil }

// Ready reports whether the tier has started after an outage at start-up
// (GET /health/ready).
func (r *retrying) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tier == nil {
		return errNotStarted
	}
	return nil
}
