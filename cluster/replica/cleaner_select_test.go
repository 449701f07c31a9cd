package replica

import (
	"slices"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// selLog builds stored batches for selectClean's tests.
type selLog struct {
	t    *testing.T
	next int64
	bs   []cleanBatch
}

// data appends a batch of one record per key (nil value: a tombstone).
func (s *selLog) data(pid int64, txn bool, keys ...string) int64 {
	s.t.Helper()
	b := batch.NewBuilder()
	if pid >= 0 {
		b.SetProducer(pid, 0, 0)
	}
	for _, k := range keys {
		b.Add(1000, []byte(k), []byte("v"), nil)
	}
	raw := append([]byte(nil), b.Bytes()...)
	if txn {
		batch.SetTransactional(raw)
	}
	return s.add(raw, len(keys))
}

func (s *selLog) marker(pid int64, commit bool) int64 {
	return s.add(batch.Marker(pid, 0, commit, 0, 1000), 1)
}

func (s *selLog) add(raw []byte, n int) int64 {
	s.t.Helper()
	base := s.next
	batch.SetBaseOffset(raw, base)
	cb, err := cleanBatchOf(plog.Batch{BaseOffset: base, LastOffset: base + int64(n) - 1, Raw: raw})
	if err != nil {
		s.t.Fatal(err)
	}
	s.bs = append(s.bs, cb)
	s.next += int64(n)
	return base
}

func wantBases(t *testing.T, what string, got cleanPlan, want ...int64) {
	t.Helper()
	if !slices.Equal(got.bases, want) {
		t.Fatalf("%s: deletes %v, want %v", what, got.bases, want)
	}
}

func TestSelectCleanSupersededBatches(t *testing.T) {
	s := &selLog{t: t}
	a := s.data(-1, false, "a", "b") // both superseded below
	b := s.data(-1, false, "a", "c") // c is never superseded
	s.data(-1, false, "b")
	d := s.data(-1, false, "a")
	s.data(-1, false, "a") // the last batch
	plan := selectClean(s.bs, s.next, s.next, s.next, nil)
	wantBases(t, "all clean", plan, a, d)
	if plan.ratio() <= 0.2 || plan.ratio() >= 0.6 {
		t.Fatalf("ratio %v of %d bytes", plan.ratio(), plan.total)
	}
	// cleanEnd bounds what goes; the newer records beyond it still count.
	wantBases(t, "clean end at 3", selectClean(s.bs, b+1, s.next, s.next, nil), a)
	// The last batch of the log never goes, even superseded below hwm.
	s2 := &selLog{t: t}
	s2.data(-1, false, "a")
	wantBases(t, "one batch", selectClean(s2.bs, s2.next, s2.next, s2.next, nil))
}

func TestSelectCleanTombstonesAndKeys(t *testing.T) {
	s := &selLog{t: t}
	b := batch.NewBuilder()
	b.Add(1000, []byte("a"), nil, nil) // a tombstone
	tomb := s.add(append([]byte(nil), b.Bytes()...), 1)
	b2 := batch.NewBuilder()
	b2.Add(1000, nil, []byte("no key"), nil)
	noKey := s.add(append([]byte(nil), b2.Bytes()...), 1)
	s.data(-1, false, "b")
	s.data(-1, false, "b")
	// The tombstone stays (no later "a"); a keyless record is never superseded.
	plan := selectClean(s.bs, s.next, s.next, s.next, nil)
	wantBases(t, "tombstone alone", plan, noKey+1)
	s.data(-1, false, "a")
	s.data(-1, false, "z")
	wantBases(t, "tombstone superseded", selectClean(s.bs, s.next, s.next, s.next, nil), tomb, noKey+1)

	// A hash collision (forced): the batch is kept.
	s3 := &selLog{t: t}
	x := s3.data(-1, false, "x")
	s3.data(-1, false, "y")
	s3.data(-1, false, "end")
	s3.bs[1].records[0].key = s3.bs[0].records[0].key // same hash, other key
	wantBases(t, "collision", selectClean(s3.bs, s3.next, s3.next, s3.next, nil))
	s3.bs[1].records[0].check = s3.bs[0].records[0].check // truly the same key
	wantBases(t, "same key", selectClean(s3.bs, s3.next, s3.next, s3.next, nil), x)
}

func TestSelectCleanTransactions(t *testing.T) {
	s := &selLog{t: t}
	committed := s.data(7, true, "a") // superseded by the plain "a" below
	aborted := s.data(8, true, "b")   // aborted: goes, its marker later
	mc := s.marker(7, true)           // commit of 7
	ma := s.marker(8, false)          // abort of 8
	open := s.data(9, true, "c")      // open: stays
	abortedA := s.data(10, true, "a") // an aborted newer "a" supersedes nothing
	s.marker(10, false)               // abort of 10
	plainA := s.data(-1, false, "a")  // supersedes committed
	s.data(-1, false, "b", "c")       // supersedes nothing of 8's (aborted anyway) and not 9's open batch
	s.data(-1, false, "end")          // the last batch
	plan := selectClean(s.bs, s.next, s.next, s.next, nil)
	// Markers 7 and 8 go in the same pass: their data batches go.
	wantBases(t, "transactions", plan, committed, aborted, mc, ma, abortedA, abortedA+1)
	_ = open
	_ = plainA

	// A pending producer's batches stay, and so does its marker.
	plan = selectClean(s.bs, s.next, s.next, s.next, map[int64]bool{7: true})
	wantBases(t, "pid 7 pending", plan, aborted, ma, abortedA, abortedA+1)

	// Below markerEnd only do markers go (a replica may lack them): the
	// data batches still go, their markers stay.
	plan = selectClean(s.bs, s.next, mc, s.next, nil)
	wantBases(t, "markers past markerEnd", plan, committed, aborted, abortedA)

	// A committed batch whose marker is at or past cleanEnd stays (the view
	// holds it as pending), and so does everything after cleanEnd.
	plan = selectClean(s.bs, mc, s.next, s.next, nil)
	wantBases(t, "clean end at the commit marker", plan)

	// Before its commit marker, the newer "a" of pid 10 was aborted: the
	// committed "a" of pid 7 is superseded only by the plain one.
	s2 := &selLog{t: t}
	c := s2.data(7, true, "a")
	s2.marker(7, true)
	s2.data(10, true, "a")
	s2.marker(10, false)
	s2.data(-1, false, "end")
	plan = selectClean(s2.bs, s2.next, s2.next, s2.next, nil)
	if slices.Contains(plan.bases, c) {
		t.Fatalf("a committed offset superseded by an aborted one: %v", plan.bases)
	}
}
