package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/iceberg"
)

// fakeMaterializer answers Status from a map.
type fakeMaterializer map[string]iceberg.Status

func (f fakeMaterializer) Status(_ context.Context, topic string) (iceberg.Status, error) {
	st, ok := f[topic]
	if !ok {
		return iceberg.Status{}, iceberg.ErrNotMaterialized
	}
	return st, nil
}

func (f fakeMaterializer) Verify(_ context.Context, topic string) (iceberg.Verification, error) {
	if _, ok := f[topic]; !ok {
		return iceberg.Verification{}, iceberg.ErrNotMaterialized
	}
	one := int64(0)
	return iceberg.Verification{Topic: topic, Location: f[topic].Location, OK: true, Partitions: []iceberg.PartitionCheck{
		{Partition: 0, Committed: 1, TableRows: 1, TableDistinct: 1, TableMin: &one, TableMax: &one, LogRecords: 1, LogFirst: &one, LogLast: &one, OK: true}}}, nil
}

func (f fakeMaterializer) Drop(_ context.Context, topic string) (iceberg.DropResult, error) {
	if _, ok := f[topic]; !ok {
		return iceberg.DropResult{}, iceberg.ErrNotMaterialized
	}
	return iceberg.DropResult{Location: f[topic].Location, Files: 3, Rebuild: true}, nil
}

// TestTableIcebergDocumented: GET /tables/{t}/iceberg's answers (before
// and after a first commit, and its 404s) conform to openapi.json.
func TestTableIcebergDocumented(t *testing.T) {
	id, now := int64(709823709989304831), time.Now().UTC()
	e := newEnv(t, Config{Iceberg: fakeMaterializer{
		"fresh": {Topic: "fresh", Enabled: true, Table: "zombi.fresh", Location: "/w/zombi/fresh", CommittedOffsets: map[string]int64{}, Partitions: []iceberg.PartitionStatus{}},
		"orders": {Topic: "orders", Enabled: true, Table: "zombi.orders", Location: "s3://b/iceberg/zombi/orders", MetadataLocation: "s3://b/iceberg/zombi/orders/metadata/v3.metadata.json",
			Mode: "raw", Partitioning: "day", SnapshotID: &id, SnapshotTime: &now, Incarnation: "inc", CommittedOffsets: map[string]int64{"0": 5},
			Partitions: []iceberg.PartitionStatus{{Partition: 0, Committed: 5, HighWatermark: 7, LagRecords: 2}}, LagRecords: 2, LagSeconds: 1.5,
			Records: 5, Files: 1, Bytes: 1234, Commits: 2, LastCommit: &now, Error: "S3 down", ErrorAt: &now},
	}})
	for _, c := range []struct {
		table string
		code  int
	}{{"fresh", 200}, {"orders", 200}, {"other", 404}} {
		if code, b := e.do("GET", "/tables/"+c.table+"/iceberg", "", nil); code != c.code {
			t.Fatalf("GET /tables/%s/iceberg: %d %s", c.table, code, b)
		}
		if code, b := e.do("GET", "/tables/"+c.table+"/iceberg/verify", "", nil); code != c.code {
			t.Fatalf("GET /tables/%s/iceberg/verify: %d %s", c.table, code, b)
		}
		if code, b := e.do("DELETE", "/tables/"+c.table+"/iceberg", "", nil); code != c.code {
			t.Fatalf("DELETE /tables/%s/iceberg: %d %s", c.table, code, b)
		}
	}
	off := newEnv(t, Config{})
	if code, b := off.do("GET", "/tables/orders/iceberg", "", nil); code != 404 {
		t.Fatalf("Iceberg off: %d %s", code, b)
	}
}
