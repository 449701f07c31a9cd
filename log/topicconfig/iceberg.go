package topicconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Zombi's own topic configs (DESIGN.md, "Iceberg (contract)"): Kafka does
// not know them, Zombi's doors accept them like Kafka's (as Redpanda does
// with redpanda.*).
const (
	IcebergEnable          = "zombi.iceberg.enable"
	IcebergMode            = "zombi.iceberg.mode"
	IcebergColumns         = "zombi.iceberg.columns"
	IcebergPartition       = "zombi.iceberg.partition"
	IcebergCommitInterval  = "zombi.iceberg.commit.interval.ms"
	IcebergTargetFileBytes = "zombi.iceberg.target.file.bytes"
	IcebergSnapshotKeepMs  = "zombi.iceberg.snapshot.keep.ms"
)

// Defaults of the zombi.iceberg.* configs.
const (
	DefaultIcebergCommitIntervalMs = 60000
	DefaultIcebergTargetFileBytes  = 128 << 20
	DefaultIcebergSnapshotKeepMs   = 7 * 24 * 3600 * 1000
)

var zombiTopicConfigs = map[string]topicConfigRule{
	IcebergEnable:    boolean,
	IcebergMode:      {typ: "STRING", oneOf: []string{"raw", "json"}},
	IcebergColumns:   {typ: "STRING", check: checkColumns},
	IcebergPartition: {typ: "STRING", oneOf: []string{"day", "hour", "none"}},
	// A commit is a few S3 requests: more often than every 100 ms is a
	// mistake; a file under 1 MiB defeats columnar reads.
	IcebergCommitInterval:  atLeast("LONG", 100),
	IcebergTargetFileBytes: between("LONG", 1<<20, 1<<40),
	IcebergSnapshotKeepMs:  atLeast("LONG", 0),
}

// rule finds the rule of a topic config, Kafka's or Zombi's.
func rule(name string) (topicConfigRule, bool) {
	if r, ok := kafkaTopicConfigs[name]; ok {
		return r, true
	}
	r, ok := zombiTopicConfigs[name]
	return r, ok
}

// ColumnTypes are the types zombi.iceberg.columns knows.
var ColumnTypes = []string{"string", "long", "double", "boolean", "timestamp"}

// MaxColumns bounds zombi.iceberg.columns (every column costs per row).
const MaxColumns = 1000

const maxColumnName = 128

// reservedColumns are the fixed columns' names, compared case-insensitively
// because DuckDB, Trino and Spark resolve identifiers that way.
var reservedColumns = []string{"_partition", "_offset", "_timestamp", "_key", "_headers", "value", "_error"}

// Column is one typed column of zombi.iceberg.columns: a top-level JSON
// field extracted into a column of that type.
type Column struct {
	Name string
	Type string // one of ColumnTypes
}

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
		cols = append(cols, Column{Name: name, Type: strings.ToLower(typ)})
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
		if err := validColumnName(c.Name); err != nil {
			return err
		}
		if !contains(ColumnTypes, c.Type) {
			return fmt.Errorf("column %q: unknown column type %q: want string, long, double, boolean or timestamp", c.Name, c.Type)
		}
		for _, r := range reservedColumns {
			if strings.EqualFold(c.Name, r) {
				return fmt.Errorf("column %q: the name of a fixed column (%s)", c.Name, strings.Join(reservedColumns, ", "))
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

func validColumnName(n string) error {
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

func checkColumns(v string) string {
	if _, err := ParseColumns(v); err != nil {
		return err.Error()
	}
	return ""
}

// CheckChange refuses a change of a topic's configs from old to next that
// cannot be applied to what exists: today a column of zombi.iceberg.columns
// that changes type. Apply checks it; a door that replaces the whole set
// (AlterConfigs) calls it.
func CheckChange(old, next map[string]string) error { return checkColumnsChange(old, next) }

// checkColumnsChange refuses a change of zombi.iceberg.columns that gives
// an existing column another type: its field id holds the old type in
// every file already written (ids are forever; a new name is a new id).
// Dropping a name is allowed: the column stays in the table, null from then.
func checkColumnsChange(old, cur map[string]string) error {
	before, err1 := ParseColumns(old[IcebergColumns])
	after, err2 := ParseColumns(cur[IcebergColumns])
	if err1 != nil || err2 != nil {
		return nil // Validate reports the new value's error
	}
	for _, a := range after {
		for _, b := range before {
			if a.Name == b.Name && a.Type != b.Type {
				return invalid(fmt.Sprintf("Invalid value %s for configuration %s: column %s is %s in the table already; a column's type never changes (add a column with a new name)", cur[IcebergColumns], IcebergColumns, a.Name, b.Type))
			}
		}
	}
	return nil
}

// Iceberg is what a topic's zombi.iceberg.* configs mean.
type Iceberg struct {
	Enable           bool
	Mode             string // raw or json
	Columns          []Column
	Partition        string // day, hour or none
	CommitIntervalMs int64
	TargetFileBytes  int64
	SnapshotKeepMs   int64
}

func resolveIceberg(o map[string]string, b Broker) Iceberg {
	ib := Iceberg{Enable: b.IcebergDefault, Mode: "raw", Partition: "day",
		CommitIntervalMs: DefaultIcebergCommitIntervalMs, TargetFileBytes: DefaultIcebergTargetFileBytes, SnapshotKeepMs: DefaultIcebergSnapshotKeepMs}
	if v, ok := o[IcebergEnable]; ok {
		ib.Enable = strings.EqualFold(strings.TrimSpace(v), "true")
	}
	if v := strings.TrimSpace(o[IcebergMode]); v != "" {
		ib.Mode = v
	}
	if v := strings.TrimSpace(o[IcebergPartition]); v != "" {
		ib.Partition = v
	}
	ib.Columns, _ = ParseColumns(o[IcebergColumns])
	for name, dst := range map[string]*int64{IcebergCommitInterval: &ib.CommitIntervalMs, IcebergTargetFileBytes: &ib.TargetFileBytes, IcebergSnapshotKeepMs: &ib.SnapshotKeepMs} {
		if n, err := strconv.ParseInt(strings.TrimSpace(o[name]), 10, 64); err == nil {
			*dst = n
		}
	}
	return ib
}

// describeIceberg are the zombi.iceberg.* rows of DescribeConfigs.
var describeIceberg = []Described{
	{IcebergCommitInterval, "", constant(strconv.Itoa(DefaultIcebergCommitIntervalMs))},
	{IcebergColumns, "", constant("")},
	{IcebergEnable, "", func(b Broker) string { return strconv.FormatBool(b.IcebergDefault) }},
	{IcebergMode, "", constant("raw")},
	{IcebergPartition, "", constant("day")},
	{IcebergSnapshotKeepMs, "", constant(strconv.Itoa(DefaultIcebergSnapshotKeepMs))},
	{IcebergTargetFileBytes, "", constant(strconv.Itoa(DefaultIcebergTargetFileBytes))},
}
