package iceberg

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go/table"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// Source is what the materializer reads: the log, the way a consumer does
// (hot and cold tiers through Read). *plog.Log implements it.
type Source interface {
	Topics() []plog.TopicInfo
	Topic(name string) (plog.TopicInfo, bool)
	Offsets(topic string, part int32) (logStart, hwm int64, err error)
	Read(topic string, part int32, offset int64, maxBytes int) (plog.ReadResult, error)
	// ReadIsolated and LastStable: the materializer reads committed
	// records only, up to the last stable offset, as a read_committed
	// consumer does.
	ReadIsolated(topic string, part int32, offset int64, maxBytes int, iso plog.Isolation) (plog.ReadResult, error)
	LastStable(topic string, part int32) (int64, error)
}

// Config configures a Materializer.
type Config struct {
	Warehouse *Warehouse
	Namespace string // ZOMBI_ICEBERG_NAMESPACE
	// SpillDir is where data files are written before upload.
	SpillDir string
	// Poll is how often topic configs are looked at (0: 1 s).
	Poll time.Duration
	// MaxCommitBytes bounds the data one commit writes (0: 4 × the topic's
	// target file size): a long backfill commits in steps.
	MaxCommitBytes int64
	// MaintainEvery is how often a table's upkeep runs: compaction of
	// closed buckets, snapshot expiry, orphan clean-up (0: an hour: expiry
	// and the orphan walk read every kept snapshot's manifest list).
	MaintainEvery time.Duration
	// BusyShare is the share of the time a catch-up (a backfill, or a
	// table far behind) may work while producers write to the log: after
	// each commit it pauses for work × (1/BusyShare - 1). 0: 0.5; 1: no
	// pacing. When nobody writes it runs flat out.
	BusyShare float64
	// ReadBytes is the size of one log read (0: 4 MiB).
	ReadBytes int
	Logger    *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// Owns, in a cluster, says whether this node materializes topic now
	// (one owner per topic, elected through etcd: cluster.IcebergOwners);
	// nil: every enabled topic (a node alone).
	Owns func(topic string) bool
}

// Materializer turns every topic with zombi.iceberg.enable=true into an
// Iceberg table. One goroutine does the work for all topics, one commit
// at a time, so it takes at most one core from the write path; it is a
// reader of the log and holds no lock the write path takes.
type Materializer struct {
	src Source
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	topics map[string]*topicState // by topic name; guarded by mu

	// probed: the warehouse's conditional create was checked (by the
	// worker, once); unsafe: it is not honoured, tables are written
	// through UnsafeCreate.
	probed, unsafe bool

	kick   chan struct{}
	reqs   chan func(context.Context) // run by the worker between cycles (Drop)
	cancel context.CancelFunc
	done   chan struct{}
}

// topicState is one topic's table and status. The worker goroutine owns
// tbl; the status fields are read by Status under Materializer.mu.
type topicState struct {
	name string
	tbl  *Table // nil until opened
	dlq  *Table // the {topic}_dlq table, once loaded or created

	// status (under Materializer.mu)
	incarnation  string
	layout       topicconfig.Iceberg
	snap         snapInfo // the table as last loaded or committed
	lastCommit   time.Time
	lastErr      error
	errAt        time.Time
	nextRun      time.Time
	lastMaintain time.Time
	resumeFrom   int32 // the partition the next cycle starts at (worker only)
	// lastRun: after a cycle that caught up, nextRun is lastRun plus the commit interval,
	// recomputed every step so that a changed interval applies at once.
	lastRun    time.Time
	waitFull   bool      // the last cycle caught up: wait a whole interval
	caughtUpAt time.Time // the last cycle that reached the high watermark it saw
	commits    int64
	enabled    bool
}

// Start starts the materializer; Close stops it.
func Start(src Source, cfg Config) *Materializer {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaintainEvery <= 0 {
		cfg.MaintainEvery = time.Hour
	}
	if cfg.BusyShare <= 0 || cfg.BusyShare > 1 {
		cfg.BusyShare = 0.5
	}
	if cfg.ReadBytes <= 0 {
		cfg.ReadBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "zombi"
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Materializer{src: src, cfg: cfg, log: cfg.Logger.With("component", "iceberg"),
		topics: map[string]*topicState{}, kick: make(chan struct{}, 1), reqs: make(chan func(context.Context)), cancel: cancel, done: make(chan struct{})}
	go m.run(ctx)
	return m
}

// Close stops the worker after the step it is in (an interrupted commit
// is resolved by the next start from the table itself) and waits for it.
func (m *Materializer) Close() {
	m.cancel()
	<-m.done
}

// Kick makes the worker look at the topics now (a config changed).
func (m *Materializer) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Incarnation is how a topic's id appears in the snapshot summary: the
// Kafka topic id as Kafka's tools print it.
func Incarnation(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func (m *Materializer) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		case f := <-m.reqs:
			f(ctx)
		}
		wait := m.step(ctx)
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// step runs every topic that is due, then says how long to sleep.
func (m *Materializer) step(ctx context.Context) time.Duration {
	now := m.cfg.Now()
	enabled := map[string]plog.TopicInfo{}
	for _, ti := range m.src.Topics() {
		// A topic another node owns is, here, as one not enabled: its
		// table stays as that node commits it.
		if ti.Effective().Iceberg.Enable && !plog.IsInternalTopic(ti.Name) && (m.cfg.Owns == nil || m.cfg.Owns(ti.Name)) {
			enabled[ti.Name] = ti
		}
	}
	m.mu.Lock()
	for name, ts := range m.topics {
		if _, ok := enabled[name]; !ok {
			ts.enabled = false // disabled or deleted: the table stays
		}
	}
	var due []*topicState
	for name, ti := range enabled {
		ts := m.topics[name]
		if ts == nil {
			ts = &topicState{name: name}
			m.topics[name] = ts
		}
		ts.enabled = true
		if ts.waitFull {
			ts.nextRun = ts.lastRun.Add(time.Duration(ti.Effective().Iceberg.CommitIntervalMs) * time.Millisecond)
		}
		if !now.Before(ts.nextRun) {
			due = append(due, ts)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(due, func(a, b *topicState) int { return a.nextRun.Compare(b.nextRun) })

	for _, ts := range due {
		if ctx.Err() != nil {
			return 0
		}
		ti, ok := m.src.Topic(ts.name)
		if !ok {
			continue
		}
		before, started := m.written(), time.Now()
		behind, err := m.cycle(ctx, ts, ti)
		m.finish(ts, ti, behind, err)
		if err == nil && !behind {
			m.maintain(ctx, ts, ti)
		}
		if behind && m.written() > before {
			// Catching up while producers write: pace, so that the
			// backfill takes at most its share of the machine.
			m.pause(ctx, time.Since(started))
		}
	}

	wait := m.cfg.Poll
	m.mu.Lock()
	for _, ts := range m.topics {
		if ts.enabled {
			wait = min(wait, max(0, ts.nextRun.Sub(m.cfg.Now())))
		}
	}
	m.mu.Unlock()
	return wait
}

// finish records a cycle's outcome and schedules the next: at once when
// it stopped short of the high watermark (a backfill commits in steps),
// after the commit interval otherwise, with a growing pause after errors.
func (m *Materializer) finish(ts *topicState, ti plog.TopicInfo, behind bool, err error) {
	now := m.cfg.Now()
	interval := time.Duration(ti.Effective().Iceberg.CommitIntervalMs) * time.Millisecond
	m.mu.Lock()
	defer m.mu.Unlock()
	ts.lastRun, ts.waitFull = now, err == nil && !behind
	switch {
	case err != nil:
		cycleErrors.WithLabelValues(ts.name).Inc()
		if ts.lastErr == nil || ts.lastErr.Error() != err.Error() {
			m.log.Warn("iceberg materializer", "topic", ts.name, "err", err)
		}
		ts.lastErr, ts.errAt = err, now
		ts.nextRun = now.Add(min(interval, 10*time.Second))
	case behind:
		ts.lastErr = nil
		ts.nextRun = now
	default:
		ts.lastErr = nil
		ts.caughtUpAt = now
		ts.nextRun = now.Add(interval)
	}
}

// cycle appends what the topic has beyond the table's committed offsets,
// up to the high watermarks seen at the start and the commit budget, as
// one snapshot. behind: it stopped at the budget with more to read.
func (m *Materializer) cycle(ctx context.Context, ts *topicState, ti plog.TopicInfo) (behind bool, err error) {
	eff := ti.Effective().Iceberg
	inc := Incarnation(ti.UUID)
	m.mu.Lock()
	ts.layout, ts.incarnation = eff, inc
	m.mu.Unlock()
	if ts.tbl == nil {
		if ts.tbl, err = m.open(ctx, ti.Name, eff); err != nil {
			return false, err
		}
	}
	tbl := ts.tbl
	if err := tbl.Reload(ctx); err != nil { // another process (or a drop) may have changed it
		ts.tbl = nil
		return false, err
	}
	if have := tbl.CommittedIncarnation(); have != "" && have != inc {
		return false, fmt.Errorf("%w: table %s holds topic id %s, but topic %s is now %s (deleted and created again): drop the old table with `zombi iceberg drop %s` to materialize the new topic", ErrOtherTopic, tbl.st.Location(), have, ti.Name, inc, ti.Name)
	}
	if err := m.noteTable(ts, tbl); err != nil {
		return false, err
	}
	committed := ts.snap.committed
	want, err := layoutFromConfig(eff)
	if err != nil {
		return false, err
	}
	have := tbl.Layout()
	if have.Mode != want.Mode {
		return false, fmt.Errorf("table %s is in mode %s but zombi.iceberg.mode is %s: a table's mode never changes; drop it (`zombi iceberg drop %s`) to rebuild it in the new mode", tbl.st.Location(), have.Mode, want.Mode, ti.Name)
	}
	if want.Mode == ModeJSON {
		if err := tbl.EnsureColumns(ctx, want.Columns); err != nil {
			return false, err
		}
	}
	// The dead-letter table of a json topic, when it exists: records it
	// already holds (a crash between its commit and the topic's) are not
	// added again.
	var dlq *deadLetters
	if want.Mode == ModeJSON {
		if dlq, err = m.openDLQ(ctx, ts, ti.Name, have); err != nil {
			return false, err
		}
	}

	budget := m.cfg.MaxCommitBytes
	if budget <= 0 {
		budget = 4 * eff.TargetFileBytes
	}
	opts := WriteOptions{TargetFileBytes: eff.TargetFileBytes, SpillDir: m.cfg.SpillDir}
	app := tbl.NewAppend(opts)
	abort := func() {
		app.Abort(ctx)
		dlq.abort(ctx)
	}
	next := map[int32]int64{}
	// A cycle cut short by the budget ends at some partition; the next one
	// starts after it (partitions in increasing order within a cycle, as
	// the files' row order needs), so a partition written faster than the
	// materializer reads cannot starve the others.
	first := ts.resumeFrom
	if first >= ti.Partitions {
		first = 0
	}
	ts.resumeFrom = 0
	for p := first; p < ti.Partitions; p++ {
		logStart, _, err := m.src.Offsets(ti.Name, p)
		var hwm int64 // the last stable offset: open transactions wait
		if err == nil {
			hwm, err = m.src.LastStable(ti.Name, p)
		}
		if err != nil {
			abort()
			return false, err
		}
		from, ok := committed[p]
		if !ok || from < logStart {
			if ok {
				m.log.Warn("iceberg: records deleted by retention before they were materialized", "topic", ti.Name, "partition", p, "from", from, "log_start", logStart)
			}
			from = logStart
		}
		at, err := m.readPartition(ctx, app, dlq, opts, ti.Name, p, from, hwm, budget)
		if err != nil {
			abort()
			return false, err
		}
		if at != from || (ok && at != committed[p]) {
			next[p] = at
		}
		if at < hwm {
			behind = true
			ts.resumeFrom = p + 1
			break // the budget is spent: commit what there is
		}
	}
	if first > 0 {
		behind = true // partitions before first wait for the next cycle
	}
	if app.Rows() == 0 && len(next) == 0 {
		abort()
		return false, nil
	}
	// The dead letters first: after a crash between the two commits the
	// topic's table is re-read from its own offsets, and records the
	// dead-letter table holds are skipped.
	if err := dlq.commit(ctx, m, inc, next); err != nil {
		app.Abort(ctx)
		return false, err
	}
	start := time.Now()
	err = app.Commit(ctx, inc, next)
	countCommit(ti.Name, err)
	if err != nil {
		return false, err
	}
	commitSeconds.Observe(time.Since(start).Seconds())
	recordsTotal.WithLabelValues(ti.Name).Add(float64(app.Rows()))
	m.mu.Lock()
	ts.lastCommit = m.cfg.Now()
	ts.commits++
	m.mu.Unlock()
	return behind, m.noteTable(ts, tbl)
}

func countCommit(topic string, err error) {
	result := "ok"
	switch {
	case errors.Is(err, ErrConflict):
		result = "conflict"
	case err != nil:
		result = "error"
	}
	commitsTotal.WithLabelValues(topic, result).Inc()
}

// layoutFromConfig is the table layout the topic configs ask for.
func layoutFromConfig(eff topicconfig.Iceberg) (Layout, error) {
	mode, err := ParseMode(eff.Mode)
	if err != nil {
		return Layout{}, err
	}
	part, err := ParsePartitioning(eff.Partition)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Mode: mode, Partitioning: part}
	if mode == ModeJSON {
		l.Columns = FromConfig(eff.Columns)
	}
	return l, nil
}

// deadLetters is the {topic}_dlq table during one cycle: nil until a
// record needs it (or while no such table exists).
type deadLetters struct {
	tbl       *Table
	committed map[int32]int64
	app       *Append
}

// openDLQ loads the topic's dead-letter table if it exists (it is created
// by the first record that needs it).
func (m *Materializer) openDLQ(ctx context.Context, ts *topicState, topic string, l Layout) (*deadLetters, error) {
	d := &deadLetters{tbl: ts.dlq, committed: map[int32]int64{}}
	if d.tbl == nil {
		name := DLQName(topic)
		st, err := m.storage(ctx, name)
		if err != nil {
			return nil, err
		}
		t, err := Load(ctx, st, table.Identifier{m.cfg.Namespace, name})
		switch {
		case errors.Is(err, ErrNoTable):
			return d, nil
		case err != nil:
			return nil, err
		}
		if mode := t.Layout().Mode; mode != ModeDLQ {
			return nil, fmt.Errorf("table %s is a %s table (of a topic named %s?), not the dead-letter table of %s: rename one of the topics, or turn zombi.iceberg.enable off for one: %w", name, mode, name, topic, ErrTableClash)
		}
		ts.dlq, d.tbl = t, t
	} else if err := d.tbl.Reload(ctx); err != nil {
		ts.dlq = nil
		return nil, err
	} else if mode := d.tbl.Layout().Mode; mode != ModeDLQ {
		ts.dlq = nil
		return nil, fmt.Errorf("table %s is now a %s table, not the dead-letter table of %s: %w", DLQName(topic), mode, topic, ErrTableClash)
	}
	c, err := d.tbl.CommittedOffsets()
	if err != nil {
		return nil, err
	}
	d.committed = c
	return d, nil
}

// add puts a record refused by the topic's table into the dead letters,
// unless the dead-letter table holds it already.
func (d *deadLetters) add(ctx context.Context, m *Materializer, ts *topicState, topic string, l Layout, opts WriteOptions, r Record) error {
	if d == nil {
		return fmt.Errorf("%s/%d offset %d: %s, and json mode has no dead-letter table", topic, r.Partition, r.Offset, r.Error)
	}
	if r.Offset < d.committed[r.Partition] {
		return nil
	}
	if d.tbl == nil {
		name := DLQName(topic)
		st, err := m.storage(ctx, name)
		if err != nil {
			return err
		}
		ident := table.Identifier{m.cfg.Namespace, name}
		t, err := Create(ctx, st, ident, DLQLayout(l))
		if errors.Is(err, ErrExists) {
			t, err = Load(ctx, st, ident)
		}
		if err != nil {
			return fmt.Errorf("dead-letter table %s: %w", name, err)
		}
		m.log.Info("iceberg dead-letter table created", "topic", topic, "location", st.Location())
		ts.dlq, d.tbl = t, t
	}
	if d.app == nil {
		d.app = d.tbl.NewAppend(opts)
	}
	return d.app.Add(ctx, r)
}

// commit commits the dead letters of the cycle, with offsets no lower than
// the table's own.
func (d *deadLetters) commit(ctx context.Context, m *Materializer, inc string, next map[int32]int64) error {
	if d == nil || d.app == nil || d.app.Rows() == 0 {
		return nil
	}
	dn := map[int32]int64{}
	for p, o := range next {
		dn[p] = max(o, d.committed[p])
	}
	err := d.app.Commit(ctx, inc, dn)
	countCommit(d.tbl.ident[len(d.tbl.ident)-1], err)
	return err
}

func (d *deadLetters) abort(ctx context.Context) {
	if d != nil && d.app != nil {
		d.app.Abort(ctx)
	}
}

// noteTable records the table's current snapshot for Status and the lag
// metric.
func (m *Materializer) noteTable(ts *topicState, tbl *Table) error {
	si, err := snapshotInfo(tbl)
	if err != nil {
		return err
	}
	m.mu.Lock()
	ts.snap = si
	m.mu.Unlock()
	return nil
}

// open loads the topic's table, or creates it.
func (m *Materializer) open(ctx context.Context, topic string, eff topicconfig.Iceberg) (*Table, error) {
	st, err := m.storage(ctx, topic)
	if err != nil {
		return nil, err
	}
	ident := table.Identifier{m.cfg.Namespace, topic}
	t, err := Load(ctx, st, ident)
	if err == nil {
		if t.Layout().Mode == ModeDLQ {
			return nil, dlqClash(topic)
		}
		return t, nil
	}
	if !errors.Is(err, ErrNoTable) {
		return nil, err
	}
	l, err := layoutFromConfig(eff)
	if err != nil {
		return nil, err
	}
	t, err = Create(ctx, st, ident, l)
	if errors.Is(err, ErrExists) { // created meanwhile by another writer
		return Load(ctx, st, ident)
	}
	if err == nil {
		m.log.Info("iceberg table created", "topic", topic, "location", st.Location())
	}
	return t, err
}

// readPartition adds the records of [from, hwm) to app (those app refuses
// as not JSON to the dead letters) until the budget is spent, and returns
// the offset reached: the next offset to materialize. Control batches,
// aborted transactions and gaps move it without rows.
func (m *Materializer) readPartition(ctx context.Context, app *Append, dlq *deadLetters, opts WriteOptions, topic string, p int32, from, hwm, budget int64) (int64, error) {
	at := from
	for at < hwm && app.Bytes() < budget {
		if err := ctx.Err(); err != nil {
			return at, err
		}
		res, err := m.src.ReadIsolated(topic, p, at, m.cfg.ReadBytes, plog.ReadCommitted)
		if err != nil {
			return at, fmt.Errorf("read %s/%d at %d: %w", topic, p, at, err)
		}
		if len(res.Batches) == 0 {
			break
		}
		for _, b := range res.Batches {
			if b.BaseOffset >= hwm {
				return at, nil
			}
			if res.Keeps(b) { // not a marker, not an aborted transaction's
				_, recs, err := batch.Records(b.Raw, 0)
				if err != nil {
					return at, fmt.Errorf("%s/%d: batch at %d: %w", topic, p, b.BaseOffset, err)
				}
				for i := range recs {
					r := &recs[i]
					if r.Offset < at || r.Offset >= hwm {
						continue
					}
					rec := toRecord(p, r)
					err := app.Add(ctx, rec)
					var inv *InvalidValueError
					if errors.As(err, &inv) {
						rec.Error = inv.Reason
						err = dlq.add(ctx, m, m.stateOf(topic), topic, app.t.Layout(), opts, rec)
					}
					if err != nil {
						return at, err
					}
				}
			}
			at = max(at, min(b.LastOffset+1, hwm))
			if app.Bytes() >= budget {
				return at, nil
			}
		}
	}
	return at, nil
}

// stateOf is the worker's state of a topic.
func (m *Materializer) stateOf(topic string) *topicState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.topics[topic]
}

func toRecord(p int32, r *batch.Record) Record {
	rec := Record{Partition: p, Offset: r.Offset, Timestamp: time.UnixMilli(r.Timestamp).UTC(), Key: r.Key, Value: r.Value}
	if len(r.Headers) > 0 {
		rec.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			// _headers.key is an Iceberg string: one key that is not
			// UTF-8 (Kafka clients can send any bytes) would make the
			// whole file unreadable to DuckDB and pyiceberg.
			rec.Headers[i] = Header{Key: strings.ToValidUTF8(h.Key, "\uFFFD"), Value: h.Value}
		}
	}
	return rec
}

// storage is the storage the worker writes table name through. The first
// call checks that the warehouse honours create-if-absent (If-None-Match
// on S3); a store that ignores it gets a warning and UnsafeCreate.
func (m *Materializer) storage(ctx context.Context, name string) (Storage, error) {
	if !m.probed {
		ok, err := ProbeConditionalCreate(ctx, m.cfg.Warehouse.Storage(m.cfg.Namespace, ""))
		if err != nil {
			return nil, fmt.Errorf("check the warehouse's conditional writes: %w", err)
		}
		m.probed, m.unsafe = true, !ok
		if !ok {
			m.log.Warn("the Iceberg warehouse ignores conditional writes (If-None-Match: *): commits are safe only while this Zombi is the only writer of its tables; never share the warehouse between clusters", "warehouse", m.cfg.Warehouse.Location())
		}
	}
	st := m.cfg.Warehouse.Storage(m.cfg.Namespace, name)
	if m.unsafe {
		st = UnsafeCreate(st)
	}
	return st, nil
}

// maintain runs a table's upkeep (and its dead-letter table's) when it is
// due, on the worker between two cycles.
func (m *Materializer) maintain(ctx context.Context, ts *topicState, ti plog.TopicInfo) {
	now := m.cfg.Now()
	if ts.tbl == nil || now.Sub(ts.lastMaintain) < m.cfg.MaintainEvery {
		return
	}
	ts.lastMaintain = now
	eff := ti.Effective().Iceberg
	// keep.ms 0 keeps the current snapshot only (Maintain reads 0 as its
	// default).
	o := MaintainOptions{SnapshotKeep: max(time.Nanosecond, time.Duration(eff.SnapshotKeepMs)*time.Millisecond),
		CommitInterval: time.Duration(eff.CommitIntervalMs) * time.Millisecond}
	for _, t := range []*Table{ts.tbl, ts.dlq} {
		if t == nil {
			continue
		}
		res, err := t.Maintain(ctx, now, o)
		if err != nil {
			m.log.Warn("iceberg table upkeep", "table", t.st.Location(), "err", err)
		}
		if res != (MaintainResult{}) {
			m.log.Info("iceberg table upkeep", "table", t.st.Location(), "compacted_files", res.Compacted, "expired_snapshots", res.Expired, "orphans_deleted", res.Orphans)
		}
	}
	if err := m.noteTable(ts, ts.tbl); err != nil {
		m.log.Warn("iceberg table upkeep", "topic", ts.name, "err", err)
	}
}

// DropResult is what Drop removed.
type DropResult struct {
	Location string `json:"location"`
	Files    int    `json:"files"`
	// Rebuild: the topic still has zombi.iceberg.enable=true, so its table
	// is materialized again from the log start.
	Rebuild bool `json:"rebuild"`
}

// Drop deletes a topic's table and its dead-letter table, on the worker so
// that no commit runs meanwhile. A topic that still enables Iceberg gets
// a new table from its log start. ErrNotMaterialized when there is none.
func (m *Materializer) Drop(ctx context.Context, topic string) (DropResult, error) {
	type result struct {
		r   DropResult
		err error
	}
	done := make(chan result, 1)
	f := func(wctx context.Context) {
		r, err := m.drop(wctx, topic)
		done <- result{r, err}
	}
	select {
	case m.reqs <- f:
	case <-ctx.Done():
		return DropResult{}, ctx.Err()
	case <-m.done:
		return DropResult{}, errors.New("iceberg: materializer stopped")
	}
	select {
	case r := <-done:
		return r.r, r.err
	case <-ctx.Done():
		return DropResult{}, ctx.Err()
	}
}

func (m *Materializer) drop(ctx context.Context, topic string) (DropResult, error) {
	m.mu.Lock()
	if ts := m.topics[topic]; ts != nil {
		// Forget the handles; the next cycle starts from a new table.
		*ts = topicState{name: ts.name, enabled: ts.enabled}
	}
	m.mu.Unlock()
	st := m.cfg.Warehouse.Storage(m.cfg.Namespace, topic)
	res := DropResult{Location: st.Location()}
	if t, err := Load(ctx, st, table.Identifier{m.cfg.Namespace, topic}); err == nil && t.Layout().Mode == ModeDLQ {
		return res, dlqClash(topic)
	}
	n, err := Drop(ctx, st)
	res.Files = n
	if errors.Is(err, ErrNoTable) {
		return res, ErrNotMaterialized
	}
	if err != nil {
		return res, err
	}
	// The dead-letter table too, when it is one (a topic may be named
	// {topic}_dlq: its table is its own).
	dst := m.cfg.Warehouse.Storage(m.cfg.Namespace, DLQName(topic))
	if dt, err := Load(ctx, dst, table.Identifier{m.cfg.Namespace, DLQName(topic)}); err == nil && dt.Layout().Mode == ModeDLQ {
		n, err := Drop(ctx, dst)
		res.Files += n
		if err != nil {
			return res, err
		}
	}
	if ti, ok := m.src.Topic(topic); ok && ti.Effective().Iceberg.Enable {
		res.Rebuild = true
	}
	return res, nil
}

// ErrTableClash: a table's location belongs to another table (a topic
// named {x}_dlq and the dead-letter table of topic x).
var ErrTableClash = errors.New("iceberg: the table belongs to another topic")

// dlqClash is the error for a topic whose table location holds the
// dead-letter table of another topic.
func dlqClash(topic string) error {
	owner := strings.TrimSuffix(topic, "_dlq")
	return fmt.Errorf("table %s is the dead-letter table of topic %s, so topic %s cannot have an Iceberg table of that name (rename the topic or turn its zombi.iceberg.enable off); `zombi iceberg drop %s` drops it together with %s's table: %w", DLQName(owner), owner, topic, owner, owner, ErrTableClash)
}

// written is the sum of every partition's high watermark: it grows while
// producers write.
func (m *Materializer) written() int64 {
	var n int64
	for _, ti := range m.src.Topics() {
		if plog.IsInternalTopic(ti.Name) {
			continue // never materialized: not the users' writes
		}
		for p := int32(0); p < ti.Partitions; p++ {
			if _, hwm, err := m.src.Offsets(ti.Name, p); err == nil {
				n += hwm
			}
		}
	}
	return n
}

// pause waits work × (1/BusyShare - 1), or until ctx ends.
func (m *Materializer) pause(ctx context.Context, work time.Duration) {
	d := time.Duration(float64(work) * (1/m.cfg.BusyShare - 1))
	if d <= 0 {
		return
	}
	pausedSeconds.Add(d.Seconds())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// CheckConfigChange refuses a change of zombi.iceberg.mode that the
// topic's existing table cannot take (its value column is binary in raw
// mode, a string in json mode): without this, the change would be stored
// and the topic's commits would stop. It is the log's config guard
// (plog.Log.SetConfigGuard). A table that cannot be read now (S3 down)
// lets the change through; the materializer reports the mismatch then.
func (m *Materializer) CheckConfigChange(topic string, old, next map[string]string) error {
	mode := func(c map[string]string) Mode {
		md, err := ParseMode(strings.TrimSpace(c[topicconfig.IcebergMode]))
		if err != nil {
			return ""
		}
		return md
	}
	want := mode(next)
	if want == "" || want == mode(old) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, err := Load(ctx, m.cfg.Warehouse.Storage(m.cfg.Namespace, topic), table.Identifier{m.cfg.Namespace, topic})
	if err != nil {
		if !errors.Is(err, ErrNoTable) {
			m.log.Warn("iceberg: table unreadable, mode change let through", "topic", topic, "err", err)
		}
		return nil
	}
	if have := t.Layout().Mode; have != want {
		return &topicconfig.InvalidError{Msg: fmt.Sprintf("Invalid value %s for configuration %s: the Iceberg table of %s is in mode %s, and a table's mode never changes: set zombi.iceberg.enable=false, drop the table (zombi iceberg drop %s --yes), then set the mode with zombi.iceberg.enable=true to rebuild it from the log start",
			next[topicconfig.IcebergMode], topicconfig.IcebergMode, topic, have, topic)}
	}
	return nil
}
