package txn

import (
	"slices"
	"strings"

	plog "github.com/zombi-dev/zombi/log"
)

// Info is a transactional id's view (DescribeTransactions,
// ListTransactions).
type Info struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	State           State
	TimeoutMs       int32
	StartMs         int64 // the ongoing transaction's start; -1 when none
	Partitions      []plog.TopicPartition
	Groups          []string
}

func (e *entry) info() Info {
	r := e.rec
	start := r.StartMs
	if r.State == Empty || r.State == CompleteCommit || r.State == CompleteAbort {
		start = -1
	}
	return Info{TransactionalID: e.id, ProducerID: r.ProducerID, ProducerEpoch: r.Epoch, State: r.State,
		TimeoutMs: r.TimeoutMs, StartMs: start, Partitions: slices.Clone(r.Partitions), Groups: slices.Clone(r.Groups)}
}

// Describe returns id's view; ok is false for an id never initialised.
func (c *Coordinator) Describe(id string) (Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.txns[id]
	if e == nil || e.rec.ProducerID < 0 {
		return Info{}, false
	}
	return e.info(), true
}

// StateCounts counts the initialised transactional ids by state (the
// zombi_transactions gauge), without List's copies and sort.
func (c *Coordinator) StateCounts() map[State]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[State]int{}
	for _, e := range c.txns {
		if e.rec.ProducerID >= 0 {
			out[e.rec.State]++
		}
	}
	return out
}

// List returns every initialised transactional id, sorted by id.
func (c *Coordinator) List() []Info {
	c.mu.Lock()
	out := make([]Info, 0, len(c.txns))
	for _, e := range c.txns {
		if e.rec.ProducerID >= 0 {
			out = append(out, e.info())
		}
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.TransactionalID, b.TransactionalID) })
	return out
}

// PendingOffset reports whether an ongoing transaction holds an offset of
// group for topic/part not yet committed (OffsetFetch's RequireStable
// answers UNSTABLE_OFFSET_COMMIT then).
func (c *Coordinator) PendingOffset(group, topic string, part int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending[offKey{group, topic, part}] > 0
}
