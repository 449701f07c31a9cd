package stats

import (
	"testing"
	"time"
)

func TestSnapshotCounts(t *testing.T) {
	s := New()
	s.Write(3, 300, 30*time.Microsecond)
	s.Write(1, 100, 10*time.Microsecond)
	s.Read(5, 100*time.Microsecond)
	s.Error()
	snap := s.Snapshot()
	if snap.Writes.Total != 4 || snap.Writes.BytesTotal != 400 || snap.Writes.Requests != 2 {
		t.Fatalf("writes %+v", snap.Writes)
	}
	if snap.Writes.AvgLatencyUs != 20 {
		t.Fatalf("avg write latency %v", snap.Writes.AvgLatencyUs)
	}
	if snap.Reads.Total != 1 || snap.Reads.RecordsTotal != 5 || snap.Reads.AvgLatencyUs != 100 {
		t.Fatalf("reads %+v", snap.Reads)
	}
	if snap.ErrorsTotal != 1 {
		t.Fatalf("errors %d", snap.ErrorsTotal)
	}
}

func TestRateCoversCompleteSeconds(t *testing.T) {
	s := New()
	s.start = time.Now().Add(-time.Minute)
	past := time.Now().Unix() - 2
	s.buckets[past%int64(len(s.buckets))] = bucket{sec: past, writes: 50, reads: 20}
	old := past - window - 5
	s.buckets[old%int64(len(s.buckets))] = bucket{sec: old, writes: 1000}
	snap := s.Snapshot()
	if snap.Writes.RatePerSec != 5 || snap.Reads.RatePerSec != 2 {
		t.Fatalf("rates %v %v", snap.Writes.RatePerSec, snap.Reads.RatePerSec)
	}
}
