package tiering

import "time"

// The retention a partition gets: its topic's configs where it overrides
// them (retention.ms, retention.bytes, local.retention.ms), else the tier's
// settings (Retention, HotRetention).

// retentionMs is how long cold data is kept, in ms (-1: for ever).
func (t *Tier) retentionMs(ps *partState) int64 {
	if e := ps.eff.Load(); e != nil && e.RetentionMsSet {
		return e.RetentionMs
	}
	if t.cfg.Retention > 0 {
		return t.cfg.Retention.Milliseconds()
	}
	return -1
}

// retentionBytes is the size the partition is kept under (-1: no limit).
func (t *Tier) retentionBytes(ps *partState) int64 {
	if e := ps.eff.Load(); e != nil {
		return e.RetentionBytes
	}
	return -1
}

// retains reports whether cold retention applies to the partition.
func (t *Tier) retains(ps *partState) bool {
	return t.retentionMs(ps) >= 0 || t.retentionBytes(ps) >= 0
}

// hotRetention is how long flushed data stays hot (0: dropped right after
// the flush; negative: kept).
func (t *Tier) hotRetentionFor(ps *partState) time.Duration {
	if e := ps.eff.Load(); e != nil && e.LocalRetentionMsSet {
		if e.LocalRetentionMs < 0 {
			return -1
		}
		return time.Duration(e.LocalRetentionMs) * time.Millisecond
	}
	return max(t.cfg.HotRetention, 0)
}
