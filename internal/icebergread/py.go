package icebergread

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/zombi-dev/zombi/internal/pyvenv"
)

// Requirements is the requirements file (relative to the repository root)
// of the Python readers: pyiceberg 0.12.0, duckdb 1.5.5 and DuckDB's
// iceberg, avro and httpfs extensions as PyPI wheels.
const Requirements = "internal/icebergread/py/requirements.txt"

// pyInstall is how to install the Python readers.
const pyInstall = "make test-deps (or: scripts/pyvenv.sh " + Requirements + ")"

// Python returns the interpreter of the readers' virtual environment,
// making it first if needed (scripts/pyvenv.sh: a cold start downloads
// from PyPI, about 30 s; later calls take well under a second).
func Python() (string, error) {
	py := os.Getenv("ZOMBI_PYTHON")
	if py == "" {
		py = "python3"
	}
	if _, err := exec.LookPath(py); err != nil {
		return "", fmt.Errorf("%w: no %s on PATH (install Python 3, then %s)", ErrUnavailable, py, pyInstall)
	}
	v, err := pyvenv.Ensure(Requirements)
	if err != nil {
		return "", fmt.Errorf("%w: %v (run %s)", ErrUnavailable, err, pyInstall)
	}
	return v.Python(), nil
}

// PyDir is the directory of the Python scripts (read.py, scan.py,
// duckdb_ext.py).
func PyDir() string { return filepath.Join(dir(), "py") }

func readPy(ctx context.Context, s3 *S3Config, args ...string) ([]Row, error) {
	py, err := Python()
	if err != nil {
		return nil, err
	}
	return run(ctx, fmt.Sprintf("read.py %v", args), s3Env(s3), py, append([]string{filepath.Join(PyDir(), "read.py")}, args...)...)
}

// ReadDuckDB reads every row of the current snapshot of the table at
// location (a directory or s3://bucket/prefix: iceberg_scan follows
// metadata/version-hint.text; or a vN.metadata.json) with DuckDB 1.5.5's
// iceberg_scan, the extensions loaded from their PyPI wheels by path
// (signature-checked). s3:// goes through DuckDB's httpfs to s3.Endpoint.
// DuckDB has no field ids: columns are matched by name.
func ReadDuckDB(ctx context.Context, location string, s3 *S3Config) ([]Row, error) {
	return readPy(ctx, s3, "duckdb", location)
}

// ReadPyIceberg reads every row of the current snapshot with pyiceberg
// 0.12.0's StaticTable.from_metadata(location): a vN.metadata.json, or a
// table location (pyiceberg then reads metadata/version-hint.text).
func ReadPyIceberg(ctx context.Context, location string, s3 *S3Config) ([]Row, error) {
	return readPy(ctx, s3, "pyiceberg", location)
}

// ReadPyIcebergREST reads every row of the current snapshot of the table
// identifier (e.g. "zombi.orders") from the Iceberg REST catalog at
// catalogURL (e.g. http://127.0.0.1:PORT/iceberg) with pyiceberg's
// RestCatalog: it loads the table there and follows the metadata location
// the catalog answers. s3 is for the data when the catalog's answer does
// not carry S3 settings.
func ReadPyIcebergREST(ctx context.Context, catalogURL, identifier string, s3 *S3Config) ([]Row, error) {
	return readPy(ctx, s3, "pyiceberg-rest", catalogURL, identifier)
}
