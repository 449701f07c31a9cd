package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/pyvenv"
)

// The current Python clients from PyPI (compat-tests/python/requirements.txt,
// in a virtual environment scripts/pyvenv.sh makes outside git):
// confluent-kafka 2.16.1 with the librdkafka its wheel bundles, and
// kafka-python 3.0.12, which negotiates far newer protocol versions than
// Debian's kafka-python 2.0.2 of python_test.go (that one stays). Each runs
// the same scenario (compat-tests/python/*_client.py) against Zombi and
// Apache Kafka: AdminClient create/list/describe configs/delete, four
// idempotent acks=all producers (gzip, snappy, lz4, zstd) with keys and
// headers, two consumers of one group sharing two partitions, a commit and a
// new consumer resuming from it. The script prints what came back; the
// assertions are here.

// pyRetentionMS is the retention.ms the scripts create the topic with.
const pyRetentionMS = "123456789"

var pyCodecs = []string{"gzip", "snappy", "lz4", "zstd"}

type pyRecord struct {
	P int32       `json:"p"`
	O int64       `json:"o"`
	K string      `json:"k"`
	V string      `json:"v"`
	H [][2]string `json:"h"`
}

type pyDelivery struct {
	P     int32  `json:"p"`
	O     int64  `json:"o"`
	K     string `json:"k"`
	V     string `json:"v"`
	Error string `json:"error"`
}

type pyResult struct {
	Librdkafka      []any                 `json:"librdkafka"`
	KafkaPython     string                `json:"kafka_python"`
	Partitions      []int32               `json:"partitions"`
	Configs         map[string]string     `json:"configs"`
	Assignments     map[string][]int32    `json:"assignments"`
	AssignmentsEnd  map[string][]int32    `json:"assignments_end"`
	Deliveries      []pyDelivery          `json:"deliveries"`
	Consumed        map[string][]pyRecord `json:"consumed"`
	ExtraDeliveries []pyDelivery          `json:"extra_deliveries"`
	Committed       map[string]int64      `json:"committed"`
	Resumed         []pyRecord            `json:"resumed"`
	Deleted         bool                  `json:"deleted"`
	Requests        []string              `json:"requests"` // kafka-python only
}

func TestPyPIClients(t *testing.T) {
	venv := pyvenv.EnsureT(t, "compat-tests/python/requirements.txt")
	for _, c := range []struct{ name, script string }{
		{"confluent-kafka", "confluent_client.py"},
		{"kafka-python", "kafka_python_client.py"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			eachBroker(t, func(t *testing.T, b broker) {
				t.Parallel()
				start := time.Now()
				res := runPyClient(t, venv, c.script, b)
				version := res.KafkaPython
				if len(res.Librdkafka) > 0 {
					version = fmt.Sprint("librdkafka ", res.Librdkafka[0])
				}
				t.Logf("%s (%s) against %s: %.1f s", c.name, version, b.name, time.Since(start).Seconds())
				if len(res.Requests) > 0 {
					t.Logf("requests sent: %s", strings.Join(res.Requests, ", "))
				}
				checkPyResult(t, res)
			})
		})
	}
}

func runPyClient(t *testing.T, venv pyvenv.Venv, script string, b broker) pyResult {
	t.Helper()
	ctx := testCtx(t, 3*time.Minute)
	topic, group := topicName(t, "t"), topicName(t, "g")
	cmd := exec.CommandContext(ctx, venv.Python(), filepath.Join(pyvenv.Root(), "compat-tests", "python", script), b.addr, topic, group)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s against %s: %v\nstdout: %s\nstderr: %s", script, b.name, err, stdout.String(), stderr.String())
	}
	var res pyResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%s: output: %v\n%s\nstderr: %s", script, err, stdout.String(), stderr.String())
	}
	return res
}

type pyPO struct {
	p int32
	o int64
}

func checkPyResult(t *testing.T, res pyResult) {
	t.Helper()
	if fmt.Sprint(res.Partitions) != "[0 1]" {
		t.Errorf("created topic has partitions %v, want [0 1]", res.Partitions)
	}
	if res.Configs["retention.ms"] != pyRetentionMS || res.Configs["cleanup.policy"] != "delete" {
		t.Errorf("describe_configs: %v, want retention.ms=%s (set at creation) and cleanup.policy=delete", res.Configs, pyRetentionMS)
	}

	// Delivery reports: every record acknowledged, offsets 0..19 on each
	// partition (the producers alternate between the two).
	delivered := map[pyPO]pyDelivery{}
	for _, d := range res.Deliveries {
		if d.Error != "" {
			t.Errorf("delivery failed: %s", d.Error)
			continue
		}
		if _, dup := delivered[pyPO{d.P, d.O}]; dup {
			t.Errorf("two records delivered at partition %d offset %d", d.P, d.O)
		}
		delivered[pyPO{d.P, d.O}] = d
	}
	want := len(pyCodecs) * 10
	if len(delivered) != want {
		t.Fatalf("%d records delivered, want %d: %+v", len(delivered), want, res.Deliveries)
	}
	for po, d := range delivered {
		tag, i := pyKey(t, d.K)
		if po.o < 0 || po.o >= int64(want/2) || int(po.p) != i%2 || d.V != fmt.Sprintf("%s-v%d", tag, i) {
			t.Errorf("delivery report %+v: want partition %d, offset in [0,%d), value %s-v%d", d, i%2, want/2, tag, i)
		}
	}

	// Two consumers, one partition each, before and after the records.
	for what, as := range map[string]map[string][]int32{"first": res.Assignments, "last": res.AssignmentsEnd} {
		a, b := as["c1"], as["c2"]
		if len(a) != 1 || len(b) != 1 || a[0] == b[0] {
			t.Errorf("%s assignments %v: want one distinct partition for each of c1 and c2", what, as)
		}
	}

	// Together they read each delivered record once, as it was sent, each from
	// its own partition, in offset order.
	seen := map[pyPO]bool{}
	for name, recs := range res.Consumed {
		last := map[int32]int64{0: -1, 1: -1}
		for _, r := range recs {
			po := pyPO{r.P, r.O}
			if seen[po] {
				t.Errorf("%s: partition %d offset %d read twice", name, r.P, r.O)
			}
			seen[po] = true
			if own := res.AssignmentsEnd[name]; len(own) != 1 || own[0] != r.P {
				t.Errorf("%s (assigned %v) read partition %d", name, own, r.P)
			}
			if r.O <= last[r.P] {
				t.Errorf("%s: partition %d offset %d after %d", name, r.P, r.O, last[r.P])
			}
			last[r.P] = r.O
			checkPyRecord(t, r, delivered[po], "")
		}
	}
	if len(seen) != want {
		t.Errorf("the group read %d distinct records, want %d", len(seen), want)
	}

	// The commit, and a new consumer resuming from it.
	if res.Committed["0"] != int64(want/2) || res.Committed["1"] != int64(want/2) {
		t.Errorf("committed offsets seen by a new consumer: %v, want %d on both partitions", res.Committed, want/2)
	}
	extra := map[pyPO]pyDelivery{}
	for _, d := range res.ExtraDeliveries {
		if d.Error != "" || d.O < int64(want/2) {
			t.Errorf("extra delivery %+v: want an offset from %d", d, want/2)
		}
		extra[pyPO{d.P, d.O}] = d
	}
	if len(extra) != 5 {
		t.Errorf("extra deliveries: %+v, want 5", res.ExtraDeliveries)
	}
	got := map[pyPO]bool{}
	for _, r := range res.Resumed {
		d, ok := extra[pyPO{r.P, r.O}]
		if !ok || got[pyPO{r.P, r.O}] {
			t.Errorf("the resumed consumer read %+v: not one of the 5 records after the commit (or twice)", r)
			continue
		}
		got[pyPO{r.P, r.O}] = true
		checkPyRecord(t, r, d, "zstd")
	}
	if len(got) != len(extra) {
		t.Errorf("the resumed consumer read %d of the %d records after the commit: %+v", len(got), len(extra), res.Resumed)
	}
	if !res.Deleted {
		t.Error("topic not deleted")
	}
}

// pyKey splits "gzip-k3" into ("gzip", 3).
func pyKey(t *testing.T, k string) (string, int) {
	t.Helper()
	tag, n, ok := strings.Cut(k, "-k")
	i, err := strconv.Atoi(n)
	if !ok || err != nil {
		t.Fatalf("key %q: want TAG-kN", k)
	}
	return tag, i
}

// checkPyRecord compares a consumed record with its delivery report: key,
// value and the headers codec (the producer's compression) and i.
func checkPyRecord(t *testing.T, r pyRecord, d pyDelivery, codec string) {
	t.Helper()
	if r.K != d.K || r.V != d.V {
		t.Errorf("partition %d offset %d: read %q=%q, delivered %q=%q", r.P, r.O, r.K, r.V, d.K, d.V)
		return
	}
	tag, i := pyKey(t, r.K)
	if codec == "" {
		codec = tag
	}
	wantH := [][2]string{{"codec", codec}, {"i", strconv.Itoa(i)}}
	if fmt.Sprint(r.H) != fmt.Sprint(wantH) {
		t.Errorf("partition %d offset %d: headers %v, want %v", r.P, r.O, r.H, wantH)
	}
}
