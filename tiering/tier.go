// Package tiering is Zombi's cold tier: a background flusher moves closed
// ranges of every partition from the RocksDB log to S3 as segment objects,
// records them in per-partition manifests, and serves reads below the hot
// log start from them (log.ColdTier). See README.md and
// docs/SEGMENT_FORMAT.md.
package tiering

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// Config configures the cold tier (cmd/zombi fills it from ZOMBI_* settings).
type Config struct {
	Bucket, Endpoint, Region string        // ZOMBI_S3_BUCKET, ZOMBI_S3_ENDPOINT (path-style when set), ZOMBI_S3_REGION
	FlushInterval            time.Duration // ZOMBI_FLUSH_INTERVAL_SECS (5 s)
	FlushBatchSize           int           // ZOMBI_FLUSH_BATCH_SIZE (1000): unflushed records in a partition that trigger an early flush
	FlushMaxSegment          int           // ZOMBI_FLUSH_MAX_SEGMENT (10000): most records per segment
	FlushMaxBytes            int64         // ZOMBI_FLUSH_MAX_SEGMENT_BYTES (64 MiB): byte bound per segment
	HotRetention             time.Duration // ZOMBI_HOT_RETENTION_SECS (0): flushed hot data dropped after this
	HotMaxBytes              int64         // ZOMBI_HOT_MAX_BYTES (0 = no limit): refuse writes past this much unflushed data
	Retention                time.Duration // ZOMBI_RETENTION_SECS (0 = forever): cold segments deleted after this

	// Leadership makes the tier a cluster's shared cold tier (cluster.go):
	// only leaders flush, manifest commits are fenced, followers follow.
	// Nil: one node.
	Leadership Leadership

	// Tuning, zero for defaults.
	Uploaders      int   // partitions flushed concurrently (4)
	ReadAheadBytes int64 // size of one cold read-ahead chunk (4 MiB)
	CacheBytes     int64 // bound on cached cold chunks (64 MiB)
	IndexCacheSize int64 // bound on cached segment indexes (16 MiB)
}

func (c *Config) defaults() {
	if c.FlushInterval <= 0 {
		c.FlushInterval = 5 * time.Second
	}
	if c.FlushBatchSize <= 0 {
		c.FlushBatchSize = 1000
	}
	if c.FlushMaxSegment <= 0 {
		c.FlushMaxSegment = 10000
	}
	if c.FlushMaxBytes <= 0 {
		c.FlushMaxBytes = 64 << 20
	}
	if c.Uploaders <= 0 {
		c.Uploaders = 4
	}
	if c.ReadAheadBytes <= 0 {
		c.ReadAheadBytes = 4 << 20
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 64 << 20
	}
	if c.IndexCacheSize <= 0 {
		c.IndexCacheSize = 16 << 20
	}
}

// Tier is a running cold tier.
type Tier struct {
	l      *plog.Log
	cfg    Config
	st     ObjectStore
	logger *slog.Logger

	ctx    context.Context // cancelled by Close after the grace period
	cancel context.CancelFunc
	stop   chan struct{} // closed by Close: no new jobs
	jobs   chan *partState
	wg     sync.WaitGroup // workers and the scheduler
	bg     sync.WaitGroup // read-ahead and topic deletions
	closed sync.Once

	mu       sync.RWMutex // guards parts, uuids, deleting
	parts    map[tpKey]*partState
	uuids    map[string]string // tracked topic -> UUID (hex)
	deleting map[string]bool   // topics whose cold data is being deleted

	pending atomic.Int64 // unflushed hot bytes measured (HotMaxBytes)
	out     outage

	chunks  *lru
	indexes *lru
	warned  sync.Map // segment key -> struct{}: corruption already logged
	ahead   chan struct{}
	swept   chan struct{} // closed when the start-up sweep of abandoned uploads is over
}

type tpKey struct {
	topic string
	part  int32
}

// rebuiltMarker (with the endpoint and bucket) is the log metadata key set
// once that cold tier's topics are known to this data directory.
const rebuiltMarker = "tiering.rebuilt"

func markerKey(cfg Config) string { return rebuiltMarker + "/" + cfg.Endpoint + "/" + cfg.Bucket }

// partState is the tier's state of one partition.
type partState struct {
	topic string
	part  int32
	uuid  [16]byte                 // the topic incarnation this state belongs to
	man   atomic.Pointer[Manifest] // nil until the first flush
	// aborted indexes the aborted transactions of a recent manifest (built
	// by the first read_committed cold read after it changes).
	aborted atomic.Pointer[abortedIndex]

	queued  atomic.Bool
	dead    atomic.Bool // topic deleted: jobs skip it
	flushMu sync.Mutex  // held by the one job working on the partition
	// under flushMu:
	cleaned   bool
	lastFlush time.Time
	nextRet   time.Time
	claimed   int32  // cluster: the leader epoch this node wrote the head at (-1: none)
	headTag   string // cluster: the ETag of the head ps.man was read or written as

	trimmedTo atomic.Int64 // hot retention: trimmed up to here
	// eff is the topic's effective configs (retention.ms, retention.bytes,
	// local.retention.ms), refreshed with the topics every second.
	eff atomic.Pointer[topicconfig.Effective]

	acct      sync.Mutex // guards the fields below
	scanned   int64      // hot bytes measured up to this offset (before counting starts)
	pendB     int64      // unflushed bytes measured
	counting  bool       // pendB follows the log's appended-bytes count
	lastCount int64      // that count at the last measurement

	flushedB atomic.Int64 // segment bytes flushed since start (zombi_tier_pending_bytes)
}

// Start loads the manifests (rebuilding topics and partitions a node with an
// empty disk does not know, and moving empty partitions to continue after
// the cold end), installs the cold tier and the append gate on l, and starts
// the flusher.
func Start(ctx context.Context, l *plog.Log, cfg Config, logger *slog.Logger) (*Tier, error) {
	st, err := OpenS3(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return start(ctx, l, cfg, st, logger)
}

func start(ctx context.Context, l *plog.Log, cfg Config, st ObjectStore, logger *slog.Logger) (*Tier, error) {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Leadership != nil && !conditional(st) {
		return nil, errNoConditional
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &Tier{
		l: l, cfg: cfg, st: counted(st), logger: logger.With("component", "tiering"),
		ctx: tctx, cancel: cancel, stop: make(chan struct{}),
		jobs:  make(chan *partState, 4096),
		parts: map[tpKey]*partState{}, uuids: map[string]string{}, deleting: map[string]bool{},
		chunks: newLRU(cfg.CacheBytes), indexes: newLRU(cfg.IndexCacheSize),
		ahead: make(chan struct{}, 2), swept: make(chan struct{}),
	}
	if err := t.load(ctx); err != nil {
		cancel()
		return nil, err
	}
	l.SetColdTier(t)
	l.SetAppendGate(t.gate)
	activeTier.Store(t)
	t.refreshTopics()
	for i := 0; i < cfg.Uploaders; i++ {
		t.wg.Add(1)
		go t.worker()
	}
	t.wg.Add(1)
	go t.schedule()
	t.bg.Add(1)
	go t.sweepUploads(abandonedUploadAge)
	return t, nil
}

// closeGrace is how long Close lets in-flight uploads finish before
// abandoning them (an abandoned upload is an orphan: never read, cleaned up).
const closeGrace = 10 * time.Second

// Close stops the flusher: no new uploads start; those in flight get
// closeGrace to finish, then are cancelled.
func (t *Tier) Close() error {
	t.closed.Do(func() {
		close(t.stop)
		done := make(chan struct{})
		go func() { t.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(closeGrace):
			t.logger.Warn("abandoning in-flight uploads at shutdown")
		}
		t.cancel()
		<-done
		t.bg.Wait()
		activeTier.CompareAndSwap(t, nil)
	})
	return nil
}

// load reads every manifest and makes the log agree with it.
func (t *Tier) load(ctx context.Context) error {
	ms, err := loadManifests(ctx, t.st)
	if err != nil {
		return fmt.Errorf("load cold-tier manifests: %w", err)
	}
	if t.clustered() {
		t.loadShared(ms)
		return nil
	}
	byTopic := map[string][]*Manifest{}
	for _, m := range ms {
		byTopic[m.Topic] = append(byTopic[m.Topic], m)
	}
	// The marker says this data directory has been rebuilt from (or kept in
	// step with) the cold tier before: from then on a topic missing here
	// was deleted, not lost with the disk.
	marker := markerKey(t.cfg)
	rebuilt, err := t.l.Meta(marker)
	if err != nil {
		return err
	}
	for name, tms := range byTopic {
		if err := t.loadTopic(ctx, name, tms, rebuilt != nil); err != nil {
			return err
		}
	}
	if rebuilt == nil {
		if err := t.l.SetMeta(marker, []byte("1")); err != nil {
			return err
		}
	}
	if len(ms) > 0 {
		t.logger.Info("cold tier loaded", "topics", len(byTopic), "partitions", len(ms))
	}
	return nil
}

func (t *Tier) loadTopic(ctx context.Context, name string, ms []*Manifest, rebuilt bool) error {
	parts := int32(0)
	for _, m := range ms {
		parts = max(parts, m.Partitions, m.Partition+1)
	}
	info, existed := t.l.Topic(name)
	if !existed && rebuilt {
		// This node rebuilt from the cold tier before and has no such topic
		// now: it was deleted here and the cold data is what is left of it.
		t.logger.Warn("cold data of a deleted topic; deleting it", "topic", name)
		t.mu.Lock()
		t.startDeleteLocked(name)
		t.mu.Unlock()
		return nil
	}
	if !existed {
		// Rebuilt with the manifests' topic id, so that a rebuild cut short
		// by a crash is recognised as the same topic at the next start.
		var id [16]byte
		for _, m := range ms {
			if b, err := hex.DecodeString(m.TopicUUID); err == nil && len(b) == 16 {
				copy(id[:], b)
				break
			}
		}
		var err error
		if info, _, err = t.l.EnsureTopicWithID(name, parts, id); err != nil {
			return fmt.Errorf("rebuild topic %s from the cold tier: %w", name, err)
		}
		t.logger.Info("topic rebuilt from the cold tier", "topic", name, "partitions", parts)
	} else if info.Partitions < parts {
		var err error
		if info, err = t.l.AddPartitions(name, parts); err != nil {
			return fmt.Errorf("rebuild partitions of %s from the cold tier: %w", name, err)
		}
	}
	uuid := hex.EncodeToString(info.UUID[:])
	if existed {
		// A topic with another UUID is a new incarnation: it keeps the cold
		// data only if it continues after it (an empty-disk rebuild whose
		// manifests were not rewritten yet); otherwise the cold data belongs
		// to a deleted topic.
		for _, m := range ms {
			if m.TopicUUID == uuid {
				continue
			}
			ls, _, err := t.l.Offsets(name, m.Partition)
			if err != nil {
				return err
			}
			if ls < m.End {
				t.logger.Warn("cold data belongs to an earlier topic of the same name; deleting it", "topic", name, "cold_uuid", m.TopicUUID, "uuid", uuid)
				t.mu.Lock()
				t.startDeleteLocked(name)
				t.mu.Unlock()
				return nil
			}
		}
	}
	for _, m := range ms {
		ls, hwm, err := t.l.Offsets(name, m.Partition)
		if err != nil {
			return err
		}
		if hwm < m.End {
			if hwm > ls {
				t.logger.Warn("hot log ends before the cold tier; continuing after the cold end", "topic", name, "partition", m.Partition, "hot_end", hwm, "cold_end", m.End)
			}
			if err := t.l.ResetEmpty(name, m.Partition, m.End); err != nil {
				return fmt.Errorf("continue %s/%d after the cold end %d: %w", name, m.Partition, m.End, err)
			}
		}
		if m.TopicUUID != uuid || m.Partitions != info.Partitions {
			m = m.clone()
			m.TopicUUID, m.Partitions = uuid, info.Partitions
			m.Generation++
			m.UpdatedMs = time.Now().UnixMilli()
			dropped, err := saveManifest(ctx, t.st, m)
			if err != nil {
				return fmt.Errorf("update manifest of %s/%d: %w", name, m.Partition, err)
			}
			t.deleteChunks(dropped)
		}
		ps := t.newPart(name, m.Partition, info.UUID)
		ps.man.Store(m)
		ps.scanned = m.End
		t.mu.Lock()
		t.parts[tpKey{name, m.Partition}] = ps
		t.mu.Unlock()
	}
	t.mu.Lock()
	t.uuids[name] = uuid
	t.mu.Unlock()
	return nil
}

func (t *Tier) newPart(topic string, part int32, uuid [16]byte) *partState {
	return &partState{topic: topic, part: part, uuid: uuid, lastFlush: time.Now(), nextRet: time.Now(), claimed: -1}
}

// current reports whether the log's topic of that name is still the
// incarnation ps belongs to: a topic deleted and recreated under the same
// name must not get the old one's manifest, nor lose hot data to its trims.
func (t *Tier) current(ps *partState) bool {
	info, ok := t.l.Topic(ps.topic)
	return ok && info.UUID == ps.uuid
}

func (t *Tier) lookup(topic string, part int32) *partState {
	t.mu.RLock()
	ps := t.parts[tpKey{topic, part}]
	t.mu.RUnlock()
	return ps
}

// gate refuses appends while too much data waits for the cold tier.
func (t *Tier) gate(string, int32) error {
	if t.cfg.HotMaxBytes > 0 {
		if p := t.pending.Load(); p > t.cfg.HotMaxBytes {
			return fmt.Errorf("%w: %d bytes wait for S3, limit ZOMBI_HOT_MAX_BYTES=%d", plog.ErrHotTierFull, p, t.cfg.HotMaxBytes)
		}
	}
	return nil
}

// PendingBytes is the unflushed hot data measured for the append gate
// (maintained only when HotMaxBytes is set).
func (t *Tier) PendingBytes() int64 { return t.pending.Load() }

// refreshTopics tracks new topics and partitions and notices deleted or
// recreated topics, whose cold data is then deleted.
func (t *Tier) refreshTopics() {
	if t.clustered() {
		t.refreshShared()
		return
	}
	infos := t.l.Topics()
	live := make(map[string]string, len(infos))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, info := range infos {
		if plog.IsInternalTopic(info.Name) {
			// Never tiered (cluster mode: the coordinators' partitions
			// are replayed whole from the local log by every replica).
			continue
		}
		uuid := hex.EncodeToString(info.UUID[:])
		live[info.Name] = uuid
		if t.deleting[info.Name] {
			continue
		}
		if old, ok := t.uuids[info.Name]; ok && old != uuid {
			t.logger.Info("topic recreated; deleting the earlier topic's cold data", "topic", info.Name)
			t.startDeleteLocked(info.Name)
			continue
		}
		t.uuids[info.Name] = uuid
		eff := info.Effective()
		for p := int32(0); p < info.Partitions; p++ {
			k := tpKey{info.Name, p}
			if t.parts[k] == nil {
				t.parts[k] = t.newPart(info.Name, p, info.UUID)
			}
			t.parts[k].eff.Store(eff)
		}
	}
	for name := range t.uuids {
		if _, ok := live[name]; !ok && !t.deleting[name] {
			t.logger.Info("topic deleted; deleting its cold data", "topic", name)
			t.startDeleteLocked(name)
		}
	}
}

// startDeleteLocked forgets a deleted (or replaced) topic and deletes its
// cold data in the background; the name is tracked again once that is done.
// Callers log why. Holds t.mu.
func (t *Tier) startDeleteLocked(name string) {
	t.deleting[name] = true
	delete(t.uuids, name)
	var gone []*partState
	for k, ps := range t.parts {
		if k.topic == name {
			gone = append(gone, ps)
			delete(t.parts, k)
			// Its unflushed bytes no longer wait for S3.
			ps.acct.Lock()
			t.pending.Add(-ps.pendB)
			ps.pendB, ps.counting = 0, false
			ps.acct.Unlock()
		}
	}
	t.bg.Add(1)
	go t.deleteTopicData(name, gone...)
}

// deleteTopicData deletes a topic's manifests (heads, then chunks) and
// segments, after the jobs
// still working on its partitions (gone) have finished.
func (t *Tier) deleteTopicData(name string, gone ...*partState) {
	defer t.bg.Done()
	for _, ps := range gone {
		ps.dead.Store(true)
		ps.flushMu.Lock()
		//lint:ignore SA2001 waits for the job holding the lock
		ps.flushMu.Unlock()
	}
	for attempt := 0; ; attempt++ {
		err := t.deleteTopicOnce(name)
		if err == nil {
			break
		}
		if attempt == 0 {
			t.logger.Warn("deleting cold data of a deleted topic failed; retrying", "topic", name, "err", err)
		}
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(backoff(attempt + 1)):
		}
	}
	t.mu.Lock()
	delete(t.deleting, name)
	t.mu.Unlock()
}

func (t *Tier) deleteTopicOnce(name string) error {
	for _, prefix := range []string{"manifests/" + name + "/", "manifest-chunks/" + name + "/", "segments/" + name + "/"} {
		var keys []string
		if err := t.st.List(t.ctx, prefix, "", func(k string, _ int64) bool { keys = append(keys, k); return true }); err != nil {
			return err
		}
		if err := t.st.Delete(t.ctx, keys...); err != nil {
			return err
		}
	}
	return nil
}

// outage tracks S3 failures: the flusher backs off and logs once per outage.
type outage struct {
	mu       sync.Mutex
	down     bool
	since    time.Time
	failures int
	retryAt  time.Time
}

func backoff(failures int) time.Duration {
	d := 500 * time.Millisecond << min(failures-1, 6)
	return min(d, 30*time.Second)
}

func (o *outage) blocked(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.down && now.Before(o.retryAt)
}

func (t *Tier) failed(err error) {
	if errors.Is(err, context.Canceled) && t.ctx.Err() != nil {
		return
	}
	o := &t.out
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	o.retryAt = time.Now().Add(backoff(o.failures))
	if !o.down {
		o.down, o.since = true, time.Now()
		t.logger.Warn("cold tier unreachable: flushes will retry with backoff; writes and hot reads go on", "err", err)
	}
}

func (t *Tier) succeeded() {
	o := &t.out
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		t.logger.Info("cold tier reachable again", "outage", time.Since(o.since).Round(time.Millisecond).String(), "failed_attempts", o.failures)
	}
	o.down, o.failures = false, 0
}
