package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/icebergread"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestIcebergCatalogServe: the real binary (zombi serve, a local warehouse
// under its data directory) materializes a topic written through the REST
// API, its catalog at /iceberg/v1/ lists and loads that table at the
// metadata location GET /tables/{t}/iceberg reports, and pyiceberg's
// RestCatalog pointed at http://host:port/iceberg reads every record once.
func TestIcebergCatalogServe(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts the real binary")
	}
	icebergVenv(t) // the readers' Python environment, or a skip
	p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), "ZOMBI_ICEBERG_DEFAULT=true")
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, p.HTTPBase+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	if code, b := do("PUT", "/tables/orders", `{"partitions":2,"configs":{"zombi.iceberg.commit.interval.ms":"200"}}`); code != 201 {
		t.Fatalf("create orders: %d %s", code, b)
	}
	for i := range 6 {
		if code, b := do("POST", "/tables/orders", fmt.Sprintf(`{"partition":%d,"key":"k%d","payload":"v%d"}`, i%2, i, i)); code != 202 {
			t.Fatalf("write %d: %d %s", i, code, b)
		}
	}
	// Caught up: both partitions committed to 3.
	var st struct {
		MetadataLocation string           `json:"metadata_location"`
		Committed        map[string]int64 `json:"committed_offsets"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, b := do("GET", "/tables/orders/iceberg", "")
		if json.Unmarshal(b, &st) == nil && maps.Equal(st.Committed, map[string]int64{"0": 3, "1": 3}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders not materialized after 60 s: %s", b)
		}
	}

	code, b := do("GET", "/iceberg/v1/namespaces/zombi/tables", "")
	if code != 200 || !strings.Contains(string(b), `{"name":"orders","namespace":["zombi"]}`) {
		t.Fatalf("catalog tables: %d %s", code, b)
	}
	var lt struct {
		Location string `json:"metadata-location"`
		Metadata struct {
			CurrentSnapshot int64 `json:"current-snapshot-id"`
		} `json:"metadata"`
	}
	code, b = do("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "")
	if err := json.Unmarshal(b, &lt); code != 200 || err != nil || lt.Location != st.MetadataLocation || lt.Metadata.CurrentSnapshot == 0 {
		t.Fatalf("catalog load: %d %s; status says %s", code, b, st.MetadataLocation)
	}
	if code, b = do("POST", "/iceberg/v1/namespaces/zombi/tables/orders", `{"updates":[]}`); code != 405 || !strings.Contains(string(b), "read-only") {
		t.Fatalf("commit through the catalog: %d %s", code, b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, err := icebergread.ReadPyIcebergREST(ctx, p.HTTPBase+"/iceberg", "zombi.orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	byOff, err := icebergread.ByOffset(rows)
	if err != nil {
		t.Fatal(err) // a duplicate (partition, offset)
	}
	if len(rows) != 6 {
		t.Fatalf("pyiceberg through the catalog: %d rows, want 6: %+v", len(rows), rows)
	}
	for i := range 6 {
		r, ok := byOff[icebergread.PO{Partition: int32(i % 2), Offset: int64(i / 2)}]
		if !ok || string(r.Key) != fmt.Sprintf("k%d", i) || string(r.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("record %d (partition %d offset %d): %+v %v", i, i%2, i/2, r, ok)
		}
	}
}
