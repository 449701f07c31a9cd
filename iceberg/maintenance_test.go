package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// allRows is the multiset of rows of the current snapshot, each as
// partition/offset/timestamp/key/headers/value, sorted.
func allRows(t *testing.T, tb *Table) []string {
	t.Helper()
	at, err := tb.Iceberg().Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var rows []string
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		r := tr.RecordBatch()
		part := r.Column(0).(*array.Int32)
		off := r.Column(1).(*array.Int64)
		ts := r.Column(2).(*array.Timestamp)
		key := r.Column(3).(*array.Binary)
		hdr := r.Column(4).(*array.List)
		hs := hdr.ListValues().(*array.Struct)
		hk, hv := hs.Field(0).(*array.String), hs.Field(1).(*array.Binary)
		val := r.Column(5).(*array.Binary)
		for i := 0; i < int(r.NumRows()); i++ {
			k := "null"
			if key.IsValid(i) {
				k = fmt.Sprintf("%q", key.Value(i))
			}
			var h []string
			s, e := hdr.ValueOffsets(i)
			for j := s; j < e; j++ {
				h = append(h, fmt.Sprintf("%s=%x", hk.Value(int(j)), hv.Value(int(j))))
			}
			rows = append(rows, fmt.Sprintf("%d/%d/%d/%s/%s/%q", part.Value(i), off.Value(i), ts.Value(i), k, strings.Join(h, ","), val.Value(i)))
		}
	}
	slices.Sort(rows)
	return rows
}

func mustAppend(t *testing.T, tb *Table, recs []Record, next map[int32]int64) {
	t.Helper()
	if err := tb.Append(context.Background(), "inc-1", recs, next); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, st Storage, name string) bool {
	t.Helper()
	_, err := st.Read(context.Background(), name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// files lists every file of the table under dir.
func files(t *testing.T, st Storage, dir string) []string {
	t.Helper()
	var out []string
	if err := st.Walk(context.Background(), dir, func(n string, _ int64, _ time.Time) error {
		out = append(out, n)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func rel(st Storage, p string) string { return strings.TrimPrefix(p, st.Location()+"/") }

// setProps commits table properties (as a user of another engine would).
func setProps(t *testing.T, tb *Table, props iceberg.Properties) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	txn := tb.tbl.NewTransaction()
	if err := txn.SetProperties(props); err != nil {
		t.Fatal(err)
	}
	ntbl, err := txn.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tb.tbl = ntbl
}

// testExpire: three appends, then expire everything older than now: the
// current snapshot stays (with its offsets), the other snapshots' manifest
// lists are deleted, every row still reads, and metadata files beyond
// write.metadata.previous-versions-max are deleted.
func testExpire(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	setProps(t, tb, iceberg.Properties{table.MetadataPreviousVersionsMaxKey: "2"}) // v2
	mustAppend(t, tb, records(0, 0, 4), map[int32]int64{0: 4})                     // v3
	mustAppend(t, tb, records(1, 0, 3), map[int32]int64{1: 3})                     // v4
	mustAppend(t, tb, records(0, 4, 8), map[int32]int64{0: 12})                    // v5
	rows := allRows(t, tb)
	md := tb.Iceberg().Metadata()
	cur := md.CurrentSnapshot()
	var oldLists []string
	for _, s := range md.Snapshots() {
		if s.SnapshotID != cur.SnapshotID {
			oldLists = append(oldLists, rel(st, s.ManifestList))
		}
	}
	for _, l := range oldLists {
		if !exists(t, st, l) {
			t.Fatalf("manifest list %s missing before the expiry", l)
		}
	}

	// Nothing is old enough yet.
	if n, err := tb.ExpireSnapshots(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("expire older than an hour ago: %d, %v", n, err)
	}
	time.Sleep(5 * time.Millisecond)
	n, err := tb.ExpireSnapshots(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("expired %d snapshots, want 2", n)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if s := re.Iceberg().Metadata().Snapshots(); len(s) != 1 || s[0].SnapshotID != cur.SnapshotID {
		t.Fatalf("snapshots after expiry: %v, want only %d", s, cur.SnapshotID)
	}
	if got, _ := re.CommittedOffsets(); !maps.Equal(got, map[int32]int64{0: 12, 1: 3}) || re.CommittedIncarnation() != "inc-1" {
		t.Fatalf("after expiry: offsets %v, incarnation %q", got, re.CommittedIncarnation())
	}
	for _, l := range oldLists {
		if exists(t, st, l) {
			t.Errorf("manifest list %s of an expired snapshot still there", l)
		}
	}
	if !slices.Equal(allRows(t, re), rows) {
		t.Fatal("rows changed by the expiry")
	}
	// v6 is the expiry; the log keeps v4 and v5: v1-v3 are gone.
	var versions []int
	for _, f := range files(t, st, "metadata") {
		if k := metadataVersion(f); k > 0 {
			versions = append(versions, k)
		}
	}
	slices.Sort(versions)
	if re.Version() != 6 || !slices.Equal(versions, []int{4, 5, 6}) {
		t.Fatalf("at v%d, metadata versions %v, want v6 and [4 5 6]", re.Version(), versions)
	}
	// And the table still loads and appends from its offsets.
	off, _ := re.CommittedOffsets()
	mustAppend(t, re, records(0, off[0], 2), map[int32]int64{0: off[0] + 2})
}

// testOrphans: an unreferenced file older than the threshold is deleted,
// a fresh one and every referenced one kept, and so is a metadata version
// newer than the current (a commit landing meanwhile).
func testOrphans(t *testing.T, st Storage) {
	ctx := context.Background()
	old := orphanGrace
	orphanGrace = 0
	t.Cleanup(func() { orphanGrace = old })
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, tb, records(0, 0, 10), map[int32]int64{0: 10})
	mustAppend(t, tb, records(1, 0, 5), map[int32]int64{1: 5})
	rows := allRows(t, tb)
	before := files(t, st, "")
	planted := []string{"data/lost-00000.parquet", "metadata/lost-m0.avro", "metadata/v2.metadata.json.x.tmp", "metadata/v9.metadata.json"}
	for _, p := range planted {
		if err := st.Write(ctx, p, []byte("orphan")); err != nil {
			t.Fatal(err)
		}
	}
	// Object stores keep whole seconds: a cutoff on a second boundary
	// after the planted files, and a fresh file after the cutoff.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	cutoff := time.Now().Truncate(time.Second)
	if err := st.Write(ctx, "data/fresh-00000.parquet", []byte("in flight")); err != nil {
		t.Fatal(err)
	}
	n, err := tb.DeleteOrphans(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("deleted %d orphans, want 3", n)
	}
	for _, p := range planted[:3] {
		if exists(t, st, p) {
			t.Errorf("orphan %s still there", p)
		}
	}
	for _, p := range append(before, "metadata/v9.metadata.json", "data/fresh-00000.parquet") {
		if !exists(t, st, p) {
			t.Errorf("%s deleted", p)
		}
	}
	if err := st.Delete(ctx, "metadata/v9.metadata.json"); err != nil {
		t.Fatal(err)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(allRows(t, re), rows) {
		t.Fatal("rows changed by the orphan clean-up")
	}
}

// compactTable makes a day-partitioned table whose closed day 2026-12-05
// holds 3 small files (partitions interleaved across them) and whose open
// day 2026-12-06 (today, for the machine's clock) holds 2.
func compactTable(t *testing.T, st Storage) *Table {
	t.Helper()
	tb, err := Create(context.Background(), st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	// records(p, o): offsets 0-5 are on 12-05, 6 and up on 12-06.
	mustAppend(t, tb, append(records(0, 0, 4), records(1, 0, 3)...), map[int32]int64{0: 4, 1: 3}) // one file, 12-05
	mustAppend(t, tb, records(0, 4, 5), map[int32]int64{0: 9})                                    // 12-05 and 12-06
	mustAppend(t, tb, records(1, 3, 3), map[int32]int64{1: 6})                                    // 12-05
	mustAppend(t, tb, records(0, 9, 4), map[int32]int64{0: 13})                                   // 12-06
	if n := tb.Summary().DataFiles; n != 5 {
		t.Fatalf("%d data files, want 5", n)
	}
	return tb
}

// closedBefore is the end of 2026-12-05: that day is closed, 12-06 not.
var closedBefore = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

// testCompact: the 3 small files of the closed day become one, rows
// identical and sorted by partition and offset, summary offsets
// unchanged; the expiry then deletes the replaced files.
func testCompact(t *testing.T, st Storage) {
	ctx := context.Background()
	tb := compactTable(t, st)
	rows := allRows(t, tb)
	offs, _ := tb.CommittedOffsets()
	replaced := map[string]bool{}
	for _, e := range mustLive(t, tb) {
		if onDec5(t, e) {
			replaced[rel(st, e.DataFile().FilePath())] = true
		}
	}
	if len(replaced) != 3 {
		t.Fatalf("%d files on 2026-12-05, want 3", len(replaced))
	}

	n, err := tb.Compact(ctx, closedBefore, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("compacted %d files, want 3", n)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	sum := re.Summary()
	if sum.DataFiles != 3 || sum.Operation != "replace" || sum.Records != int64(len(rows)) {
		t.Fatalf("after compaction: %+v, want 3 files, replace, %d records", sum, len(rows))
	}
	if got, _ := re.CommittedOffsets(); !maps.Equal(got, offs) || re.CommittedIncarnation() != "inc-1" {
		t.Fatalf("after compaction: offsets %v (want %v), incarnation %q", got, offs, re.CommittedIncarnation())
	}
	if !slices.Equal(allRows(t, re), rows) {
		t.Fatal("rows changed by the compaction")
	}
	// The new file holds p0 0-5 then p1 0-5, in that order.
	var merged string
	for _, e := range mustLive(t, re) {
		if onDec5(t, e) {
			if merged != "" {
				t.Fatal("two files on 2026-12-05 after compaction")
			}
			merged = e.DataFile().FilePath()
		}
	}
	if got, want := fileOrder(t, re, merged), "0/0 0/1 0/2 0/3 0/4 0/5 1/0 1/1 1/2 1/3 1/4 1/5"; got != want {
		t.Fatalf("compacted file rows %s, want %s", got, want)
	}
	// Nothing more to do: one file left on the closed day.
	if n, err := re.Compact(ctx, closedBefore, 1<<20); err != nil || n != 0 {
		t.Fatalf("second compaction: %d, %v", n, err)
	}
	// The replaced files go with the snapshots that referenced them.
	for f := range replaced {
		if !exists(t, st, f) {
			t.Fatalf("%s deleted before the expiry", f)
		}
	}
	if _, err := re.ExpireSnapshots(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for f := range replaced {
		if exists(t, st, f) {
			t.Errorf("replaced file %s still there after the expiry", f)
		}
	}
	if !slices.Equal(allRows(t, re), rows) {
		t.Fatal("rows changed by the expiry")
	}
	if got, _ := re.CommittedOffsets(); !maps.Equal(got, offs) {
		t.Fatalf("after expiry: offsets %v, want %v", got, offs)
	}
}

// onDec5: the data file is in the bucket of 2026-12-05.
func onDec5(t *testing.T, e iceberg.ManifestEntry) bool {
	t.Helper()
	v, err := partitionValue(e.DataFile())
	if err != nil {
		t.Fatal(err)
	}
	return v == 20792
}

func mustLive(t *testing.T, tb *Table) []iceberg.ManifestEntry {
	t.Helper()
	es, err := liveDataFiles(tb.Iceberg())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// fileOrder is partition/offset of the rows of one data file, in order.
func fileOrder(t *testing.T, tb *Table, path string) string {
	t.Helper()
	fr, c, err := openParquet(tb.Iceberg(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	at, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	var out []string
	for tr.Next() {
		r := tr.RecordBatch()
		p, o := r.Column(0).(*array.Int32), r.Column(1).(*array.Int64)
		for i := 0; i < int(r.NumRows()); i++ {
			out = append(out, fmt.Sprintf("%d/%d", p.Value(i), o.Value(i)))
		}
	}
	return strings.Join(out, " ")
}

// interposer runs fn once, before the first write of a compacted file.
type interposer struct {
	Storage
	once sync.Once
	fn   func()
}

func (s *interposer) Write(ctx context.Context, name string, data []byte) error {
	if strings.HasPrefix(name, "data/compact-") {
		s.once.Do(s.fn)
	}
	return s.Storage.Write(ctx, name, data)
}

// testCompactConflict: another writer commits while the compaction
// rewrites: ErrConflict, its files deleted, nothing lost; run again, it
// compacts.
func testCompactConflict(t *testing.T, st Storage) {
	ctx := context.Background()
	compactTable(t, st)
	ist := &interposer{Storage: st}
	tb, err := Load(ctx, ist, ident)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	ist.fn = func() {
		if err := other.Append(ctx, "inc-1", records(1, 6, 2), map[int32]int64{1: 8}); err != nil {
			t.Error(err)
		}
	}
	_, err = tb.Compact(ctx, closedBefore, 1<<20)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("compaction across another commit: %v, want ErrConflict", err)
	}
	for _, f := range files(t, st, "data") {
		if strings.HasPrefix(f, "data/compact-") {
			t.Fatalf("compacted file %s of the lost commit left behind", f)
		}
	}
	if err := other.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	rows := allRows(t, other)
	if len(rows) != 13+8 {
		t.Fatalf("%d rows after the conflict, want 21", len(rows))
	}
	n, err := tb.Compact(ctx, closedBefore, 1<<20)
	if err != nil || n != 3 {
		t.Fatalf("compaction after the conflict: %d, %v", n, err)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(allRows(t, re), rows) {
		t.Fatal("rows changed")
	}
	if got, _ := re.CommittedOffsets(); !maps.Equal(got, map[int32]int64{0: 13, 1: 8}) {
		t.Fatalf("offsets %v", got)
	}
}

// TestCompactUnpartitioned: without partitions, files are closed by the
// age of the snapshot that added them.
func TestCompactUnpartitioned(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionNone})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, tb, records(0, 0, 3), map[int32]int64{0: 3})
	mustAppend(t, tb, records(0, 3, 3), map[int32]int64{0: 6})
	first := time.UnixMilli(tb.Summary().Timestamp.UnixMilli())
	time.Sleep(5 * time.Millisecond)
	mustAppend(t, tb, records(0, 6, 3), map[int32]int64{0: 9})
	rows := allRows(t, tb)
	if n, err := tb.Compact(ctx, first, 1<<20); err != nil || n != 0 {
		t.Fatalf("only one file closed: compacted %d, %v", n, err)
	}
	if n, err := tb.Compact(ctx, time.Now().Add(time.Second), 1<<20); err != nil || n != 3 {
		t.Fatalf("compacted %d, %v, want 3", n, err)
	}
	if s := tb.Summary(); s.DataFiles != 1 || !slices.Equal(allRows(t, tb), rows) {
		t.Fatalf("after compaction %+v", s)
	}
}

// testDrop: nothing left, Load says ErrNoTable, a second Drop too.
func testDrop(t *testing.T, st Storage) {
	ctx := context.Background()
	tb := compactTable(t, st)
	all := files(t, st, "")
	n, err := Drop(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(all) {
		t.Fatalf("dropped %d files, want %d", n, len(all))
	}
	if left := files(t, st, ""); len(left) != 0 {
		t.Fatalf("left after drop: %v", left)
	}
	if _, err := Load(ctx, st, ident); !errors.Is(err, ErrNoTable) {
		t.Fatalf("Load after drop: %v, want ErrNoTable", err)
	}
	if _, err := Drop(ctx, st); !errors.Is(err, ErrNoTable) {
		t.Fatalf("second drop: %v, want ErrNoTable", err)
	}
	_ = tb
}

// TestDropMetadataFirst: a drop that fails after the metadata leaves no
// loadable table.
func TestDropMetadataFirst(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	compactTable(t, st)
	fst := &failData{Storage: st}
	if _, err := Drop(ctx, fst); err == nil {
		t.Fatal("drop with failing data deletes succeeded")
	}
	if _, err := Load(ctx, st, ident); !errors.Is(err, ErrNoTable) {
		t.Fatalf("Load after a half drop: %v, want ErrNoTable", err)
	}
	if len(files(t, st, "data")) == 0 {
		t.Fatal("data files gone although their delete failed")
	}
	if _, err := Drop(ctx, st); err != nil {
		t.Fatalf("second drop finishing the first: %v", err)
	}
	if left := files(t, st, ""); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

type failData struct{ Storage }

func (f *failData) Delete(ctx context.Context, names ...string) error {
	for _, n := range names {
		if strings.HasPrefix(n, "data/") {
			return errors.New("injected: delete failed")
		}
	}
	return f.Storage.Delete(ctx, names...)
}

func TestDirExpire(t *testing.T)          { testExpire(t, dirStore(t)) }
func TestDirOrphans(t *testing.T)         { testOrphans(t, dirStore(t)) }
func TestDirCompact(t *testing.T)         { testCompact(t, dirStore(t)) }
func TestDirCompactConflict(t *testing.T) { testCompactConflict(t, dirStore(t)) }
func TestDirDrop(t *testing.T)            { testDrop(t, dirStore(t)) }
func TestS3Expire(t *testing.T)           { testExpire(t, s3Store(t)) }
func TestS3Orphans(t *testing.T)          { testOrphans(t, s3Store(t)) }
func TestS3Compact(t *testing.T)          { testCompact(t, s3Store(t)) }
func TestS3CompactConflict(t *testing.T)  { testCompactConflict(t, s3Store(t)) }
func TestS3Drop(t *testing.T)             { testDrop(t, s3Store(t)) }

// TestCompactConflictSameOffsets: another process's commit that keeps the
// offsets (its own expiry) lands while we compact. The offsets alone
// would take it for our commit; only our exact metadata bytes count, so
// this is ErrConflict and the table is the other's.
func TestCompactConflictSameOffsets(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	compactTable(t, st)
	ist := &interposer{Storage: st}
	tb, err := Load(ctx, ist, ident)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	ist.fn = func() {
		if n, err := other.ExpireSnapshots(ctx, time.Now().Add(time.Second)); err != nil || n == 0 {
			t.Errorf("other's expiry: %d, %v", n, err)
		}
	}
	if _, err := tb.Compact(ctx, closedBefore, 1<<20); !errors.Is(err, ErrConflict) {
		t.Fatalf("compaction across an expiry: %v, want ErrConflict", err)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if s := re.Summary(); s.DataFiles != 5 || s.Operation != "append" {
		t.Fatalf("after the lost compaction: %+v", s)
	}
}

// TestMaintenanceOwnCommit: a maintenance commit whose create succeeded
// but answered "exists" (a retried or timed-out PUT) is success, once.
func TestMaintenanceOwnCommit(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	compactTable(t, st)
	v := 0
	for _, op := range []func(*Table) (int, error){
		func(tb *Table) (int, error) { return tb.Compact(ctx, closedBefore, 1<<20) },
		func(tb *Table) (int, error) { return tb.ExpireSnapshots(ctx, time.Now().Add(time.Second)) },
	} {
		tb, err := Load(ctx, &ackLost{Storage: st}, ident)
		if err != nil {
			t.Fatal(err)
		}
		v = tb.Version()
		if n, err := op(tb); err != nil || n == 0 {
			t.Fatalf("at v%d: %d, %v", v, n, err)
		}
		if tb.Version() != v+1 {
			t.Fatalf("v%d after a commit from v%d", tb.Version(), v)
		}
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if s := re.Summary(); s.DataFiles != 3 || len(re.Iceberg().Metadata().Snapshots()) != 1 || re.Version() != v+1 {
		t.Fatalf("after both: %+v, %d snapshots", s, len(re.Iceberg().Metadata().Snapshots()))
	}
	if off, _ := re.CommittedOffsets(); !maps.Equal(off, map[int32]int64{0: 13, 1: 6}) {
		t.Fatalf("offsets %v", off)
	}
}

// TestMaintenanceEmptyTable: nothing to do on a table without snapshots.
func TestMaintenanceEmptyTable(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tb.ExpireSnapshots(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	if n, err := tb.Compact(ctx, time.Now(), 1<<20); err != nil || n != 0 {
		t.Fatalf("compact: %d, %v", n, err)
	}
	if n, err := tb.DeleteOrphans(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("orphans: %d, %v", n, err)
	}
	if tb.Version() != 1 {
		t.Fatalf("v%d, want v1", tb.Version())
	}
}

// TestCompactAcrossOwnAppend: the materializer's own append (same handle)
// between the rewrite and the commit does not stop the compaction, and
// both land.
func TestCompactAcrossOwnAppend(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	compactTable(t, st)
	ist := &interposer{Storage: st}
	tb, err := Load(ctx, ist, ident)
	if err != nil {
		t.Fatal(err)
	}
	ist.fn = func() {
		if err := tb.Append(ctx, "inc-2", records(1, 6, 2), map[int32]int64{1: 8}); err != nil {
			t.Error(err)
		}
	}
	if n, err := tb.Compact(ctx, closedBefore, 1<<20); err != nil || n != 3 {
		t.Fatalf("compaction across our own append: %d, %v", n, err)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if off, _ := re.CommittedOffsets(); !maps.Equal(off, map[int32]int64{0: 13, 1: 8}) || re.CommittedIncarnation() != "inc-2" {
		t.Fatalf("offsets %v, incarnation %q: the replace snapshot must carry the append's", off, re.CommittedIncarnation())
	}
	if rows := allRows(t, re); len(rows) != 21 {
		t.Fatalf("%d rows, want 21", len(rows))
	}
}

// TestCompactHour: hour buckets close at the end of their hour.
func TestCompactHour(t *testing.T) {
	ctx := context.Background()
	tb, err := Create(ctx, dirStore(t), ident, Layout{Partitioning: PartitionHour})
	if err != nil {
		t.Fatal(err)
	}
	// Offsets 0-5 are in 2026-12-05 23:00, 6 and up in 2026-12-06 00:00.
	mustAppend(t, tb, records(0, 0, 2), map[int32]int64{0: 2})
	mustAppend(t, tb, records(0, 2, 2), map[int32]int64{0: 4})
	mustAppend(t, tb, records(0, 4, 4), map[int32]int64{0: 8})
	mustAppend(t, tb, records(0, 8, 2), map[int32]int64{0: 10})
	rows := allRows(t, tb)
	if n, err := tb.Compact(ctx, closedBefore, 1); err != nil || n != 0 {
		t.Fatalf("no file is under 1 byte: compacted %d, %v", n, err)
	}
	if n, err := tb.Compact(ctx, closedBefore.Add(-time.Minute), 1<<20); err != nil || n != 0 {
		t.Fatalf("before 23:00 closed: %d, %v", n, err)
	}
	if n, err := tb.Compact(ctx, closedBefore, 1<<20); err != nil || n != 3 {
		t.Fatalf("23:00 closed: compacted %d, %v, want 3", n, err)
	}
	if n, err := tb.Compact(ctx, closedBefore.Add(time.Hour), 1<<20); err != nil || n != 2 {
		t.Fatalf("00:00 closed: compacted %d, %v, want 2", n, err)
	}
	if s := tb.Summary(); s.DataFiles != 2 || !slices.Equal(allRows(t, tb), rows) {
		t.Fatalf("after compaction %+v", s)
	}
}

// TestMaintain: compaction, expiry and orphans in one call, with the
// policy the materializer uses.
func TestMaintain(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	tb := compactTable(t, st)
	rows := allRows(t, tb)
	offs, _ := tb.CommittedOffsets()
	if err := st.Write(ctx, "data/lost-00000.parquet", []byte("orphan")); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, "data/young-00000.parquet", []byte("in flight")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(st.Location(), "data", "lost-00000.parquet"), old, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	now := time.Now()
	res, err := tb.Maintain(ctx, now, MaintainOptions{SnapshotKeep: time.Millisecond, CommitInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The 3 small files of 12-05 are compacted; from 2026-12-07 (plus the
	// commit interval) 12-06 is closed too, and its 2 files with them.
	compacted := 3
	if !now.Add(-time.Minute).Before(closedBefore.AddDate(0, 0, 1)) {
		compacted = 5
	}
	if want := (MaintainResult{Compacted: compacted, Expired: 4, Orphans: 1}); res != want {
		t.Fatalf("maintain: %+v, want %+v", res, want)
	}
	if exists(t, st, "data/lost-00000.parquet") || !exists(t, st, "data/young-00000.parquet") {
		t.Fatal("orphans: the old one must go, the young one stay")
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := re.CommittedOffsets(); !maps.Equal(got, offs) || !slices.Equal(allRows(t, re), rows) {
		t.Fatalf("offsets %v (want %v) or rows changed", got, offs)
	}
	// Every data file left is one the table lists (plus the young one).
	live := map[string]bool{"data/young-00000.parquet": true}
	for _, e := range mustLive(t, re) {
		live[rel(st, e.DataFile().FilePath())] = true
	}
	for _, f := range files(t, st, "data") {
		if !live[f] {
			t.Errorf("data file %s left that no snapshot lists", f)
		}
	}
}

// BenchmarkCompact: 20 appends of 10,000 records of 100 B on a closed day
// (one small file each), compacted into one.
func BenchmarkCompact(b *testing.B) {
	ctx := context.Background()
	const appends, per = 20, 10_000
	val := make([]byte, 100)
	for b.Loop() {
		b.StopTimer()
		st, err := DirStorage(b.TempDir() + "/zombi/t")
		if err != nil {
			b.Fatal(err)
		}
		tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
		if err != nil {
			b.Fatal(err)
		}
		day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		for a := 0; a < appends; a++ {
			recs := make([]Record, per)
			for i := range recs {
				o := int64(a*per + i)
				recs[i] = Record{Partition: 0, Offset: o, Timestamp: day.Add(time.Duration(o) * time.Millisecond), Key: []byte("k"), Value: val}
			}
			if err := tb.Append(ctx, "inc", recs, map[int32]int64{0: int64((a + 1) * per)}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, err := tb.Compact(ctx, closedBefore, 1<<20)
		if err != nil || n != appends {
			b.Fatalf("compacted %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(appends*per)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestCompactMergeBatches: the merge across record batch boundaries (2
// rows a batch), with offsets present twice (a buggy writer's table):
// every row kept, duplicates next to each other, in order.
func TestCompactMergeBatches(t *testing.T) {
	old := readBatchRows
	readBatchRows = 2
	t.Cleanup(func() { readBatchRows = old })
	ctx := context.Background()
	st := dirStore(t)
	tb := compactTable(t, st)
	appendUnchecked(t, tb, append(records(1, 1, 3), records(0, 2, 1)...))
	rows := allRows(t, tb)
	stats, err := tb.PartitionStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tb.Compact(ctx, closedBefore, 1<<20); err != nil || n != 4 {
		t.Fatalf("compacted %d, %v, want 4", n, err)
	}
	if !slices.Equal(allRows(t, tb), rows) {
		t.Fatal("rows changed by the compaction")
	}
	if got, err := tb.PartitionStats(ctx); err != nil || !maps.Equal(got, stats) {
		t.Fatalf("stats %v (%v), want %v", got, err, stats)
	}
	var merged []string
	for _, e := range mustLive(t, tb) {
		if onDec5(t, e) {
			merged = append(merged, e.DataFile().FilePath())
		}
	}
	if len(merged) != 1 {
		t.Fatalf("%d files on 2026-12-05, want 1", len(merged))
	}
	if got, want := fileOrder(t, tb, merged[0]), "0/0 0/1 0/2 0/2 0/3 0/4 0/5 1/0 1/1 1/1 1/2 1/2 1/3 1/3 1/4 1/5"; got != want {
		t.Fatalf("compacted file rows %s, want %s", got, want)
	}
}

// TestExpireMergedManifests: with manifest merging (on in new tables; at
// 5 manifests here), appends keep few manifests, and the expiry deletes
// the manifests the merges replaced while every row still reads.
func TestExpireMergedManifests(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Iceberg().Properties()[table.ManifestMergeEnabledKey] != "true" {
		t.Fatal("new tables do not merge manifests")
	}
	setProps(t, tb, iceberg.Properties{table.ManifestMinMergeCountKey: "5"})
	for i := 0; i < 12; i++ {
		mustAppend(t, tb, records(0, int64(i), 1), map[int32]int64{0: int64(i + 1)})
	}
	mans, err := tb.Iceberg().CurrentSnapshot().Manifests(st.FS())
	if err != nil {
		t.Fatal(err)
	}
	if len(mans) >= 12 {
		t.Fatalf("%d manifests after 12 appends: not merged", len(mans))
	}
	rows := allRows(t, tb)
	avro := func() int {
		n := 0
		for _, f := range files(t, st, "metadata") {
			if strings.HasSuffix(f, ".avro") {
				n++
			}
		}
		return n
	}
	before := avro()
	time.Sleep(5 * time.Millisecond)
	if _, err := tb.ExpireSnapshots(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A merge writes the commit's own manifest, then merges it into a
	// bigger one: the small one was never in any snapshot, so it is the
	// orphan clean-up's, not the expiry's.
	after := avro()
	if after >= before {
		t.Fatalf("%d avro files after the expiry, %d before", after, before)
	}
	old := orphanGrace
	orphanGrace = 0
	t.Cleanup(func() { orphanGrace = old })
	if _, err := tb.DeleteOrphans(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// Left: the current manifest list and its manifests.
	if left := avro(); left != len(mans)+1 {
		t.Fatalf("%d avro files after expiry and orphans (%d before, %d after the expiry), want %d", left, before, after, len(mans)+1)
	}
	if len(rows) != 12 || !slices.Equal(allRows(t, tb), rows) {
		t.Fatalf("rows after the expiry: %d", len(allRows(t, tb)))
	}
}

// anyRows is the multiset of rows of any schema, each as its columns'
// ValueStr, sorted.
func anyRows(t *testing.T, tb *Table) []string {
	t.Helper()
	at, err := tb.Iceberg().Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var rows []string
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		r := tr.RecordBatch()
		for i := 0; i < int(r.NumRows()); i++ {
			var cols []string
			for c := 0; c < int(r.NumCols()); c++ {
				cols = append(cols, r.Schema().Field(c).Name+"="+r.Column(c).ValueStr(i))
			}
			rows = append(rows, strings.Join(cols, " "))
		}
	}
	slices.Sort(rows)
	return rows
}

// TestCompactAcrossSchemaEvolution: in a json table whose schema gained a
// column, the files written before stay as they are (never rewritten
// under the new schema), the newer small files of the same day merge.
func TestCompactAcrossSchemaEvolution(t *testing.T) {
	ctx := context.Background()
	tb, err := Create(ctx, dirStore(t), ident, Layout{Mode: ModeJSON, Partitioning: PartitionDay, Columns: []Column{{"a", TypeLong}}})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	next := int64(0)
	add := func(n int) {
		var recs []Record
		for i := 0; i < n; i++ {
			recs = append(recs, Record{Offset: next, Timestamp: day.Add(time.Duration(next) * time.Minute), Value: []byte(fmt.Sprintf(`{"a":%d,"b":"x%d"}`, next, next))})
			next++
		}
		mustAppend(t, tb, recs, map[int32]int64{0: next})
	}
	add(2)
	add(3)
	if err := tb.EnsureColumns(ctx, []Column{{"a", TypeLong}, {"b", TypeString}}); err != nil {
		t.Fatal(err)
	}
	add(2)
	add(2)
	add(1)
	rows := anyRows(t, tb)
	if n, err := tb.Compact(ctx, closedBefore, 1<<20); err != nil || n != 3 {
		t.Fatalf("compacted %d, %v, want the 3 files of the new schema", n, err)
	}
	if s := tb.Summary(); s.DataFiles != 3 || s.Records != 10 {
		t.Fatalf("after compaction %+v, want 3 files (2 old, 1 merged), 10 records", s)
	}
	if got := anyRows(t, tb); !slices.Equal(got, rows) {
		t.Fatalf("rows changed:\n%v\nwant\n%v", got, rows)
	}
	if n, err := tb.Compact(ctx, closedBefore, 1<<20); err != nil || n != 0 {
		t.Fatalf("again: compacted %d, %v, want 0", n, err)
	}
}
