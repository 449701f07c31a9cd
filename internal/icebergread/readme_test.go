package icebergread

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/iceberg"
	"github.com/zombi-dev/zombi/internal/pyvenv"
)

// readmeInstall and readmeQuery are the README demo's DuckDB step: after
// the install, the query on the table path Zombi prints (TABLE_PATH).
// duckdb_extensions.import_extension installs the wheels' signed binaries
// into ~/.duckdb, so it works without DuckDB's extension download.
const (
	readmeInstall = `pip install duckdb==1.5.5 duckdb-extensions==1.5.5 duckdb-extension-avro==1.5.5 duckdb-extension-iceberg==1.5.5`
	readmeQuery   = `python3 -c 'import sys, duckdb, duckdb_extensions as d; d.import_extension("avro"); d.import_extension("iceberg"); duckdb.sql("SELECT _partition, _offset, _timestamp, _key, value FROM iceberg_scan($1) ORDER BY ALL", params=[sys.argv[1]]).show()' TABLE_PATH`
)

// TestREADMEDuckDB runs the README's DuckDB command line, as written, on
// a table written by zombi's writer (python3 is the readers' venv, which
// has what readmeInstall installs), and scan.py on the same table. Once
// README.md holds a `python3 -c` line with iceberg_scan, it must be this
// one, and its pip line must be readmeInstall.
func TestREADMEDuckDB(t *testing.T) {
	skipShort(t)
	t.Parallel()
	if readme, err := os.ReadFile(filepath.Join(pyvenv.Root(), "README.md")); err == nil {
		if strings.Contains(string(readme), "duckdb-extension-iceberg") && !strings.Contains(string(readme), readmeInstall) {
			t.Errorf("README.md installs the DuckDB wheels otherwise than the tested line:\n%s", readmeInstall)
		}
		for _, line := range strings.Split(string(readme), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "python3 -c") && strings.Contains(line, "iceberg_scan") {
				if q := strings.SplitN(readmeQuery, " TABLE_PATH", 2)[0]; !strings.HasPrefix(line, q) {
					t.Errorf("README.md's DuckDB line differs from the tested one:\n%s\nwant\n%s", line, readmeQuery)
				}
			}
		}
	}
	py, err := Python()
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	loc := filepath.Join(t.TempDir(), "zombi", "orders")
	st, err := iceberg.DirStorage(loc)
	if err != nil {
		t.Fatal(err)
	}
	want := writeTable(t, st)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", strings.Replace(readmeQuery, "TABLE_PATH", "'"+loc+"'", 1))
	// The venv first on PATH (its python3), and a fresh HOME for ~/.duckdb.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(py)+":"+os.Getenv("PATH"), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README command: %v\n%s", err, out)
	}
	checkTable(t, "README command", string(out), want)

	cmd = exec.CommandContext(ctx, py, filepath.Join(PyDir(), "scan.py"), loc)
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scan.py: %v\n%s", err, out)
	}
	checkTable(t, "scan.py", string(out), want)
}

// rowLine is a printed row's start: │ _partition │ _offset │.
var rowLine = regexp.MustCompile(`^│\s+(\d+)\s+│\s+(\d+)\s+│`)

// checkTable checks DuckDB's printed table: one row per record, by
// partition and offset, and each non-empty key present.
func checkTable(t *testing.T, what, out string, want []iceberg.Record) {
	t.Helper()
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if m := rowLine.FindStringSubmatch(l); m != nil {
			got = append(got, m[1]+"/"+m[2])
		}
	}
	var exp []string
	for _, r := range want {
		exp = append(exp, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
		if len(r.Key) > 0 && !strings.Contains(out, string(r.Key)) {
			t.Errorf("%s: key %q missing:\n%s", what, r.Key, out)
		}
	}
	if !slices.Equal(got, exp) {
		t.Fatalf("%s: rows %v, want %v:\n%s", what, got, exp, out)
	}
}
