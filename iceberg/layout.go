package iceberg

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/iceberg-go"
)

// Mode is the topic config zombi.iceberg.mode: how the value is stored.
type Mode string

const (
	ModeRaw  Mode = "raw"  // value binary (the default)
	ModeJSON Mode = "json" // value string (the JSON text) plus typed columns
	// ModeDLQ is the {topic}_dlq table of a json topic: the raw schema plus
	// _error. It is not a topic config value.
	ModeDLQ Mode = "dlq"
)

// ParseMode accepts raw or json; "" is raw.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeRaw, nil
	case ModeRaw, ModeJSON:
		return m, nil
	}
	return "", fmt.Errorf("zombi.iceberg.mode %q: want raw or json", s)
}

// ColumnType is the type of a typed column (zombi.iceberg.columns).
type ColumnType string

const (
	TypeString    ColumnType = "string"
	TypeLong      ColumnType = "long"
	TypeDouble    ColumnType = "double"
	TypeBoolean   ColumnType = "boolean"
	TypeTimestamp ColumnType = "timestamp" // timestamptz, microseconds
)

// Iceberg is the column's Iceberg type.
func (c ColumnType) Iceberg() (iceberg.Type, error) {
	switch c {
	case TypeString:
		return iceberg.PrimitiveTypes.String, nil
	case TypeLong:
		return iceberg.PrimitiveTypes.Int64, nil
	case TypeDouble:
		return iceberg.PrimitiveTypes.Float64, nil
	case TypeBoolean:
		return iceberg.PrimitiveTypes.Bool, nil
	case TypeTimestamp:
		return iceberg.PrimitiveTypes.TimestampTz, nil
	}
	return nil, fmt.Errorf("unknown column type %q: want string, long, double, boolean or timestamp", string(c))
}

// columnTypeOf is the inverse of ColumnType.Iceberg.
func columnTypeOf(t iceberg.Type) (ColumnType, bool) {
	for _, c := range []ColumnType{TypeString, TypeLong, TypeDouble, TypeBoolean, TypeTimestamp} {
		if it, _ := c.Iceberg(); it.Equals(t) {
			return c, true
		}
	}
	return "", false
}

// Column is one typed column, filled from the top-level JSON field of the
// same name (case-sensitive).
type Column struct {
	Name string
	Type ColumnType
}

// MaxColumns bounds zombi.iceberg.columns (every column costs per row).
const MaxColumns = 1000

const maxColumnName = 128

// reservedNames are the fixed columns' names, compared case-insensitively
// because DuckDB, Trino and Spark resolve identifiers that way.
var reservedNames = []string{"_partition", "_offset", "_timestamp", "_key", "_headers", "value", "_error"}

// ParseColumns parses zombi.iceberg.columns, "name:type,..." (spaces around
// names and types are ignored; "" is no column). Names are the top-level
// JSON field names, case-sensitive, but must differ from each other and
// from the fixed columns case-insensitively; they may not contain
// whitespace, control characters or any of , : . " ' ` \.
func ParseColumns(s string) ([]Column, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var cols []Column
	for i, item := range strings.Split(s, ",") {
		name, typ, ok := strings.Cut(item, ":")
		name, typ = strings.TrimSpace(name), strings.TrimSpace(typ)
		switch {
		case strings.TrimSpace(item) == "":
			return nil, fmt.Errorf("zombi.iceberg.columns: entry %d is empty (want name:type,...)", i+1)
		case !ok:
			return nil, fmt.Errorf("zombi.iceberg.columns: entry %d %q: want name:type", i+1, strings.TrimSpace(item))
		}
		c := Column{Name: name, Type: ColumnType(strings.ToLower(typ))}
		cols = append(cols, c)
	}
	if err := ValidateColumns(cols); err != nil {
		return nil, fmt.Errorf("zombi.iceberg.columns: %w", err)
	}
	return cols, nil
}

// ValidateColumns checks names and types as ParseColumns does.
func ValidateColumns(cols []Column) error {
	if len(cols) > MaxColumns {
		return fmt.Errorf("%d columns, at most %d", len(cols), MaxColumns)
	}
	for i, c := range cols {
		if err := validName(c.Name); err != nil {
			return err
		}
		if _, err := c.Type.Iceberg(); err != nil {
			return fmt.Errorf("column %q: %w", c.Name, err)
		}
		for _, r := range reservedNames {
			if strings.EqualFold(c.Name, r) {
				return fmt.Errorf("column %q: the name of a fixed column (%s)", c.Name, strings.Join(reservedNames, ", "))
			}
		}
		for _, d := range cols[:i] {
			if strings.EqualFold(c.Name, d.Name) {
				return fmt.Errorf("column %q: given twice (names are compared case-insensitively)", c.Name)
			}
		}
	}
	return nil
}

func validName(n string) error {
	switch {
	case n == "":
		return errors.New("empty column name")
	case len(n) > maxColumnName:
		return fmt.Errorf("column name %.20q...: longer than %d bytes", n, maxColumnName)
	case !utf8.ValidString(n):
		return fmt.Errorf("column name %q: not valid UTF-8", n)
	}
	for _, r := range n {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(",:.\"'`\\", r) {
			return fmt.Errorf("column name %q: may not contain %q", n, r)
		}
	}
	return nil
}

// Layout is how a topic's table is built from its topic configs.
type Layout struct {
	Mode         Mode
	Partitioning Partitioning
	Columns      []Column // json mode only; ignored otherwise
}

// DLQName is the name of topic's dead-letter table.
func DLQName(topic string) string { return topic + "_dlq" }

// DLQLayout is the layout of the {topic}_dlq table of a topic with layout
// l: the raw schema plus _error, partitioned like the topic's table.
func DLQLayout(l Layout) Layout {
	return Layout{Mode: ModeDLQ, Partitioning: l.Partitioning}
}

// Schema is the table schema of l: the fixed fields 1-9 (value binary, or
// string in json mode), then in json mode the typed columns (optional,
// ids from FirstTypedFieldID in the given order), or in dlq mode _error.
func (l Layout) Schema() (*iceberg.Schema, error) {
	fields := fixedFields(l.Mode == ModeJSON)
	switch l.Mode {
	case ModeRaw, "":
	case ModeJSON:
		if err := ValidateColumns(l.Columns); err != nil {
			return nil, err
		}
		for i, c := range l.Columns {
			t, _ := c.Type.Iceberg()
			fields = append(fields, iceberg.NestedField{ID: FirstTypedFieldID + i, Name: c.Name, Type: t})
		}
	case ModeDLQ:
		fields = append(fields, iceberg.NestedField{ID: FieldError, Name: "_error", Type: iceberg.PrimitiveTypes.String})
	default:
		return nil, fmt.Errorf("unknown mode %q", l.Mode)
	}
	return iceberg.NewSchema(0, fields...), nil
}
