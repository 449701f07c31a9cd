package iceberg

import (
	"fmt"

	"github.com/apache/iceberg-go"
	"github.com/zombi-dev/zombi/log/topicconfig"
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
const MaxColumns = topicconfig.MaxColumns

// ParseColumns parses zombi.iceberg.columns, "name:type,..." with
// topicconfig's rules (the same check the topic config gets).
func ParseColumns(s string) ([]Column, error) {
	tc, err := topicconfig.ParseColumns(s)
	if err != nil {
		return nil, err
	}
	return FromConfig(tc), nil
}

// FromConfig converts the topic config's columns.
func FromConfig(tc []topicconfig.Column) []Column {
	var cols []Column
	for _, c := range tc {
		cols = append(cols, Column{Name: c.Name, Type: ColumnType(c.Type)})
	}
	return cols
}

// ValidateColumns checks names and types as ParseColumns does.
func ValidateColumns(cols []Column) error {
	tc := make([]topicconfig.Column, len(cols))
	for i, c := range cols {
		tc[i] = topicconfig.Column{Name: c.Name, Type: string(c.Type)}
	}
	return topicconfig.ValidateColumns(tc)
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
