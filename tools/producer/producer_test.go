// Package producer_test runs tools/producer/producer.py against the real
// zombi binary: every profile for a few seconds, in both formats, checking
// the tool's summary against the server's /stats and the table's contents.
package producer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/pyvenv"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// setup makes the producer's directory as its README and the spec say:
// `pip install -r requirements.txt` into a Python virtual environment (the
// venv of tools/producer/requirements.txt that scripts/pyvenv.sh keeps
// outside git; pip's run here then finds everything installed), then
// `protoc --python_out=. events.proto` (when protoc is on PATH). It runs in a
// copy, so that the generated events_pb2.py stays out of the tree, and
// returns the venv's interpreter, the copy and whether protobuf can run.
func setup(t *testing.T) (py, dir string, protobuf bool) {
	t.Helper()
	venv := pyvenv.EnsureT(t, "tools/producer/requirements.txt")
	dir = t.TempDir()
	for _, f := range []string{"producer.py", "events.proto", "requirements.txt"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run(venv.Python(), append(venv.Pip()[1:], "install", "--quiet", "-r", "requirements.txt")...)
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Log("no protoc on PATH: protobuf runs skipped (apt-get install -y protobuf-compiler)")
		return venv.Python(), dir, false
	}
	run("protoc", "--python_out=.", "events.proto")
	return venv.Python(), dir, true
}

type summary struct {
	Profile      string  `json:"profile"`
	Format       string  `json:"format"`
	Sent         int64   `json:"sent"`
	Acknowledged int64   `json:"acknowledged"`
	Errors       int64   `json:"errors"`
	RatePerSec   float64 `json:"rate_per_sec"`
	DurationSecs float64 `json:"duration_secs"`
	LatencyMS    struct {
		P50, P95, P99, Max float64
	} `json:"latency_ms"`
}

func TestProducerProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary and the Python producer")
	}
	py, dir, protobuf := setup(t)
	base := startZombi(t)

	cases := []struct {
		profile, format string
		duration        float64
		min, max        int64 // acknowledged events expected
	}{
		{"steady", "json", 3, 29, 31},     // 10/s
		{"steady", "protobuf", 3, 29, 31}, // 10/s
		{"spike", "json", 3, 118, 121},    // 20 in [0,2s), 100 in the spike [2s,3s)
		{"spike", "protobuf", 3, 118, 121},
		{"bursty", "protobuf", 3, 50, 800}, // bursts of 50-200, 0.5-2 s apart
		{"bursty", "json", 3, 50, 800},
		{"stress", "json", 3, 100, 1 << 40},
		{"stress", "protobuf", 3, 100, 1 << 40},
	}
	for i, c := range cases {
		t.Run(c.profile+"-"+c.format, func(t *testing.T) {
			if c.format == "protobuf" && !protobuf {
				t.Skip("no protoc")
			}
			table := fmt.Sprintf("p%d-%s", i, c.profile)
			before := writesTotal(t, base)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "producer.py", "--url", base, "--table", table,
				"--profile", c.profile, "--format", c.format, "--duration", fmt.Sprint(c.duration),
				"--seed", "7", "--json-summary")
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("producer: %v\n%s\n%s", err, stdout.String(), stderr.String())
			}
			var s summary
			if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
				t.Fatalf("summary: %v\n%s", err, stdout.String())
			}
			t.Logf("%s/%s: sent %d acked %d errors %d, %.1f/s, p50 %.2f ms p99 %.2f ms",
				c.profile, c.format, s.Sent, s.Acknowledged, s.Errors, s.RatePerSec, s.LatencyMS.P50, s.LatencyMS.P99)
			if s.Errors != 0 || s.Sent != s.Acknowledged {
				t.Errorf("errors: %+v\n%s", s, stderr.String())
			}
			if s.Acknowledged < c.min || s.Acknowledged > c.max {
				t.Errorf("%s for %.0f s acknowledged %d events, want %d..%d", c.profile, c.duration, s.Acknowledged, c.min, c.max)
			}
			if s.DurationSecs < c.duration-0.1 || s.RatePerSec <= 0 || s.LatencyMS.P50 <= 0 || s.LatencyMS.Max < s.LatencyMS.P99 {
				t.Errorf("summary figures: %+v", s)
			}
			if got := writesTotal(t, base) - before; got != s.Acknowledged {
				t.Errorf("/stats writes.total grew by %d, the tool reports %d acknowledged", got, s.Acknowledged)
			}
			if got := countRecords(t, base, table); got != s.Acknowledged {
				t.Errorf("table %s holds %d records, the tool reports %d acknowledged", table, got, s.Acknowledged)
			}
		})
	}
}

func writesTotal(t *testing.T, base string) int64 {
	t.Helper()
	var st struct {
		Writes struct {
			Total int64 `json:"total"`
		} `json:"writes"`
	}
	getJSON(t, base+"/stats", &st)
	return st.Writes.Total
}

// countRecords reads partition 0 of a table (tables have one partition
// unless ZOMBI_DEFAULT_PARTITIONS says otherwise).
func countRecords(t *testing.T, base, table string) int64 {
	t.Helper()
	var n, next int64
	for {
		var body struct {
			Records    []json.RawMessage `json:"records"`
			NextOffset int64             `json:"next_offset"`
		}
		getJSON(t, fmt.Sprintf("%s/tables/%s?partition=0&offset=%d&limit=5000", base, table, next), &body)
		if len(body.Records) == 0 {
			return n
		}
		n += int64(len(body.Records))
		next = body.NextOffset
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, raw)
	}
}

// startZombi runs the real binary with a temp data directory until the test
// ends; it returns the HTTP base URL.
func startZombi(t *testing.T) string {
	t.Helper()
	return zombitest.StartT(t, t.TempDir()).HTTPBase
}
