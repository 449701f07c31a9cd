package replica

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
)

type role int

const (
	roleNone role = iota
	roleLeader
	roleFollower
)

// partition is what this node knows and plays of one partition (Kafka's
// Partition).
type partition struct {
	topic   string
	part    int32
	topicID [16]byte

	// logMu orders the log changes of role moves (BecomeLeader), the
	// follower's truncations and its appends: a fetcher holds it while it
	// changes the log and checks, under it, that it still owns the
	// partition (p.fetch), so nothing from an old leader lands after a
	// role change.
	logMu sync.Mutex

	mu      sync.Mutex
	state   meta.PartitionState // the newest state seen (catalog or own ISR write)
	version int64               // its store version
	role    role                // the role played (set once the log is ready for it)
	epoch   int32               // the leader epoch of the role played
	leader  int32               // the leader followed (roleFollower)

	// Leader side.
	followers  map[int32]*follower // the other replicas, by node
	epochStart int64               // log end offset when this leader epoch began
	isrBusy    bool                // an ISR write is in flight
	pendingISR []int32             // ISR being added to, counted in the HWM meanwhile (Kafka's maximal ISR)

	// Follower side: the fetcher's entry, nil when not fetching.
	fetch *fetchState

	// Internal partitions (coordinators' records, view.go): the apply
	// loop while this node holds a replica, nil otherwise (p.mu).
	view *viewer
	// hookMu orders the coordinator hooks with the role changes: decide
	// holds it across a role change of an internal partition, the apply
	// loop while it loads. announced (hookMu) says onLoad ran for the
	// leadership loadedEpoch holds.
	hookMu      sync.Mutex
	announced   bool
	loadedEpoch atomic.Int32 // the leader epoch whose view is loaded, -1: none
	// leaderHWM is the high watermark the followed leader last sent (as
	// far as the local log goes), -1 until the first fetch of this role:
	// a follower's view stops there, not at the log's own watermark,
	// which a restart sets to the log end.
	leaderHWM atomic.Int64

	changed chan struct{} // closed and replaced on every role or ISR change
}

// follower is a remote replica as its leader sees it (Kafka's Replica
// state: LEO, lastCaughtUpTime, lastFetchLeaderLogEndOffset, lastFetchTime).
type follower struct {
	leo                int64 // -1 until its first fetch in this leader epoch
	lastCaughtUp       time.Time
	lastFetchLeaderLEO int64
	lastFetch          time.Time
}

func newPartition(topic string, part int32, id [16]byte) *partition {
	p := &partition{topic: topic, part: part, topicID: id, role: roleNone, leader: -1, changed: make(chan struct{})}
	p.loadedEpoch.Store(-1)
	p.leaderHWM.Store(-1)
	return p
}

// setState takes a newer state; false when version is not newer than the
// one held.
func (p *partition) setState(st meta.PartitionState, version int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if version <= p.version {
		return false
	}
	p.state, p.version = st, version
	return true
}

// notify wakes the waiters on the partition's state (AwaitReplicated).
func (p *partition) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// retire ends every role: the partition is gone.
func (p *partition) retire() {
	p.mu.Lock()
	p.role, p.followers, p.fetch = roleNone, nil, nil
	p.mu.Unlock()
	p.notify()
}

// maximalISR is the ISR the high watermark waits for: the state's, plus a
// replica being added (p.mu held).
func (p *partition) maximalISR() []int32 {
	if p.pendingISR != nil {
		return p.pendingISR
	}
	return p.state.ISR
}

// hwmCandidate is the smallest log end offset over the maximal ISR, the
// leader's being leo; -1 while a member's is unknown (p.mu held).
func (p *partition) hwmCandidate(self int32, leo int64) int64 {
	hwm := leo
	for _, r := range p.maximalISR() {
		if r == self {
			continue
		}
		f := p.followers[r]
		if f == nil || f.leo < 0 {
			return -1
		}
		hwm = min(hwm, f.leo)
	}
	return hwm
}

// inReplicaOrder returns the members of set in the order of replicas
// (the assignment's order, as Kafka lists ISRs), then any others.
func inReplicaOrder(replicas, set []int32) []int32 {
	out := make([]int32, 0, len(set))
	for _, r := range replicas {
		if slices.Contains(set, r) {
			out = append(out, r)
		}
	}
	for _, r := range set {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
