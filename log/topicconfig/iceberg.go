package topicconfig

import (
	"fmt"
	"strconv"
	"strings"
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

// reservedColumns are the names of the fixed columns (and the DLQ's).
var reservedColumns = []string{"_partition", "_offset", "_timestamp", "_key", "_headers", "value", "_error"}

// Column is one typed column of zombi.iceberg.columns: a top-level JSON
// field extracted into a column of that type.
type Column struct {
	Name string
	Type string // one of ColumnTypes
}

// ParseColumns reads zombi.iceberg.columns: "name:type,..." ("" is none).
func ParseColumns(v string) ([]Column, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var cols []Column
	seen := map[string]bool{}
	for _, e := range strings.Split(v, ",") {
		name, typ, ok := strings.Cut(strings.TrimSpace(e), ":")
		name, typ = strings.TrimSpace(name), strings.ToLower(strings.TrimSpace(typ))
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%q is not name:type", strings.TrimSpace(e))
		case !contains(ColumnTypes, typ):
			return nil, fmt.Errorf("column %s: type %q is not one of %s", name, typ, strings.Join(ColumnTypes, ", "))
		case contains(reservedColumns, name):
			return nil, fmt.Errorf("column %s: the name is taken by a fixed column", name)
		case seen[name]:
			return nil, fmt.Errorf("column %s appears twice", name)
		}
		seen[name] = true
		cols = append(cols, Column{Name: name, Type: typ})
	}
	return cols, nil
}

func checkColumns(v string) string {
	if _, err := ParseColumns(v); err != nil {
		return err.Error()
	}
	return ""
}

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
