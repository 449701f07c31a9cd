package iceberg

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/iceberg-go"
)

// appendUnchecked commits recs without Append's offset checks, as a buggy
// writer would: the way to get a duplicated offset into a table.
func appendUnchecked(t *testing.T, tb *Table, recs []Record) {
	t.Helper()
	ctx := context.Background()
	a := tb.NewAppend(WriteOptions{SpillDir: t.TempDir()})
	// Sorted like every file the writer makes (the merge of compaction
	// relies on it), duplicates side by side.
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(x, y Record) int {
		return cmp.Or(cmp.Compare(x.Partition, y.Partition), cmp.Compare(x.Offset, y.Offset))
	})
	for _, r := range recs {
		a.rows = 0 // skip the order check: duplicates on purpose
		if err := a.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range slices.Sorted(maps.Keys(a.open)) {
		if err := a.closeFile(ctx, a.open[b]); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.uploads.wait(); err != nil {
		t.Fatal(err)
	}
	a.comp.stop()
	a.uploads.stop()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	txn := tb.tbl.NewTransaction()
	if err := txn.AddDataFiles(ctx, a.files, iceberg.Properties{SummaryOffsets: `{"0":1}`}); err != nil {
		t.Fatal(err)
	}
	ntbl, err := txn.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb.tbl = ntbl
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
