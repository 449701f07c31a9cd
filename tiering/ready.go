package tiering

import "errors"

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
