package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zombi-dev/zombi/iceberg"
	"github.com/zombi-dev/zombi/internal/s3test"
	"github.com/zombi-dev/zombi/stats"
	"github.com/zombi-dev/zombi/tiering"
)

// The catalog over an S3 warehouse (versitygw v1.8.0, as the iceberg
// package's tests): the settings it hands out let pyiceberg and DuckDB
// read the files from the bucket.

// s3Warehouse is s3://warehouse/iceberg on versitygw with the three tables.
func s3Warehouse(t *testing.T) (*iceberg.Warehouse, string) {
	t.Helper()
	endpoint := s3test.Start(t).Endpoint()
	t.Setenv("AWS_ACCESS_KEY_ID", "testkey")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testsecret123")
	ctx := context.Background()
	c, err := tiering.NewS3Client(ctx, tiering.Config{Bucket: "warehouse", Endpoint: endpoint, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("warehouse")}); err != nil {
		t.Fatal(err)
	}
	w, err := iceberg.OpenWarehouse("s3://warehouse/iceberg", c)
	if err != nil {
		t.Fatal(err)
	}
	fillWarehouse(t, w)
	return w, endpoint
}

// TestIcebergCatalogS3: the catalog lists and loads the tables of an S3
// warehouse (past a stale hint), and pyiceberg and DuckDB scan them with
// the settings and keys the catalog vends.
func TestIcebergCatalogS3(t *testing.T) {
	w, endpoint := s3Warehouse(t)
	ic := &IcebergCatalog{Warehouse: w, S3Endpoint: endpoint, S3Region: "us-east-1",
		VendCredentials: w.S3Credentials}
	e := newEnv(t, Config{IcebergCatalog: ic})
	code, m := e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables", "")
	if code != 200 || len(m["identifiers"].([]any)) != 3 {
		t.Fatalf("tables: %d %v", code, m)
	}
	const loc = "s3://warehouse/iceberg/zombi/orders/metadata/v3.metadata.json"
	code, m = e.doJSON("GET", "/iceberg/v1/namespaces/zombi/tables/orders", "")
	if code != 200 || m["metadata-location"] != loc || m["metadata"].(map[string]any)["location"] != "s3://warehouse/iceberg/zombi/orders" {
		t.Fatalf("load: %d %v", code, m)
	}
	if cfg := m["config"].(map[string]any); cfg["s3.endpoint"] != endpoint || cfg["s3.access-key-id"] != "testkey" {
		t.Fatalf("config: %v", cfg)
	}
	code, b := e.do("GET", "/iceberg/v1/namespaces/zombi/tables/nosuch", "", nil)
	icebergErr(t, "nosuch on S3", code, b, 404, "NoSuchTableException")

	v := icebergVenv(t)
	// The clients must get the keys from the catalog, not the environment.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	srv := httptest.NewServer(New(e.log, stats.New(), Config{IcebergCatalog: ic}, discardLogger()))
	t.Cleanup(srv.Close)
	checkPyiceberg(t, "pyiceberg on S3", runPy(t, v, "iceberg_pyiceberg.py", srv.URL+"/iceberg"), loc)
	checkDuckDB(t, "DuckDB on S3", runPy(t, v, "iceberg_duckdb.py", srv.URL+"/iceberg"))
}

// TestIcebergCatalogS3Java: the Java client (Spark's and Trino's) plans a
// scan of the S3 table with S3FileIO configured only by the catalog's
// answers (endpoint, path style, region, vended keys): two data files, five
// records.
func TestIcebergCatalogS3Java(t *testing.T) {
	cp := icebergJavaClasspath(t)
	w, endpoint := s3Warehouse(t)
	ic := &IcebergCatalog{Warehouse: w, S3Endpoint: endpoint, S3Region: "us-east-1", VendCredentials: w.S3Credentials}
	e := newEnv(t, Config{})
	srv := httptest.NewServer(New(e.log, stats.New(), Config{IcebergCatalog: ic}, discardLogger()))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	// io-impl as Spark's docs set it: the default ResolvingFileIO needs
	// Hadoop's classes, which this classpath does not have.
	checkJava(t, "Java on S3", runJava(t, cp, nil, srv.URL+"/iceberg", "io-impl=org.apache.iceberg.aws.s3.S3FileIO"), "s3://warehouse/iceberg/zombi/orders/metadata/v3.metadata.json", 2)
}
