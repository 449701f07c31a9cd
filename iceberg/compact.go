package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// Compact rewrites the small data files (under smallBytes) of each closed
// partition bucket into files of up to the target size
// (write.target-file-size-bytes when the table has it, else
// DefaultTargetFileBytes, and at most compactBatchBytes of input each: the
// rows of one output file are sorted in memory), rows sorted by _partition
// then _offset, in one "replace" snapshot that carries the current
// zombi.offsets and zombi.incarnation. A day or hour bucket is closed when
// it ends before closedBefore; unpartitioned, a file is closed when the
// snapshot that added it is older than closedBefore. A bucket is rewritten
// only when it has at least 2 small files; files written under an older
// schema are left as they are (an evolved schema never rewrites old
// files). The rows are never changed, only regrouped. It returns the
// number of files replaced.
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

	batches, err := planCompaction(tbl, closedBefore, smallBytes, min(targetFileBytes(tbl), compactBatchBytes))
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
		name := fmt.Sprintf("data/%s-c%05d.parquet", commit, len(written))
		df, err := t.rewrite(ctx, tbl, asc, name, b)
		if errors.Is(err, errOldSchema) {
			slog.Info("iceberg compaction skips files of an older schema", "component", "iceberg", "table", t.st.Location(), "err", err)
			continue
		}
		if err != nil {
			cleanup()
			return 0, fmt.Errorf("compact %s: %w", t.st.Location(), err)
		}
		written = append(written, name)
		del, add = append(del, b...), append(add, df)
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

// compactBatchBytes bounds the input of one output file: a batch is
// decoded in memory to be sorted (several times its Parquet size), so the
// output files are at most this big even when the target is larger. (A
// streaming merge of the sorted inputs would lift this; not done yet.)
const compactBatchBytes = 32 << 20

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

// rewrite reads the files of one batch, sorts their rows by _partition and
// _offset, and writes them as one file named name.
func (t *Table) rewrite(ctx context.Context, tbl *table.Table, asc *arrow.Schema, name string, files []iceberg.DataFile) (iceberg.DataFile, error) {
	cols := make([][]arrow.Array, asc.NumFields())
	defer func() {
		for _, c := range cols {
			for _, a := range c {
				a.Release()
			}
		}
	}()
	for _, df := range files {
		if err := readInto(ctx, tbl, asc, df.FilePath(), cols); err != nil {
			return nil, err
		}
	}
	merged := make([]arrow.Array, len(cols))
	defer func() {
		for _, a := range merged {
			if a != nil {
				a.Release()
			}
		}
	}()
	for i, c := range cols {
		a, err := array.Concatenate(c, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		merged[i] = a
	}
	pi, _ := columnIndex(asc, FieldPartition)
	oi, _ := columnIndex(asc, FieldOffset)
	parts, offs := merged[pi].(*array.Int32), merged[oi].(*array.Int64)
	idx := make([]int64, parts.Len())
	for i := range idx {
		idx[i] = int64(i)
	}
	slices.SortStableFunc(idx, func(a, b int64) int {
		return cmp.Or(cmp.Compare(parts.Value(int(a)), parts.Value(int(b))), cmp.Compare(offs.Value(int(a)), offs.Value(int(b))))
	})
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.AppendValues(idx, nil)
	indices := ib.NewInt64Array()
	ib.Release()
	defer indices.Release()
	rec := array.NewRecordBatch(asc, merged, int64(parts.Len()))
	defer rec.Release()
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatum(rec), compute.NewDatum(indices))
	if err != nil {
		return nil, fmt.Errorf("sort rows: %w", err)
	}
	defer out.Release()
	sorted := out.(*compute.RecordDatum).Value

	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithStats(true))
	fw, err := pqarrow.NewFileWriter(asc, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, err
	}
	if err := fw.Write(sorted); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	fmeta, err := fw.FileMetadata()
	if err != nil {
		return nil, err
	}
	if err := t.st.Write(ctx, name, buf.Bytes()); err != nil {
		return nil, err
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: tbl.Schema(), Spec: tbl.Spec(), Format: iceberg.ParquetFile, Metadata: fmeta,
		FilePath: t.path(name), FileSize: int64(buf.Len()), Content: iceberg.EntryContentData, FormatVersion: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("data file %s: %w", name, err)
	}
	return df, nil
}

// readInto appends the columns of one data file to cols; a file whose
// schema is not asc is errOldSchema.
func readInto(ctx context.Context, tbl *table.Table, asc *arrow.Schema, path string, cols [][]arrow.Array) error {
	fr, c, err := openParquet(tbl, path)
	if err != nil {
		return err
	}
	defer c.Close()
	at, err := fr.ReadTable(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer at.Release()
	if !sameColumns(at.Schema(), asc) {
		return fmt.Errorf("%s: %w", path, errOldSchema)
	}
	for i := range cols {
		for _, ch := range at.Column(i).Data().Chunks() {
			ch.Retain()
			cols[i] = append(cols[i], ch)
		}
	}
	return nil
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
