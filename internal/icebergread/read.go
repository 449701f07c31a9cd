// Package icebergread reads Zombi's Iceberg tables back for tests with
// readers that share no code with iceberg-go (issue 13, point 9): a Node
// script on icebird's Avro decoder and hyparquet (ReadJS), DuckDB 1.5.5's
// iceberg_scan (ReadDuckDB), and pyiceberg 0.12.0 (ReadPyIceberg,
// ReadPyIcebergREST). Each runs one process that prints the rows of the
// table's current snapshot as JSON lines, parsed here into Row.
//
// The tools are installed outside git by `make test-deps`: npm ci in
// internal/icebergread/js (node_modules, like compat-tests/kafkajs) and
// scripts/pyvenv.sh internal/icebergread/py/requirements.txt (a venv in
// ~/.cache/zombi). Without them a reader returns an error wrapping
// ErrUnavailable that says how to install them.
package icebergread

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// ErrUnavailable: the reader's toolchain (node and node_modules, python3
// and the venv) is not installed here.
var ErrUnavailable = errors.New("icebergread: reader not installed")

// S3Config is how the readers reach s3:// locations: an S3-protocol
// endpoint (path style) and static credentials.
type S3Config struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string // default us-east-1
	AccessKey string
	SecretKey string
}

// Header is one Kafka record header as stored in `_headers`.
type Header struct {
	Key   string
	Value []byte // nil is a null value
}

// Row is one table row.
type Row struct {
	Partition   int32
	Offset      int64
	TimestampMs int64
	Key         []byte   // nil is a null key
	Headers     []Header // nil when the column is null or the list is empty
	Value       []byte   // value column of a raw table; nil is null
	Text        *string  // value column of a json table; nil is null
	// Extra holds the other columns (typed JSON columns, _error) by name:
	// string, int64 (int and long), float64, bool, time.Time (timestamps,
	// UTC), []byte (binary), or nil for null.
	Extra map[string]any
}

// wireRow is one JSON line printed by js/read.mjs and py/read.py.
type wireRow struct {
	Partition   *int32  `json:"partition"`
	Offset      *string `json:"offset"`
	TimestampUs *string `json:"timestamp_us"`
	Key         *string `json:"key"`
	Headers     []struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	} `json:"headers"`
	Value *string `json:"value"`
	Text  *string `json:"text"`
	Extra map[string]struct {
		T string          `json:"t"`
		V json.RawMessage `json:"v"`
	} `json:"extra"`
}

// parseRows decodes the JSON lines of a reader's output.
func parseRows(out []byte) ([]Row, error) {
	var rows []Row
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		r, err := parseRow(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: %.200s", n, err, line)
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

func parseRow(line []byte) (Row, error) {
	var w wireRow
	if err := json.Unmarshal(line, &w); err != nil {
		return Row{}, err
	}
	if w.Partition == nil || w.Offset == nil || w.TimestampUs == nil {
		return Row{}, errors.New("no _partition, _offset or _timestamp")
	}
	r := Row{Partition: *w.Partition, Text: w.Text}
	var err error
	if r.Offset, err = strconv.ParseInt(*w.Offset, 10, 64); err != nil {
		return Row{}, fmt.Errorf("_offset: %w", err)
	}
	us, err := strconv.ParseInt(*w.TimestampUs, 10, 64)
	if err != nil {
		return Row{}, fmt.Errorf("_timestamp: %w", err)
	}
	r.TimestampMs = floorDiv(us, 1000)
	if r.Key, err = unb64(w.Key); err != nil {
		return Row{}, fmt.Errorf("_key: %w", err)
	}
	if r.Value, err = unb64(w.Value); err != nil {
		return Row{}, fmt.Errorf("value: %w", err)
	}
	for _, h := range w.Headers {
		v, err := unb64(h.Value)
		if err != nil {
			return Row{}, fmt.Errorf("_headers: %w", err)
		}
		r.Headers = append(r.Headers, Header{Key: h.Key, Value: v})
	}
	if len(w.Extra) > 0 {
		r.Extra = make(map[string]any, len(w.Extra))
		for name, x := range w.Extra {
			v, err := typedValue(x.T, x.V)
			if err != nil {
				return Row{}, fmt.Errorf("%s (%s): %w", name, x.T, err)
			}
			r.Extra[name] = v
		}
	}
	return r, nil
}

func unb64(s *string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	if b == nil && err == nil {
		b = []byte{} // empty, not null
	}
	return b, err
}

func typedValue(t string, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch t {
	case "binary":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return unb64(&s)
	case "long", "timestamp", "timestamptz":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || t == "long" {
			return n, err
		}
		return time.UnixMicro(n).UTC(), nil
	case "int":
		var n int64
		err := json.Unmarshal(raw, &n)
		return n, err
	case "double", "float":
		var f float64
		err := json.Unmarshal(raw, &f)
		return f, err
	case "boolean":
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case "string":
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	return nil, fmt.Errorf("type %s not supported", t)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// dir is this package's source directory (the scripts live beside it).
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// s3Env is the environment the scripts read an S3Config from (never argv:
// the secret stays out of process listings).
func s3Env(s3 *S3Config) []string {
	env := os.Environ()
	if s3 == nil {
		return env
	}
	region := s3.Region
	if region == "" {
		region = "us-east-1"
	}
	return append(env,
		"ICEBERGREAD_S3_ENDPOINT="+s3.Endpoint,
		"AWS_REGION="+region,
		"AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
	)
}

// run runs one reader process and parses its rows.
func run(ctx context.Context, what string, env []string, name string, args ...string) ([]Row, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", what, err, lastBytes(stderr.Bytes(), 4000))
	}
	rows, err := parseRows(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s output: %w", what, err)
	}
	return rows, nil
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
