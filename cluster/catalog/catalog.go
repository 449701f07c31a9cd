// Package catalog makes etcd the topic catalog of a cluster: every node
// watches topics/ and partitions/ in the metadata store and makes its local
// log match (same topics, same ids, same partition counts and configs), and
// the cluster-wide topic changes of the Kafka door (kafka.Cluster's
// CreateTopic, DeleteTopic, AddPartitions, SetTopicConfigs) are
// compare-and-swap writes to the store that return once this node's log
// has them. As in Kafka's ZooKeeper era, the store decides and brokers
// follow what they watch; partition states (leader, ISR, epochs) are kept
// in memory for cheap lookups and handed to a subscriber.
package catalog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// AssignFunc places replicas: rf distinct live nodes for each of
// partitions partitions, the first of each the preferred leader; start
// picks where the rotation begins (cluster.Assign).
type AssignFunc func(nodes []meta.NodeRecord, partitions int32, rf int16, start int) ([][]int32, error)

// Config is what a Catalog needs.
type Config struct {
	Store  meta.Store
	Log    *plog.Log
	NodeID int32
	// LiveNodes are the nodes registered now (the membership's view).
	LiveNodes func() []meta.NodeRecord
	Assign    AssignFunc
	// DefaultRF is the replication factor of a topic created without one
	// (ZOMBI_DEFAULT_REPLICATION_FACTOR); 0: min(3, live nodes).
	DefaultRF int16
	// OnChange, if set, is called from Run with the partition states that
	// changed, in store order, once the local log has their topics and
	// before Partition shows them (the replica manager follows leaders and
	// ISRs with it, and has taken a leadership before the door announces
	// it). It must not block for long nor call the topic changes: Run
	// waits for it.
	OnChange func([]Change)
	Logger   *slog.Logger
}

// Change is a partition's new state.
type Change struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
	State     meta.PartitionState
	Version   int64
	// Deleted: the partition is gone (its topic was deleted, or deleted and
	// created again: the new topic's partitions follow as their own
	// Changes, with the new TopicID).
	Deleted bool
}

// Catalog follows the store's topics into the local log.
type Catalog struct {
	cfg    Config
	logger *slog.Logger

	view      atomic.Pointer[topics]
	clusterID atomic.Pointer[string]

	// want is the store's state as last read, owned by Run.
	want meta.Topics
	// failing is the last error of each topic the local log failed to
	// take (logged once), owned by Run.
	failing map[string]string

	mu      sync.Mutex
	changed chan struct{} // closed after each applied round (waiters)
	applied applied

	ready     chan struct{}
	readyOnce sync.Once
}

// New returns a Catalog; Run makes it follow the store.
func New(cfg Config) *Catalog {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Catalog{
		cfg:     cfg,
		logger:  cfg.Logger.With("component", "catalog"),
		want:    meta.Topics{},
		failing: map[string]string{},
		changed: make(chan struct{}),
		ready:   make(chan struct{}),
	}
	empty := topics{}
	c.view.Store(&empty)
	return c
}

// Ready is closed once the local log matched the store for the first time.
func (c *Catalog) Ready() <-chan struct{} { return c.ready }

// IsReady says whether Ready is closed (for /health/ready).
func (c *Catalog) IsReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// applied is what the local log holds after a round, as one snapshot: the
// waiters judge a change by it, never by a view published ahead of the
// round's failures.
type applied struct {
	rev    int64           // every change up to it is in the local log...
	dirty  map[string]bool // ...but these topics, which the log failed to take
	topics topics          // the view of that round
}

// roundDone records the round (rev 0: no new revision) and wakes the
// waiters.
func (c *Catalog) roundDone(rev int64, dirty map[string]bool) {
	c.mu.Lock()
	c.applied = applied{rev: max(rev, c.applied.rev), dirty: dirty, topics: *c.view.Load()}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// waitFor returns once cond holds, checked after every applied round, or
// ctx's error.
func (c *Catalog) waitFor(ctx context.Context, cond func(applied) bool) error {
	for {
		c.mu.Lock()
		ok := cond(c.applied)
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
