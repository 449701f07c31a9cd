package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
)

func TestParseColumns(t *testing.T) {
	ok := []struct {
		in   string
		want []Column
	}{
		{"", nil},
		{"  ", nil},
		{"a:string", []Column{{"a", TypeString}}},
		{" a : long , B:DOUBLE,c_1:boolean,ts:timestamp", []Column{{"a", TypeLong}, {"B", TypeDouble}, {"c_1", TypeBoolean}, {"ts", TypeTimestamp}}},
		{"user-id:long,$x:string,prénom:string,值:long", []Column{{"user-id", TypeLong}, {"$x", TypeString}, {"prénom", TypeString}, {"值", TypeLong}}},
		{"value_2:string,_errors:string,keys:long", []Column{{"value_2", TypeString}, {"_errors", TypeString}, {"keys", TypeLong}}},
	}
	for _, c := range ok {
		got, err := ParseColumns(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseColumns(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"a", `entry 1 "a": want name:type`},
		{"a:string,,b:long", "entry 2 is empty"},
		{"a:string,", "entry 2 is empty"},
		{":string", "empty column name"},
		{"a:", `unknown column type ""`},
		{"a:int", `unknown column type "int": want string, long, double, boolean or timestamp`},
		{"a:string:x", `unknown column type "string:x"`},
		{"a:string,a:long", `column "a": given twice`},
		{"a:string,A:long", `column "A": given twice`},
		{"value:string", `column "value": the name of a fixed column`},
		{"_Offset:long", `column "_Offset": the name of a fixed column`},
		{"_error:string", "the name of a fixed column"},
		{"_headers:string", "the name of a fixed column"},
		{"a b:string", `may not contain ' '`},
		{"a.b:string", `may not contain '.'`},
		{"a\x00:string", "may not contain"},
		{"a\xff:string", "not valid UTF-8"},
		{strings.Repeat("x", 129) + ":long", "longer than 128 bytes"},
	}
	for _, c := range bad {
		_, err := ParseColumns(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "zombi.iceberg.columns: ") {
			t.Errorf("ParseColumns(%q) = %v, want an error with %q", c.in, err, c.want)
		}
	}
	many := strings.Repeat("c:long,", MaxColumns+1)
	if _, err := ParseColumns(strings.TrimSuffix(many, ",")); err == nil {
		t.Error("more than MaxColumns accepted")
	}
	if m, err := ParseMode(""); m != ModeRaw || err != nil {
		t.Errorf("ParseMode(\"\") = %q, %v", m, err)
	}
	if m, err := ParseMode("json"); m != ModeJSON || err != nil {
		t.Errorf("ParseMode(json) = %q, %v", m, err)
	}
	for _, s := range []string{"dlq", "JSON", "avro"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) accepted", s)
		}
	}
}

func FuzzParseColumns(f *testing.F) {
	for _, s := range []string{"", "a:string", "a:long,b:double,c:boolean,d:timestamp", "a", ",", "a:b:c", "value:string", " x : LONG "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cols, err := ParseColumns(s)
		if err != nil {
			return
		}
		if err := ValidateColumns(cols); err != nil {
			t.Fatalf("ParseColumns(%q) returned columns that do not validate: %v", s, err)
		}
		// What was accepted builds a json schema and round-trips.
		var parts []string
		for _, c := range cols {
			parts = append(parts, c.Name+":"+string(c.Type))
		}
		again, err := ParseColumns(strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(again, cols) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
		if _, err := (Layout{Mode: ModeJSON, Columns: cols}).Schema(); err != nil {
			t.Fatalf("schema of %q: %v", s, err)
		}
	})
}

var allTypes = []Column{{"s", TypeString}, {"n", TypeLong}, {"d", TypeDouble}, {"b", TypeBoolean}, {"ts", TypeTimestamp}}

// encodeRows runs the encoder of layout l over recs and returns each row's
// cells by column name (nil for null; int64, float64, bool, string, or
// []byte for binary; a timestamp as int64 microseconds).
func encodeRows(t testing.TB, l Layout, recs []Record) ([]map[string]any, []error) {
	t.Helper()
	sc, err := l.Schema()
	if err != nil {
		t.Fatal(err)
	}
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := newRowEncoder(sc, asc)
	if err != nil {
		t.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), asc)
	defer bld.Release()
	errs := make([]error, len(recs))
	for i := range recs {
		errs[i] = enc.append(bld, &recs[i])
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	return batchRows(rec), errs
}

func batchRows(rec arrow.RecordBatch) []map[string]any {
	var out []map[string]any
	for i := 0; i < int(rec.NumRows()); i++ {
		row := map[string]any{}
		for j, f := range rec.Schema().Fields() {
			row[f.Name] = cell(rec.Column(j), i)
		}
		out = append(out, row)
	}
	return out
}

func cell(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return slicesClone(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.List:
		s, e := a.ValueOffsets(i)
		return int64(e - s)
	}
	return fmt.Sprintf("%T", a)
}

func slicesClone(b []byte) []byte { return append([]byte{}, b...) }

func us(s string) int64 {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return tm.UnixMicro()
}

// jsonCases: a value and the typed cells it gives (s, n, d, b, ts).
var jsonCases = []struct {
	value string
	want  [5]any
}{
	{`{"s":"hello","n":42,"d":1.5,"b":true,"ts":"2026-12-06T13:17:41.123456Z"}`, [5]any{"hello", int64(42), 1.5, true, us("2026-12-06T13:17:41.123456Z")}},
	{` { "ts" : 1765027061123 , "b":false, "d":-3, "n":-9223372036854775808 } `, [5]any{nil, int64(math.MinInt64), -3.0, false, int64(1765027061123000)}},
	// wrong types and out of range: null
	{`{"s":1,"n":"42","d":"1.5","b":"true","ts":true}`, [5]any{}},
	{`{"n":1.0,"d":1e400,"ts":1.5}`, [5]any{}},
	{`{"n":9223372036854775808,"ts":9223372036854775807}`, [5]any{nil, nil, nil, nil, nil}},
	{`{"n":1e3,"d":1e3,"ts":"2026-13-01T00:00:00Z"}`, [5]any{nil, nil, 1000.0, nil, nil}},
	{`{"ts":"2026-12-06 13:17:41Z"}`, [5]any{}},
	{`{"ts":"2026-12-06T14:17:41+01:00","n":0,"d":0}`, [5]any{nil, int64(0), 0.0, nil, us("2026-12-06T13:17:41Z")}},
	// JSON null, missing fields, nested objects ignored
	{`{"s":null,"n":null,"d":null,"b":null,"ts":null}`, [5]any{}},
	{`{}`, [5]any{}},
	{`{"x":{"s":"inner","n":1},"y":[{"b":true}]}`, [5]any{}},
	{`{"s":{"a":1},"n":[1],"d":{},"b":[],"ts":{}}`, [5]any{}},
	// not an object: valid JSON, all null
	{`[1,2,3]`, [5]any{}},
	{`"s"`, [5]any{}},
	{`42`, [5]any{}},
	{`null`, [5]any{}},
	// unicode and escapes, in values and keys; repeated keys: the last
	{`{"s":"héllo 世界 🎉"}`, [5]any{"héllo 世界 🎉"}},
	{`{"s":"a\"b\\c\/d\n\u00e9\ud83c\udf89\ud800x"}`, [5]any{"a\"b\\c/d\né🎉\uFFFDx"}},
	{`{"\u0073":"escaped key","n":1,"n":2}`, [5]any{"escaped key", int64(2)}},
	{`{"S":"case matters"}`, [5]any{}},
	{`{"ts":"2026-12-06T13:17:41Z","ts":"bad"}`, [5]any{}},
}

func TestJSONRows(t *testing.T) {
	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var recs []Record
	for i, c := range jsonCases {
		recs = append(recs, Record{Partition: 1, Offset: int64(i), Timestamp: base, Key: []byte("k"), Headers: []Header{{"h", []byte{0xff}}}, Value: []byte(c.value)})
	}
	rows, errs := encodeRows(t, Layout{Mode: ModeJSON, Columns: allTypes}, recs)
	for i, c := range jsonCases {
		if errs[i] != nil {
			t.Errorf("%s: %v", c.value, errs[i])
			continue
		}
		r := rows[i]
		if r["value"] != c.value || string(r["_key"].([]byte)) != "k" || r["_headers"] != int64(1) || r["_offset"] != int64(i) || r["_partition"] != int64(1) || r["_timestamp"] != base.UnixMicro() {
			t.Errorf("%s: fixed columns %v", c.value, r)
		}
		for j, col := range allTypes {
			if got := r[col.Name]; !reflect.DeepEqual(got, c.want[j]) {
				t.Errorf("%s: column %s = %#v, want %#v", c.value, col.Name, got, c.want[j])
			}
		}
	}
}

var invalidJSON = []struct{ value, reason string }{
	{"", "invalid JSON: unexpected end of input"},
	{"{", "invalid JSON: unexpected end of input"},
	{`{"a":1,}`, `invalid JSON at byte 7: unexpected character '}'`},
	{`{"a":1} x`, `invalid JSON at byte 8: unexpected character 'x'`},
	{"plain text", `invalid JSON at byte 0: unexpected character 'p'`},
	{`{"a":tru}`, `invalid JSON at byte 8: unexpected character '}'`},
	{`{"a":01}`, `invalid JSON at byte 6: unexpected character '1'`},
	{`{"a":"\x}`, `invalid JSON at byte 7: invalid escape`},
	{"{\"a\":\"\xff\"}", "invalid JSON at byte 6: invalid UTF-8"},
	{"{\"a\":\"\n\"}", "invalid JSON at byte 6: control character in string"},
	{"\xef\xbb\xbf{}", "invalid JSON at byte 0: unexpected byte 0xef"},
	{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "invalid JSON at byte 10000: nested too deeply"},
}

func TestValidJSON(t *testing.T) {
	if reason, ok := ValidJSON(nil); ok || reason != "value is null" {
		t.Errorf("ValidJSON(nil) = %q, %v", reason, ok)
	}
	if _, ok := ValidJSON(bytes.Repeat([]byte("["), 10000)); ok {
		t.Error("unterminated arrays accepted")
	}
	if _, ok := ValidJSON([]byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))); !ok {
		t.Error("10000 nested arrays (encoding/json's limit) refused")
	}
	for _, c := range invalidJSON {
		reason, ok := ValidJSON([]byte(c.value))
		if ok || reason != c.reason {
			t.Errorf("ValidJSON(%.30q) = %q, %v; want %q", c.value, reason, ok, c.reason)
		}
		if json.Valid([]byte(c.value)) && utf8.ValidString(c.value) {
			t.Errorf("%.30q is valid for encoding/json", c.value)
		}
	}
	for _, c := range jsonCases {
		if reason, ok := ValidJSON([]byte(c.value)); !ok {
			t.Errorf("ValidJSON(%s) = %q", c.value, reason)
		}
	}
}

// TestJSONInvalidToDLQ: the json encoder refuses an invalid value without
// touching the builder, and the {topic}_dlq table stores it raw with
// _error; both through real tables on a directory, read back with
// iceberg-go's scan.
func TestJSONInvalidToDLQ(t *testing.T) {
	ctx := context.Background()
	l := Layout{Mode: ModeJSON, Partitioning: PartitionHour, Columns: allTypes}
	main, err := Create(ctx, dirStorageT(t), table.Identifier{"zombi", "t"}, l)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := Create(ctx, dirStorageT(t), table.Identifier{"zombi", DLQName("t")}, DLQLayout(l))
	if err != nil {
		t.Fatal(err)
	}
	if got := main.Layout(); !reflect.DeepEqual(got, l) {
		t.Errorf("main layout %+v, want %+v", got, l)
	}
	if got := dlq.Layout(); !reflect.DeepEqual(got, Layout{Mode: ModeDLQ, Partitioning: PartitionHour}) {
		t.Errorf("dlq layout %+v", got)
	}
	if err := dlq.EnsureLayout(ctx, DLQLayout(l)); err != nil {
		t.Errorf("dlq EnsureLayout: %v", err)
	}
	if err := main.EnsureLayout(ctx, l); err != nil || main.Version() != 1 {
		t.Errorf("main EnsureLayout: %v at v%d", err, main.Version())
	}
	if n, ok := dlq.Iceberg().Schema().FindColumnName(FieldError); !ok || n != "_error" {
		t.Errorf("dlq field %d is %q", FieldError, n)
	}

	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	values := [][]byte{[]byte(`{"n":1}`), nil, []byte("not json"), []byte(`{"n":2}`), []byte("{\"s\":\"\xff\"}"), []byte(`{"n":3}`)}
	var good, bad []Record
	for i, v := range values {
		r := Record{Partition: 0, Offset: int64(i), Timestamp: base.Add(time.Duration(i) * time.Minute), Value: v}
		// The materializer's routing.
		if reason, ok := ValidJSON(v); ok {
			good = append(good, r)
		} else {
			r.Error = reason
			bad = append(bad, r)
		}
	}
	// The encoder refuses the same records, leaving no partial row.
	rows, errs := encodeRows(t, l, []Record{{Value: nil}, {Value: []byte("x")}, {Value: []byte("{}")}})
	var ive *InvalidValueError
	if !errors.As(errs[0], &ive) || ive.Reason != "value is null" || !errors.As(errs[1], &ive) || errs[2] != nil || len(rows) != 1 {
		t.Fatalf("encoder: %v, %d rows", errs, len(rows))
	}

	next := map[int32]int64{0: int64(len(values))}
	if err := main.Append(ctx, "i", good, next); err != nil {
		t.Fatal(err)
	}
	if err := dlq.Append(ctx, "i", bad, next); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, main)
	if len(got) != 3 || got[0]["n"] != int64(1) || got[1]["n"] != int64(2) || got[2]["value"] != `{"n":3}` || got[2]["_offset"] != int64(5) {
		t.Errorf("main table rows %v", got)
	}
	got = scanAll(t, dlq)
	want := []map[string]any{
		{"_offset": int64(1), "value": nil, "_error": "value is null"},
		{"_offset": int64(2), "value": []byte("not json"), "_error": "invalid JSON at byte 1: unexpected character 'o'"},
		{"_offset": int64(4), "value": []byte("{\"s\":\"\xff\"}"), "_error": "invalid JSON at byte 6: invalid UTF-8"},
	}
	if len(got) != len(want) {
		t.Fatalf("dlq rows %v", got)
	}
	for i, w := range want {
		for k, v := range w {
			if !reflect.DeepEqual(got[i][k], v) {
				t.Errorf("dlq row %d %s = %#v, want %#v", i, k, got[i][k], v)
			}
		}
	}
}

// scanAll reads a table with iceberg-go's scan, rows sorted by partition
// and offset.
func scanAll(t *testing.T, tb *Table) []map[string]any {
	t.Helper()
	at, err := tb.Iceberg().Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	var rows []map[string]any
	for tr.Next() {
		rows = append(rows, batchRows(tr.RecordBatch())...)
	}
	key := func(r map[string]any) int64 { return r["_partition"].(int64)<<40 | r["_offset"].(int64) }
	slices.SortFunc(rows, func(a, b map[string]any) int { return cmp.Compare(key(a), key(b)) })
	return rows
}

func TestDirEnsureColumns(t *testing.T) { testEnsureColumns(t, dirStorageT(t)) }
func TestS3EnsureColumns(t *testing.T)  { testEnsureColumns(t, s3Store(t)) }

func testEnsureColumns(t *testing.T, st Storage) {
	ctx := context.Background()
	tb, err := Create(ctx, st, ident, Layout{Mode: ModeJSON, Partitioning: PartitionDay, Columns: []Column{{"a", TypeLong}}})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	rec := func(o int64, v string) Record {
		return Record{Offset: o, Timestamp: base.Add(time.Duration(o) * time.Hour), Value: []byte(v)}
	}
	if err := tb.Append(ctx, "i", []Record{rec(0, `{"a":1,"b":"old"}`)}, map[int32]int64{0: 1}); err != nil {
		t.Fatal(err)
	}
	v := tb.Version()
	if err := tb.EnsureColumns(ctx, []Column{{"a", TypeLong}}); err != nil || tb.Version() != v {
		t.Fatalf("no-op EnsureColumns: %v, version %d -> %d", err, v, tb.Version())
	}
	// The config gains b and c: ids 11 and 12, one new metadata version.
	if err := tb.EnsureColumns(ctx, []Column{{"a", TypeLong}, {"b", TypeString}, {"c", TypeTimestamp}}); err != nil {
		t.Fatal(err)
	}
	if tb.Version() != v+1 {
		t.Fatalf("version %d, want %d", tb.Version(), v+1)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	sc := re.Iceberg().Schema()
	for id, name := range map[int]string{10: "a", 11: "b", 12: "c"} {
		if n, ok := sc.FindColumnName(id); !ok || n != name {
			t.Errorf("field %d is %q, want %q", id, n, name)
		}
	}
	if got := re.Iceberg().Metadata().LastColumnID(); got != 12 {
		t.Errorf("last-column-id %d", got)
	}
	// The name mapping the first append set follows (readers of files
	// without ids would use it).
	mapped := map[string]int{}
	for _, f := range re.Iceberg().Metadata().NameMapping() {
		if f.FieldID != nil {
			mapped[strings.Join(f.Names, "|")] = *f.FieldID
		}
	}
	if mapped["b"] != 11 || mapped["c"] != 12 || mapped["a"] != 10 {
		t.Errorf("name mapping %v", mapped)
	}
	// A type clash is refused and changes nothing; a name that differs
	// only in case too.
	for _, cols := range [][]Column{{{"b", TypeLong}}, {{"B", TypeString}}, {{"_key", TypeString}}} {
		if err := tb.EnsureColumns(ctx, cols); err == nil || tb.Version() != v+1 {
			t.Errorf("EnsureColumns(%v): %v, version %d", cols, err, tb.Version())
		}
	}
	if err := tb.EnsureColumns(ctx, []Column{{"b", TypeLong}}); !errors.Is(err, ErrColumnType) {
		t.Errorf("type clash: %v, want ErrColumnType", err)
	}
	// Removing a name from the config keeps the column.
	if err := tb.EnsureColumns(ctx, []Column{{"c", TypeTimestamp}}); err != nil || tb.Version() != v+1 {
		t.Errorf("fewer columns: %v, version %d", err, tb.Version())
	}
	// EnsureLayout: mode and partitioning are refused, columns added.
	for _, l := range []Layout{{Mode: ModeRaw}, {Mode: ModeJSON, Partitioning: PartitionHour}, {Mode: ModeJSON, Columns: []Column{{"a", TypeString}}}} {
		if err := tb.EnsureLayout(ctx, l); err == nil || tb.Version() != v+1 {
			t.Errorf("EnsureLayout(%+v): %v, version %d", l, err, tb.Version())
		}
	}
	if err := tb.EnsureLayout(ctx, Layout{Mode: ModeJSON, Columns: []Column{{"b", TypeString}}}); err != nil || tb.Version() != v+1 {
		t.Errorf("EnsureLayout, nothing to do: %v, version %d", err, tb.Version())
	}
	// A raw table has no typed columns.
	raw, err := Create(ctx, dirStorageT(t), ident, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.EnsureColumns(ctx, []Column{{"a", TypeLong}}); err == nil {
		t.Error("typed column added to a raw table")
	}

	if err := tb.Append(ctx, "i", []Record{rec(1, `{"a":2,"b":"new","c":1000}`)}, map[int32]int64{0: 2}); err != nil {
		t.Fatal(err)
	}
	// The old file lacks b and c: they read as null; the new row has them.
	if err := tb.EnsureColumns(ctx, []Column{{"d", TypeBoolean}}); err != nil {
		t.Fatal(err)
	}
	re, err = Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	rows := scanAll(t, re)
	want := []map[string]any{
		{"_offset": int64(0), "a": int64(1), "b": nil, "c": nil, "d": nil},
		{"_offset": int64(1), "a": int64(2), "b": "new", "c": int64(1000_000), "d": nil},
	}
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	for i, w := range want {
		for k, v := range w {
			if !reflect.DeepEqual(rows[i][k], v) {
				t.Errorf("row %d %s = %#v, want %#v", i, k, rows[i][k], v)
			}
		}
	}
	if n, _ := re.Iceberg().Schema().FindColumnName(13); n != "d" {
		t.Errorf("field 13 is %q", n)
	}
}

// TestEnsureColumnsRace: two handles of one table at the same version add
// columns; the loser reloads and finds its column or adds the rest.
func TestEnsureColumnsRace(t *testing.T) {
	ctx := context.Background()
	st := dirStorageT(t)
	a, err := Create(ctx, st, ident, Layout{Mode: ModeJSON})
	if err != nil {
		t.Fatal(err)
	}
	// A snapshot that both handles hold: the loser's schema commit must not
	// be taken for "already applied" because the snapshot is there.
	if err := a.Append(ctx, "i", []Record{{Timestamp: time.Unix(0, 0), Value: []byte("{}")}}, map[int32]int64{0: 1}); err != nil {
		t.Fatal(err)
	}
	b, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.EnsureColumns(ctx, []Column{{"x", TypeLong}}); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureColumns(ctx, []Column{{"x", TypeLong}, {"y", TypeDouble}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.Layout().Columns; !reflect.DeepEqual(got, []Column{{"x", TypeLong}, {"y", TypeDouble}}) || a.Version() != 4 {
		t.Errorf("columns %v at v%d", got, a.Version())
	}
	if err := b.EnsureColumns(ctx, []Column{{"x", TypeString}}); !errors.Is(err, ErrColumnType) {
		t.Errorf("clash after a race: %v", err)
	}
}

// stdlibFields is the reference extraction with encoding/json: validity
// (plus UTF-8), then a Decoder walk over the top-level object; the value
// of each wanted field as the raw JSON text (last one wins).
func stdlibFields(v []byte, want map[string]int, out [][]byte) bool {
	for i := range out {
		out[i] = nil
	}
	if !json.Valid(v) || !utf8.Valid(v) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return true
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return true
		}
		if i, ok := want[tok.(string)]; ok {
			out[i] = raw
		}
	}
	return true
}

// stdlibCell converts a field's raw JSON as the encoder should.
func stdlibCell(typ ColumnType, raw []byte) any {
	if raw == nil {
		return nil
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&x) != nil {
		return "undecodable"
	}
	switch typ {
	case TypeString:
		if s, ok := x.(string); ok {
			return s
		}
	case TypeLong:
		if n, ok := x.(json.Number); ok && !strings.ContainsAny(string(n), ".eE") {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				return i
			}
		}
	case TypeDouble:
		if n, ok := x.(json.Number); ok {
			if f, err := strconv.ParseFloat(string(n), 64); err == nil {
				return f
			}
		}
	case TypeBoolean:
		if b, ok := x.(bool); ok {
			return b
		}
	case TypeTimestamp:
		switch x := x.(type) {
		case string:
			if tm, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return tm.UnixMicro()
			}
		case json.Number:
			if !strings.ContainsAny(string(x), ".eE") {
				if i, err := strconv.ParseInt(string(x), 10, 64); err == nil && i <= epochMillisMax && i >= -epochMillisMax {
					return i * 1000
				}
			}
		}
	}
	return nil
}

// FuzzJSONRow: on arbitrary bytes the encoder never panics, accepts exactly
// what encoding/json accepts (and is UTF-8), and extracts the same typed
// values as the encoding/json reference.
func FuzzJSONRow(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c.value))
	}
	for _, c := range invalidJSON[:len(invalidJSON)-1] {
		f.Add([]byte(c.value))
	}
	f.Add([]byte(`{"s":"\ud83c\udf89","n":-0,"d":-0.0e+1,"b":false,"ts":"1970-01-01T00:00:00.000000001+23:59"}`))
	l := Layout{Mode: ModeJSON, Columns: allTypes}
	sc, _ := l.Schema()
	asc, _ := table.SchemaToArrowSchema(sc, nil, true, false)
	enc, err := newRowEncoder(sc, asc)
	if err != nil {
		f.Fatal(err)
	}
	want := map[string]int{}
	for i, c := range allTypes {
		want[c.Name] = i
	}
	// One builder for all inputs (a worker runs them one at a time):
	// NewRecordBatch empties it.
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), asc)
	defer bld.Release()
	f.Fuzz(func(t *testing.T, v []byte) {
		err := enc.append(bld, &Record{Value: v})
		_, valid := ValidJSON(v)
		raws := make([][]byte, len(allTypes))
		ref := stdlibFields(v, want, raws)
		if valid != ref || (err == nil) != ref {
			t.Fatalf("%q: ValidJSON %v, encoder %v, encoding/json %v", v, valid, err, ref)
		}
		rec := bld.NewRecordBatch()
		defer rec.Release()
		if !ref {
			if rec.NumRows() != 0 {
				t.Fatalf("%q: invalid value left %d rows", v, rec.NumRows())
			}
			return
		}
		row := batchRows(rec)[0]
		for i, c := range allTypes {
			w := stdlibCell(c.Type, raws[i])
			if g := row[c.Name]; !reflect.DeepEqual(g, w) && !(isNaN(g) && isNaN(w)) {
				t.Fatalf("%q: column %s = %#v, encoding/json gives %#v", v, c.Name, g, w)
			}
		}
		if row["value"] != string(v) {
			t.Fatalf("value %q, want %q", row["value"], v)
		}
	})
}

func isNaN(x any) bool { f, ok := x.(float64); return ok && math.IsNaN(f) }

// benchValue is a 100-byte JSON value.
var benchValue = []byte(`{"id":1234567,"user":"alice-0001","ts":"2026-12-06T13:17:41.123Z","amount":12.5,"tags":["a","b"],"ok":1}`)

var benchColumns = []Column{{"id", TypeLong}, {"user", TypeString}, {"ts", TypeTimestamp}}

// BenchmarkEncodeJSON: one 100-byte JSON record with 3 typed columns
// through the row encoder (validate, extract, append), in batches of 8192.
func BenchmarkEncodeJSON(b *testing.B) {
	benchEncode(b, Layout{Mode: ModeJSON, Columns: benchColumns}, benchValue)
}

// BenchmarkEncodeRaw: the same record in raw mode, for comparison.
func BenchmarkEncodeRaw(b *testing.B) {
	benchEncode(b, Layout{}, benchValue)
}

func benchEncode(b *testing.B, l Layout, v []byte) {
	sc, _ := l.Schema()
	asc, _ := table.SchemaToArrowSchema(sc, nil, true, false)
	enc, err := newRowEncoder(sc, asc)
	if err != nil {
		b.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, asc)
	defer bld.Release()
	r := Record{Partition: 3, Offset: 1, Timestamp: time.Now(), Key: []byte("key-1"), Value: v}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := enc.append(bld, &r); err != nil {
			b.Fatal(err)
		}
		if i%8192 == 8191 {
			bld.NewRecordBatch().Release()
		}
	}
}

// BenchmarkJSONExtract compares the scanner with the encoding/json
// reference (Valid plus a Decoder walk) on the same value and columns.
func BenchmarkJSONExtract(b *testing.B) {
	names := map[string]int{}
	for i, c := range benchColumns {
		names[c.Name] = i
	}
	b.Run("scanner", func(b *testing.B) {
		var list []string
		for _, c := range benchColumns {
			list = append(list, c.Name)
		}
		s := newJSONScanner(list)
		b.SetBytes(int64(len(benchValue)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, ok := s.scan(benchValue); !ok {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		out := make([][]byte, len(names))
		b.SetBytes(int64(len(benchValue)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if !stdlibFields(benchValue, names, out) {
				b.Fatal("invalid")
			}
		}
	})
}

func dirStorageT(t *testing.T) Storage {
	t.Helper()
	st, err := DirStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestJSONBigEscapes: a 70 000-character escaped string and key decode
// right, and the scratch buffers they grew are let go of afterwards.
func TestJSONBigEscapes(t *testing.T) {
	big := strings.Repeat(`\n`, 70000)
	recs := []Record{
		{Value: []byte(`{"s":"` + big + `"}`)},
		{Value: []byte(`{"` + big + `":1,"s":"a\tb"}`)},
		{Value: []byte(`{"s":"\u00e9"}`)},
	}
	rows, errs := encodeRows(t, Layout{Mode: ModeJSON, Columns: allTypes}, recs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	if rows[0]["s"] != strings.Repeat("\n", 70000) || rows[1]["s"] != "a\tb" || rows[2]["s"] != "é" {
		t.Errorf("strings %.20q %q %q", rows[0]["s"], rows[1]["s"], rows[2]["s"])
	}
	if b := shrink(make([]byte, 70000)); b != nil {
		t.Errorf("shrink kept %d bytes", cap(b))
	}
}
