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
	st, ok := f[topic]
	if !ok {
		return iceberg.Verification{}, iceberg.ErrNotMaterialized
	}
	v := iceberg.Verification{Topic: topic, Location: st.Location, SnapshotID: st.SnapshotID, OK: true, Partitions: []iceberg.PartitionCheck{}}
	for _, p := range st.Partitions {
		lo, hi := int64(0), p.Committed-1
		v.Partitions = append(v.Partitions, iceberg.PartitionCheck{Partition: p.Partition, Committed: p.Committed, TableRows: p.Committed, TableDistinct: p.Committed,
			TableMin: &lo, TableMax: &hi, LogRecords: p.Committed, LogFirst: &lo, LogLast: &hi, OK: true})
	}
	return v, nil
}

func (f fakeMaterializer) Drop(_ context.Context, topic string) (iceberg.DropResult, error) {
	st, ok := f[topic]
	if !ok {
		return iceberg.DropResult{}, iceberg.ErrNotMaterialized
	}
	return iceberg.DropResult{Location: st.Location, Files: int(st.Files), Rebuild: st.Enabled}, nil
}

// TestTableIcebergDocumented: the answers of GET /tables/{t}/iceberg,
// GET /tables/{t}/iceberg/verify and DELETE /tables/{t}/iceberg (before and
// after a first commit, and their 404s) conform to openapi.json.
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
		for _, r := range []struct{ method, path string }{{"GET", "/iceberg"}, {"GET", "/iceberg/verify"}, {"DELETE", "/iceberg"}} {
			if code, b := e.do(r.method, "/tables/"+c.table+r.path, "", nil); code != c.code {
				t.Fatalf("%s /tables/%s%s: %d %s", r.method, c.table, r.path, code, b)
			}
		}
	}
	off := newEnv(t, Config{})
	if code, b := off.do("GET", "/tables/orders/iceberg", "", nil); code != 404 {
		t.Fatalf("Iceberg off: %d %s", code, b)
	}
}
