package icebergread

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zombi-dev/zombi/iceberg"
	"github.com/zombi-dev/zombi/internal/s3test"
	"github.com/zombi-dev/zombi/tiering"
)

var ident = table.Identifier{"zombi", "t"}

// testRecords are two appends: the first spans two days (2026-12-05 and
// -06) over two partitions, the second adds to partition 0. Among them: a
// null key, an empty key, header values \xff\x00 and null, an empty value
// and a null value.
func testRecords() (first, second []iceberg.Record) {
	day := time.Date(2026, 12, 5, 23, 59, 58, 0, time.UTC)
	rec := func(p int32, o int64, ms int64) iceberg.Record {
		return iceberg.Record{Partition: p, Offset: o, Timestamp: day.Add(time.Duration(ms) * time.Millisecond),
			Key: []byte(fmt.Sprintf("k%d-%d", p, o)), Value: []byte(fmt.Sprintf("v%d-%d", p, o))}
	}
	first = []iceberg.Record{rec(0, 0, 0), rec(0, 1, 1500), rec(0, 2, 2001), rec(0, 3, 3000), rec(1, 0, 1), rec(1, 1, 9000)}
	first[1].Key = nil
	first[2].Headers = []iceberg.Header{{Key: "bin", Value: []byte{0xff, 0x00}}, {Key: "nil", Value: nil}, {Key: "ünï", Value: []byte("x")}}
	first[3].Value = []byte{}
	first[4].Value = nil
	first[5].Key = []byte{}
	first[5].Value = []byte{0x00, 0xff, 0xfe}
	second = []iceberg.Record{rec(0, 4, 60_000), rec(0, 5, 61_000)}
	second[1].Headers = []iceberg.Header{{Key: "h", Value: []byte{}}}
	return first, second
}

// writeTable creates the table at st with zombi's writer (iceberg-go) and
// commits the two appends; it returns every record written.
func writeTable(t *testing.T, st iceberg.Storage) []iceberg.Record {
	t.Helper()
	ctx := context.Background()
	tb, err := iceberg.Create(ctx, st, ident, iceberg.Layout{Partitioning: iceberg.PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	first, second := testRecords()
	if err := tb.Append(ctx, "inc", first, map[int32]int64{0: 4, 1: 2}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Append(ctx, "inc", second, map[int32]int64{0: 6}); err != nil {
		t.Fatal(err)
	}
	all := append(first, second...)
	sortRecords(all)
	return all
}

func sortRecords(recs []iceberg.Record) {
	slices.SortFunc(recs, func(a, b iceberg.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
}

func sortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
}

// checkRows compares a reader's rows with the records, field by field:
// each record exactly once, null and empty kept apart; extra, if given,
// is every row's other columns (else there must be none).
func checkRows(t *testing.T, reader string, got []Row, want []iceberg.Record, extra ...map[string]any) {
	t.Helper()
	sortRows(got)
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d: %+v", reader, len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		at := fmt.Sprintf("%s: row %d/%d", reader, w.Partition, w.Offset)
		if g.Partition != w.Partition || g.Offset != w.Offset {
			t.Fatalf("%s: got row %d/%d", at, g.Partition, g.Offset)
		}
		if g.TimestampMs != w.Timestamp.UnixMilli() {
			t.Errorf("%s: timestamp %d, want %d", at, g.TimestampMs, w.Timestamp.UnixMilli())
		}
		if !sameBytes(g.Key, w.Key) {
			t.Errorf("%s: key %s, want %s", at, show(g.Key), show(w.Key))
		}
		if !sameBytes(g.Value, w.Value) {
			t.Errorf("%s: value %s, want %s", at, show(g.Value), show(w.Value))
		}
		if g.Text != nil {
			t.Errorf("%s: json text %q in a raw table", at, *g.Text)
		}
		if len(g.Headers) != len(w.Headers) {
			t.Errorf("%s: headers %+v, want %+v", at, g.Headers, w.Headers)
			continue
		}
		for j, h := range w.Headers {
			if g.Headers[j].Key != h.Key || !sameBytes(g.Headers[j].Value, h.Value) {
				t.Errorf("%s: header %d %q=%s, want %q=%s", at, j, g.Headers[j].Key, show(g.Headers[j].Value), h.Key, show(h.Value))
			}
		}
		var wantExtra map[string]any
		if len(extra) > 0 {
			wantExtra = extra[0]
		}
		if (len(g.Extra) != 0 || len(wantExtra) != 0) && !reflect.DeepEqual(g.Extra, wantExtra) {
			t.Errorf("%s: other columns %v, want %v", at, g.Extra, wantExtra)
		}
	}
}

// sameBytes is bytes.Equal that keeps nil (null) and empty apart.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func show(b []byte) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprintf("%q", b)
}

// readAll runs the three readers on location at once; a missing one
// skips the test (make test-deps installs them).
func readAll(t *testing.T, location string, s3c *S3Config) map[string][]Row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := ReadAll(ctx, location, s3c)
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(Readers) {
		t.Fatalf("ReadAll: %d readers answered, want %d", len(out), len(Readers))
	}
	t.Logf("three readers in %v", time.Since(start).Round(time.Millisecond))
	return out
}

func checkAll(t *testing.T, location string, s3c *S3Config, want []iceberg.Record) {
	got := readAll(t, location, s3c)
	for name, rows := range got {
		checkRows(t, name, rows, want)
	}
	// Each reader on its own matches the records, so they agree with each
	// other; this says which two differ if a check above was lenient.
	for _, name := range []string{"duckdb", "pyiceberg"} {
		for i := range got["js"] {
			a, b := got["js"][i], got[name][i]
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("js and %s disagree: %+v vs %+v", name, a, b)
			}
		}
	}
}

func TestReadersDir(t *testing.T) {
	skipShort(t)
	t.Parallel()
	loc := filepath.Join(t.TempDir(), "zombi", "t")
	st, err := iceberg.DirStorage(loc)
	if err != nil {
		t.Fatal(err)
	}
	want := writeTable(t, st)
	checkAll(t, st.Location(), nil, want)
}

func TestReadersS3(t *testing.T) {
	skipShort(t)
	t.Parallel()
	st, s3c := s3Store(t)
	want := writeTable(t, st)
	checkAll(t, st.Location(), s3c, want)
}

// TestReadersEmptyTable: a table without a snapshot has no rows (and is
// not an error).
func TestReadersEmptyTable(t *testing.T) {
	skipShort(t)
	t.Parallel()
	st, err := iceberg.DirStorage(filepath.Join(t.TempDir(), "zombi", "t"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iceberg.Create(context.Background(), st, ident, iceberg.Layout{Partitioning: iceberg.PartitionDay}); err != nil {
		t.Fatal(err)
	}
	for name, rows := range readAll(t, st.Location(), nil) {
		if len(rows) != 0 {
			t.Errorf("%s on an empty table: %d rows", name, len(rows))
		}
	}
}

// TestReadersNoTable: a location without a table is an error in every
// reader, never zero rows.
func TestReadersNoTable(t *testing.T) {
	skipShort(t)
	t.Parallel()
	if _, err := Python(); errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	dir := t.TempDir()
	for name, read := range Readers {
		rows, err := read(context.Background(), dir, nil)
		if errors.Is(err, ErrUnavailable) {
			t.Skip(err)
		}
		if err == nil {
			t.Errorf("%s: %d rows and no error for a directory without a table", name, len(rows))
		}
	}
}

// s3Store starts versitygw on a free port with a bucket and returns a
// Storage in it and the readers' S3Config for it.
func s3Store(t *testing.T) (iceberg.Storage, *S3Config) {
	t.Helper()
	addr := s3test.Start(t).Addr
	ctx := context.Background()
	c, err := tiering.NewS3Client(ctx, tiering.Config{Bucket: "warehouse", Endpoint: "http://" + addr, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Credentials set here, not with t.Setenv (the tests run in parallel,
	// and the readers must get them from S3Config or the catalog only).
	c = s3.New(c.Options(), func(o *s3.Options) {
		o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "testkey", SecretAccessKey: "testsecret123"}, nil
		})
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("warehouse")}); err != nil {
		t.Fatal(err)
	}
	return iceberg.S3Storage(c, "warehouse", "iceberg/zombi/t"),
		&S3Config{Endpoint: "http://" + addr, Region: "us-east-1", AccessKey: "testkey", SecretKey: "testsecret123"}
}

// fakeCatalog is a stand-in for the read-only REST catalog (httpapi's
// /iceberg/v1/, built elsewhere): config, and load-table answering the
// table's current metadata location, its metadata and the S3 settings.
func fakeCatalog(t *testing.T, st iceberg.Storage, s3c *S3Config) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /iceberg/v1/config", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"defaults":{},"overrides":{}}`))
	})
	mux.HandleFunc("GET /iceberg/v1/namespaces/zombi/tables/t", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		hint, err := st.Read(ctx, "metadata/version-hint.text")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		name := "metadata/v" + strings.TrimSpace(string(hint)) + ".metadata.json"
		md, err := st.Read(ctx, name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		cfg := map[string]string{}
		if s3c != nil {
			cfg = map[string]string{"s3.endpoint": s3c.Endpoint, "s3.region": s3c.Region,
				"s3.access-key-id": s3c.AccessKey, "s3.secret-access-key": s3c.SecretKey}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"metadata-location": st.Location() + "/" + name,
			"metadata":          json.RawMessage(md),
			"config":            cfg,
		})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake catalog: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestReadPyIcebergREST: pyiceberg's RestCatalog loads the table from a
// fake catalog and follows the metadata location and the S3 settings it
// answers (the reader itself is given no S3Config).
func TestReadPyIcebergREST(t *testing.T) {
	skipShort(t)
	t.Parallel()
	st, s3c := s3Store(t)
	want := writeTable(t, st)
	srv := fakeCatalog(t, st, s3c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, err := ReadPyIcebergREST(ctx, srv.URL+"/iceberg", "zombi.t", nil)
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "pyiceberg-rest", rows, want)
}

// TestUnavailable: without node or python3 on PATH the readers say so
// with ErrUnavailable and the install command, so callers can skip.
func TestUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("ZOMBI_PYTHON", "")
	ctx := context.Background()
	for name, read := range map[string]func(context.Context, string, *S3Config) ([]Row, error){"js": ReadJS, "duckdb": ReadDuckDB, "pyiceberg": ReadPyIceberg} {
		_, err := read(ctx, t.TempDir(), nil)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "make test-deps") {
			t.Errorf("%s without its tools: %v, want ErrUnavailable with the install command", name, err)
		}
	}
}

// skipShort: the readers are real processes (node, python), not for the
// -short inner loop.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the reader processes (node, python)")
	}
}
