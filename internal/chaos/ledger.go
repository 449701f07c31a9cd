package chaos

import (
	"sync"
	"time"
)

// Ack is one record the cluster acknowledged: the produce promise (or the
// delivery report) named this partition and offset.
type Ack struct {
	Key       string // unique per record across the whole run
	Partition int32
	Offset    int64
	At        time.Time // when the acknowledgement reached the client
	Producer  string    // which producer sent it, e.g. "franz-0", "librdkafka"
}

// Failure is one produce the client gave up on (or an error it reported
// while retrying). Kafka's producer errors are indeterminate: the record may
// still be in the log, so a failed key read back is not an anomaly.
type Failure struct {
	Key       string // "" when the error is not about one record
	Partition int32  // -1 when unknown
	Producer  string
	Err       string
	At        time.Time
}

// Read is one record a consumer returned.
type Read struct {
	Reader    string // who read it: a group name, FinalReader, ...
	Partition int32
	Offset    int64
	Key       string
	Value     string
	At        time.Time
}

// FinalReader is the Reader of the records ReadAll records: the pass after
// the workload that decides what is lost.
const FinalReader = "final"

// Fault is a window during which the test harmed the cluster (a kill, a
// pause, etcd stopped, ...). Start is when the harm began, End when the test
// healed it (equal to Start for a harm that is not undone, such as a kill
// whose failover the cluster does by itself). Partitions are the victim's
// partitions, whose acknowledgement gaps the report measures; none means
// every partition that saw an acknowledgement.
type Fault struct {
	Name       string
	Start, End time.Time
	Partitions []int32
}

// History is everything a run recorded, the input of Check.
type History struct {
	Acks     []Ack
	Failures []Failure
	Reads    []Read
	Faults   []Fault
	// FinalEnds are the end offsets (high watermarks) the final pass read up
	// to, per partition; nil when there was no final pass: then any reader's
	// reads count for "lost".
	FinalEnds map[int32]int64
	// Taken is when the history was taken: the end of an unhealed gap.
	Taken time.Time
}

// Ledger records a run concurrently: the producers, consumers and the test
// call it from any goroutine.
type Ledger struct {
	mu sync.Mutex
	h  History
	// seen is, per reader, the positions it read: for Unseen, asked often
	// while a test waits for a group to catch up.
	seen map[string]map[pos]struct{}
}

// pos is a partition and offset.
type pos struct {
	p int32
	o int64
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{seen: map[string]map[pos]struct{}{}} }

// AddAck records an acknowledged record.
func (l *Ledger) AddAck(a Ack) {
	l.mu.Lock()
	l.h.Acks = append(l.h.Acks, a)
	l.mu.Unlock()
}

// AddFailure records a failed (or indeterminate) produce.
func (l *Ledger) AddFailure(f Failure) {
	l.mu.Lock()
	l.h.Failures = append(l.h.Failures, f)
	l.mu.Unlock()
}

// AddRead records a record a consumer returned.
func (l *Ledger) AddRead(r Read) {
	l.mu.Lock()
	l.h.Reads = append(l.h.Reads, r)
	s := l.seen[r.Reader]
	if s == nil {
		s = map[pos]struct{}{}
		l.seen[r.Reader] = s
	}
	s[pos{r.Partition, r.Offset}] = struct{}{}
	l.mu.Unlock()
}

// AddFault records a fault window.
func (l *Ledger) AddFault(f Fault) {
	l.mu.Lock()
	l.h.Faults = append(l.h.Faults, f)
	l.mu.Unlock()
}

// StartFault records that the fault name begins now on the given victim
// partitions and returns the function to call when it is healed.
func (l *Ledger) StartFault(name string, partitions ...int32) (healed func()) {
	start := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.AddFault(Fault{Name: name, Start: start, End: time.Now(), Partitions: partitions})
		})
	}
}

// setFinalEnds records that the final pass read every partition up to ends.
func (l *Ledger) setFinalEnds(ends map[int32]int64) {
	l.mu.Lock()
	l.h.FinalEnds = ends
	l.mu.Unlock()
}

// Acked is the number of acknowledgements so far.
func (l *Ledger) Acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.h.Acks)
}

// Unseen is the number of acknowledged records reader has not read (yet):
// a test waits for it to reach 0 to see a group catch up.
func (l *Ledger) Unseen(reader string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen[reader]
	n := 0
	for _, a := range l.h.Acks {
		if _, ok := s[pos{a.Partition, a.Offset}]; !ok {
			n++
		}
	}
	return n
}

// History returns a copy of what was recorded, taken now.
func (l *Ledger) History() History {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := History{
		Acks:     append([]Ack(nil), l.h.Acks...),
		Failures: append([]Failure(nil), l.h.Failures...),
		Reads:    append([]Read(nil), l.h.Reads...),
		Faults:   append([]Fault(nil), l.h.Faults...),
		Taken:    time.Now(),
	}
	if l.h.FinalEnds != nil {
		h.FinalEnds = make(map[int32]int64, len(l.h.FinalEnds))
		for p, e := range l.h.FinalEnds {
			h.FinalEnds[p] = e
		}
	}
	return h
}

// Check checks what was recorded so far.
func (l *Ledger) Check() Report { return Check(l.History()) }
