package iceberg

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Field ids are a contract (DESIGN.md, "Iceberg (contract)"): they never
// change and are never reused. 1-6 are the top-level columns; 7, 8 and 9 are
// the nested ids of _headers (its list element, the element's key and
// value), so typed JSON columns start at FirstTypedFieldID. A {topic}_dlq
// table never has typed columns and holds _error at FieldError (10).
const (
	FieldPartition    = 1
	FieldOffset       = 2
	FieldTimestamp    = 3
	FieldKey          = 4
	FieldHeaders      = 5
	FieldValue        = 6
	FieldHeader       = 7 // the list element of _headers
	FieldHeaderKey    = 8
	FieldHeaderValue  = 9
	FirstTypedFieldID = 10
	FieldError        = 10 // _error, in {topic}_dlq tables only

	// partitionFieldID is the id of the single partition field (Iceberg
	// numbers partition fields from 1000).
	partitionFieldID = 1000
)

// Schema is the raw-mode table schema: _partition int, _offset long,
// _timestamp timestamptz (all required), _key binary,
// _headers list<struct<key string, value binary>>, value binary.
func Schema() *iceberg.Schema { return iceberg.NewSchema(0, fixedFields(false)...) }

// fixedFields are the fields 1-9; value is a string in json mode.
func fixedFields(jsonValue bool) []iceberg.NestedField {
	header := &iceberg.StructType{FieldList: []iceberg.NestedField{
		{ID: FieldHeaderKey, Name: "key", Type: iceberg.PrimitiveTypes.String},
		{ID: FieldHeaderValue, Name: "value", Type: iceberg.PrimitiveTypes.Binary},
	}}
	var value iceberg.Type = iceberg.PrimitiveTypes.Binary
	if jsonValue {
		value = iceberg.PrimitiveTypes.String
	}
	return []iceberg.NestedField{
		{ID: FieldPartition, Name: "_partition", Type: iceberg.PrimitiveTypes.Int32, Required: true},
		{ID: FieldOffset, Name: "_offset", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		{ID: FieldTimestamp, Name: "_timestamp", Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
		{ID: FieldKey, Name: "_key", Type: iceberg.PrimitiveTypes.Binary},
		{ID: FieldHeaders, Name: "_headers", Type: &iceberg.ListType{ElementID: FieldHeader, Element: header, ElementRequired: true}},
		{ID: FieldValue, Name: "value", Type: value},
	}
}

// Partitioning is the topic config zombi.iceberg.partition.
type Partitioning string

const (
	PartitionDay  Partitioning = "day" // the default
	PartitionHour Partitioning = "hour"
	PartitionNone Partitioning = "none"
)

// ParsePartitioning accepts day, hour or none; "" is day.
func ParsePartitioning(s string) (Partitioning, error) {
	switch p := Partitioning(s); p {
	case "":
		return PartitionDay, nil
	case PartitionDay, PartitionHour, PartitionNone:
		return p, nil
	}
	return "", fmt.Errorf("zombi.iceberg.partition %q: want day, hour or none", s)
}

// Spec is the partition spec of p: day(_timestamp), hour(_timestamp) or
// unpartitioned.
func (p Partitioning) Spec() iceberg.PartitionSpec {
	switch p {
	case PartitionHour:
		return iceberg.NewPartitionSpecID(0, iceberg.PartitionField{SourceIDs: []int{FieldTimestamp}, FieldID: partitionFieldID, Name: "_timestamp_hour", Transform: iceberg.HourTransform{}})
	case PartitionNone:
		return iceberg.NewPartitionSpecID(0)
	}
	return iceberg.NewPartitionSpecID(0, iceberg.PartitionField{SourceIDs: []int{FieldTimestamp}, FieldID: partitionFieldID, Name: "_timestamp_day", Transform: iceberg.DayTransform{}})
}

// bucket is the partition value of a timestamp in microseconds (days or
// hours since the epoch; 0 when unpartitioned): one data file never spans
// two buckets.
func (p Partitioning) bucket(micros int64) int64 {
	const hour = int64(3600_000_000)
	switch p {
	case PartitionHour:
		return floorDiv(micros, hour)
	case PartitionNone:
		return 0
	}
	return floorDiv(micros, 24*hour)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Layout is the layout of the loaded table, read from its current schema
// and spec: json when value is a string (Columns are then its fields from
// FirstTypedFieldID on, in schema order), dlq when it has _error.
func (t *Table) Layout() Layout {
	t.mu.Lock()
	defer t.mu.Unlock()
	return layoutOf(t.tbl.Schema(), t.partitioning())
}

func layoutOf(sc *iceberg.Schema, p Partitioning) Layout {
	l := Layout{Mode: ModeRaw, Partitioning: p}
	if f, ok := sc.FindFieldByID(FieldValue); ok && f.Type.Equals(iceberg.PrimitiveTypes.String) {
		l.Mode = ModeJSON
	}
	for _, f := range sc.Fields() {
		if f.ID < FirstTypedFieldID {
			continue
		}
		if l.Mode == ModeRaw && f.ID == FieldError && f.Name == "_error" {
			l.Mode = ModeDLQ
			continue
		}
		typ, _ := columnTypeOf(f.Type)
		l.Columns = append(l.Columns, Column{Name: f.Name, Type: typ})
	}
	return l
}

// ErrColumnType: a column of zombi.iceberg.columns exists in the table with
// another type (an Iceberg column's type cannot change that way).
var ErrColumnType = errors.New("iceberg: column exists with another type")

// EnsureColumns adds to a json table the columns of cols its current
// schema lacks (by name) as optional fields with fresh ids (last-column-id
// + 1, ...), committed as a new metadata version; data files are never
// rewritten, and older ones read the new columns as null. A column that
// exists with another type is ErrColumnType and changes nothing. Columns
// of the table that are not in cols stay (field ids are forever).
func (t *Table) EnsureColumns(ctx context.Context, cols []Column) error {
	if err := ValidateColumns(cols); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// A lost race (another writer committed first) is retried: adding a
	// name is idempotent, so the loser finds the columns or adds the rest.
	var lastErr error
	for attempt := 0; ; attempt++ {
		if t.stale {
			if err := t.load(ctx); err != nil {
				return err
			}
		}
		missing, err := missingColumns(t.tbl.Schema(), cols)
		if err != nil || len(missing) == 0 {
			return err
		}
		if attempt == 3 {
			return lastErr
		}
		txn := t.tbl.NewTransaction()
		var opts []table.UpdateSchemaOption
		if nm := t.tbl.Metadata().NameMapping(); nm != nil {
			opts = append(opts, table.WithNameMapping(nm))
		}
		us := txn.UpdateSchema(true, false, opts...)
		for _, c := range missing {
			typ, _ := c.Type.Iceberg()
			us.AddColumn([]string{c.Name}, typ, "", false, nil)
		}
		if err := us.Commit(); err != nil {
			return fmt.Errorf("add columns to %s: %w", t.st.Location(), err)
		}
		tbl, err := txn.Commit(ctx)
		if err != nil {
			// The outcome may be unknown (a timeout): the reloaded
			// table decides on the next round.
			lastErr = fmt.Errorf("add columns to %s: %w", t.st.Location(), err)
			t.stale = true
			continue
		}
		t.tbl, lastErr = tbl, fmt.Errorf("add columns to %s: committed but still missing", t.st.Location())
	}
}

// missingColumns are the columns of cols not in sc; a name in sc with
// another type, or a table that is not json, is an error.
func missingColumns(sc *iceberg.Schema, cols []Column) ([]Column, error) {
	if len(cols) == 0 {
		return nil, nil
	}
	if f, ok := sc.FindFieldByID(FieldValue); !ok || !f.Type.Equals(iceberg.PrimitiveTypes.String) {
		return nil, errors.New("iceberg: typed columns need a json-mode table")
	}
	var missing []Column
	for _, c := range cols {
		typ, err := c.Type.Iceberg()
		if err != nil {
			return nil, err
		}
		f, ok := sc.FindFieldByNameCaseInsensitive(c.Name)
		switch {
		case !ok:
			missing = append(missing, c)
		case f.ID < FirstTypedFieldID:
			return nil, fmt.Errorf("column %q: the name of a fixed column", c.Name)
		case f.Name != c.Name:
			return nil, fmt.Errorf("column %q: the table has %q (names are compared case-insensitively)", c.Name, f.Name)
		case !f.Type.Equals(typ):
			t, _ := columnTypeOf(f.Type)
			return nil, fmt.Errorf("%w: column %q is %s in the table, %s in the config", ErrColumnType, c.Name, t, c.Type)
		}
	}
	return missing, nil
}

// EnsureLayout makes the table follow the topic's layout l where Iceberg
// allows it, and says why not otherwise: the mode and the partitioning of
// an existing table cannot change (value binary <-> string is no type
// promotion; no spec evolution here); json columns go through
// EnsureColumns. An error changes nothing.
func (t *Table) EnsureLayout(ctx context.Context, l Layout) error {
	have := t.Layout()
	mode, part := l.Mode, l.Partitioning
	if mode == "" {
		mode = ModeRaw
	}
	if part == "" {
		part = PartitionDay
	}
	if have.Mode != mode {
		return fmt.Errorf("table %s is in %s mode, the topic asks for %s: the mode of an existing table cannot change (drop the table to rebuild it)", t.st.Location(), have.Mode, mode)
	}
	if have.Partitioning != part {
		return fmt.Errorf("table %s is partitioned by %s, the topic asks for %s: the partitioning of an existing table cannot change (drop the table to rebuild it)", t.st.Location(), have.Partitioning, part)
	}
	if mode != ModeJSON {
		return nil
	}
	return t.EnsureColumns(ctx, l.Columns)
}
