package icebergread

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/iceberg"
)

// TestReadersJSON: a json-mode table with a typed column of each type,
// evolved with a new column between two appends (older rows read it as
// null), and a {topic}_dlq table with _error: every reader returns the
// JSON text, the typed values (long beyond 2^53, timestamp in
// microseconds) and the error exactly.
func TestReadersJSON(t *testing.T) {
	skipShort(t)
	t.Parallel()
	ctx := context.Background()
	st, err := iceberg.DirStorage(filepath.Join(t.TempDir(), "zombi", "j"))
	if err != nil {
		t.Fatal(err)
	}
	cols := []iceberg.Column{{Name: "s", Type: iceberg.TypeString}, {Name: "n", Type: iceberg.TypeLong},
		{Name: "d", Type: iceberg.TypeDouble}, {Name: "b", Type: iceberg.TypeBoolean}, {Name: "ts", Type: iceberg.TypeTimestamp}}
	layout := iceberg.Layout{Mode: iceberg.ModeJSON, Partitioning: iceberg.PartitionDay, Columns: cols}
	tb, err := iceberg.Create(ctx, st, ident, layout)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	values := []string{
		`{"s":"x\u00ff","n":9007199254740993,"d":1.5,"b":true,"ts":"2026-12-06T00:00:00.123456Z"}`,
		`{"s":null,"other":1}`,
		`[1,2]`,
		`{"later":"l","n":-1}`,
	}
	var recs []iceberg.Record
	for i, v := range values {
		recs = append(recs, iceberg.Record{Partition: 0, Offset: int64(i), Timestamp: at, Value: []byte(v)})
	}
	if err := tb.Append(ctx, "inc", recs[:3], map[int32]int64{0: 3}); err != nil {
		t.Fatal(err)
	}
	if err := tb.EnsureColumns(ctx, append(cols, iceberg.Column{Name: "later", Type: iceberg.TypeString})); err != nil {
		t.Fatal(err)
	}
	if err := tb.Append(ctx, "inc", recs[3:], map[int32]int64{0: 4}); err != nil {
		t.Fatal(err)
	}

	nulls := map[string]any{"s": nil, "n": nil, "d": nil, "b": nil, "ts": nil, "later": nil}
	with := func(kv map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range nulls {
			m[k] = v
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	wantExtra := []map[string]any{
		with(map[string]any{"s": "x\u00ff", "n": int64(9007199254740993), "d": 1.5, "b": true, "ts": time.Date(2026, 12, 6, 0, 0, 0, 123456000, time.UTC)}),
		with(nil),
		with(nil),
		with(map[string]any{"later": "l", "n": int64(-1)}),
	}
	for name, rows := range readAll(t, st.Location(), nil) {
		sortRows(rows)
		if len(rows) != len(values) {
			t.Fatalf("%s: %d rows, want %d", name, len(rows), len(values))
		}
		for i, r := range rows {
			if r.Offset != int64(i) || r.Text == nil || *r.Text != values[i] || r.Value != nil || r.TimestampMs != at.UnixMilli() {
				t.Errorf("%s: row %d: %+v, want text %s", name, i, r, values[i])
			}
			if !reflect.DeepEqual(r.Extra, wantExtra[i]) {
				t.Errorf("%s: row %d: columns %v, want %v", name, i, r.Extra, wantExtra[i])
			}
		}
	}

	dst, err := iceberg.DirStorage(filepath.Join(t.TempDir(), "zombi", iceberg.DLQName("j")))
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := iceberg.Create(ctx, dst, ident, iceberg.DLQLayout(layout))
	if err != nil {
		t.Fatal(err)
	}
	bad := iceberg.Record{Partition: 1, Offset: 7, Timestamp: at, Key: []byte("k"), Value: []byte{0xff, '{'}, Error: "invalid JSON at byte 0"}
	if err := dlq.Append(ctx, "inc", []iceberg.Record{bad}, map[int32]int64{1: 8}); err != nil {
		t.Fatal(err)
	}
	for name, rows := range readAll(t, dst.Location(), nil) {
		checkRows(t, name, rows, []iceberg.Record{bad}, map[string]any{"_error": bad.Error})
	}
}
