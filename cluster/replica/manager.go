// Package replica is Kafka's ReplicaManager for Zombi's cluster mode: for
// each partition this node holds it plays the role the partition state
// (from the catalog) gives it. A leader takes writes, tracks its
// followers' log end offsets from their fetches, moves the high watermark
// to the smallest log end offset of the in-sync replicas and grows or
// shrinks the ISR (a CAS on the partition's key); a follower truncates
// what the leader does not have (KIP-279, OffsetForLeaderEpoch) and then
// fetches from it with the Kafka protocol, as Kafka's ReplicaFetcherThread.
// The Kafka door asks it whether a write or a read may be served here
// (the replication half of kafka.Cluster). README.md has the rules.
package replica

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// Config is what a Manager needs.
type Config struct {
	Log    *plog.Log
	Store  meta.Store
	NodeID int32
	// Addr is a live node's inter-broker Kafka address (host:port).
	Addr func(node int32) (hostport string, ok bool)
	// LagTimeMax is Kafka's replica.lag.time.max.ms (default 30 s): a
	// follower not caught up for this long leaves the ISR.
	LagTimeMax time.Duration
	// MinInsync is the topic's min.insync.replicas (nil: 1).
	MinInsync func(topic string) int
	// Live says whether a node is registered now (nil: every node is).
	Live func(node int32) bool
	// Rack is a node's rack, "" when it has none (KIP-392; nil: no racks).
	Rack func(node int32) string
	// KgoOpts are added to the fetchers' clients (TLS, SASL).
	KgoOpts []kgo.Opt
	Logger  *slog.Logger

	// The coordinators' internal partitions (view.go). Internal says
	// whether a topic holds a coordinator's records (nil: the internal
	// topics by name); View keeps the view (nil: Log); Decode turns
	// batches into view changes (nil: coordlog.Decode).
	Internal func(topic string) (coordlog.Kind, bool)
	View     ViewStore
	Decode   DecodeFunc
	// The internal partitions' cleaner (cleaner.go): checked every
	// CleanerInterval (0: 5 minutes; negative: never), each partition at
	// most once per CleanerMinInterval (0: a minute).
	CleanerInterval    time.Duration
	CleanerMinInterval time.Duration
}

// DefaultLagTimeMax is Kafka's replica.lag.time.max.ms default.
const DefaultLagTimeMax = 30 * time.Second

type tp struct {
	topic string
	part  int32
}

// Manager plays this node's replica roles.
type Manager struct {
	cfg    Config
	logger *slog.Logger

	mu       sync.Mutex
	parts    map[tp]*partition
	fetchers map[int32]*fetcher // by leader node
	pending  []catalog.Change   // handed over by Apply, taken by Run
	kick     chan struct{}
	closed   bool

	// ISR changes this node wrote as a leader (metrics: Kafka's
	// IsrShrinksPerSec, IsrExpandsPerSec).
	isrShrinks, isrExpands atomic.Int64

	hooks   atomic.Pointer[coordHooks] // SetCoordinatorHooks
	closing atomic.Bool                // Close began: no coordinator loads any more

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetchers and ISR writes
}

// New returns a Manager; Run makes it act on the changes Apply hands it.
// It fences the log's local writes (SetClusterMode): a partition takes
// them only once this Manager made this node its leader (BecomeLeader),
// and again refuses them when it follows or plays no role.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LagTimeMax <= 0 {
		cfg.LagTimeMax = DefaultLagTimeMax
	}
	cfg.Log.SetClusterMode()
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg:      cfg,
		logger:   cfg.Logger.With("component", "replica", "node", cfg.NodeID),
		parts:    map[tp]*partition{},
		fetchers: map[int32]*fetcher{},
		kick:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// Apply hands partition changes over (catalog.Config.OnChange). It does
// not block: Run acts on them, in order.
func (m *Manager) Apply(cs []catalog.Change) {
	if len(cs) == 0 {
		return
	}
	m.mu.Lock()
	m.pending = append(m.pending, cs...)
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run acts on the changes handed to Apply and expires lagging followers
// from the ISRs this node leads, until ctx ends or Close.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	m.mu.Lock()
	if m.cfg.CleanerInterval >= 0 && !m.closed { // Close waits for it: before the log closes
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.runCleaner(ctx)
		}()
	}
	m.mu.Unlock()
	// Kafka's isr-expiration task runs every replica.lag.time.max.ms / 2.
	tick := time.NewTicker(max(m.cfg.LagTimeMax/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		m.mu.Lock()
		cs := m.pending
		m.pending = nil
		m.mu.Unlock()
		for _, c := range cs {
			m.applyChange(c)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-tick.C:
			m.shrinkISRs()
		}
	}
}

// Close stops the fetchers and the ISR writes in flight and waits for
// them. The log is left as it is (the caller closes it after).
func (m *Manager) Close() {
	m.closing.Store(true)
	m.unloadAll() // closing: the coordinators resign before anything stops
	m.mu.Lock()
	m.closed = true
	fs := m.fetchers
	m.fetchers = map[int32]*fetcher{}
	m.mu.Unlock()
	m.cancel()
	for _, f := range fs {
		f.stop()
	}
	m.wg.Wait()
}

// part returns the partition's state, nil when this node knows nothing of it.
func (m *Manager) part(topic string, p int32) *partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts[tp{topic, p}]
}

func (m *Manager) live(node int32) bool {
	return m.cfg.Live == nil || m.cfg.Live(node)
}

func (m *Manager) minInsync(topic string) int {
	if m.cfg.MinInsync == nil {
		return 1
	}
	return max(1, m.cfg.MinInsync(topic))
}

// minInsyncOf is min.insync.replicas for a partition of replicas
// replicas (its origin ones, during a reassignment): an internal topic's
// is clamped to its replica count, so one at RF 1 (just after an upgrade,
// or created while one node was up) takes writes until it is grown.
func (m *Manager) minInsyncOf(topic string, replicas int) int {
	n := m.minInsync(topic)
	if _, ok := m.internalKind(topic); ok {
		n = min(n, max(1, replicas))
	}
	return n
}

// applyChange makes this node's role in one partition what the new state
// says (Kafka's becomeLeaderOrFollower for one partition).
func (m *Manager) applyChange(c catalog.Change) {
	key := tp{c.Topic, c.Partition}
	m.mu.Lock()
	p := m.parts[key]
	if c.Deleted {
		if p != nil && (p.topicID == c.TopicID || c.TopicID == [16]byte{}) {
			delete(m.parts, key)
		}
		m.mu.Unlock()
		if p != nil {
			m.stopFetching(p)
			m.retire(p)
		}
		return
	}
	if p != nil && p.topicID != c.TopicID {
		// Deleted and created again: a new partition.
		delete(m.parts, key)
		m.mu.Unlock()
		m.stopFetching(p)
		m.retire(p)
		m.mu.Lock()
		p = nil
	}
	if p == nil {
		p = newPartition(c.Topic, c.Partition, c.TopicID)
		m.parts[key] = p
	}
	m.mu.Unlock()
	if !p.setState(c.State, c.Version) {
		return // an older state than the one held (our own ISR write, seen again)
	}
	m.decide(p)
}

// retire ends every role of a partition that is gone, a coordinator's
// leadership first.
func (m *Manager) retire(p *partition) {
	if _, ok := m.internalKind(p.topic); ok {
		p.hookMu.Lock()
		m.unloadLocked(p)
		v := p.detachViewer()
		p.hookMu.Unlock()
		v.stop() // not under hookMu: the loop may be waiting for it
	}
	p.retire()
}

// decide plays the role the partition's state gives this node. The
// coordinators' partitions change role under hookMu, unloaded first
// (view.go).
func (m *Manager) decide(p *partition) {
	p.mu.Lock()
	st, version := p.state, p.version
	p.mu.Unlock()
	if _, ok := m.internalKind(p.topic); ok {
		p.hookMu.Lock()
		m.roleChanging(p, st.Leader, st.LeaderEpoch)
		defer func() {
			stopped := m.roleChanged(p, st.Replicas)
			p.hookMu.Unlock()
			m.dropView(p, stopped) // not under hookMu: the loop may be waiting for it
		}()
	}
	switch {
	case st.Leader == m.cfg.NodeID:
		m.stopFetching(p)
		m.makeLeader(p, st, version)
	case contains(st.Replicas, m.cfg.NodeID) && st.Leader >= 0:
		m.makeFollower(p, st)
	default:
		// Not a replica (or no leader): stop following, take no write;
		// the data stays (removing it is the reassignment's job).
		m.stopFetching(p)
		p.logMu.Lock()
		if err := m.cfg.Log.BecomeFollower(p.topic, p.part); err != nil {
			m.logger.Warn("fence partition", "topic", p.topic, "partition", p.part, "err", err)
		}
		p.logMu.Unlock()
		p.mu.Lock()
		p.role, p.epoch = roleNone, st.LeaderEpoch
		p.mu.Unlock()
		p.notify()
	}
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
