package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// TableSummary is what the status endpoint shows of the current snapshot
// (all zero before the first append).
type TableSummary struct {
	Version    int // N of metadata/v{N}.metadata.json
	SnapshotID int64
	Timestamp  time.Time
	Operation  string // append, replace, ...
	Records    int64  // total-records
	DataFiles  int64  // total-data-files
	Bytes      int64  // total-files-size
}

// Summary reads the loaded current snapshot's summary.
func (t *Table) Summary() TableSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := TableSummary{Version: t.version}
	s := t.tbl.CurrentSnapshot()
	if s == nil {
		return out
	}
	out.SnapshotID, out.Timestamp = s.SnapshotID, time.UnixMilli(s.TimestampMs).UTC()
	if s.Summary != nil {
		out.Operation = string(s.Summary.Operation)
		p := s.Summary.Properties
		out.Records, _ = strconv.ParseInt(p["total-records"], 10, 64)
		out.DataFiles, _ = strconv.ParseInt(p["total-data-files"], 10, 64)
		out.Bytes, _ = strconv.ParseInt(p["total-files-size"], 10, 64)
	}
	return out
}

// PartitionStats is what a table holds of one Kafka partition: its rows,
// the distinct _offset values among them (Rows > Distinct means an offset
// is there twice), and the least and greatest _offset.
type PartitionStats struct {
	Rows     int64
	Distinct int64
	Min, Max int64
}

// liveDataFiles lists the data files of tbl's current snapshot, with the
// entries (for their snapshot id). A table with delete files is refused:
// Zombi writes none, and its rows could not be counted file by file.
func liveDataFiles(tbl *table.Table) ([]iceberg.ManifestEntry, error) {
	s := tbl.CurrentSnapshot()
	if s == nil {
		return nil, nil
	}
	fsys, err := tbl.FS(context.Background())
	if err != nil {
		return nil, err
	}
	mans, err := s.Manifests(fsys)
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", s.SnapshotID, err)
	}
	var out []iceberg.ManifestEntry
	for _, m := range mans {
		if m.ManifestContent() != iceberg.ManifestContentData {
			return nil, fmt.Errorf("snapshot %d has delete files (%s): not written by zombi", s.SnapshotID, m.FilePath())
		}
		for e, err := range m.Entries(fsys, true) {
			if err != nil {
				return nil, fmt.Errorf("manifest %s: %w", m.FilePath(), err)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// readBatchRows is the rows per record batch read from a data file
// (tests lower it to cross batch boundaries).
var readBatchRows int64 = 64 << 10

// openParquet opens a data file for reading through the table's io (ranged
// reads where the io has them).
func openParquet(tbl *table.Table, path string) (*pqarrow.FileReader, io.Closer, error) {
	fsys, err := tbl.FS(context.Background())
	if err != nil {
		return nil, nil, err
	}
	f, err := fsys.Open(path)
	if err != nil {
		return nil, nil, err
	}
	pr, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, memory.DefaultAllocator)
	if err != nil {
		pr.Close()
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return fr, pr, nil
}

// columnIndex is the index of the top-level column with field id id in
// the file's schema (columns are found by id, never by name or position).
func columnIndex(sc *arrow.Schema, id int) (int, error) {
	for i, f := range sc.Fields() {
		if v, ok := f.Metadata.GetValue("PARQUET:field_id"); ok && v == strconv.Itoa(id) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no column with field id %d", id)
}

type partAcc struct {
	rows     int64
	min, max int64
	offsets  *roaring64.Bitmap
}

// PartitionStats counts, per _partition, the rows of the current snapshot,
// their distinct _offset values, and the least and greatest, reading only
// the _partition and _offset columns of each data file. Distinct is exact:
// a roaring bitmap of the offsets per partition (runs of consecutive
// offsets, the usual case, cost a few bytes).
func (t *Table) PartitionStats(ctx context.Context) (map[int32]PartitionStats, error) {
	t.mu.Lock()
	tbl := t.tbl
	t.mu.Unlock()
	files, err := liveDataFiles(tbl)
	if err != nil {
		return nil, fmt.Errorf("partition stats of %s: %w", t.st.Location(), err)
	}
	acc := map[int32]*partAcc{}
	for _, e := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := addFileStats(ctx, tbl, e.DataFile().FilePath(), acc); err != nil {
			return nil, fmt.Errorf("partition stats of %s: %w", t.st.Location(), err)
		}
	}
	out := make(map[int32]PartitionStats, len(acc))
	for p, a := range acc {
		out[p] = PartitionStats{Rows: a.rows, Distinct: int64(a.offsets.GetCardinality()), Min: a.min, Max: a.max}
	}
	return out, nil
}

func addFileStats(ctx context.Context, tbl *table.Table, path string, acc map[int32]*partAcc) error {
	fr, c, err := openParquet(tbl, path)
	if err != nil {
		return err
	}
	defer c.Close()
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	pi, err := columnIndex(sc, FieldPartition)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	oi, err := columnIndex(sc, FieldOffset)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// Both are primitive top-level columns, so their leaf index is
	// their field index.
	rr, err := fr.GetRecordReader(ctx, []int{pi, oi}, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer rr.Release()
	for {
		rec, err := rr.Read()
		if rec != nil {
			parts, ok1 := rec.Column(0).(*array.Int32)
			offs, ok2 := rec.Column(1).(*array.Int64)
			if !ok1 || !ok2 {
				return fmt.Errorf("%s: _partition/_offset are %s/%s, want int32/int64", path, rec.Column(0).DataType(), rec.Column(1).DataType())
			}
			if err := accumulate(parts, offs, acc); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && rec == nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// accumulate adds a batch, as runs of consecutive offsets of one partition
// (rows are sorted by partition and offset, so runs are long).
func accumulate(parts *array.Int32, offs *array.Int64, acc map[int32]*partAcc) error {
	n := parts.Len()
	for i := 0; i < n; {
		if parts.IsNull(i) || offs.IsNull(i) {
			return fmt.Errorf("row %d: null _partition or _offset", i)
		}
		p, o := parts.Value(i), offs.Value(i)
		if o < 0 {
			return fmt.Errorf("row %d: negative _offset %d", i, o)
		}
		j := i + 1
		for j < n && !parts.IsNull(j) && !offs.IsNull(j) && parts.Value(j) == p && offs.Value(j) == o+int64(j-i) {
			j++
		}
		last := o + int64(j-i-1)
		a := acc[p]
		if a == nil {
			a = &partAcc{min: o, max: last, offsets: roaring64.New()}
			acc[p] = a
		}
		a.rows += int64(j - i)
		a.min, a.max = min(a.min, o), max(a.max, last)
		a.offsets.AddRange(uint64(o), uint64(last)+1)
		i = j
	}
	return nil
}
