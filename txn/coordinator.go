// Package txn is Zombi's transaction coordinator (Kafka's transaction
// protocol v1: explicit AddPartitionsToTxn and AddOffsetsToTxn). It keeps
// one record per transactional id (producer id, epoch, timeout, state, the
// partitions and groups of the ongoing transaction, its pending offsets),
// makes every change durable in the log before the client hears of it, ends
// transactions with one atomic log write (markers, offsets and the new
// state), aborts those past their timeout, and after a restart aborts every
// transaction the log holds open that no ongoing transaction covers. It
// knows nothing of the wire protocol: the handlers in package kafka
// translate requests into calls here.
//
// In cluster mode (Config.Cluster) the state lives in __transaction_state
// instead, each id coordinated by the loaded leader of its partition, and
// EndTxn is Kafka's two phases (cluster.go).
//
// States (Kafka's names):
//
//	Empty ──AddPartitions/AddOffsets──► Ongoing ──EndTxn──► PrepareCommit/PrepareAbort ──log write──► CompleteCommit/CompleteAbort
//	                                      ▲                                                               │
//	                                      └──────────────────AddPartitions/AddOffsets─────────────────────┘
//
// Locks: each transactional id has an op mutex that serializes its changes
// and is held across the log write; Coordinator.mu guards the in-memory
// records and is never held while calling the store (the log calls Verify on
// its writer goroutine, which takes Coordinator.mu). Order: entry.op, then
// Coordinator.mu.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// Store is what the coordinator needs of the log (*log.Log implements it).
type Store interface {
	MetaList(prefix string) ([]plog.MetaKV, error)
	SetMeta(key string, v []byte) error
	// SetMetaLazy writes without waiting for an fsync of its own: durable
	// with the next synced write (AddPartitionsToTxn: see persistLazy).
	SetMetaLazy(key string, v []byte) error
	DeleteMeta(key string) error
	EndTxn(ctx context.Context, req plog.EndTxnRequest) error
	OpenTxns() ([]plog.OpenTxn, error)
}

// Config configures the coordinator. Zero values take the defaults.
type Config struct {
	// MaxTimeout bounds the transaction.timeout.ms a producer may ask for
	// (Kafka's transaction.max.timeout.ms; ZOMBI_TRANSACTION_MAX_TIMEOUT_MS).
	MaxTimeout time.Duration
	// NewProducerID hands out a producer id never used before (required).
	NewProducerID func() (int64, error)
	// CheckInterval is how often timed-out transactions are looked for
	// (default 1 s).
	CheckInterval time.Duration
	// IDExpiration forgets a transactional id without a transaction after
	// this long without a request (Kafka's transactional.id.expiration.ms,
	// default 7 days): its next InitProducerId gets a new producer id.
	IDExpiration time.Duration
	// Now is the clock (tests); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Cluster is cluster mode: state goes to __transaction_state and
	// markers to each partition's leader (two-phase EndTxn). Nil: one node,
	// unchanged.
	Cluster ClusterStore
}

// ClusterStore is what the coordinator needs in cluster mode.
type ClusterStore interface {
	// Append writes one batch to __transaction_state partition part as
	// its leader at epoch, acks=all, applied to the view when it returns.
	Append(ctx context.Context, part int32, epoch int32, raw []byte) error
	// SendMarkers writes the transaction's markers into every partition
	// (WriteTxnMarkers to each leader) and returns when all are
	// acknowledged, or the ctx ends, or the coordinator is fenced.
	SendMarkers(ctx context.Context, coordEpoch int32, pid int64, epoch int16, commit bool, parts []plog.TopicPartition) error
}

// Defaults (Kafka's transaction.max.timeout.ms and
// transactional.id.expiration.ms).
const (
	DefaultMaxTimeout   = 15 * time.Minute
	DefaultIDExpiration = 7 * 24 * time.Hour
)

// entry is one transactional id.
type entry struct {
	id string
	op sync.Mutex // serializes this id's changes; held across log writes
	// rec is guarded by Coordinator.mu; rec.ProducerID < 0 means the id was
	// never initialised (not stored).
	rec record
	// dead (guarded by Coordinator.mu) marks an entry expired or unloaded
	// and out of the map: whoever waited for its op mutex looks the id up
	// again.
	dead bool
	// part is the id's __transaction_state partition (cluster mode).
	part int32
}

// Coordinator is the transaction coordinator.
type Coordinator struct {
	store  Store
	cfg    Config
	logger *slog.Logger

	startMu sync.Mutex  // Start and Close
	started atomic.Bool // read on every request without startMu
	closed  bool        // for good: Start refuses
	stop    chan struct{}
	done    chan struct{}

	mu    sync.Mutex
	txns  map[string]*entry
	byPID map[int64]*entry // current producer id -> its transactional id
	// pending counts the ongoing transactions holding an offset of a group's
	// partition (OffsetFetch require_stable asks, per partition).
	pending map[offKey]int

	cl *clusterState // cluster mode (cluster.go); nil on one node
}

// New returns a coordinator over store; Start loads its state.
func New(store Store, cfg Config) *Coordinator {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Second
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = DefaultIDExpiration
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Coordinator{store: store, cfg: cfg, logger: cfg.Logger.With("component", "txn"),
		txns: map[string]*entry{}, byPID: map[int64]*entry{}, pending: map[offKey]int{}}
	if cfg.Cluster != nil {
		c.cl = newClusterState(cfg.Cluster)
	}
	return c
}

// ErrClosed is Start's error after Close.
var ErrClosed = errors.New("transaction coordinator closed")

// Start loads the stored transactions, aborts every transaction open in a
// partition that no ongoing transaction covers (a producer that crashed
// with the broker), and starts the timeout checker. Ongoing transactions
// keep their deadline. It is a no-op once it succeeded.
func (c *Coordinator) Start() error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.started.Load() {
		return nil
	}
	if c.closed {
		return ErrClosed
	}
	if c.cl != nil {
		// Cluster mode: the ids come with their partitions (Load), and a
		// transaction left open is aborted by its coordinator's timeout.
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.expireLoop(c.stop, c.done)
		c.started.Store(true)
		c.logger.Info("transaction coordinator started (cluster mode)")
		return nil
	}
	kvs, err := c.store.MetaList(metaPrefix)
	if err != nil {
		return fmt.Errorf("load transactions: %w", err)
	}
	txns := map[string]*entry{}
	byPID := map[int64]*entry{}
	for _, kv := range kvs {
		r, err := decodeRecord(kv.Value)
		if err != nil {
			return fmt.Errorf("load transaction %q: %w", kv.Key[len(metaPrefix):], err)
		}
		e := &entry{id: kv.Key[len(metaPrefix):], rec: r}
		txns[e.id] = e
		byPID[r.ProducerID] = e
	}
	open, err := c.store.OpenTxns()
	if err != nil {
		return fmt.Errorf("load open transactions: %w", err)
	}
	type orphan struct {
		epoch int16
		parts []plog.TopicPartition
	}
	orphans := map[int64]*orphan{}
	for _, o := range open {
		tp := plog.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if e := byPID[o.ProducerID]; e != nil && e.rec.State == Ongoing && e.rec.hasPartition(tp) {
			continue
		}
		or := orphans[o.ProducerID]
		if or == nil {
			or = &orphan{epoch: o.ProducerEpoch}
			orphans[o.ProducerID] = or
		}
		or.epoch = max(or.epoch, o.ProducerEpoch)
		if e := byPID[o.ProducerID]; e != nil {
			or.epoch = max(or.epoch, e.rec.Epoch)
		}
		or.parts = append(or.parts, tp)
	}
	for pid, or := range orphans {
		c.logger.Info("aborting a transaction left open", "producer_id", pid, "partitions", len(or.parts))
		if err := c.store.EndTxn(context.Background(), plog.EndTxnRequest{ProducerID: pid, ProducerEpoch: or.epoch, Partitions: or.parts}); err != nil {
			return fmt.Errorf("abort transaction of producer %d left open: %w", pid, err)
		}
		endedRecovered.Inc()
	}
	c.mu.Lock()
	c.txns, c.byPID = txns, byPID
	for _, e := range txns {
		c.countPending(e.rec, 1)
	}
	c.mu.Unlock()
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.expireLoop(c.stop, c.done)
	c.started.Store(true)
	c.logger.Info("transaction coordinator started", "transactional_ids", len(txns), "aborted_on_recovery", len(orphans))
	return nil
}

// Started reports whether Start succeeded and Close has not been called.
func (c *Coordinator) Started() bool { return c.started.Load() }

// Close stops the timeout checker and waits for it; ongoing transactions
// stay as stored. The coordinator cannot be started again.
func (c *Coordinator) Close() {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	c.closed = true
	if !c.started.Load() {
		c.closeCluster()
		return
	}
	close(c.stop)
	<-c.done
	c.started.Store(false)
	c.closeCluster()
}

// Verify is the log's transaction verifier (log.SetTxnVerifier): a
// transactional batch may open a transaction in a partition only when its
// producer id and epoch have an ongoing transaction holding the partition.
// It takes only Coordinator.mu and never calls the store.
func (c *Coordinator) Verify(pid int64, epoch int16, topic string, part int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byPID[pid]
	if e == nil {
		return fmt.Errorf("%w: producer %d has no transaction", plog.ErrInvalidTxnState, pid)
	}
	r := &e.rec
	switch {
	case epoch < r.Epoch:
		return fmt.Errorf("%w: producer %d epoch %d, current %d", plog.ErrProducerFenced, pid, epoch, r.Epoch)
	case epoch != r.Epoch || r.State != Ongoing:
		return fmt.Errorf("%w: producer %d epoch %d has no ongoing transaction", plog.ErrInvalidTxnState, pid, epoch)
	case !r.hasPartition(plog.TopicPartition{Topic: topic, Partition: part}):
		return fmt.Errorf("%w: %s/%d was not added to the transaction", plog.ErrInvalidTxnState, topic, part)
	}
	return nil
}

// errUnavailable is the retriable answer to a failed log write.
var errUnavailable = kerr.CoordinatorNotAvailable

// entryFor returns id's entry, creating an uninitialised one when create
// (in cluster mode only while id's partition is loaded: nil otherwise).
func (c *Coordinator) entryFor(id string, create bool) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.txns[id]
	if e == nil && create {
		e = &entry{id: id, rec: record{ProducerID: -1, Epoch: -1, LastProducerID: -1, LastEpoch: -1}}
		if c.cl != nil {
			if c.partOfLocked(id) == nil {
				return nil
			}
			e.part = coordlog.Partition(id)
		}
		c.txns[id] = e
	}
	return e
}

// acquire returns id's live entry with its op mutex held (nil when there is
// none and not create).
func (c *Coordinator) acquire(id string, create bool) *entry {
	for {
		e := c.entryFor(id, create)
		if e == nil {
			return nil
		}
		e.op.Lock()
		c.mu.Lock()
		dead := e.dead
		c.mu.Unlock()
		if !dead {
			return e
		}
		e.op.Unlock()
	}
}

// snapshot returns a copy of e's record.
func (c *Coordinator) snapshot(e *entry) record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.rec.clone()
}

// install makes r e's record (after it is durable).
func (c *Coordinator) install(e *entry, r record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := e.rec.ProducerID; old != r.ProducerID && c.byPID[old] == e {
		delete(c.byPID, old)
	}
	c.countPending(e.rec, -1)
	c.countPending(r, 1)
	e.rec = r
	if r.ProducerID >= 0 {
		c.byPID[r.ProducerID] = e
	}
}

// offKey names a group's partition.
type offKey struct {
	group, topic string
	part         int32
}

// countPending adds d to the pending count of each of r's offsets (c.mu
// held).
func (c *Coordinator) countPending(r record, d int) {
	for _, o := range r.Offsets {
		k := offKey{o.Group, o.Topic, o.Partition}
		if c.pending[k] += d; c.pending[k] <= 0 {
			delete(c.pending, k)
		}
	}
}

// persist writes r as id's record, durably, and installs it.
func (c *Coordinator) persist(e *entry, r record) *kerr.Error {
	return c.persistWith(c.store.SetMeta, e, r)
}

// persistLazy writes r without waiting for its fsync: for a record that
// only adds partitions. A producer writes to a partition only after it was
// added, and its append is acknowledged once synced, which syncs this
// record too (RocksDB's log is written in order). So a crash that loses
// the record loses no data of the transaction in those partitions: after
// the restart the coordinator does not know them and there is nothing in
// them to mark, and a produce to them is refused (INVALID_TXN_STATE) until
// they are added again. It saves one fsync wait per transaction.
func (c *Coordinator) persistLazy(e *entry, r record) *kerr.Error {
	return c.persistWith(c.store.SetMetaLazy, e, r)
}

func (c *Coordinator) persistWith(set func(string, []byte) error, e *entry, r record) *kerr.Error {
	if c.cl != nil {
		return c.persistCluster(e, r)
	}
	if err := set(metaKey(e.id), r.encode()); err != nil {
		c.logger.Warn("store transaction state", "transactional_id", e.id, "err", err)
		return errUnavailable
	}
	c.install(e, r)
	return nil
}

// end ends r's transaction (in Prepare* in memory, e.op held): markers in
// every partition at markerEpoch, the pending offsets on commit, and the
// completed record, all in one log write. next is the record to install on
// success; on failure the ongoing record comes back.
func (c *Coordinator) end(e *entry, r record, commit bool, markerEpoch int16, next record) *kerr.Error {
	req := plog.EndTxnRequest{
		ProducerID: r.ProducerID, ProducerEpoch: markerEpoch, Commit: commit,
		Partitions: r.Partitions,
		Meta:       []plog.MetaKV{{Key: metaKey(e.id), Value: next.encode()}},
	}
	if commit {
		req.Offsets = r.committedOffsets()
	}
	// Not cancelled with the request: once submitted, the outcome must be
	// known before the memory state follows it.
	if err := c.store.EndTxn(context.Background(), req); err != nil {
		c.logger.Warn("end transaction", "transactional_id", e.id, "commit", commit, "err", err)
		c.install(e, r)
		return errUnavailable
	}
	c.install(e, next)
	return nil
}

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }
