package tiering

// Status is the cold tier's state as /metrics reports it
// (zombi_tier_pending_bytes, zombi_tier_s3_reachable), for the console.
type Status struct {
	PendingBytes int64 // hot bytes not yet flushed (see pendingBytes)
	Reachable    bool  // the object store answers: no flush failing
}

// Status reads the tier's state from memory.
func (t *Tier) Status() Status {
	t.out.mu.Lock()
	down := t.out.down
	t.out.mu.Unlock()
	return Status{PendingBytes: t.pendingBytes(nil), Reachable: !down}
}

// Status is the started tier's, or, while it retries its start, everything
// appended since start-up as pending and S3 unreachable.
func (r *retrying) Status() Status {
	r.mu.Lock()
	t := r.tier
	r.mu.Unlock()
	if t != nil {
		return t.Status()
	}
	return Status{PendingBytes: r.appended()}
}
