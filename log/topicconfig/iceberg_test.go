package topicconfig

import (
	"errors"
	"strings"
	"testing"
)

func TestIcebergConfigs(t *testing.T) {
	for _, c := range []struct {
		name, value, bad string // bad: a part of the refusal, "" when valid
	}{
		{IcebergEnable, "true", ""},
		{IcebergEnable, "yes", "either true or false"},
		{IcebergMode, "json", ""},
		{IcebergMode, "avro", "String must be one of: raw, json"},
		{IcebergPartition, "hour", ""},
		{IcebergPartition, "month", "String must be one of: day, hour, none"},
		{IcebergColumns, "user:string, amount:double,at:timestamp", ""},
		{IcebergColumns, "", ""},
		{IcebergColumns, "a:int", `unknown column type "int"`},
		{IcebergColumns, "value:string", "fixed column"},
		{IcebergColumns, "A:long,a:long", "given twice"},
		{IcebergColumns, "a.b:long", "may not contain"},
		{IcebergColumns, "nocolon", "want name:type"},
		{IcebergCommitInterval, "1000", ""},
		{IcebergCommitInterval, "10", "at least 100"},
		{IcebergTargetFileBytes, "1048576", ""},
		{IcebergTargetFileBytes, "1000", "at least 1048576"},
		{IcebergSnapshotKeepMs, "0", ""},
		{IcebergSnapshotKeepMs, "-1", "at least 0"},
		{"zombi.iceberg.nope", "1", "Unknown topic config name"},
	} {
		err := Validate(c.name, c.value)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s=%q refused: %v", c.name, c.value, err)
		case c.bad != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s=%q: %v, want an invalid-config error with %q", c.name, c.value, err, c.bad)
		}
	}
}

func TestIcebergEffective(t *testing.T) {
	b := KafkaDefaults()
	if e := Resolve(nil, b).Iceberg; e.Enable || e.Mode != "raw" || e.Partition != "day" || e.CommitIntervalMs != 60000 ||
		e.TargetFileBytes != 128<<20 || e.SnapshotKeepMs != 7*24*3600*1000 {
		t.Fatalf("defaults %+v", e)
	}
	b.IcebergDefault = true
	if !Resolve(nil, b).Iceberg.Enable || Resolve(map[string]string{IcebergEnable: "false"}, b).Iceberg.Enable {
		t.Fatal("ZOMBI_ICEBERG_DEFAULT and its override")
	}
	e := Resolve(map[string]string{IcebergMode: "json", IcebergColumns: "n:long", IcebergCommitInterval: "500"}, b).Iceberg
	if e.Mode != "json" || len(e.Columns) != 1 || e.Columns[0] != (Column{"n", "long"}) || e.CommitIntervalMs != 500 {
		t.Fatalf("overrides %+v", e)
	}
}

// A column keeps its type once it exists: a change is refused, adding and
// dropping names is not.
func TestIcebergColumnsChange(t *testing.T) {
	cur := map[string]string{IcebergColumns: "n:long,s:string"}
	for _, c := range []struct {
		value string
		ok    bool
	}{{"n:long,s:string,d:double", true}, {"n:long", true}, {"n:double", false}, {"s:long,n:long", false}} {
		_, err := Apply(cur, []Change{{Name: IcebergColumns, Op: Set, Value: c.value}}, KafkaDefaults())
		if (err == nil) != c.ok {
			t.Errorf("columns %q after %q: %v", c.value, cur[IcebergColumns], err)
		}
	}
}
