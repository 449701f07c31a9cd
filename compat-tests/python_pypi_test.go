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
// Apache Kafka: the admin client's create/list/describe configs, four
// idempotent acks=all producers (gzip, snappy, lz4, zstd) with keys and
// headers, two consumers of one group sharing two partitions, a commit and a
// new consumer resuming from it; then offsets by time (list offsets earliest,
// latest, by timestamp, max timestamp), describe cluster, list/describe
// groups and their offsets, create partitions, delete records, alter a topic
// config (not in Zombi yet: issue 12), delete the group and the topic. The
// script prints what came back; the assertions are here. Wall time: 10-16 s
// for the four runs in parallel (5-10 s each against Zombi, 10-16 s
// against Kafka on a busy 2-core machine), once the venv exists.

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
	Admin           *pyAdmin              `json:"admin"`
}

// pyAdmin is the scenario's step 6: offsets by time and the rest of the
// admin API, after the 5 extra records (timestamps T0 + i s, i = 0..4,
// alternately on partitions 0 and 1) and the new consumer's commit.
type pyAdmin struct {
	T0              int64            `json:"t0"`
	Earliest        map[string]int64 `json:"earliest"`
	Latest          map[string]int64 `json:"latest"`
	ForTimestamp    map[string]int64 `json:"for_timestamp"`
	MaxTimestamp    map[string]int64 `json:"max_timestamp"`
	OffsetsForTimes map[string]int64 `json:"offsets_for_times"`
	Cluster         *struct {
		ID         *string `json:"id"`
		Nodes      []int32 `json:"nodes"`
		Controller *int32  `json:"controller"`
	} `json:"cluster"`
	Groups              []string         `json:"groups"`
	Group               map[string]any   `json:"group"`
	GroupOffsets        map[string]int64 `json:"group_offsets"`
	PartitionsAfter     int              `json:"partitions_after"`
	LowWatermark        int64            `json:"low_watermark"`
	EarliestAfterDelete map[string]int64 `json:"earliest_after_delete"`
	RetentionAfterAlter string           `json:"retention_after_alter"`
	AlterError          string           `json:"alter_error"`
	GroupsAfterDelete   []string         `json:"groups_after_delete"`
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
				if res.Admin != nil {
					checkPyAdmin(t, b, *res.Admin)
				}
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

func checkPyAdmin(t *testing.T, b broker, a pyAdmin) {
	t.Helper()
	// Partition 0 holds 20 records then the extra ones at T0, T0+2s, T0+4s
	// (offsets 20-22); partition 1 20 then T0+1s, T0+3s (20-21). The first
	// record at or after T0+1.5s is offset 21 on both; the newest, 22 and 21.
	for what, c := range map[string]struct{ got, want map[string]int64 }{
		"earliest":                      {a.Earliest, map[string]int64{"0": 0, "1": 0}},
		"latest":                        {a.Latest, map[string]int64{"0": 23, "1": 22}},
		"list_offsets T0+1.5s":          {a.ForTimestamp, map[string]int64{"0": 21, "1": 21}},
		"list_offsets max_timestamp":    {a.MaxTimestamp, map[string]int64{"0": 22, "1": 21}},
		"offsets_for_times T0+1.5s":     {a.OffsetsForTimes, map[string]int64{"0": 21, "1": 21}},
		"committed group offsets":       {a.GroupOffsets, map[string]int64{"0": 23, "1": 22}},
		"earliest after delete_records": {a.EarliestAfterDelete, map[string]int64{"0": 2, "1": 0}},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", what, c.got, c.want)
		}
	}
	if a.Cluster == nil || a.Cluster.ID == nil || *a.Cluster.ID == "" || len(a.Cluster.Nodes) != 1 || a.Cluster.Controller == nil {
		t.Errorf("describe_cluster: %+v, want a cluster id, one node and a controller", a.Cluster)
	}
	if len(a.Groups) != 1 || fmt.Sprint(a.Group["state"]) != "EMPTY" || fmt.Sprint(a.Group["members"]) != "0" {
		t.Errorf("list/describe consumer groups: listed %v, %v; want the group, EMPTY with 0 members (all closed)", a.Groups, a.Group)
	}
	if a.PartitionsAfter != 3 {
		t.Errorf("create_partitions to 3: the topic has %d", a.PartitionsAfter)
	}
	if a.LowWatermark != 2 {
		t.Errorf("delete_records before offset 2: low watermark %d", a.LowWatermark)
	}
	switch {
	case b.isZombi() && (a.AlterError == "_UNSUPPORTED_FEATURE" || a.AlterError == "IncompatibleBrokerVersion"):
		// Zombi answers ApiVersions without AlterConfigs (API 33) and
		// IncrementalAlterConfigs (API 44): librdkafka says
		// _UNSUPPORTED_FEATURE, kafka-python IncompatibleBrokerVersion.
		// Topic configs that can be altered are issue 12.
		t.Logf("altering a topic config: not supported by Zombi yet (issue 12): %s", a.AlterError)
	case a.AlterError != "" || a.RetentionAfterAlter != "7200000":
		t.Errorf("altering retention.ms to 7200000: error %q, describe_configs then says %q", a.AlterError, a.RetentionAfterAlter)
	}
	if len(a.GroupsAfterDelete) != 0 {
		t.Errorf("delete_consumer_groups: the group is still listed: %v", a.GroupsAfterDelete)
	}
}
