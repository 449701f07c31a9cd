package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/stats"
)

// Apache Iceberg's Java REST client (iceberg-core 1.12.0 RESTCatalog, the
// client inside Spark's and Trino's "rest" catalogs; iceberg-aws for
// S3FileIO) against the catalog: testdata/iceberg-java, resolved by Maven
// into ~/.m2 (online the first time), run as a single-file source program.

// icebergJavaClasspath skips without java and mvn, or with -short.
func icebergJavaClasspath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Java end-to-end test")
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		t.Skip("mvn not on PATH: the Iceberg Java client test needs Maven")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java not on PATH: the Iceberg Java client test needs Java 17 or newer")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "iceberg-java"))
	if err != nil {
		t.Fatal(err)
	}
	cpFile := filepath.Join(t.TempDir(), "classpath")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "dependency:build-classpath", "-Dmdep.outputFile="+cpFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mvn dependency:build-classpath in %s: %v\n%s", dir, err, out)
	}
	cp, err := os.ReadFile(cpFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(cp))
}

// runJava runs IcebergRestCheck.java and returns its JSON.
func runJava(t *testing.T, cp string, jvmArgs []string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append(append([]string{"-cp", cp}, jvmArgs...), append([]string{filepath.Join("testdata", "iceberg-java", "IcebergRestCheck.java")}, args...)...)
	cmd := exec.CommandContext(ctx, "java", argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("IcebergRestCheck.java: %v\nstderr:\n%s", err, stderr.String())
	}
	return decodeMap(t, stdout.Bytes())
}

// checkJava checks the output of IcebergRestCheck.java; scanFiles < 0:
// no scan planned.
func checkJava(t *testing.T, what string, out map[string]any, loc string, scanFiles int64) {
	t.Helper()
	if fmt.Sprint(out["namespaces"]) != "[zombi]" || fmt.Sprint(out["tables"]) != "[zombi.empty zombi.orders zombi.orders_dlq]" {
		t.Fatalf("%s: lists %v %v", what, out["namespaces"], out["tables"])
	}
	if out["namespace_exists"] != true || out["other_namespace_exists"] != false || out["table_exists"] != true || out["missing_table_exists"] != false {
		t.Fatalf("%s: exists %v", what, out)
	}
	if out["metadata_location"] != loc || num(out["snapshots"]) != 2 || out["zombi_offsets"] != `{"0":5}` {
		t.Fatalf("%s: table %v", what, out)
	}
	if ids := out["field_ids"].(map[string]any); num(ids["_partition"]) != 1 || num(ids["_headers"]) != 5 || num(ids["value"]) != 6 {
		t.Fatalf("%s: field ids %v", what, ids)
	}
	if scanFiles >= 0 && (num(out["scan_files"]) != scanFiles || num(out["scan_records"]) != 5) {
		t.Fatalf("%s: scan planned %v files, %v records; want %d, 5", what, out["scan_files"], out["scan_records"], scanFiles)
	}
	if s, _ := out["missing_table"].(string); !strings.HasPrefix(s, "NoSuchTableException: ") {
		t.Fatalf("%s: missing table: %v", what, out["missing_table"])
	}
	// The Java client reads the endpoints of /v1/config and refuses the
	// writes the catalog does not list before sending them.
	for _, k := range []string{"create_namespace", "create_table", "drop_table", "rename_table"} {
		if s, _ := out[k].(string); !strings.Contains(s, "Server does not support endpoint") {
			t.Fatalf("%s: %s: %v", what, k, out[k])
		}
	}
}

// TestIcebergCatalogJava: the Java client lists and loads (with
// snapshot-loading-mode=refs too, which loads the rest on demand), without
// and with a Bearer token (its token property), and with Basic
// (rest.auth.type=basic). The local warehouse has no scan here: its files
// would need HadoopFileIO; TestIcebergCatalogS3 plans one over S3FileIO.
func TestIcebergCatalogJava(t *testing.T) {
	cp := icebergJavaClasspath(t)
	w, dir := icebergWarehouse(t)
	loc := filepath.Join(dir, "zombi", "orders", "metadata", "v3.metadata.json")
	noScan := []string{"-Dscan=false"}

	e := newEnv(t, Config{})
	srv := httptest.NewServer(New(e.log, stats.New(), Config{IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	t.Cleanup(srv.Close)
	checkJava(t, "no auth", runJava(t, cp, noScan, srv.URL+"/iceberg"), loc, -1)
	checkJava(t, "refs", runJava(t, cp, noScan, srv.URL+"/iceberg", "snapshot-loading-mode=refs"), loc, -1)

	a := secured(t)
	a.allow("User:alice", kmsg.ACLResourceTypeTopic, "*", kmsg.ACLOperationDescribe)
	tok, _ := a.token("alice", time.Hour)
	srv = httptest.NewServer(New(a.log, stats.New(), Config{Auth: a.svc, RequireAuth: true, IcebergCatalog: &IcebergCatalog{Warehouse: w}}, discardLogger()))
	t.Cleanup(srv.Close)
	checkJava(t, "bearer token", runJava(t, cp, noScan, srv.URL+"/iceberg", "token="+tok), loc, -1)
	checkJava(t, "basic", runJava(t, cp, noScan, srv.URL+"/iceberg", "rest.auth.type=basic", "rest.auth.basic.username=alice", "rest.auth.basic.password=alice-pw"), loc, -1)
}
