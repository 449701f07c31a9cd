// Package stats counts writes, reads and errors for /stats, across both
// front doors. Counters are atomic; rates cover a sliding window of recent
// seconds so that /stats shows current load, not the average since start.
package stats

import (
	"sync"
	"sync/atomic"
	"time"
)

// window is how many seconds the rates average over.
const window = 10

// Stats is safe for concurrent use. The zero value is not usable; call New.
type Stats struct {
	start time.Time

	writes, writeBytes, writeLatencyNs atomic.Int64 // writes = records written
	writeOps                           atomic.Int64 // write requests (latency is per request)
	reads, readRecords, readLatencyNs  atomic.Int64 // reads = read requests
	errors                             atomic.Int64

	mu      sync.Mutex
	buckets [window + 1]bucket // per-second counts, ring indexed by unix second
}

type bucket struct {
	sec           int64
	writes, reads int64
}

// New returns empty counters starting now.
func New() *Stats { return &Stats{start: time.Now()} }

// Write records one write request of n records and the given payload bytes.
func (s *Stats) Write(records, bytes int, latency time.Duration) {
	s.writes.Add(int64(records))
	s.writeBytes.Add(int64(bytes))
	s.writeOps.Add(1)
	s.writeLatencyNs.Add(int64(latency))
	s.tick(int64(records), 0)
}

// Read records one read request that returned n records.
func (s *Stats) Read(records int, latency time.Duration) {
	s.reads.Add(1)
	s.readRecords.Add(int64(records))
	s.readLatencyNs.Add(int64(latency))
	s.tick(0, 1)
}

// Error counts one failed request.
func (s *Stats) Error() { s.errors.Add(1) }

func (s *Stats) tick(writes, reads int64) {
	now := time.Now().Unix()
	s.mu.Lock()
	b := &s.buckets[now%int64(len(s.buckets))]
	if b.sec != now {
		*b = bucket{sec: now}
	}
	b.writes += writes
	b.reads += reads
	s.mu.Unlock()
}

// Snapshot is the JSON body of GET /stats (the spec's field names).
type Snapshot struct {
	UptimeSecs  float64    `json:"uptime_secs"`
	Writes      WriteStats `json:"writes"`
	Reads       ReadStats  `json:"reads"`
	ErrorsTotal int64      `json:"errors_total"`
}

// WriteStats: total counts records; avg_latency_us is per write request.
type WriteStats struct {
	Total        int64   `json:"total"`
	BytesTotal   int64   `json:"bytes_total"`
	RatePerSec   float64 `json:"rate_per_sec"`
	AvgLatencyUs float64 `json:"avg_latency_us"`
	Requests     int64   `json:"requests"`
}

// ReadStats: total counts read requests, records_total the records returned.
type ReadStats struct {
	Total        int64   `json:"total"`
	RecordsTotal int64   `json:"records_total"`
	RatePerSec   float64 `json:"rate_per_sec"`
	AvgLatencyUs float64 `json:"avg_latency_us"`
}

// Snapshot reads the counters. Rates are per second over the last complete
// seconds of the window (or since start when younger).
func (s *Stats) Snapshot() Snapshot {
	now := time.Now()
	snap := Snapshot{UptimeSecs: now.Sub(s.start).Seconds(), ErrorsTotal: s.errors.Load()}
	snap.Writes.Total = s.writes.Load()
	snap.Writes.BytesTotal = s.writeBytes.Load()
	snap.Writes.Requests = s.writeOps.Load()
	if n := snap.Writes.Requests; n > 0 {
		snap.Writes.AvgLatencyUs = float64(s.writeLatencyNs.Load()) / float64(n) / 1e3
	}
	snap.Reads.Total = s.reads.Load()
	snap.Reads.RecordsTotal = s.readRecords.Load()
	if n := snap.Reads.Total; n > 0 {
		snap.Reads.AvgLatencyUs = float64(s.readLatencyNs.Load()) / float64(n) / 1e3
	}
	cur := now.Unix()
	var w, r int64
	s.mu.Lock()
	for _, b := range s.buckets {
		if b.sec < cur && b.sec >= cur-window {
			w += b.writes
			r += b.reads
		}
	}
	s.mu.Unlock()
	span := float64(window)
	if up := snap.UptimeSecs; up < span {
		span = max(up, 1)
	}
	snap.Writes.RatePerSec = float64(w) / span
	snap.Reads.RatePerSec = float64(r) / span
	return snap
}
