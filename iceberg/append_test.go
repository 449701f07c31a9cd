package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// stream is a source of records of size-ish values for the writer tests:
// partition p's records, offsets from 0, timestamps from base every step.
type stream struct {
	val  []byte // values are windows of this text-like buffer (compresses about 2x)
	keys []byte
}

func newStream() *stream {
	s := &stream{val: make([]byte, 1<<20), keys: make([]byte, 10<<10)}
	x := uint32(2463534242)
	for i := range s.val {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		s.val[i] = 'a' + byte(x%16)
	}
	for i := range s.keys {
		s.keys[i] = '0' + byte(i%10)
	}
	return s
}

func (s *stream) record(p int32, o int64, ts time.Time, valSize int, hdr []Header) Record {
	v := int((o*131 + int64(p)*977) % int64(len(s.val)-valSize))
	k := int(o % int64(len(s.keys)/10))
	return Record{Partition: p, Offset: o, Timestamp: ts, Key: s.keys[k*10 : k*10+10], Headers: hdr, Value: s.val[v : v+valSize]}
}

// fileRows reads one data file of the table back with arrow-go (through the
// storage's io, so on S3 through ranged reads): (partition, offset) in file
// order and the _timestamp bucket of every row.
func fileRows(t *testing.T, st Storage, df iceberg.DataFile, part Partitioning) (keys [][2]int64, buckets map[int64]bool) {
	t.Helper()
	f, err := st.FS().Open(df.FilePath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatalf("%s: %v", df.FilePath(), err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", df.FilePath(), err)
	}
	defer tbl.Release()
	buckets = map[int64]bool{}
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	for tr.Next() {
		r := tr.RecordBatch()
		ps := r.Column(0).(*array.Int32)
		of := r.Column(1).(*array.Int64)
		ts := r.Column(2).(*array.Timestamp)
		for i := 0; i < int(r.NumRows()); i++ {
			keys = append(keys, [2]int64{int64(ps.Value(i)), of.Value(i)})
			buckets[part.bucket(int64(ts.Value(i)))] = true
		}
	}
	return keys, buckets
}

// dataFiles lists the current snapshot's data files.
func dataFiles(t *testing.T, tb *Table) []iceberg.DataFile {
	t.Helper()
	tasks, err := tb.Iceberg().Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []iceberg.DataFile
	for _, task := range tasks {
		out = append(out, task.File)
	}
	return out
}

func TestDirRolling(t *testing.T) { testRolling(t, dirStore(t)) }
func TestS3Rolling(t *testing.T)  { testRolling(t, s3Store(t)) }

// testRolling: at a small target, every bucket rolls into several files,
// each at most target + one row group, one bucket per file, rows sorted by
// (partition, offset) in each; every record is in the table once.
func testRolling(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	const target = 48 << 10
	s := newStream()
	a := tb.NewAppend(WriteOptions{TargetFileBytes: target, SpillDir: t.TempDir()})
	base := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	hdr := []Header{{Key: "h", Value: []byte{0xff, 0}}}
	const perPart = 4000
	for p := int32(0); p < 3; p++ {
		for o := int64(0); o < perPart; o++ {
			// 8 hours over 4000 records: two days per partition.
			if err := a.Add(ctx, s.record(p, o, base.Add(time.Duration(o)*7200*time.Millisecond), 100, hdr)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if a.Rows() != 3*perPart || a.Bytes() < 100_000 {
		t.Fatalf("rows %d bytes %d", a.Rows(), a.Bytes())
	}
	if err := a.Commit(ctx, "inc", map[int32]int64{0: perPart, 1: perPart, 2: perPart}); err != nil {
		t.Fatal(err)
	}
	files := dataFiles(t, tb)
	if len(files) < 6 {
		t.Fatalf("%d data files, want several per day bucket", len(files))
	}
	seen := map[[2]int64]int{}
	for _, df := range files {
		if df.FileSizeBytes() > target+target {
			t.Errorf("%s: %d bytes, over target %d + one row group", df.FilePath(), df.FileSizeBytes(), target)
		}
		keys, buckets := fileRows(t, st, df, PartitionDay)
		if len(buckets) != 1 || int64(len(keys)) != df.Count() {
			t.Fatalf("%s: buckets %v, %d rows (footer says %d)", df.FilePath(), buckets, len(keys), df.Count())
		}
		for i, k := range keys {
			seen[k]++
			if i > 0 && (k[0] < keys[i-1][0] || k[0] == keys[i-1][0] && k[1] <= keys[i-1][1]) {
				t.Fatalf("%s: row %v after %v", df.FilePath(), k, keys[i-1])
			}
		}
	}
	if len(seen) != 3*perPart {
		t.Fatalf("%d distinct rows, want %d", len(seen), 3*perPart)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("row %v %d times", k, n)
		}
	}
	if got := len(scanRows(t, tb)); got != 3*perPart {
		t.Fatalf("scan: %d rows, want %d", got, 3*perPart)
	}
}

func TestDirHourBuckets(t *testing.T) { testHourBuckets(t, dirStore(t)) }
func TestS3HourBuckets(t *testing.T)  { testHourBuckets(t, s3Store(t)) }

// testHourBuckets: hour partitioning over maxOpenFiles+12 hours and two
// partitions (more buckets than open files): never more than maxOpenFiles
// open, one hour per file, every record once.
func testHourBuckets(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionHour})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream()
	spill := t.TempDir()
	a := tb.NewAppend(WriteOptions{SpillDir: spill})
	base := time.Date(2026, 12, 5, 0, 30, 0, 0, time.UTC)
	const n = 400
	for p := int32(0); p < 2; p++ {
		for o := int64(0); o < n; o++ {
			// maxOpenFiles+12 hours, with a record an hour back now and then.
			ts := base.Add(time.Duration(o) * (maxOpenFiles + 12) * time.Hour / n)
			if o%7 == 3 {
				ts = ts.Add(-time.Hour)
			}
			if err := a.Add(ctx, s.record(p, o, ts, 50, nil)); err != nil {
				t.Fatal(err)
			}
			if len(a.open) > maxOpenFiles {
				t.Fatalf("%d files open", len(a.open))
			}
		}
	}
	if err := a.Commit(ctx, "inc", map[int32]int64{0: n, 1: n}); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, df := range dataFiles(t, tb) {
		keys, buckets := fileRows(t, st, df, PartitionHour)
		if len(buckets) != 1 {
			t.Fatalf("%s spans hours %v", df.FilePath(), buckets)
		}
		total += len(keys)
	}
	if total != 2*n || len(scanRows(t, tb)) != 2*n {
		t.Fatalf("%d rows in files, want %d", total, 2*n)
	}
	if ents, _ := os.ReadDir(spill); len(ents) != 0 {
		t.Fatalf("spill dir holds %d files after commit", len(ents))
	}
}

// TestInterleavedBuckets: records whose times cycle over 50 hours, one
// at a time (late, event-time data), make one file per hour, not one per
// record.
func TestInterleavedBuckets(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionHour})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream()
	a := tb.NewAppend(WriteOptions{SpillDir: t.TempDir()})
	base := time.Date(2026, 12, 5, 0, 30, 0, 0, time.UTC)
	const n, hours = 5000, 50
	for o := int64(0); o < n; o++ {
		if err := a.Add(ctx, s.record(0, o, base.Add(time.Duration(o%hours)*time.Hour), 50, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Commit(ctx, "inc", map[int32]int64{0: n}); err != nil {
		t.Fatal(err)
	}
	if files := dataFiles(t, tb); len(files) != hours {
		t.Fatalf("%d data files for %d hours", len(files), hours)
	}
	if rows := len(scanRows(t, tb)); rows != n {
		t.Fatalf("%d rows, want %d", rows, n)
	}
}

func TestDirAbort(t *testing.T) { testAbort(t, dirStore(t)) }
func TestS3Abort(t *testing.T)  { testAbort(t, s3Store(t)) }

// testAbort: Abort, and a Commit refused for its offsets, leave no data
// file and no spilled file behind, and the table unchanged.
func testAbort(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream()
	spill := t.TempDir()
	fill := func() *Append {
		a := tb.NewAppend(WriteOptions{TargetFileBytes: 16 << 10, SpillDir: spill})
		base := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
		for o := int64(0); o < 2000; o++ {
			if err := a.Add(ctx, s.record(0, o, base.Add(time.Duration(o)*3*time.Second), 100, nil)); err != nil {
				t.Fatal(err)
			}
		}
		if len(a.uploaded) == 0 || len(a.open) == 0 {
			t.Fatalf("%d uploaded, %d open: want both", len(a.uploaded), len(a.open))
		}
		return a
	}
	empty := func(what string) {
		t.Helper()
		if names, err := st.List(ctx, "data"); err != nil || len(names) != 0 {
			t.Fatalf("%s: data/ holds %v (%v)", what, names, err)
		}
		if ents, _ := os.ReadDir(spill); len(ents) != 0 {
			t.Fatalf("%s: spill dir holds %d files", what, len(ents))
		}
	}
	a := fill()
	a.Abort(ctx)
	empty("abort")
	if err := a.Add(ctx, Record{}); err == nil {
		t.Fatal("add after abort accepted")
	}
	a = fill()
	if err := a.Commit(ctx, "inc", map[int32]int64{0: 1000}); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("commit with records past next: %v, want refused", err)
	}
	empty("refused commit")
	if tb.Version() != 1 {
		t.Fatalf("table at v%d, want v1", tb.Version())
	}
}

func TestOutOfOrder(t *testing.T) {
	ctx := context.Background()
	tb, err := Create(ctx, dirStore(t), ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	a := tb.NewAppend(WriteOptions{SpillDir: t.TempDir()})
	ts := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	add := func(p int32, o int64) error {
		return a.Add(ctx, Record{Partition: p, Offset: o, Timestamp: ts, Value: []byte("v")})
	}
	for _, c := range []struct {
		p  int32
		o  int64
		ok bool
	}{{0, 5, true}, {0, 5, false}, {0, 4, false}, {0, 9, true}, {1, 0, true}, {0, 10, false}, {1, 0, false}, {3, 2, true}} {
		err := add(c.p, c.o)
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrOutOfOrder) {
			t.Fatalf("add %d/%d: %v, want ok=%v", c.p, c.o, err, c.ok)
		}
	}
	if err := a.Commit(ctx, "inc", map[int32]int64{0: 10, 1: 1, 3: 3}); err != nil {
		t.Fatal(err)
	}
	if n := len(scanRows(t, tb)); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
}

// TestMemoryBounded: records through one append keep the live heap
// bounded, whatever the data size: 200 MB over two open files (day), and
// 100 MB spread over eight open files (hour, interleaved), where the
// builders share two row groups in all. The heap grows by about 25-30 MiB
// (builders, the row group being compressed, encoders, bufio buffers).
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, c := range []struct {
		part    Partitioning
		n       int64
		buckets int64
		step    time.Duration
		limit   uint64
	}{
		{PartitionDay, 200_000, 2, 2 * time.Hour, 40 << 20},
		{PartitionHour, 100_000, 8, time.Hour, 40 << 20},
		{PartitionHour, 100_000, maxOpenFiles, time.Hour, 48 << 20},
	} {
		t.Run(fmt.Sprintf("%s-%d", c.part, c.buckets), func(t *testing.T) {
			ctx := context.Background()
			tb, err := Create(ctx, dirStore(t), ident, Layout{Partitioning: c.part})
			if err != nil {
				t.Fatal(err)
			}
			s := newStream()
			a := tb.NewAppend(WriteOptions{TargetFileBytes: 64 << 20, SpillDir: t.TempDir()})
			base := time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base0 := ms.HeapInuse
			var peak uint64
			for o := int64(0); o < c.n; o++ {
				ts := base.Add(time.Duration(o%c.buckets) * c.step) // buckets interleaved
				if err := a.Add(ctx, s.record(0, o, ts, 1000, nil)); err != nil {
					t.Fatal(err)
				}
				if len(a.open) > int(c.buckets) {
					t.Fatalf("%d files open", len(a.open))
				}
				if o%10_000 == 0 {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
			}
			if err := a.Commit(ctx, "inc", map[int32]int64{0: c.n}); err != nil {
				t.Fatal(err)
			}
			t.Logf("peak heap in use %d MiB (%d MiB before) for %d MB of records over %d files", peak>>20, base0>>20, c.n*1000/1_000_000, c.buckets)
			if peak-min(peak, base0) > c.limit {
				t.Fatalf("heap in use grew by %d MiB", (peak-base0)>>20)
			}
		})
	}
}

// TestS3PutFileMultipart: a file above the multipart threshold goes up in
// parts and reads back exactly through ranged reads; WalkDir lists it and
// DeleteFiles removes it.
func TestS3PutFileMultipart(t *testing.T) {
	st := s3Store(t)
	ctx := context.Background()
	defer func(th, ps int64) { multipartThreshold, multipartPartSize = th, ps }(multipartThreshold, multipartPartSize)
	multipartThreshold, multipartPartSize = 6<<20, 5<<20
	data := bytes.Repeat(newStream().val, 13)[:12<<20+123]
	local := path.Join(t.TempDir(), "f")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fst := st.(fileStorage)
	if err := fst.PutFile(ctx, "data/big.parquet", local); err != nil {
		t.Fatal(err)
	}
	if err := fst.PutFile(ctx, "data/small.parquet", local); err != nil {
		t.Fatal(err)
	}
	full := st.Location() + "/data/big.parquet"
	f, err := st.FS().Open(full)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if fi.Size() != int64(len(data)) {
		t.Fatalf("size %d, want %d", fi.Size(), len(data))
	}
	buf := make([]byte, 1000)
	if n, err := f.ReadAt(buf, 10<<20); n != 1000 || err != nil || !bytes.Equal(buf, data[10<<20:10<<20+1000]) {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if _, err := f.Seek(-500, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(tail, data[len(data)-500:]) {
		t.Fatalf("tail: %d bytes, %v", len(tail), err)
	}
	f.Close()
	if _, err := st.FS().Open(st.Location() + "/data/none"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open of a missing object: %v", err)
	}
	var walked []string
	lio := st.FS().(icebergio.ListableIO)
	err = lio.WalkDir(st.Location(), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, _ := d.Info()
			walked = append(walked, fmt.Sprintf("%s:%d", strings.TrimPrefix(p, st.Location()+"/"), info.Size()))
		}
		return nil
	})
	if err != nil || len(walked) != 2 || walked[0] != fmt.Sprintf("data/big.parquet:%d", len(data)) {
		t.Fatalf("walk: %v %v", walked, err)
	}
	bio := st.FS().(icebergio.BulkRemovableIO)
	del, err := bio.DeleteFiles(ctx, []string{full, st.Location() + "/data/small.parquet", st.Location() + "/data/never"})
	if err != nil || len(del) != 3 {
		t.Fatalf("delete: %v %v", del, err)
	}
	if names, _ := st.List(ctx, "data"); len(names) != 0 {
		t.Fatalf("left after delete: %v", names)
	}
}

// failingUpload is a store whose uploads fail.
type failingUpload struct{ Storage }

func (failingUpload) PutFile(context.Context, string, string) error {
	return errors.New("injected upload failure")
}

// TestUploadFailure: an upload that fails (in the background, during Add)
// fails the append: Add or Commit reports it, nothing is committed, no
// spill stays.
func TestUploadFailure(t *testing.T) {
	ctx := context.Background()
	st := failingUpload{dirStore(t)}
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream()
	spill := t.TempDir()
	a := tb.NewAppend(WriteOptions{TargetFileBytes: 16 << 10, SpillDir: spill})
	base := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
	var addErr error
	for o := int64(0); o < 3000 && addErr == nil; o++ {
		addErr = a.Add(ctx, s.record(0, o, base.Add(time.Duration(o)*time.Second), 100, nil))
	}
	err = a.Commit(ctx, "inc", map[int32]int64{0: 3000})
	if err == nil || !strings.Contains(errors.Join(addErr, err).Error(), "injected upload failure") {
		t.Fatalf("add: %v, commit: %v, want the upload failure", addErr, err)
	}
	if tb.Version() != 1 {
		t.Fatalf("table at v%d, want v1", tb.Version())
	}
	if ents, _ := os.ReadDir(spill); len(ents) != 0 {
		t.Fatalf("spill dir holds %d files", len(ents))
	}
}

// TestDirPutFileAcrossFS: a spill directory on another file system
// (/dev/shm) is copied, not renamed, into the table.
func TestDirPutFileAcrossFS(t *testing.T) {
	spill, err := os.MkdirTemp("/dev/shm", "zombi-spill-")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	defer os.RemoveAll(spill)
	ctx := context.Background()
	tb, err := Create(ctx, dirStore(t), ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	a := tb.NewAppend(WriteOptions{SpillDir: spill})
	for _, r := range records(0, 0, 10) {
		if err := a.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Commit(ctx, "inc", map[int32]int64{0: 10}); err != nil {
		t.Fatal(err)
	}
	if n := len(scanRows(t, tb)); n != 10 {
		t.Fatalf("%d rows, want 10", n)
	}
	if ents, _ := os.ReadDir(spill); len(ents) != 0 {
		t.Fatalf("spill dir holds %d files", len(ents))
	}
}

// TestS3OrphanWalk: iceberg-go's DeleteOrphanFiles works over the S3 io's
// WalkDir and DeleteFiles: a data file of an aborted-before-commit upload is
// found and deleted, the committed ones stay.
func TestS3OrphanWalk(t *testing.T) {
	ctx := context.Background()
	st := s3Store(t)
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Append(ctx, "inc", records(0, 0, 6), map[int32]int64{0: 6}); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, "data/orphan.parquet", []byte("not referenced")); err != nil {
		t.Fatal(err)
	}
	res, err := tb.Iceberg().DeleteOrphanFiles(ctx, table.WithFilesOlderThan(0))
	if err != nil {
		t.Fatal(err)
	}
	want := st.Location() + "/data/orphan.parquet"
	if len(res.OrphanFileLocations) != 1 || res.OrphanFileLocations[0] != want || len(res.DeletedFiles) != 1 {
		t.Fatalf("orphans %v deleted %v, want %s", res.OrphanFileLocations, res.DeletedFiles, want)
	}
	if n := len(scanRows(t, tb)); n != 6 {
		t.Fatalf("%d rows after the clean-up, want 6", n)
	}
}
