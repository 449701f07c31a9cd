package iceberg

import (
	"context"
	"testing"

	"github.com/apache/iceberg-go/table"
)

func TestDirOffsetsOnly(t *testing.T) { testOffsetsOnly(t, dirStore(t)) }
func TestS3OffsetsOnly(t *testing.T)  { testOffsetsOnly(t, s3Store(t)) }

// testOffsetsOnly: an append without rows that moves zombi.offsets makes a
// snapshot without files, on a fresh table and after one with rows; one
// that moves nothing makes none. Rows and offsets read back.
func testOffsetsOnly(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	// Fresh table, no parent: control records only.
	if err := tb.NewAppend(WriteOptions{}).Commit(ctx, "inc", map[int32]int64{0: 2, 1: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Append(ctx, "inc", records(0, 2, 3), map[int32]int64{0: 5}); err != nil {
		t.Fatal(err)
	}
	// No rows and no offset change: no snapshot.
	if err := tb.Append(ctx, "inc", nil, map[int32]int64{0: 5}); err != nil {
		t.Fatal(err)
	}
	if tb.Version() != 3 {
		t.Fatalf("an append that moves nothing made a version: v%d, want v3", tb.Version())
	}
	// After a snapshot with rows.
	if err := tb.NewAppend(WriteOptions{}).Commit(ctx, "inc2", map[int32]int64{0: 7, 2: 4}); err != nil {
		t.Fatal(err)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := re.CommittedOffsets()
	if got[0] != 7 || got[1] != 1 || got[2] != 4 || re.Version() != 4 || re.CommittedIncarnation() != "inc2" {
		t.Fatalf("offsets %v incarnation %q at v%d, want 0:7 1:1 2:4 inc2 at v4", got, re.CommittedIncarnation(), re.Version())
	}
	snaps := re.Iceberg().Metadata().Snapshots()
	if len(snaps) != 3 {
		t.Fatalf("%d snapshots, want 3", len(snaps))
	}
	cur := re.Iceberg().CurrentSnapshot()
	if cur.ParentSnapshotID == nil || *cur.ParentSnapshotID != snaps[1].SnapshotID || cur.Summary.Properties["total-records"] != "3" {
		t.Fatalf("offsets-only snapshot: parent %v summary %v", cur.ParentSnapshotID, cur.Summary)
	}
	rows := scanRows(t, re)
	if len(rows) != 3 {
		t.Fatalf("scan: %d rows, want 3", len(rows))
	}
	for _, r := range records(0, 2, 3) {
		if rows[[2]int64{0, r.Offset}] != wantRow(r) {
			t.Fatalf("row %d: %q, want %q", r.Offset, rows[[2]int64{0, r.Offset}], wantRow(r))
		}
	}
	// A scan of the first, file-less snapshot reads nothing.
	at, err := re.Iceberg().Scan(table.WithSnapshotID(snaps[0].SnapshotID)).ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	if at.NumRows() != 0 {
		t.Fatalf("first snapshot: %d rows, want 0", at.NumRows())
	}
}
