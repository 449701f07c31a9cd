package chaos

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Position is a partition and offset.
type Position struct {
	Partition int32
	Offset    int64
}

func (p Position) String() string { return fmt.Sprintf("%d@%d", p.Partition, p.Offset) }

// Duplicate is one key found at more than one position.
type Duplicate struct {
	Key string
	At  []Position
}

// Reuse is one position that held more than one record: read with two
// different keys or values (by any readers), or acknowledged for two keys.
type Reuse struct {
	At      Position
	Records []string // "key=value" as read, or "key (acked)"
}

// Misplaced is an acknowledged key read at a position other than its ack.
type Misplaced struct {
	Ack    Ack
	ReadAt Position
}

// FaultGap is the unavailability a fault caused on its victim partitions.
//
// For one partition p and a fault [Start, End], let L be the last ack on p at
// or before Start (Start itself if there is none) and R the first ack on p at
// or after End (Taken, the time the history was taken, if there is none:
// the partition never recovered). The partition's gap is the longest interval
// between consecutive acks on p within [L, R], bounds included. The fault's
// Gap is the largest partition gap, on Partition. It is Jepsen's
// "unavailability window" per partition: acks that go on during a fault (a
// follower killed, a fast failover) shorten it; a single node down from Start
// to End gives at least End-Start.
type FaultGap struct {
	Fault
	Gap        time.Duration
	Partition  int32     // the partition with the longest gap
	From, To   time.Time // the gap's bounds
	Recovered  bool      // every victim partition saw an ack at or after End
	Partitions map[int32]time.Duration
	// ByProducer is the same gap counted from one producer's acks alone
	// (the largest over the victim partitions): how long each client
	// went without an ack, since clients refresh metadata at their own
	// pace. A producer with no ack after End has the gap up to Taken.
	ByProducer map[string]time.Duration
}

// ReaderStats is what one reader read.
type ReaderStats struct {
	Reads  int // records returned, re-reads included
	Unseen int // acknowledged records it never read
}

// Report is the checker's verdict on a History.
type Report struct {
	Acked       int
	Failures    int            // failed or indeterminate produces
	Producers   map[string]int // acks per producer
	Readers     map[string]ReaderStats
	FinalPass   bool // lost was decided by the final pass alone
	UnackedRead int  // records read whose key was never acked (in doubt, not an anomaly)
	Lost        []Ack
	Duplicated  []Duplicate
	Reused      []Reuse
	Misplaced   []Misplaced
	Faults      []FaultGap
	// FailureErrors counts the failures per error text: a test of refused
	// writes looks for NOT_ENOUGH_REPLICAS here (FailedWith).
	FailureErrors map[string]int
}

// FailedWith is the number of failures whose error contains s.
func (r Report) FailedWith(s string) int {
	n := 0
	for e, c := range r.FailureErrors {
		if strings.Contains(e, s) {
			n += c
		}
	}
	return n
}

// Err is non-nil when anything was lost, duplicated, reused or misplaced.
func (r Report) Err() error {
	var errs []error
	if n := len(r.Lost); n > 0 {
		errs = append(errs, fmt.Errorf("%d acknowledged records lost, first key %q at %s", n, r.Lost[0].Key, Position{r.Lost[0].Partition, r.Lost[0].Offset}))
	}
	if n := len(r.Duplicated); n > 0 {
		errs = append(errs, fmt.Errorf("%d keys duplicated, first %q at %v", n, r.Duplicated[0].Key, r.Duplicated[0].At))
	}
	if n := len(r.Reused); n > 0 {
		errs = append(errs, fmt.Errorf("%d offsets reused, first %s: %q", n, r.Reused[0].At, r.Reused[0].Records))
	}
	if n := len(r.Misplaced); n > 0 {
		m := r.Misplaced[0]
		errs = append(errs, fmt.Errorf("%d records misplaced, first %q acked at %s read at %s", n, m.Ack.Key, Position{m.Ack.Partition, m.Ack.Offset}, m.ReadAt))
	}
	return errors.Join(errs...)
}

// Check computes the report of h:
//   - lost: acked records not read with their key at their acked position
//     (by the final pass when there was one, else by any reader);
//   - duplicated: keys read (or acked) at two or more positions;
//   - reused: positions read with two different key/value pairs, across all
//     readers, or acknowledged for two keys;
//   - misplaced: acked keys read at a position other than their ack;
//   - per fault, the gap defined on FaultGap.
func Check(h History) Report {
	r := Report{
		Acked:     len(h.Acks),
		Failures:  len(h.Failures),
		Producers: map[string]int{},
		Readers:   map[string]ReaderStats{},
		FinalPass: h.FinalEnds != nil,
	}
	r.FailureErrors = map[string]int{}
	for _, f := range h.Failures {
		r.FailureErrors[f.Err]++
	}
	ackOf := make(map[string]Ack, len(h.Acks))
	keysAt := map[Position][]string{} // distinct records per position, in order found
	addAt := func(p Position, rec string) {
		if !slices.Contains(keysAt[p], rec) {
			keysAt[p] = append(keysAt[p], rec)
		}
	}
	keyPos := map[string][]Position{} // distinct positions per key
	addPos := func(k string, p Position) {
		if !slices.Contains(keyPos[k], p) {
			keyPos[k] = append(keyPos[k], p)
		}
	}
	ackedAt := map[Position][]string{}
	for _, a := range h.Acks {
		r.Producers[a.Producer]++
		p := Position{a.Partition, a.Offset}
		if !slices.Contains(ackedAt[p], a.Key) {
			ackedAt[p] = append(ackedAt[p], a.Key)
		}
		if _, ok := ackOf[a.Key]; !ok {
			ackOf[a.Key] = a
		}
		addPos(a.Key, p)
	}

	type readerPos struct {
		reader string
		pos    Position
		key    string
	}
	readBy := map[readerPos]struct{}{}
	found := map[Position]map[string]struct{}{} // keys read at a position by the deciding readers
	unacked := map[string]struct{}{}
	for _, rd := range h.Reads {
		st := r.Readers[rd.Reader]
		st.Reads++
		r.Readers[rd.Reader] = st
		p := Position{rd.Partition, rd.Offset}
		readBy[readerPos{rd.Reader, p, rd.Key}] = struct{}{}
		addAt(p, rd.Key+"="+rd.Value)
		addPos(rd.Key, p)
		if !r.FinalPass || rd.Reader == FinalReader {
			if found[p] == nil {
				found[p] = map[string]struct{}{}
			}
			found[p][rd.Key] = struct{}{}
		}
		if _, ok := ackOf[rd.Key]; !ok {
			unacked[rd.Key] = struct{}{}
		}
	}
	r.UnackedRead = len(unacked)

	for reader, st := range r.Readers {
		for _, a := range h.Acks {
			if _, ok := readBy[readerPos{reader, Position{a.Partition, a.Offset}, a.Key}]; !ok {
				st.Unseen++
			}
		}
		r.Readers[reader] = st
	}

	for _, a := range h.Acks {
		if _, ok := found[Position{a.Partition, a.Offset}][a.Key]; !ok {
			r.Lost = append(r.Lost, a)
		}
	}
	for k, ps := range keyPos {
		if len(ps) > 1 {
			sortPositions(ps)
			r.Duplicated = append(r.Duplicated, Duplicate{Key: k, At: ps})
		}
		a, ok := ackOf[k]
		if !ok {
			continue
		}
		for _, p := range ps {
			if p != (Position{a.Partition, a.Offset}) {
				r.Misplaced = append(r.Misplaced, Misplaced{Ack: a, ReadAt: p})
			}
		}
	}
	for p, recs := range keysAt {
		if len(recs) > 1 {
			r.Reused = append(r.Reused, Reuse{At: p, Records: recs})
		}
	}
	for p, keys := range ackedAt {
		if len(keys) > 1 {
			recs := make([]string, len(keys))
			for i, k := range keys {
				recs[i] = k + " (acked)"
			}
			r.Reused = append(r.Reused, Reuse{At: p, Records: recs})
		}
	}
	sort.Slice(r.Lost, func(i, j int) bool {
		return lessPos(r.Lost[i].Partition, r.Lost[i].Offset, r.Lost[j].Partition, r.Lost[j].Offset)
	})
	sort.Slice(r.Duplicated, func(i, j int) bool { return r.Duplicated[i].Key < r.Duplicated[j].Key })
	sort.Slice(r.Reused, func(i, j int) bool {
		a, b := r.Reused[i].At, r.Reused[j].At
		return lessPos(a.Partition, a.Offset, b.Partition, b.Offset)
	})
	sort.Slice(r.Misplaced, func(i, j int) bool { return r.Misplaced[i].Ack.Key < r.Misplaced[j].Ack.Key })

	r.Faults = faultGaps(h)
	return r
}

func lessPos(p1 int32, o1 int64, p2 int32, o2 int64) bool {
	if p1 != p2 {
		return p1 < p2
	}
	return o1 < o2
}

func sortPositions(ps []Position) {
	sort.Slice(ps, func(i, j int) bool { return lessPos(ps[i].Partition, ps[i].Offset, ps[j].Partition, ps[j].Offset) })
}
