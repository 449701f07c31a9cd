package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// appendUnchecked commits recs (duplicates included), in one data file
// per day sorted by partition and offset, written here by hand without any
// of Append's checks: the way a buggy writer would get a duplicated offset
// into a table. The raw schema only.
func appendUnchecked(t *testing.T, tb *Table, recs []Record) {
	t.Helper()
	ctx := context.Background()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	byDay := map[int64][]Record{}
	var days []int64
	for _, r := range recs {
		d := PartitionDay.bucket(r.Timestamp.UnixMicro())
		if byDay[d] == nil {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], r)
	}
	var files []iceberg.DataFile
	for _, d := range days {
		slices.SortStableFunc(byDay[d], func(a, b Record) int {
			return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
		})
		files = append(files, writeRawFile(t, tb, fmt.Sprintf("data/unchecked-%s.parquet", uuid.NewString()), byDay[d]))
	}
	txn := tb.tbl.NewTransaction()
	if err := txn.AddDataFiles(ctx, files, iceberg.Properties{SummaryOffsets: `{"0":1}`}); err != nil {
		t.Fatal(err)
	}
	ntbl, err := txn.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb.tbl = ntbl
}

// writeRawFile writes recs in the given order as one data file of the raw
// schema, with arrow-go directly.
func writeRawFile(t *testing.T, tb *Table, name string, recs []Record) iceberg.DataFile {
	t.Helper()
	sc := tb.tbl.Schema()
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, asc)
	defer bld.Release()
	hdrB := bld.Field(4).(*array.ListBuilder)
	hdrS := hdrB.ValueBuilder().(*array.StructBuilder)
	for _, r := range recs {
		bld.Field(0).(*array.Int32Builder).Append(r.Partition)
		bld.Field(1).(*array.Int64Builder).Append(r.Offset)
		bld.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Timestamp.UnixMicro()))
		if r.Key == nil {
			bld.Field(3).AppendNull()
		} else {
			bld.Field(3).(*array.BinaryBuilder).Append(r.Key)
		}
		hdrB.Append(true)
		for _, h := range r.Headers {
			hdrS.Append(true)
			hdrS.FieldBuilder(0).(*array.StringBuilder).Append(h.Key)
			hdrS.FieldBuilder(1).(*array.BinaryBuilder).Append(h.Value)
		}
		bld.Field(5).(*array.BinaryBuilder).Append(r.Value)
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(asc, &buf, parquet.NewWriterProperties(parquet.WithStats(true)), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	fmeta, err := fw.FileMetadata()
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.st.Write(context.Background(), name, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: sc, Spec: tb.tbl.Spec(), Format: iceberg.ParquetFile, Metadata: fmeta,
		FilePath: tb.path(name), FileSize: int64(buf.Len()), Content: iceberg.EntryContentData, FormatVersion: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// testPartitionStats: duplicates (two files and within one file), gaps,
// several partitions, and the summary accessors.
func testPartitionStats(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tb.PartitionStats(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty table: %v, %v", got, err)
	}
	if s := tb.Summary(); s.SnapshotID != 0 || s.Records != 0 || s.Version != 1 {
		t.Fatalf("empty table summary %+v", s)
	}
	mustAppend(t, tb, append(records(0, 0, 10), records(2, 100, 3)...), map[int32]int64{0: 10, 2: 103})
	// Offsets 5 and 6 of partition 0 again (another file), 20-21 (a gap
	// after 9), and 7 twice inside one file; partition 1 at 3-4.
	dup := append(records(0, 5, 2), records(0, 20, 2)...)
	dup = append(dup, records(0, 7, 1)...)
	dup = append(dup, records(0, 7, 1)...)
	dup = append(dup, records(1, 3, 2)...)
	appendUnchecked(t, tb, dup)

	got, err := tb.PartitionStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]PartitionStats{
		0: {Rows: 16, Distinct: 12, Min: 0, Max: 21},
		1: {Rows: 2, Distinct: 2, Min: 3, Max: 4},
		2: {Rows: 3, Distinct: 3, Min: 100, Max: 102},
	}
	if !maps.Equal(got, want) {
		t.Fatalf("partition stats %v, want %v", got, want)
	}

	s := tb.Summary()
	snap := tb.Iceberg().CurrentSnapshot()
	if s.SnapshotID != snap.SnapshotID || s.Timestamp.UnixMilli() != snap.TimestampMs || s.Operation != "append" {
		t.Fatalf("summary %+v, snapshot %d at %d", s, snap.SnapshotID, snap.TimestampMs)
	}
	size, _ := strconv.ParseInt(snap.Summary.Properties["total-files-size"], 10, 64)
	if s.Records != 21 || s.DataFiles != 4 || s.Bytes != size || s.Bytes <= 0 || s.Version != 3 {
		t.Fatalf("summary %+v, want 21 records, 4 files, %d bytes, v3", s, size)
	}
}

// TestPartitionStatsLarge: a million offsets in runs cost little and
// count exactly.
func TestPartitionStatsLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := context.Background()
	tb, err := Create(ctx, dirStore(t), ident, Layout{Partitioning: PartitionNone})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200_000
	recs := records(0, 0, n)
	for i := range recs {
		recs[i].Value, recs[i].Key, recs[i].Headers = nil, nil, nil
	}
	mustAppend(t, tb, recs, map[int32]int64{0: n})
	got, err := tb.PartitionStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (PartitionStats{Rows: n, Distinct: n, Min: 0, Max: n - 1}); got[0] != want {
		t.Fatalf("stats %+v, want %+v", got[0], want)
	}
}

func TestDirPartitionStats(t *testing.T) { testPartitionStats(t, dirStore(t)) }
func TestS3PartitionStats(t *testing.T)  { testPartitionStats(t, s3Store(t)) }

// BenchmarkPartitionStats: 1 M rows of 4 partitions in 10 appends (20
// files, two days each), read back as partition stats.
func BenchmarkPartitionStats(b *testing.B) {
	ctx := context.Background()
	st, err := DirStorage(b.TempDir() + "/zombi/t")
	if err != nil {
		b.Fatal(err)
	}
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		b.Fatal(err)
	}
	const parts, per = 4, 25_000
	for a := 0; a < 10; a++ {
		var recs []Record
		next := map[int32]int64{}
		for p := int32(0); p < parts; p++ {
			rs := records(p, int64(a*per), per)
			for i := range rs {
				rs[i].Key, rs[i].Headers = nil, nil
			}
			recs = append(recs, rs...)
			next[p] = int64((a + 1) * per)
		}
		if err := tb.Append(ctx, "inc", recs, next); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := tb.PartitionStats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if got[3].Distinct != 10*per {
			b.Fatalf("stats %+v", got[3])
		}
	}
	b.ReportMetric(float64(parts*10*per)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
