package iceberg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// WriteOptions are the per-topic settings a writer follows (topic configs
// zombi.iceberg.target.file.bytes and, later, mode and columns).
type WriteOptions struct {
	// TargetFileBytes rolls a data file once it reaches this size
	// (zombi.iceberg.target.file.bytes, default 128 MiB). A file ends at
	// most one row group (4 MiB of raw records) past it.
	TargetFileBytes int64
	// SpillDir is the local directory the open data files are written to
	// before they are uploaded (the materializer passes
	// {data dir}/iceberg-spill; "" is os.TempDir()). Files of an append
	// that crashed stay there: empty the directory at start.
	SpillDir string
}

// DefaultTargetFileBytes is zombi.iceberg.target.file.bytes' default.
const DefaultTargetFileBytes = 128 << 20

// maxOpenFiles bounds the data files an append writes at once (one per
// day or hour bucket): past it the least recently used one is closed and
// uploaded (hour partitioning over a long backfill). Event times that
// interleave across more buckets than this make small files: 64 covers
// late data within 2.5 days of hours (an open file costs its 64 KiB write
// buffer; the builders of all files share two row groups,
// TestMemoryBounded).
const maxOpenFiles = 64

// ErrOutOfOrder: Add got a record that is not after the previous one in
// (partition, offset) order. The record is refused; the append stays usable.
var ErrOutOfOrder = errors.New("iceberg: record out of order")

// Append is one pending snapshot: records are added in (partition, offset)
// order (a partition's records in offset order, all of them before the next
// partition's), then Commit makes them visible at once with the offsets
// they reach, or Abort drops them.
//
// Add streams the rows into one Parquet file per partition bucket, spilled
// to WriteOptions.SpillDir: every row group (4 MiB of raw records) is
// compressed and written out, so memory stays at about one row group and
// the zstd encoders per open file (at most maxOpenFiles). A file that
// reaches TargetFileBytes is closed and uploaded during Add; the rest are
// at Commit. An Append is used by one goroutine.
type Append struct {
	t        *Table
	opts     WriteOptions
	part     Partitioning
	sc       *iceberg.Schema
	spec     iceberg.PartitionSpec
	asc      *arrow.Schema
	enc      *rowEncoder // the table schema's rows (raw, json or dlq)
	id       string      // names this append's files
	rowGroup int64

	open     map[int64]*fileWriter
	buffered int64  // raw bytes in the open files' builders
	comp     worker // writes the row groups of all open files
	uploads  worker // uploads closed files
	tick     uint64
	nfiles   int
	files    []iceberg.DataFile
	uploaded []string // names of the data files uploaded so far
	closed   int64    // bytes of the closed files
	rows     int
	ranges   map[int32][2]int64 // per partition, first and last offset added
	lastPart int32
	lastOff  int64

	err  error // sticky: a failed write or upload
	done bool
}

// NewAppend starts an append to t.
func (t *Table) NewAppend(opts WriteOptions) *Append {
	if opts.TargetFileBytes <= 0 {
		opts.TargetFileBytes = DefaultTargetFileBytes
	}
	if opts.SpillDir == "" {
		opts.SpillDir = os.TempDir()
	}
	t.mu.Lock()
	sc, spec, part := t.tbl.Schema(), t.tbl.Spec(), t.partitioning()
	t.mu.Unlock()
	a := &Append{
		t: t, opts: opts, part: part, sc: sc, spec: spec, id: uuid.NewString(),
		rowGroup: min(defaultRowGroupBytes, opts.TargetFileBytes),
		open:     map[int64]*fileWriter{}, ranges: map[int32][2]int64{},
	}
	a.asc, a.err = table.SchemaToArrowSchema(sc, nil, true, false)
	if a.err == nil {
		a.enc, a.err = newRowEncoder(sc, a.asc)
	}
	if a.err == nil {
		if err := os.MkdirAll(opts.SpillDir, 0o755); err != nil {
			a.err = fmt.Errorf("iceberg spill dir: %w", err)
		}
	}
	return a
}

var errFinished = errors.New("iceberg: append already committed or aborted")

// Add adds one record. It must come after the previous one: same partition
// and a higher offset, or a higher partition (ErrOutOfOrder otherwise).
// An error other than ErrOutOfOrder (a failed write or upload) is final:
// the append can only be aborted.
func (a *Append) Add(ctx context.Context, r Record) error {
	if a.done {
		return errFinished
	}
	if a.err != nil {
		return a.err
	}
	if a.rows > 0 && (r.Partition < a.lastPart || r.Partition == a.lastPart && r.Offset <= a.lastOff) {
		return fmt.Errorf("%w: partition %d offset %d after partition %d offset %d", ErrOutOfOrder, r.Partition, r.Offset, a.lastPart, a.lastOff)
	}
	// In json mode a value that is not JSON text is refused here, before
	// anything changes (the caller sends it to the dead letters).
	if err := a.enc.check(&r); err != nil {
		return err
	}
	micros := r.Timestamp.UnixMicro()
	b := a.part.bucket(micros)
	w := a.open[b]
	if w == nil {
		var err error
		if w, err = a.openFile(ctx, b); err != nil {
			a.err = err
			return err
		}
	}
	a.tick++
	w.lastUse = a.tick
	before := w.bufRaw
	if err := w.add(a.enc, &r, len(a.open) <= 2); err != nil {
		a.err = err
		return err
	}
	a.buffered += w.bufRaw - before
	if rg, ok := a.ranges[r.Partition]; ok {
		a.ranges[r.Partition] = [2]int64{rg[0], r.Offset}
	} else {
		a.ranges[r.Partition] = [2]int64{r.Offset, r.Offset}
	}
	a.lastPart, a.lastOff = r.Partition, r.Offset
	a.rows++
	if w.bufRaw < a.rowGroup && a.buffered >= 2*a.rowGroup {
		// Many open files, each with part of a row group: the builders
		// hold at most two row groups in all, so flush the fullest.
		for _, o := range a.open {
			if o.bufRaw > w.bufRaw {
				w = o
			}
		}
	} else if w.bufRaw < a.rowGroup {
		return nil
	}
	if err := a.flush(ctx, w); err != nil {
		a.err = err
		return err
	}
	return nil
}

// flush makes w's buffered rows a row group, then rolls w if it reached
// the target size (size counts queued rows raw, more than they will take,
// so the file ends at most one row group past the target).
func (a *Append) flush(ctx context.Context, w *fileWriter) error {
	a.buffered -= w.bufRaw
	if err := w.flush(); err != nil {
		return err
	}
	if w.size() >= a.opts.TargetFileBytes {
		return a.closeFile(ctx, w)
	}
	return nil
}

// openFile starts the file of bucket b, first closing the least recently
// used one when maxOpenFiles are open.
func (a *Append) openFile(ctx context.Context, b int64) (*fileWriter, error) {
	if len(a.open) >= maxOpenFiles {
		var lru *fileWriter
		for _, w := range a.open {
			if lru == nil || w.lastUse < lru.lastUse {
				lru = w
			}
		}
		if err := a.closeFile(ctx, lru); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("data/%s-%05d.parquet", a.id, a.nfiles)
	spill := filepath.Join(a.opts.SpillDir, fmt.Sprintf("%s-%05d.parquet", a.id, a.nfiles))
	a.nfiles++
	w, err := newFileWriter(a.asc, &a.comp, b, name, spill)
	if err != nil {
		return nil, err
	}
	a.open[b] = w
	return w, nil
}

// closeFile finishes w, uploads it and records its DataFile.
func (a *Append) closeFile(ctx context.Context, w *fileWriter) error {
	delete(a.open, w.bucket)
	a.buffered -= w.bufRaw
	md, size, err := w.close()
	if err != nil {
		os.Remove(w.spill)
		return err
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: a.sc, Spec: a.spec, Format: iceberg.ParquetFile, Metadata: md,
		FilePath: a.t.path(w.name), FileSize: size, Content: iceberg.EntryContentData, FormatVersion: 2,
	})
	if err != nil {
		os.Remove(w.spill)
		return fmt.Errorf("data file %s: %w", w.name, err)
	}
	// Counted before the upload: a failed upload may have left the object.
	a.uploaded = append(a.uploaded, w.name)
	a.files = append(a.files, df)
	a.closed += size
	if err := a.uploads.failed(); err != nil {
		os.Remove(w.spill)
		return err
	}
	st, name, spill := a.t.st, w.name, w.spill
	// The upload runs after Add returns, with Add's ctx: a ctx that ends
	// before Commit fails the append.
	a.uploads.submit(func(skip bool) error {
		defer os.Remove(spill)
		if skip {
			return nil
		}
		if err := putFile(ctx, st, name, spill); err != nil {
			return fmt.Errorf("upload %s: %w", name, err)
		}
		return nil
	})
	return nil
}

// Rows is the number of records added.
func (a *Append) Rows() int { return a.rows }

// Bytes is what the append has written so far: the sizes of its closed
// files, the compressed bytes of its open ones, and the raw bytes of the
// rows not yet compressed. For the caller's per-commit budget.
func (a *Append) Bytes() int64 {
	n := a.closed
	for _, w := range a.open {
		n += w.size()
	}
	return n
}

// Commit makes the added records one snapshot whose zombi.offsets is the
// committed one updated with next (per partition, the next offset to
// materialize; partitions not in next keep theirs) and whose
// zombi.incarnation is incarnation. Every record added must be at or past
// the committed offset of its partition and before next. Offsets that move
// without rows (control records, aborted transactions) make a snapshot
// without files. A lost race is ErrConflict with the table reloaded; a race
// lost to our own earlier attempt is success, and nothing is ever appended
// twice. The files of a failed commit stay behind for the orphan clean-up;
// spilled files are always removed.
func (a *Append) Commit(ctx context.Context, incarnation string, next map[int32]int64) error {
	if a.done {
		return errFinished
	}
	a.done = true
	defer a.comp.stop()
	defer a.uploads.stop()
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	fail := func(err error) error {
		a.discardOpen()
		a.removeUploaded()
		return err
	}
	if a.err != nil {
		return fail(a.err)
	}
	if t.stale {
		if err := t.load(ctx); err != nil {
			return fail(err)
		}
	}
	committed, err := snapshotOffsets(t.tbl.CurrentSnapshot())
	if err != nil {
		return fail(err)
	}
	offsets := maps.Clone(committed)
	for p, o := range next {
		if o < committed[p] {
			return fail(fmt.Errorf("append: partition %d: next offset %d is behind the committed %d", p, o, committed[p]))
		}
		offsets[p] = o
	}
	for p, rg := range a.ranges {
		n, ok := next[p]
		if !ok || rg[1] >= n || rg[0] < committed[p] {
			return fail(fmt.Errorf("append: partition %d offsets %d..%d are outside [%d, %d)", p, rg[0], rg[1], committed[p], n))
		}
	}
	if a.rows == 0 {
		if maps.Equal(offsets, committed) {
			return nil
		}
		return t.commitOffsets(ctx, incarnation, offsets)
	}
	// Close the open files in bucket order (deterministic file order).
	for _, b := range slices.Sorted(maps.Keys(a.open)) {
		if err := a.closeFile(ctx, a.open[b]); err != nil {
			return fail(err)
		}
	}
	if err := a.uploads.wait(); err != nil {
		return fail(err)
	}
	txn := t.tbl.NewTransaction()
	props := iceberg.Properties{SummaryOffsets: encodeOffsets(offsets), SummaryIncarnation: incarnation}
	// The duplicate check re-reads every manifest of the table, so each
	// commit would cost more than the last; our file names are fresh
	// UUIDs and can never be there already.
	if err := txn.AddDataFiles(ctx, a.files, props, table.WithoutDuplicateCheck()); err != nil {
		return fail(fmt.Errorf("append %s: %w", t.st.Location(), err))
	}
	tbl, err := txn.Commit(ctx)
	if err != nil {
		// Maybe committed by a reader's view, maybe not: the files stay
		// for the orphan clean-up, never deleted here.
		t.stale = true
		return fmt.Errorf("append %s: %w", t.st.Location(), err)
	}
	t.tbl = tbl
	return nil
}

// Abort drops the append and deletes the files it spilled or uploaded.
func (a *Append) Abort(context.Context) {
	if a.done {
		return
	}
	a.done = true
	defer a.comp.stop()
	defer a.uploads.stop()
	a.discardOpen()
	a.removeUploaded()
}

// discardOpen drops the open files and waits for the uploads (their spills
// are removed either way).
func (a *Append) discardOpen() {
	_ = a.uploads.wait()
	for b, w := range a.open {
		w.discard()
		delete(a.open, b)
	}
	a.buffered = 0
}

// removeUploaded deletes the data files this append uploaded; they are in
// no snapshot, and one that stays behind is an orphan for the clean-up.
func (a *Append) removeUploaded() {
	for _, name := range a.uploaded {
		if err := a.t.st.FS().Remove(a.t.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.Warn("iceberg data file of a dropped append not removed", "component", "iceberg", "table", a.t.st.Location(), "file", name, "err", err)
		}
	}
	a.uploaded = nil
}
