// Package log is Zombi's partition log: topics of N partitions, each an
// append-only sequence of Kafka record batches with contiguous offsets, kept
// durably in RocksDB. Both front doors (Kafka and HTTP) and the tiering
// flusher use it. Import it as plog: the name shadows the standard library's.
package log

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/grocksdb"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// Errors callers map to Kafka codes and HTTP statuses.
var (
	ErrUnknownTopic        = errors.New("unknown topic or partition")
	ErrTopicExists         = errors.New("topic already exists")
	ErrInvalidTopic        = errors.New("invalid topic name: must match [a-zA-Z0-9._-]{1,249} and not be '.' or '..'")
	ErrInvalidPartitions   = errors.New("invalid number of partitions")
	ErrOffsetOutOfRange    = errors.New("offset out of range")
	ErrCorruptBatch        = errors.New("corrupt record batch")
	ErrOutOfOrderSequence  = errors.New("out of order sequence number")
	ErrProducerFenced      = errors.New("producer epoch is older than the current one")
	ErrClosed              = errors.New("log is closed")
	ErrStorage             = errors.New("storage unavailable")
	ErrInvalidOffset       = errors.New("invalid offset")
	ErrTooManyPartitions   = errors.New("too many partitions")
	ErrPartitionsNotRaised = errors.New("partition count can only grow")
)

// MaxPartitions bounds partitions per topic.
const MaxPartitions = 10000

// Options configures Open.
type Options struct {
	Dir string
	// SyncWrites: acknowledge an append only after the WAL is fsynced.
	SyncWrites bool
	// IdempotencyWindow is how long HTTP idempotency keys are remembered
	// (at least; expiry runs periodically).
	IdempotencyWindow time.Duration
	// WriteBufferBytes is the RocksDB memtable size (0: 128 MiB).
	WriteBufferBytes uint64
	// TopicDefaults are the broker-level values of the topic configs Zombi
	// honours (nil: topicconfig.KafkaDefaults).
	TopicDefaults *topicconfig.Broker
	// RetentionInterval is how often retention.ms and retention.bytes are
	// applied to the hot log (0: 5 minutes, Kafka's
	// log.retention.check.interval.ms).
	RetentionInterval time.Duration
	Logger            *slog.Logger
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string   `json:"name"`
	ID         uint32   `json:"id"`
	UUID       [16]byte `json:"uuid"`
	Partitions int32    `json:"partitions"`
	CreatedMs  int64    `json:"created_ms"`
	// Configs are the topic-level overrides.
	Configs map[string]string `json:"configs,omitempty"`

	eff *topicconfig.Effective // Configs over the broker's values
}

// Effective is what the topic's configs mean (overrides over the broker's
// values).
func (i TopicInfo) Effective() *topicconfig.Effective {
	switch {
	case i.eff != nil:
		return i.eff
	case len(i.Configs) == 0:
		return kafkaDefaultEffective
	default:
		return topicconfig.Resolve(i.Configs, topicconfig.KafkaDefaults())
	}
}

// kafkaDefaultEffective is Effective of a TopicInfo the log did not make
// (a zero one, say): Kafka's defaults.
var kafkaDefaultEffective = topicconfig.Resolve(nil, topicconfig.KafkaDefaults())

type topic struct {
	info  TopicInfo
	parts []*partition
	out   *served // kept across AddPartitions and config changes
}

// Log is the partition log. It is safe for concurrent use.
type Log struct {
	opts   Options
	logger *slog.Logger
	db     *grocksdb.DB
	dbOpts *grocksdb.Options
	ro     *grocksdb.ReadOptions
	wo     *grocksdb.WriteOptions
	woLazy *grocksdb.WriteOptions // a round of lazy ops only: no fsync of its own

	// metaMu serialises the changes of an existing topic's metadata
	// (configs, partitions, deletion), so that none lands on a topic
	// another deleted or rewrote meanwhile. Taken before mu.
	metaMu sync.Mutex
	mu     sync.RWMutex // guards topics, nextID
	topics map[string]*topic
	nextID uint32
	// topicsCh is closed when the topic set changes (WatchTopics); names
	// is the sorted name list until then (TopicNames), namesGen counts the
	// changes.
	topicsMu sync.Mutex
	topicsCh chan struct{}
	names    []string
	namesGen uint64
	broker   topicconfig.Broker

	w        *writer
	closed   atomic.Bool
	closeMu  sync.RWMutex // held for reading by every call that touches db
	stop     chan struct{}
	bgDone   sync.WaitGroup
	failures atomic.Int64 // consecutive failed writes; health is bad while > 0

	cold atomic.Pointer[coldHolder]
	gate atomic.Pointer[gateHolder]
	// verifier decides whether a transactional batch may open a
	// transaction (SetTxnVerifier).
	verifier atomic.Pointer[TxnVerifier]
	// clusterMode fences the partitions created from now on (SetClusterMode).
	clusterMode atomic.Bool
	// guard checks config changes before they are stored (SetConfigGuard).
	guard atomic.Pointer[func(name string, old, next map[string]string) error]
}

// Open opens (creating if needed) the log in opts.Dir.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("log: empty data directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.IdempotencyWindow <= 0 {
		opts.IdempotencyWindow = 24 * time.Hour
	}
	if opts.WriteBufferBytes == 0 {
		opts.WriteBufferBytes = 128 << 20
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = 5 * time.Minute
	}
	broker := topicconfig.KafkaDefaults()
	if opts.TopicDefaults != nil {
		broker = *opts.TopicDefaults
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	dbo := grocksdb.NewDefaultOptions()
	dbo.SetCreateIfMissing(true)
	dbo.SetUseFsync(false) // fdatasync is enough for the WAL
	dbo.SetWriteBufferSize(opts.WriteBufferBytes)
	dbo.SetMaxWriteBufferNumber(4)
	dbo.SetMaxBackgroundJobs(2)
	dbo.SetCompression(grocksdb.LZ4Compression)
	dbo.SetBytesPerSync(1 << 20)
	dbo.SetKeepLogFileNum(3)
	dbo.SetInfoLogLevel(grocksdb.WarnInfoLogLevel)
	bbto := grocksdb.NewDefaultBlockBasedTableOptions()
	bbto.SetFilterPolicy(grocksdb.NewBloomFilter(10))
	bbto.SetBlockCache(grocksdb.NewLRUCache(64 << 20))
	bbto.SetBlockSize(32 << 10)
	dbo.SetBlockBasedTableFactory(bbto)

	db, err := grocksdb.OpenDb(dbo, opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open rocksdb in %s: %w", opts.Dir, err)
	}
	l := &Log{
		opts:   opts,
		logger: opts.Logger.With("component", "log"),
		db:     db,
		dbOpts: dbo,
		ro:     grocksdb.NewDefaultReadOptions(),
		wo:     grocksdb.NewDefaultWriteOptions(),
		topics: map[string]*topic{},
		broker: broker,
		stop:   make(chan struct{}),
	}
	l.wo.SetSync(opts.SyncWrites)
	l.woLazy = grocksdb.NewDefaultWriteOptions()
	if err := l.load(); err != nil {
		db.Close()
		return nil, err
	}
	l.w = newWriter(l)
	l.bgDone.Add(3)
	go func() { defer l.bgDone.Done(); l.w.run() }()
	go func() { defer l.bgDone.Done(); l.expireIdempotencyKeys() }()
	go func() { defer l.bgDone.Done(); l.retentionLoop() }()
	return l, nil
}

// Close stops the writer (pending appends fail with ErrClosed), flushes and
// closes RocksDB.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.stop)
	l.bgDone.Wait()
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	fo := grocksdb.NewDefaultFlushOptions()
	fo.SetWait(true)
	err := l.db.Flush(fo)
	fo.Destroy()
	l.db.Close()
	l.ro.Destroy()
	l.wo.Destroy()
	l.woLazy.Destroy()
	if err != nil {
		return fmt.Errorf("flush rocksdb: %w", err)
	}
	return nil
}

// Healthy reports nil when the last write succeeded.
func (l *Log) Healthy() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.failures.Load() > 0 {
		return fmt.Errorf("%w: recent writes failed", ErrStorage)
	}
	return nil
}

// load reads topic metadata and partition state.
func (l *Log) load() error {
	if v, err := l.db.GetBytes(l.ro, []byte{kindNextTopicID}); err != nil {
		return fmt.Errorf("read next topic id: %w", err)
	} else if len(v) == 4 {
		l.nextID = be.Uint32(v)
	}
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	for it.Seek([]byte{kindTopic}); it.ValidForPrefix([]byte{kindTopic}); it.Next() {
		var info TopicInfo
		if err := json.Unmarshal(it.Value().Data(), &info); err != nil {
			return fmt.Errorf("decode topic metadata %q: %w", it.Key().Data(), err)
		}
		info.eff = topicconfig.Resolve(info.Configs, l.broker)
		t := &topic{info: info, out: &served{}}
		for p := int32(0); p < info.Partitions; p++ {
			pt, err := l.loadPartition(info.ID, p)
			if err != nil {
				return err
			}
			t.parts = append(t.parts, pt)
		}
		l.topics[info.Name] = t
		if info.ID >= l.nextID {
			l.nextID = info.ID + 1
		}
	}
	return it.Err()
}

func (l *Log) loadPartition(tid uint32, p int32) (*partition, error) {
	pt := newPartition(tid, p)
	v, err := l.db.GetBytes(l.ro, partPrefix(kindPartition, tid, p))
	if err != nil {
		return nil, fmt.Errorf("read partition state %d/%d: %w", tid, p, err)
	}
	var start, next int64
	if len(v) >= 16 {
		start, next = int64(be.Uint64(v)), int64(be.Uint64(v[8:]))
	}
	if len(v) >= 24 {
		pt.maxTs = int64(be.Uint64(v[16:]))
	}
	// Data dirs written before checkpoints had a dense time index.
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	tp := partPrefix(kindTime, tid, p)
	it.SeekForPrev(prefixEnd(tp))
	if it.ValidForPrefix(tp) {
		pt.maxTs = max(pt.maxTs, int64(be.Uint64(it.Key().Data()[9:])^(1<<63)))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read time index %d/%d: %w", tid, p, err)
	}
	// The batches after the checkpoint carry the rest of the state.
	var perr error
	err = l.scanHeaders(pt, next, math.MaxInt64, func(h batch.Header, v []byte) bool {
		next = max(next, h.LastOffset()+1)
		pt.maxTs = max(pt.maxTs, h.MaxTimestamp)
		pt.sinceCkpt += int64(len(v))
		if h.ProducerID >= 0 {
			prev, ok := pt.producers[h.ProducerID]
			if !ok {
				if prev, perr = l.storedProducer(pt, h.ProducerID); perr != nil {
					return false
				}
			}
			if h.IsControl() {
				// A marker of a newer epoch fences the older one, and its
				// coordinator epoch is kept, as when it was written.
				if next := prev.afterMarker(h.ProducerEpoch, storedMarkerCoordEpoch(v)); next != prev {
					pt.producers[h.ProducerID] = next
					pt.dirtyProducers[h.ProducerID] = true
				}
				return true
			}
			pt.producers[h.ProducerID] = prev.withBatch(h, h.BaseOffset)
			pt.dirtyProducers[h.ProducerID] = true
		}
		return true
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("read partition %d/%d: %w", tid, p, err)
	}
	op := partPrefix(kindTxnOpen, tid, p)
	for it.Seek(op); it.ValidForPrefix(op); it.Next() {
		k, v := it.Key().Data(), it.Value().Data()
		if len(k) != 17 || len(v) != 10 {
			return nil, fmt.Errorf("read open transactions %d/%d: bad entry", tid, p)
		}
		pt.txns[int64(be.Uint64(k[9:]))] = openTxn{first: int64(be.Uint64(v)), epoch: int16(be.Uint16(v[8:]))}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read open transactions %d/%d: %w", tid, p, err)
	}
	if err := loadEpochs(pt, it); err != nil {
		return nil, err
	}
	pt.next = next
	pt.lso.Store(stableFrom(pt.txns, next))
	pt.leo.Store(next)
	pt.hwm.Store(next)
	pt.logStart.Store(start)
	pt.maxTsPub.Store(pt.maxTs)
	return pt, nil
}

// ValidTopicName reports whether name is a legal Kafka topic name.
func ValidTopicName(name string) bool {
	if len(name) == 0 || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Topic returns a topic's description.
func (l *Log) Topic(name string) (TopicInfo, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.topics[name]
	if !ok {
		return TopicInfo{}, false
	}
	return t.info, true
}

// Topics lists topics sorted by name.
func (l *Log) Topics() []TopicInfo {
	l.mu.RLock()
	out := make([]TopicInfo, 0, len(l.topics))
	for _, t := range l.topics {
		out = append(out, t.info)
	}
	l.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// appendTarget is partition for an append, and says whether the topic
// stamps its batches with the broker's time (message.timestamp.type=
// LogAppendTime); the config is read here, at each append (a pointer held
// with the topic, parsed when the configs change), so a changed config
// applies to the next one.
func (l *Log) appendTarget(name string, p int32) (*partition, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.topics[name]
	if !ok || p < 0 || int(p) >= len(t.parts) {
		return nil, false, fmt.Errorf("%w: %s/%d", ErrUnknownTopic, name, p)
	}
	return t.parts[p], t.info.eff.LogAppendTime, nil
}

func (l *Log) partition(name string, p int32) (*partition, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.topics[name]
	if !ok || p < 0 || int(p) >= len(t.parts) {
		return nil, fmt.Errorf("%w: %s/%d", ErrUnknownTopic, name, p)
	}
	return t.parts[p], nil
}

// CreateTopic creates a topic with the given number of partitions.
func (l *Log) CreateTopic(name string, partitions int32, configs map[string]string) (TopicInfo, error) {
	info, created, err := l.createTopic(name, partitions, configs)
	if err == nil && !created {
		return info, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	return info, err
}

// EnsureTopic returns the topic, creating it with the given partitions if it
// does not exist.
func (l *Log) EnsureTopic(name string, partitions int32) (TopicInfo, bool, error) {
	if IsInternalTopic(name) {
		// A real internal topic (cluster mode) is not the caller's to use.
		return TopicInfo{}, false, fmt.Errorf("%w: %s", ErrInternalTopic, name)
	}
	if info, ok := l.Topic(name); ok {
		return info, false, nil
	}
	return l.createTopic(name, partitions, nil)
}

// EnsureTopicWithID is EnsureTopic with a given topic id (a zero id draws a
// random one): the tiering rebuild recreates topics under the id their cold
// data was written with.
func (l *Log) EnsureTopicWithID(name string, partitions int32, id [16]byte) (TopicInfo, bool, error) {
	if IsInternalTopic(name) {
		return TopicInfo{}, false, fmt.Errorf("%w: %s", ErrInternalTopic, name)
	}
	if info, ok := l.Topic(name); ok {
		return info, false, nil
	}
	return l.createTopicID(name, partitions, nil, id)
}

func (l *Log) createTopic(name string, partitions int32, configs map[string]string) (TopicInfo, bool, error) {
	return l.createTopicID(name, partitions, configs, [16]byte{})
}

func (l *Log) createTopicID(name string, partitions int32, configs map[string]string, id [16]byte) (TopicInfo, bool, error) {
	if !ValidTopicName(name) {
		return TopicInfo{}, false, fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	if IsInternalTopic(name) {
		return TopicInfo{}, false, fmt.Errorf("%w: %s", ErrInternalTopic, name)
	}
	return l.storeTopic(name, partitions, configs, id)
}

// storeTopic creates a topic without the name checks (MakeInternalReal
// creates the internal topics through it).
func (l *Log) storeTopic(name string, partitions int32, configs map[string]string, id [16]byte) (TopicInfo, bool, error) {
	if partitions <= 0 || partitions > MaxPartitions {
		return TopicInfo{}, false, fmt.Errorf("%w: %d (1..%d)", ErrInvalidPartitions, partitions, MaxPartitions)
	}
	if err := l.enter(); err != nil {
		return TopicInfo{}, false, err
	}
	defer l.closeMu.RUnlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.topics[name]; ok {
		return t.info, false, nil
	}
	info := TopicInfo{Name: name, ID: l.nextID, UUID: id, Partitions: partitions, CreatedMs: time.Now().UnixMilli(), Configs: configs}
	info.eff = topicconfig.Resolve(configs, l.broker)
	if id == ([16]byte{}) {
		_, _ = rand.Read(info.UUID[:])
	}
	meta, err := json.Marshal(info)
	if err != nil {
		return TopicInfo{}, false, err
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.Put(append([]byte{kindTopic}, name...), meta)
	wb.Put([]byte{kindNextTopicID}, be.AppendUint32(nil, info.ID+1))
	if err := l.writeSync(wb); err != nil {
		return TopicInfo{}, false, fmt.Errorf("create topic %s: %w", name, err)
	}
	t := &topic{info: info, out: &served{}}
	for p := int32(0); p < partitions; p++ {
		t.parts = append(t.parts, l.fenceNew(newPartition(info.ID, p)))
	}
	l.topics[name] = t
	l.nextID++
	l.topicsChanged() // waiters see the change once l.mu is released
	l.logger.Info("topic created", "topic", name, "partitions", partitions)
	return info, true, nil
}

// AddPartitions raises a topic's partition count to total.
func (l *Log) AddPartitions(name string, total int32) (TopicInfo, error) {
	if err := l.enter(); err != nil {
		return TopicInfo{}, err
	}
	defer l.closeMu.RUnlock()
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.topics[name]
	if !ok {
		return TopicInfo{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if total <= t.info.Partitions {
		return t.info, fmt.Errorf("%w: %s has %d, asked for %d", ErrPartitionsNotRaised, name, t.info.Partitions, total)
	}
	if total > MaxPartitions {
		return t.info, fmt.Errorf("%w: %d > %d", ErrTooManyPartitions, total, MaxPartitions)
	}
	info := t.info
	info.Partitions = total
	meta, err := json.Marshal(info)
	if err != nil {
		return t.info, err
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.Put(append([]byte{kindTopic}, name...), meta)
	if err := l.writeSync(wb); err != nil {
		return t.info, fmt.Errorf("add partitions to %s: %w", name, err)
	}
	parts := append([]*partition(nil), t.parts...)
	for p := t.info.Partitions; p < total; p++ {
		parts = append(parts, l.fenceNew(newPartition(info.ID, p)))
	}
	l.topics[name] = &topic{info: info, parts: parts, out: t.out}
	l.topicsChanged() // waiters see the change once l.mu is released
	return info, nil
}

// DeleteTopic removes a topic and all its data.
func (l *Log) DeleteTopic(name string) error {
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.mu.RLock()
	t, ok := l.topics[name]
	l.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	op := &deleteTopicOp{l: l, t: t, done: make(chan struct{})}
	if err := l.w.submit(op); err != nil {
		return err
	}
	<-op.done
	if op.err != nil {
		return fmt.Errorf("delete topic %s: %w", name, op.err)
	}
	l.mu.Lock()
	if l.topics[name] == t || (l.topics[name] != nil && l.topics[name].info.ID == t.info.ID) {
		delete(l.topics, name)
	}
	l.mu.Unlock()
	l.topicsChanged()
	l.logger.Info("topic deleted", "topic", name)
	return nil
}

// Meta returns a small metadata value stored with the log (nil if unset),
// for other packages' bookkeeping that must live and die with the data
// directory.
func (l *Log) Meta(key string) ([]byte, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.closeMu.RUnlock()
	v, err := l.db.GetBytes(l.ro, append([]byte{kindMeta}, key...))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return v, nil
}

// SetMeta stores a metadata value durably.
func (l *Log) SetMeta(key string, v []byte) error {
	if v == nil {
		v = []byte{} // nil would delete
	}
	return l.writeMeta([]MetaKV{{Key: key, Value: v}})
}

// MetaKV is one metadata entry returned by MetaList.
type MetaKV struct {
	Key   string
	Value []byte
}

// MetaList returns the metadata entries whose key starts with prefix, in
// key order (for packages that keep a small table, e.g. auth's users).
func (l *Log) MetaList(prefix string) ([]MetaKV, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.closeMu.RUnlock()
	p := append([]byte{kindMeta}, prefix...)
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	var out []MetaKV
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		// The iterator's slices point into RocksDB's memory: copy.
		out = append(out, MetaKV{Key: string(it.Key().Data()[1:]), Value: append([]byte{}, it.Value().Data()...)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return out, nil
}

// DeleteMeta removes a metadata value durably (no error when absent).
func (l *Log) DeleteMeta(key string) error {
	return l.writeMeta([]MetaKV{{Key: key}})
}

// metaOp writes meta entries in a round of the writer: a meta write shares
// the group commit's fsync with appends and other meta writes (the
// transaction coordinator writes one per AddPartitionsToTxn, beside its
// producer's appends).
type metaOp struct {
	kvs    []MetaKV
	isLazy bool
	done   chan struct{}
	err    error
}

func (op *metaOp) lazy() bool { return op.isLazy }

func (op *metaOp) size() int        { return 64 * len(op.kvs) }
func (op *metaOp) finish(err error) { op.err = err; close(op.done) }
func (op *metaOp) stage(r *round)   { stageMeta(r, op.kvs) }

// stageMeta stages meta entries: a nil Value deletes the key.
func stageMeta(r *round, kvs []MetaKV) {
	for _, m := range kvs {
		k := append([]byte{kindMeta}, m.Key...)
		if m.Value == nil {
			r.wb.Delete(k)
		} else {
			r.wb.Put(k, m.Value)
		}
	}
}

// SetMetaLazy is SetMeta without waiting for an fsync of its own: the
// entry is in RocksDB's write-ahead log when it returns, and durable with
// the next synced write (RocksDB syncs the log up to that write), or lost
// with a crash before one. For state that matters only once a later
// durable write depends on it: the transaction coordinator's record of a
// partition added to a transaction (the producer's first append to it, acknowledged only
// once synced, makes it durable; a partition never written to needs no
// marker).
func (l *Log) SetMetaLazy(key string, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	return l.writeMetaOp(&metaOp{kvs: []MetaKV{{Key: key, Value: v}}, isLazy: true, done: make(chan struct{})})
}

func (l *Log) writeMeta(kvs []MetaKV) error {
	return l.writeMetaOp(&metaOp{kvs: kvs, done: make(chan struct{})})
}

func (l *Log) writeMetaOp(op *metaOp) error {
	if err := l.w.submit(op); err != nil {
		return err
	}
	<-op.done
	return op.err
}

// enter guards a call against a concurrent Close; callers must RUnlock
// closeMu when it returns nil.
func (l *Log) enter() error {
	l.closeMu.RLock()
	if l.closed.Load() {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

// writeSync writes wb outside the group-commit writer; for rare metadata.
func (l *Log) writeSync(wb *grocksdb.WriteBatch) error {
	wo := grocksdb.NewDefaultWriteOptions()
	defer wo.Destroy()
	wo.SetSync(l.opts.SyncWrites)
	if err := l.db.Write(wo, wb); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}
