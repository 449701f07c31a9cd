package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
)

var ident = table.Identifier{"zombi", "t"}

// records makes n records of partition p from offset from, the first half
// on 2026-12-05 and the rest on 2026-12-06 (two day buckets).
func records(p int32, from int64, n int) []Record {
	base := time.Date(2026, 12, 5, 23, 59, 0, 0, time.UTC)
	out := make([]Record, n)
	for i := range out {
		o := from + int64(i)
		r := Record{Partition: p, Offset: o, Timestamp: base.Add(time.Duration(o) * 10 * time.Second), Value: []byte(fmt.Sprintf("v%d-%d", p, o))}
		if o%3 != 0 {
			r.Key = []byte(fmt.Sprintf("k%d", o))
		}
		for h := 0; h < int(o%3); h++ {
			r.Headers = append(r.Headers, Header{Key: fmt.Sprintf("h%d", h), Value: []byte{0xff, byte(h)}})
		}
		out[i] = r
	}
	return out
}

// scanRows reads the table back with iceberg-go's scan: per (partition,
// offset), the value, key and number of headers.
func scanRows(t *testing.T, tb *Table) map[[2]int64]string {
	t.Helper()
	at, err := tb.Iceberg().Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	rows := map[[2]int64]string{}
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		r := tr.RecordBatch()
		part := r.Column(0).(*array.Int32)
		off := r.Column(1).(*array.Int64)
		key := r.Column(3).(*array.Binary)
		hdr := r.Column(4).(*array.List)
		val := r.Column(5).(*array.Binary)
		for i := 0; i < int(r.NumRows()); i++ {
			k := [2]int64{int64(part.Value(i)), off.Value(i)}
			if _, dup := rows[k]; dup {
				t.Fatalf("row %v twice", k)
			}
			s, e := hdr.ValueOffsets(i)
			kv := "null"
			if key.IsValid(i) {
				kv = string(key.Value(i))
			}
			rows[k] = fmt.Sprintf("%s/%s/%d", val.Value(i), kv, e-s)
		}
	}
	return rows
}

func wantRow(r Record) string {
	k := "null"
	if r.Key != nil {
		k = string(r.Key)
	}
	return fmt.Sprintf("%s/%s/%d", r.Value, k, len(r.Headers))
}

func testRoundTrip(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay}); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	a := append(records(0, 0, 10), records(1, 0, 4)...)
	if err := tb.Append(ctx, "inc-1", a, map[int32]int64{0: 10, 1: 4}); err != nil {
		t.Fatal(err)
	}
	b := records(0, 10, 5)
	if err := tb.Append(ctx, "inc-1", b, map[int32]int64{0: 15}); err != nil {
		t.Fatal(err)
	}
	// Records already committed are refused, never appended twice.
	if err := tb.Append(ctx, "inc-1", records(0, 12, 1), map[int32]int64{0: 16}); err == nil {
		t.Fatal("append below the committed offset accepted")
	}

	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if re.Version() != 3 {
		t.Fatalf("version %d, want 3", re.Version())
	}
	got, err := re.CommittedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]int64{0: 15, 1: 4}; !maps.Equal(got, want) {
		t.Fatalf("offsets %v, want %v", got, want)
	}
	if inc := re.CommittedIncarnation(); inc != "inc-1" {
		t.Fatalf("incarnation %q", inc)
	}
	snap := re.Iceberg().CurrentSnapshot()
	if tr := snap.Summary.Properties["total-records"]; tr != "19" {
		t.Fatalf("total-records %q, want 19", tr)
	}
	// The first append spans two days (two files), the second one day.
	if df := snap.Summary.Properties["total-data-files"]; df != "3" {
		t.Fatalf("total-data-files %q, want 3", df)
	}
	rows := scanRows(t, re)
	all := append(a, b...)
	if len(rows) != len(all) {
		t.Fatalf("%d rows, want %d", len(rows), len(all))
	}
	for _, r := range all {
		if g := rows[[2]int64{int64(r.Partition), r.Offset}]; g != wantRow(r) {
			t.Fatalf("row %d/%d = %q, want %q", r.Partition, r.Offset, g, wantRow(r))
		}
	}
	// Field ids are the contract's.
	sc := re.Iceberg().Schema()
	for id, name := range map[int]string{1: "_partition", 2: "_offset", 3: "_timestamp", 4: "_key", 5: "_headers", 6: "value", 8: "_headers.element.key", 9: "_headers.element.value"} {
		if n, ok := sc.FindColumnName(id); !ok || n != name {
			t.Errorf("field %d is %q, want %q", id, n, name)
		}
	}

	// A stale hint (crash between the metadata and the hint) is probed past.
	if err := st.Write(ctx, hintName, []byte("1")); err != nil {
		t.Fatal(err)
	}
	re, err = Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if re.Version() != 3 {
		t.Fatalf("with a stale hint: version %d, want 3", re.Version())
	}
	// An unreadable hint: the listing of metadata/ decides.
	if err := st.Write(ctx, hintName, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if re, err = Load(ctx, st, ident); err != nil || re.Version() != 3 {
		t.Fatalf("with a bad hint: %v", err)
	}
}

// testConcurrent: four writers at the same version append different
// offsets at once; exactly one wins, the losers get ErrConflict and the
// table holds the winner's rows only.
func testConcurrent(t *testing.T, st Storage) {
	ctx := context.Background()
	if _, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay}); err != nil {
		t.Fatal(err)
	}
	w := [4]*Table{}
	for i := range w {
		var err error
		if w[i], err = Load(ctx, st, ident); err != nil {
			t.Fatal(err)
		}
	}
	var errs [4]error
	var wg sync.WaitGroup
	for i := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 5 + i
			errs[i] = w[i].Append(ctx, "inc", records(0, 0, n), map[int32]int64{0: int64(n)})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatal("both writers won")
			}
			won = i
		case !errors.Is(err, ErrConflict):
			t.Fatalf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("nobody won: %v", errs)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := re.CommittedOffsets()
	if want := int64(5 + won); got[0] != want || re.Version() != 2 {
		t.Fatalf("offsets %v at v%d, want %d at v2", got, re.Version(), want)
	}
	if rows := scanRows(t, re); len(rows) != 5+won {
		t.Fatalf("%d rows, want %d", len(rows), 5+won)
	}
	// A loser, reloaded, resumes from the winner's offsets.
	lost := w[(won+1)%len(w)]
	off, _ := lost.CommittedOffsets()
	if off[0] != int64(5+won) {
		t.Fatalf("loser sees %v after the conflict", off)
	}
	if err := lost.Append(ctx, "inc", records(0, off[0], 2), map[int32]int64{0: off[0] + 2}); err != nil {
		t.Fatal(err)
	}
}

// ackLost is a Storage whose Create succeeds but reports a lost race, as
// an S3 PUT that succeeded and was retried (412) or timed out does.
type ackLost struct {
	Storage
	once sync.Once
}

func (a *ackLost) Create(ctx context.Context, name string, data []byte) error {
	err := a.Storage.Create(ctx, name, data)
	if err != nil || name == metadataName(1) {
		return err
	}
	lost := false
	a.once.Do(func() { lost = true })
	if lost {
		return fmt.Errorf("create %s: %w", name, ErrExists)
	}
	return nil
}

// testOwnCommit: a 412 against our own earlier PUT is success, once.
func testOwnCommit(t *testing.T, st Storage) {
	ctx := context.Background()
	st = &ackLost{Storage: st}
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Append(ctx, "inc", records(0, 0, 3), map[int32]int64{0: 3}); err != nil {
		t.Fatalf("append whose PUT succeeded but answered 412: %v", err)
	}
	if err := tb.Append(ctx, "inc", records(0, 3, 2), map[int32]int64{0: 5}); err != nil {
		t.Fatal(err)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := re.CommittedOffsets()
	if got[0] != 5 || re.Version() != 3 || len(scanRows(t, re)) != 5 {
		t.Fatalf("offsets %v at v%d", got, re.Version())
	}
}

func dirStore(t *testing.T) Storage {
	st, err := DirStorage(t.TempDir() + "/zombi/t")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDirRoundTrip(t *testing.T)  { testRoundTrip(t, dirStore(t)) }
func TestDirConcurrent(t *testing.T) { testConcurrent(t, dirStore(t)) }
func TestDirOwnCommit(t *testing.T)  { testOwnCommit(t, dirStore(t)) }

func TestPartitionings(t *testing.T) {
	for _, p := range []Partitioning{PartitionHour, PartitionNone} {
		t.Run(string(p), func(t *testing.T) {
			ctx := context.Background()
			st := dirStore(t)
			tb, err := Create(ctx, st, ident, Layout{Partitioning: p})
			if err != nil {
				t.Fatal(err)
			}
			recs := records(0, 0, 20)
			if err := tb.Append(ctx, "inc", recs, map[int32]int64{0: 20}); err != nil {
				t.Fatal(err)
			}
			want := map[Partitioning]string{PartitionHour: "2", PartitionNone: "1"}[p]
			if n := tb.Iceberg().CurrentSnapshot().Summary.Properties["total-data-files"]; n != want {
				t.Fatalf("%s: %s data files, want %s", p, n, want)
			}
			if rows := scanRows(t, tb); len(rows) != 20 {
				t.Fatalf("%d rows", len(rows))
			}
		})
	}
	if _, err := ParsePartitioning("week"); err == nil {
		t.Fatal("week accepted")
	}
}

func TestDirCreateNeverOverwrites(t *testing.T) { testCreateNeverOverwrites(t, dirStore(t)) }

func testCreateNeverOverwrites(t *testing.T, st Storage) {
	ctx := context.Background()
	if err := st.Create(ctx, "metadata/x", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, "metadata/x", []byte("second")); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if b, _ := st.Read(ctx, "metadata/x"); !bytes.Equal(b, []byte("first")) {
		t.Fatalf("content %q", b)
	}
}
