package icebergread

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// jsInstall is how to install the Node reader.
const jsInstall = "make test-deps (or: cd internal/icebergread/js && npm ci)"

// ReadJS reads every row of the current snapshot of the table at location
// (a directory, s3://bucket/prefix, or a vN.metadata.json) with
// js/read.mjs: the metadata JSON walked by hand, the manifest list and
// manifests decoded by icebird's Avro reader (deflate inflated with
// node:zlib), the data files read by hyparquet. s3:// objects are fetched
// over HTTP from s3.Endpoint with SigV4 (aws4), as an engine would.
func ReadJS(ctx context.Context, location string, s3 *S3Config) ([]Row, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node is not on PATH (install Node.js, then %s)", ErrUnavailable, jsInstall)
	}
	js := filepath.Join(dir(), "js")
	if _, err := os.Stat(filepath.Join(js, "node_modules", "hyparquet", "package.json")); err != nil {
		return nil, fmt.Errorf("%w: %s has no node_modules: run %s", ErrUnavailable, js, jsInstall)
	}
	return run(ctx, "node read.mjs "+location, s3Env(s3), node, filepath.Join(js, "read.mjs"), location)
}
