package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// Compact rewrites the small data files (under smallBytes) of each closed
// partition bucket into files of up to the target size
// (write.target-file-size-bytes when the table has it, else
// DefaultTargetFileBytes), in one "replace" snapshot that carries the
// current zombi.offsets and zombi.incarnation. The rows of a new file are
// the merge of its inputs in _partition, _offset order (each input is
// sorted so; the merge streams, holding one record batch per input and the
// output file as written; an unsorted input would give an unsorted output,
// never a lost row). A day or hour bucket is closed when it ends before
// closedBefore; unpartitioned, a file is closed when the snapshot that
// added it is older than closedBefore. A bucket is rewritten only when it
// has at least 2 small files; files written under an older schema are left
// as they are (an evolved schema never rewrites old files). The rows are
// never changed, only regrouped. It returns the number of files replaced.
//
// Reading and writing happen without t.mu; the commit holds it and goes
// through the conditional create: another process's commit in between is
// ErrConflict (nothing changes, the files written are deleted, run it
// again). An in-process Append in between is fine: the replaced files are
// still in the table, and the replace snapshot carries the append's offsets.
func (t *Table) Compact(ctx context.Context, closedBefore time.Time, smallBytes int64) (int, error) {
	t.mu.Lock()
	if err := t.load(ctx); err != nil {
		t.mu.Unlock()
		return 0, err
	}
	tbl := t.tbl
	t.mu.Unlock()

	batches, err := planCompaction(tbl, closedBefore, smallBytes, targetFileBytes(tbl))
	if err != nil || len(batches) == 0 {
		return 0, err
	}
	asc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		return 0, err
	}
	commit := uuid.NewString()
	var del, add []iceberg.DataFile
	var written []string
	cleanup := func() {
		if err := t.st.Delete(context.WithoutCancel(ctx), written...); err != nil {
			slog.Warn("iceberg compaction files not deleted (left to the orphan clean-up)", "component", "iceberg", "table", t.st.Location(), "err", err)
		}
	}
	for _, b := range batches {
		name := fmt.Sprintf("data/compact-%s-%05d.parquet", commit, len(written))
		df, used, err := t.rewrite(ctx, tbl, asc, name, b)
		if err != nil {
			cleanup()
			return 0, fmt.Errorf("compact %s: %w", t.st.Location(), err)
		}
		if df == nil {
			continue // fewer than 2 files of the current schema
		}
		written = append(written, name)
		del, add = append(del, used...), append(add, df)
	}
	if len(del) == 0 {
		return 0, nil
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stale {
		if err := t.load(ctx); err != nil {
			cleanup()
			return 0, err
		}
	}
	txn := t.tbl.NewTransaction()
	rw := txn.NewRewrite(currentSummaryProps(t.tbl))
	for _, df := range del {
		rw.DeleteFile(df)
	}
	for _, df := range add {
		rw.AddDataFile(df)
	}
	if err := rw.Commit(ctx); err != nil {
		// Typically a file to replace is gone (another compaction).
		cleanup()
		return 0, fmt.Errorf("compact %s: %w: %v", t.st.Location(), ErrConflict, err)
	}
	t.exact = true
	ntbl, err := txn.Commit(ctx)
	t.exact = false
	if err != nil {
		t.stale = true
		if errors.Is(err, ErrConflict) {
			cleanup() // nothing of ours is in the table
		}
		return 0, fmt.Errorf("compact %s: %w", t.st.Location(), err)
	}
	t.tbl = ntbl
	slog.Info("iceberg files compacted", "component", "iceberg", "table", t.st.Location(), "replaced", len(del), "written", len(add), "version", t.version)
	return len(del), nil
}

// targetFileBytes: the table property write.target-file-size-bytes, else
// DefaultTargetFileBytes.
func targetFileBytes(tbl *table.Table) int64 {
	if v, err := strconv.ParseInt(tbl.Properties()[table.WriteTargetFileSizeBytesKey], 10, 64); err == nil && v > 0 {
		return v
	}
	return DefaultTargetFileBytes
}

// planCompaction groups the small files of closed buckets into batches of
// at least 2 files and at most target bytes (one output file each), in
// the order the files were added.
func planCompaction(tbl *table.Table, closedBefore time.Time, smallBytes, target int64) ([][]iceberg.DataFile, error) {
	entries, err := liveDataFiles(tbl)
	if err != nil {
		return nil, err
	}
	part := partitioningOf(tbl)
	type file struct {
		seq int64
		df  iceberg.DataFile
	}
	buckets := map[int64][]file{}
	for _, e := range entries {
		df := e.DataFile()
		if df.FileSizeBytes() >= smallBytes {
			continue
		}
		b, closed, err := closedBucket(tbl, part, e, closedBefore)
		if err != nil {
			return nil, err
		}
		if closed {
			buckets[b] = append(buckets[b], file{e.SequenceNum(), df})
		}
	}
	var out [][]iceberg.DataFile
	for _, b := range slices.Sorted(func(yield func(int64) bool) {
		for k := range buckets {
			if !yield(k) {
				return
			}
		}
	}) {
		fs := buckets[b]
		slices.SortFunc(fs, func(x, y file) int {
			return cmp.Or(cmp.Compare(x.seq, y.seq), cmp.Compare(x.df.FilePath(), y.df.FilePath()))
		})
		var cur []iceberg.DataFile
		var size int64
		flush := func() {
			if len(cur) >= 2 {
				out = append(out, cur)
			}
			cur, size = nil, 0
		}
		for _, f := range fs {
			if len(cur) > 0 && size+f.df.FileSizeBytes() > target {
				flush()
			}
			cur, size = append(cur, f.df), size+f.df.FileSizeBytes()
		}
		flush()
	}
	return out, nil
}

// closedBucket is the bucket of a data file and whether it is closed.
func closedBucket(tbl *table.Table, part Partitioning, e iceberg.ManifestEntry, closedBefore time.Time) (int64, bool, error) {
	if part == PartitionNone {
		s := tbl.Metadata().SnapshotByID(e.SnapshotID())
		if s == nil {
			return 0, false, nil // its snapshot is expired: age unknown, keep it
		}
		return 0, s.TimestampMs < closedBefore.UnixMilli(), nil
	}
	v, err := partitionValue(e.DataFile())
	if err != nil {
		return 0, false, err
	}
	width := 24 * time.Hour
	if part == PartitionHour {
		width = time.Hour
	}
	end := time.Unix(0, 0).Add(time.Duration(v+1) * width)
	return v, !end.After(closedBefore), nil
}

// partitionValue is a data file's day or hour bucket.
func partitionValue(df iceberg.DataFile) (int64, error) {
	switch x := df.Partition()[partitionFieldID].(type) {
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case iceberg.Date:
		return int64(x), nil
	default:
		return 0, fmt.Errorf("data file %s: partition value %v (%T)", df.FilePath(), x, x)
	}
}

// partitioningOf is the table's partitioning, from its spec.
func partitioningOf(tbl *table.Table) Partitioning {
	spec := tbl.Spec()
	if spec.NumFields() == 0 {
		return PartitionNone
	}
	if _, ok := spec.Field(0).Transform.(iceberg.HourTransform); ok {
		return PartitionHour
	}
	return PartitionDay
}

// errOldSchema: a file to compact was written under another schema.
var errOldSchema = errors.New("file written under another schema")

// rewrite merges the files of one batch, each sorted by _partition and
// _offset, into one file named name, sorted the same way, and returns it
// with the files it merged: those of another schema (before an evolution)
// are left out, and with fewer than 2 left nothing is written (nil). It
// streams: in memory are one record batch per input and the output file
// as written.
func (t *Table) rewrite(ctx context.Context, tbl *table.Table, asc *arrow.Schema, name string, files []iceberg.DataFile) (iceberg.DataFile, []iceberg.DataFile, error) {
	ins := make([]*mergeInput, 0, len(files))
	defer func() {
		for _, in := range ins {
			in.close()
		}
	}()
	var used []iceberg.DataFile
	for _, df := range files {
		in, err := openMergeInput(ctx, tbl, asc, df.FilePath())
		if errors.Is(err, errOldSchema) {
			slog.Info("iceberg compaction leaves a file of an older schema", "component", "iceberg", "table", t.st.Location(), "file", df.FilePath())
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		ins = append(ins, in)
		used = append(used, df)
	}
	if len(used) < 2 {
		return nil, nil, nil
	}

	var buf bytes.Buffer
	// The same encoding as the appends' files (writer.go).
	fw, err := pqarrow.NewFileWriter(asc, &buf, writerProps(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, nil, err
	}
	var pending []arrow.RecordBatch
	var rows int64
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		rec, err := concatRecords(asc, pending)
		for _, r := range pending {
			r.Release()
		}
		pending, rows = pending[:0], 0
		if err != nil {
			return err
		}
		defer rec.Release()
		return fw.WriteBuffered(rec)
	}
	for {
		// The input whose next row is least, ties to the earlier file
		// (a stable merge), and the key its run must stay below.
		best, second := -1, -1
		for k, in := range ins {
			if in.done() {
				continue
			}
			switch {
			case best < 0 || in.less(ins[best]):
				best, second = k, best
			case second < 0 || in.less(ins[second]):
				second = k
			}
		}
		if best < 0 {
			break
		}
		in := ins[best]
		j := in.i + 1
		for j < in.n {
			if second >= 0 {
				p, o := in.part.Value(j), in.off.Value(j)
				sp, so := ins[second].key()
				if c := cmp.Or(cmp.Compare(p, sp), cmp.Compare(o, so)); c > 0 || (c == 0 && second < best) {
					break
				}
			}
			j++
		}
		pending = append(pending, in.rec.NewSlice(int64(in.i), int64(j)))
		rows += int64(j - in.i)
		if err := in.advance(ctx, j); err != nil {
			return nil, nil, err
		}
		if rows >= mergeBatchRows {
			if err := flush(); err != nil {
				return nil, nil, fmt.Errorf("write %s: %w", name, err)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", name, err)
	}
	if err := fw.Close(); err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", name, err)
	}
	fmeta, err := fw.FileMetadata()
	if err != nil {
		return nil, nil, err
	}
	if err := t.st.Write(ctx, name, buf.Bytes()); err != nil {
		return nil, nil, err
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: tbl.Schema(), Spec: tbl.Spec(), Format: iceberg.ParquetFile, Metadata: fmeta,
		FilePath: t.path(name), FileSize: int64(buf.Len()), Content: iceberg.EntryContentData, FormatVersion: 2,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("data file %s: %w", name, err)
	}
	return df, used, nil
}

// mergeBatchRows is how many merged rows are gathered per write.
const mergeBatchRows = 64 << 10

// concatRecords is the records one after the other, as one record of asc.
func concatRecords(asc *arrow.Schema, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, asc.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	parts := make([]arrow.Array, len(recs))
	for i := range cols {
		for k, r := range recs {
			parts[k] = r.Column(i)
		}
		c, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecordBatch(asc, cols, n), nil
}

// mergeInput is one sorted data file being merged: its current record
// batch and the next row in it.
type mergeInput struct {
	path string
	c    io.Closer
	rr   pqarrow.RecordReader
	rec  arrow.RecordBatch // nil at the end
	i, n int
	part *array.Int32
	off  *array.Int64
	pi   int // column indexes of _partition and _offset
	oi   int
}

// openMergeInput opens a data file for the merge; a file whose schema is
// not asc is errOldSchema.
func openMergeInput(ctx context.Context, tbl *table.Table, asc *arrow.Schema, path string) (*mergeInput, error) {
	fr, c, err := openParquet(tbl, path)
	if err != nil {
		return nil, err
	}
	in := &mergeInput{path: path, c: c}
	sc, err := fr.Schema()
	if err != nil {
		in.close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !sameColumns(sc, asc) {
		in.close()
		return nil, fmt.Errorf("%s: %w", path, errOldSchema)
	}
	in.pi, _ = columnIndex(asc, FieldPartition)
	in.oi, _ = columnIndex(asc, FieldOffset)
	if in.rr, err = fr.GetRecordReader(ctx, nil, nil); err != nil {
		in.close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := in.advance(ctx, 0); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

func (in *mergeInput) done() bool { return in.rec == nil }

func (in *mergeInput) key() (int32, int64) { return in.part.Value(in.i), in.off.Value(in.i) }

// less: in's next row sorts before o's.
func (in *mergeInput) less(o *mergeInput) bool {
	p, off := in.key()
	op, ooff := o.key()
	return p < op || (p == op && off < ooff)
}

// advance moves to row i, reading the next non-empty batch past the end.
func (in *mergeInput) advance(ctx context.Context, i int) error {
	in.i = i
	for in.rec == nil || in.i >= in.n {
		if in.rec != nil {
			in.rec.Release()
			in.rec = nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := in.rr.Read()
		if rec == nil || errors.Is(err, io.EOF) {
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read %s: %w", in.path, err)
			}
			return nil // the end
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", in.path, err)
		}
		rec.Retain()
		in.rec, in.i, in.n = rec, 0, int(rec.NumRows())
		var ok1, ok2 bool
		in.part, ok1 = rec.Column(in.pi).(*array.Int32)
		in.off, ok2 = rec.Column(in.oi).(*array.Int64)
		if !ok1 || !ok2 {
			return fmt.Errorf("read %s: _partition/_offset are not int32/int64", in.path)
		}
	}
	return nil
}

func (in *mergeInput) close() {
	if in.rec != nil {
		in.rec.Release()
		in.rec = nil
	}
	if in.rr != nil {
		in.rr.Release()
	}
	in.c.Close()
}

// sameColumns: same field ids, names and types in the same order.
func sameColumns(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.Fields() {
		fa, fb := a.Field(i), b.Field(i)
		ia, _ := fa.Metadata.GetValue("PARQUET:field_id")
		ib, _ := fb.Metadata.GetValue("PARQUET:field_id")
		if ia != ib || fa.Name != fb.Name || !arrow.TypeEqual(fa.Type, fb.Type) {
			return false
		}
	}
	return true
}
