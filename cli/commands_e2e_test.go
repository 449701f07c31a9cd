package cli

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/internal/syncbuf"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// These tests run the real zombi binary, as a user does, against a real
// Zombi process (plaintext, no auth).

type e2e struct {
	proc *zombitest.Proc
	bin  string
}

func startPlain(t *testing.T) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the zombi binary")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), "ZOMBI_AUTO_CREATE_TOPICS=false", "ZOMBI_GROUP_INITIAL_REBALANCE_DELAY_MS=0")
	return &e2e{proc: p, bin: bin}
}

// zombi runs the binary with the connection settings in the environment and
// returns its exit status, stdout and stderr.
func (p *e2e) zombi(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = append(os.Environ(), "ZOMBI_BROKERS="+p.proc.KafkaAddr, "ZOMBI_API="+p.proc.HTTPBase)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("zombi %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and returns its stdout.
func (p *e2e) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := p.zombi(t, stdin, args...)
	if code != 0 {
		t.Fatalf("zombi %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs a command that must fail with exit status 1 and one line on
// stderr, and returns that line.
func (p *e2e) fails(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := p.zombi(t, stdin, args...)
	if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "zombi: ") {
		t.Fatalf("zombi %s: want exit 1 and one stderr line, got exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return errs
}

func (p *e2e) okJSON(t *testing.T, v any, stdin string, args ...string) {
	t.Helper()
	out := p.ok(t, stdin, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("zombi %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (p *e2e) admin(t *testing.T, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.proc.KafkaAddr), kgo.RetryTimeout(10 * time.Second),
		kgo.MetadataMinAge(10 * time.Millisecond)}, opts...)...) // no cached metadata between the commands
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

type describedTopic struct {
	Name       string `json:"name"`
	TopicID    string `json:"topic_id"`
	Partitions []struct {
		Partition     int32  `json:"partition"`
		Leader        int32  `json:"leader"`
		LogStart      int64  `json:"log_start"`
		HighWatermark int64  `json:"high_watermark"`
		HotStart      *int64 `json:"hot_start"`
	} `json:"partitions"`
	Configs []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Source string `json:"source"`
	} `json:"configs"`
}

func (d describedTopic) config(name string) (string, string) {
	for _, c := range d.Configs {
		if c.Name == name {
			return c.Value, c.Source
		}
	}
	return "", ""
}

func TestCLITopicCommands(t *testing.T) {
	p := startPlain(t)
	_, adm := p.admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var created []topicResult
	p.okJSON(t, &created, "", "topic", "create", "orders", "audit", "-p", "3", "-c", "retention.ms=3600000", "-o", "json")
	if len(created) != 2 || created[0].Topic != "audit" || created[1].Topic != "orders" || created[1].Partitions != 3 || created[1].Error != "" || created[1].TopicID == "" {
		t.Fatalf("topic create: %+v", created)
	}
	if msg := p.fails(t, "", "topic", "create", "orders"); msg != "zombi: topic orders: TOPIC_ALREADY_EXISTS: topic already exists: orders\n" {
		t.Fatalf("duplicate create said %q", msg)
	}
	p.ok(t, "", "topic", "create", "dry", "--dry-run")
	if tl, _ := adm.ListTopics(ctx); tl.Has("dry") {
		t.Fatal("topic create --dry-run created the topic")
	}

	var listed []struct {
		Name       string `json:"name"`
		Partitions int    `json:"partitions"`
		Replicas   int    `json:"replicas"`
	}
	p.okJSON(t, &listed, "", "topic", "list", "-o", "json")
	if len(listed) != 2 || listed[0].Name != "audit" || listed[1].Name != "orders" || listed[1].Partitions != 3 || listed[1].Replicas != 1 {
		t.Fatalf("topic list: %+v", listed)
	}
	if out := p.ok(t, "", "topic", "list"); !strings.Contains(out, "NAME") || !strings.Contains(out, "orders") {
		t.Fatalf("topic list text:\n%s", out)
	}
	if out := p.ok(t, "", "topic", "list", "-o", "yaml"); !strings.Contains(out, "name: orders") {
		t.Fatalf("topic list yaml:\n%s", out)
	}

	// Records to describe and trim.
	var sum produceSummary
	p.okJSON(t, &sum, "a\nb\nc\nd\ne\n", "produce", "orders", "-p", "0", "-o", "json")
	if sum.Records != 5 || len(sum.Partitions) != 1 || sum.Partitions[0].LastOffset != 4 {
		t.Fatalf("produce summary %+v", sum)
	}
	var desc []describedTopic
	p.okJSON(t, &desc, "", "topic", "describe", "orders", "-o", "json")
	if len(desc) != 1 || len(desc[0].Partitions) != 3 || desc[0].Partitions[0].HighWatermark != 5 || desc[0].Partitions[0].LogStart != 0 || desc[0].Partitions[0].Leader != 1 {
		t.Fatalf("topic describe: %+v", desc)
	}
	if v, src := desc[0].config("retention.ms"); v != "3600000" || src != "topic" {
		t.Fatalf("retention.ms = %q from %q", v, src)
	}
	// Zombi's hot range comes from GET /tables/{t}/info when the API has it.
	if info, ok := tableInfo(t, p.proc.HTTPBase, "orders"); ok {
		if hs := desc[0].Partitions[0].HotStart; hs == nil || *hs != info {
			t.Fatalf("hot_start %v, /tables/orders/info says %d", hs, info)
		}
	} else {
		t.Log("GET /tables/{t}/info not served yet: hot and cold ranges not checked")
	}
	// Not a Zombi API: the same answer without the Zombi fields.
	desc = nil
	p.okJSON(t, &desc, "", "topic", "describe", "orders", "-o", "json", "--api", "http://127.0.0.1:1")
	if len(desc) != 1 || desc[0].Partitions[0].HotStart != nil || desc[0].Partitions[0].HighWatermark != 5 {
		t.Fatalf("describe without an API: %+v", desc)
	}
	if out := p.ok(t, "", "topic", "describe", "orders"); !strings.Contains(out, "HIGH-WATERMARK") || !strings.Contains(out, "retention.ms") {
		t.Fatalf("topic describe text:\n%s", out)
	}
	p.fails(t, "", "topic", "describe", "nope")

	// alter-config needs IncrementalAlterConfigs (issue 12 point 2).
	if supports(t, adm, 44) {
		p.ok(t, "", "topic", "alter-config", "orders", "--set", "retention.ms=7200000", "--set", "max.message.bytes=100000")
		p.ok(t, "", "topic", "alter-config", "orders", "--delete", "max.message.bytes")
		rc, err := adm.DescribeTopicConfigs(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, c := range rc[0].Configs {
			if c.Source.String() == "DYNAMIC_TOPIC_CONFIG" {
				got[c.Key] = deref(c.Value)
			}
		}
		if got["retention.ms"] != "7200000" || got["max.message.bytes"] != "" {
			t.Fatalf("topic configs after alter-config: %v", got)
		}
		p.fails(t, "", "topic", "alter-config", "orders", "--set", "no.such.config=1")
	} else {
		t.Log("the server has no IncrementalAlterConfigs yet: alter-config checked against kfake only")
	}
	if code, _, _ := p.zombi(t, "", "topic", "alter-config", "orders"); code != 2 {
		t.Fatalf("alter-config without --set/--delete: exit %d, want 2", code)
	}

	// add-partitions: -n adds, --total sets.
	p.ok(t, "", "topic", "add-partitions", "orders", "-n", "2")
	p.ok(t, "", "topic", "add-partitions", "orders", "--total", "7")
	md, err := adm.Metadata(ctx, "orders")
	if err != nil || len(md.Topics["orders"].Partitions) != 7 {
		t.Fatalf("partitions after add-partitions: %v %v", len(md.Topics["orders"].Partitions), err)
	}
	p.fails(t, "", "topic", "add-partitions", "orders", "--total", "3")

	// trim moves the log start.
	var trimmed []struct {
		Partition int32  `json:"partition"`
		LogStart  int64  `json:"log_start"`
		Error     string `json:"error"`
	}
	p.okJSON(t, &trimmed, "", "topic", "trim", "orders", "-p", "0", "--before", "3", "-o", "json")
	if len(trimmed) != 1 || trimmed[0].LogStart != 3 || trimmed[0].Error != "" {
		t.Fatalf("trim: %+v", trimmed)
	}
	starts, err := adm.ListStartOffsets(ctx, "orders")
	if s, _ := starts.Lookup("orders", 0); err != nil || s.Offset != 3 {
		t.Fatalf("log start after trim: %+v %v", s, err)
	}

	// delete: one unknown topic fails the command, the others go.
	p.fails(t, "", "topic", "delete", "orders", "nope")
	p.ok(t, "", "topic", "delete", "audit")
	if tl, _ := adm.ListTopics(ctx); len(tl) != 0 {
		t.Fatalf("topics left after delete: %v", tl.Names())
	}
}

// tableInfo is partition 0's hot_start from GET /tables/{t}/info, when the
// server has that route.
func tableInfo(t *testing.T, base, table string) (int64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/tables/" + table + "/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, false
	}
	var info struct {
		PartitionOffsets []struct {
			Partition int32 `json:"partition"`
			HotStart  int64 `json:"hot_start"`
		} `json:"partition_offsets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || len(info.PartitionOffsets) == 0 {
		t.Fatalf("GET /tables/%s/info: %v %+v", table, err, info)
	}
	return info.PartitionOffsets[0].HotStart, true
}

// supports reports whether the broker serves an API key.
func supports(t *testing.T, adm *kadm.Client, key int16) bool {
	t.Helper()
	vs, err := adm.ApiVersions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if _, ok := v.KeyMaxVersion(key); ok {
			return true
		}
	}
	return false
}

// restRecord is one record of GET /tables/{t}?partition=P&offset=O&limit=1,
// raw, as the API rendered it.
func restRecord(t *testing.T, base, table string, part int32, offset int64) []byte {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/tables/%s?partition=%d&offset=%d&limit=1", base, table, part, offset))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var page struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Records) != 1 {
		t.Fatalf("GET %s[%d]@%d: %v %s", table, part, offset, err, body)
	}
	return page.Records[0]
}

func TestCLIProduceConsume(t *testing.T) {
	p := startPlain(t)
	p.ok(t, "", "topic", "create", "ev", "-p", "3")

	// Keys, values (one not valid UTF-8) and headers.
	const n = 30
	var in strings.Builder
	for i := range n {
		v := "value-" + strconv.Itoa(i)
		if i == 7 {
			v = "bin\xff\xfe"
		}
		fmt.Fprintf(&in, "key-%d\t%s\n", i%5, v)
	}
	var sum produceSummary
	p.okJSON(t, &sum, in.String(), "produce", "ev", "--format", `%k\t%v\n`, "-H", "source=cli", "-H", "trace=abc", "-o", "json")
	var total int64
	for _, pp := range sum.Partitions {
		total += pp.Records
		if pp.LastOffset-pp.FirstOffset+1 != pp.Records {
			t.Fatalf("partition %d: offsets %d..%d for %d records", pp.Partition, pp.FirstOffset, pp.LastOffset, pp.Records)
		}
	}
	if sum.Records != n || sum.Failed != 0 || total != n || sum.Topic != "ev" {
		t.Fatalf("produce summary %+v", sum)
	}
	// The text summary says the same.
	if out := p.ok(t, "x\n", "produce", "ev", "-p", "2", "-k", "kk"); !strings.Contains(out, "produced 1 record(s) to ev") {
		t.Fatalf("produce text summary:\n%s", out)
	}

	// consume --format json prints, per record, exactly what GET /tables/{t}
	// prints for it.
	out := p.ok(t, "", "consume", "ev", "-n", strconv.Itoa(n+1), "--format", "json")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n+1 {
		t.Fatalf("consume -n %d printed %d lines:\n%s", n+1, len(lines), out)
	}
	keys := map[string]int{}
	sawBinary := false
	for _, l := range lines {
		var r struct {
			Partition int32             `json:"partition"`
			Offset    int64             `json:"offset"`
			Key       string            `json:"key"`
			Payload   string            `json:"payload"`
			Encoding  string            `json:"payload_encoding"`
			Headers   map[string]string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if want := restRecord(t, p.proc.HTTPBase, "ev", r.Partition, r.Offset); !bytes.Equal(want, []byte(l)) {
			t.Fatalf("consume printed\n%s\nGET /tables/ev printed\n%s", l, want)
		}
		if r.Key != "kk" && r.Headers["source"] != "cli" || (r.Key != "kk" && r.Headers["trace"] != "abc") {
			t.Fatalf("headers of %s", l)
		}
		sawBinary = sawBinary || r.Encoding == "base64"
		keys[r.Key]++
	}
	if !sawBinary || keys["key-0"] != 6 || keys["kk"] != 1 {
		t.Fatalf("records: binary %v, keys %v", sawBinary, keys)
	}

	// Without -n, consume stops at the ends seen at the start.
	if out := p.ok(t, "", "consume", "ev", "--format", `%p\n`); strings.Count(out, "\n") != n+1 {
		t.Fatalf("consume to the end printed %d records", strings.Count(out, "\n"))
	}
	// Offsets of one partition, by every -o form.
	p.ok(t, "", "topic", "create", "seq", "-p", "1")
	before := time.Now().UnixMilli()
	p.ok(t, "0\n1\n2\n3\n4\n", "produce", "seq")
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	p.ok(t, "5\n6\n7\n8\n9\n", "produce", "seq")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "start"}, "0,1,2,3,4,5,6,7,8,9,"},
		{[]string{"-o", "end"}, ""},
		{[]string{"-o", "6"}, "6,7,8,9,"},
		{[]string{"-o", "-3"}, "7,8,9,"},
		{[]string{"-o", "-30"}, "0,1,2,3,4,5,6,7,8,9,"},
		{[]string{"-o", "@" + strconv.FormatInt(before, 10)}, "0,1,2,3,4,5,6,7,8,9,"},
		{[]string{"-o", "@" + strconv.FormatInt(mid.UnixMilli(), 10)}, "5,6,7,8,9,"},
		{[]string{"-o", "@" + mid.UTC().Format(time.RFC3339Nano)}, "5,6,7,8,9,"},
		{[]string{"-o", "@-1h"}, "0,1,2,3,4,5,6,7,8,9,"},
		{[]string{"-o", "@2999-01-01T00:00:00Z"}, ""},
		{[]string{"-o", "2", "-n", "3"}, "2,3,4,"},
		{[]string{"-p", "0", "-o", "-1"}, "9,"},
	} {
		args := append([]string{"consume", "seq", "--format", `%v,`}, tc.args...)
		if got := p.ok(t, "", args...); got != tc.want {
			t.Errorf("zombi %s printed %q, want %q", strings.Join(args, " "), got, tc.want)
		}
	}
	if got := p.ok(t, "", "consume", "seq", "-o", "3", "-n", "1", "--format", `%t|%p|%o|%k|%v|%h\n`); got != "seq|0|3||3|\n" {
		t.Errorf("rpk-style format printed %q", got)
	}
	if code, _, errs := p.zombi(t, "", "consume", "seq", "-o", "yesterday"); code != 2 || !strings.Contains(errs, "-o") {
		t.Errorf("bad -o: exit %d %q", code, errs)
	}
	p.fails(t, "", "consume", "nope")

	// --file, and no progress bar when stderr is not a terminal.
	file := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(file, []byte("f1\nf2\nf3"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := p.zombi(t, "", "produce", "seq", "--file", file, "-o", "json"); code != 0 || errs != "" || !strings.Contains(out, `"records": 3`) {
		t.Fatalf("produce --file: exit %d\nstdout: %s\nstderr: %q", code, out, errs)
	}
	if code, out, errs := p.zombi(t, "", "consume", "seq", "-o", "10", "-n", "3", "--format", `%v,`); code != 0 || errs != "" || out != "f1,f2,f3," {
		t.Fatalf("consume -n 3: exit %d, %q, stderr %q", code, out, errs)
	}

	// A record that cannot be written fails the command.
	if msg := p.fails(t, "a\n", "produce", "seq", "-p", "9"); !strings.Contains(msg, "failed") {
		t.Errorf("produce to a missing partition said %q", msg)
	}
}

func TestCLIGroupCommands(t *testing.T) {
	p := startPlain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p.ok(t, "", "topic", "create", "jobs", "-p", "2")
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, "%d\n", i)
	}
	p.ok(t, in.String(), "produce", "jobs", "-p", "0")
	p.ok(t, in.String(), "produce", "jobs", "-p", "1")
	_, adm := p.admin(t)

	// A kgo group member consumes everything and commits.
	member, err := kgo.NewClient(kgo.SeedBrokers(p.proc.KafkaAddr), kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"),
		kgo.ClientID("worker-1"), kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	got := 0
	for got < 20 && ctx.Err() == nil {
		fs := member.PollFetches(ctx)
		got += fs.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	var groups []struct {
		Group   string `json:"group"`
		State   string `json:"state"`
		Members int    `json:"members"`
	}
	p.okJSON(t, &groups, "", "group", "list", "-o", "json")
	if len(groups) != 1 || groups[0].Group != "workers" || groups[0].State != "Stable" || groups[0].Members != 1 {
		t.Fatalf("group list: %+v", groups)
	}
	var described []groupInfo
	p.okJSON(t, &described, "", "group", "describe", "workers", "-o", "json")
	if len(described) != 1 || len(described[0].Partitions) != 2 || len(described[0].Members) != 1 {
		t.Fatalf("group describe: %+v", described)
	}
	var committedSum int64
	for _, gp := range described[0].Partitions {
		if gp.Committed != gp.LogEnd || gp.Lag != 0 || gp.ClientID != "worker-1" || gp.MemberID == "" || gp.Host == "" {
			t.Fatalf("group describe partition %+v", gp)
		}
		committedSum += gp.Committed
	}
	if committedSum != 20 {
		t.Fatalf("committed offsets sum to %d, want 20", committedSum)
	}
	if out := p.ok(t, "", "group", "describe", "workers"); !strings.Contains(out, "worker-1") || !strings.Contains(out, "LAG") {
		t.Fatalf("group describe text:\n%s", out)
	}

	committed := func() map[int32]int64 {
		t.Helper()
		offs, err := adm.FetchOffsets(ctx, "workers")
		if err != nil {
			t.Fatal(err)
		}
		m := map[int32]int64{}
		offs.Each(func(o kadm.OffsetResponse) { m[o.Partition] = o.At })
		return m
	}
	atEnd := committed()

	// Refused while the member is in the group; nothing changes.
	if msg := p.fails(t, "", "group", "seek", "workers", "--to", "start", "--execute"); !strings.Contains(msg, "stop its consumers") {
		t.Fatalf("seek of an active group said %q", msg)
	}
	if msg := p.fails(t, "", "group", "delete", "workers"); !strings.HasPrefix(msg, "zombi: group workers: NON_EMPTY_GROUP") {
		t.Fatalf("group delete of an active group said %q", msg)
	}
	if got := committed(); fmt.Sprint(got) != fmt.Sprint(atEnd) {
		t.Fatalf("offsets moved while refused: %v -> %v", atEnd, got)
	}
	member.Close() // leaves the group

	// A dry run prints the plan and changes nothing.
	var plan seekPlan
	p.okJSON(t, &plan, "", "group", "seek", "workers", "--to", "2", "-o", "json")
	if plan.Executed || len(plan.Plan) != 2 || plan.Group != "workers" || plan.To != "2" {
		t.Fatalf("dry-run plan %+v", plan)
	}
	for _, e := range plan.Plan {
		if e.Topic != "jobs" || e.Current != atEnd[e.Partition] || e.Target != 2 {
			t.Fatalf("plan entry %+v (committed %v)", e, atEnd)
		}
	}
	if got := committed(); fmt.Sprint(got) != fmt.Sprint(atEnd) {
		t.Fatalf("dry run moved offsets: %v -> %v", atEnd, got)
	}
	if out := p.ok(t, "", "group", "seek", "workers", "--to", "start"); !strings.Contains(out, "dry run") {
		t.Fatalf("dry run text:\n%s", out)
	}
	if code, _, _ := p.zombi(t, "", "group", "seek", "workers", "--to", "sometime"); code != 2 {
		t.Fatalf("bad --to: exit %d, want 2", code)
	}

	// --execute commits the targets; a new member resumes from them.
	p.okJSON(t, &plan, "", "group", "seek", "workers", "--to", "2", "--topics", "jobs", "--execute", "-o", "json")
	if !plan.Executed {
		t.Fatalf("plan %+v not executed", plan)
	}
	if got := committed(); got[0] != 2 || got[1] != 2 {
		t.Fatalf("offsets after seek --execute: %v", got)
	}
	again, err := kgo.NewClient(kgo.SeedBrokers(p.proc.KafkaAddr), kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"),
		kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	first := map[int32]int64{}
	want := int(atEnd[0] - 2 + atEnd[1] - 2)
	seen := 0
	for seen < want && ctx.Err() == nil {
		fs := again.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
			seen++
		})
	}
	again.Close()
	if seen != want || first[0] != 2 || first[1] != 2 {
		t.Fatalf("resumed member read %d records (want %d) starting at %v", seen, want, first)
	}

	// zombi consume -g commits what it printed: a second run prints nothing.
	p.ok(t, "", "group", "seek", "workers", "--to", "end", "--execute")
	p.ok(t, "20\n21\n", "produce", "jobs")
	if out := p.ok(t, "", "consume", "jobs", "-g", "workers", "--format", `%v,`); len(strings.Split(strings.TrimSuffix(out, ","), ",")) != 2 {
		t.Fatalf("consume -g printed %q", out)
	}
	if out := p.ok(t, "", "consume", "jobs", "-g", "workers", "--format", `%v,`); out != "" {
		t.Fatalf("consume -g again printed %q", out)
	}

	// delete, once empty.
	p.ok(t, "", "group", "delete", "workers")
	groups = nil
	p.okJSON(t, &groups, "", "group", "list", "-o", "json")
	if len(groups) != 0 {
		t.Fatalf("groups after delete: %+v", groups)
	}
	if msg := p.fails(t, "", "group", "delete", "workers"); !strings.HasPrefix(msg, "zombi: group workers: GROUP_ID_NOT_FOUND") {
		t.Fatalf("group delete of a deleted group said %q", msg)
	}
}

func TestCLIClusterInfoHelpCompletion(t *testing.T) {
	p := startPlain(t)
	p.ok(t, "", "topic", "create", "a", "b")
	var info struct {
		ClusterID  string `json:"cluster_id"`
		Controller int32  `json:"controller"`
		Topics     int    `json:"topics"`
		Brokers    []struct {
			ID   int32  `json:"id"`
			Host string `json:"host"`
			Port int32  `json:"port"`
		} `json:"brokers"`
	}
	p.okJSON(t, &info, "", "cluster", "info", "-o", "json")
	if info.ClusterID == "" || info.Controller != 1 || info.Topics != 2 || len(info.Brokers) != 1 ||
		fmt.Sprintf("%s:%d", info.Brokers[0].Host, info.Brokers[0].Port) != p.proc.KafkaAddr {
		t.Fatalf("cluster info %+v (broker %s)", info, p.proc.KafkaAddr)
	}

	out := p.ok(t, "", "--help")
	for _, c := range []string{"serve", "topic", "produce", "consume", "group", "cluster", "health", "user", "acl", "token", "certs", "segments", "bench", "version", "completion", "iceberg"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("zombi --help does not list %s:\n%s", c, out)
		}
	}
	for _, c := range [][]string{{"help", "topic"}, {"help", "consume"}, {"help", "serve"}, {"help", "certs", "dev"}, {"help", "segments"}, {"topic", "create", "--help"}, {"serve", "-h"}} {
		if code, out, errs := p.zombi(t, "", c...); code != 0 || out+errs == "" {
			t.Errorf("zombi %v: exit %d, output %q", c, code, out+errs)
		}
	}
	if _, out, errs := p.zombi(t, "", "serve", "-h"); !strings.Contains(out+errs, "ZOMBI_DATA_DIR") {
		t.Errorf("zombi serve -h does not list the settings:\n%s%s", out, errs)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		script := p.ok(t, "", "completion", sh)
		if !strings.Contains(script, "zombi") {
			t.Errorf("completion %s: %q", sh, script)
		}
		if sh == "bash" {
			f := filepath.Join(t.TempDir(), "zombi.bash")
			if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
				t.Errorf("bash -n on the completion script: %v\n%s", err, out)
			}
		}
	}
	if code, _, errs := p.zombi(t, "", "nosuchcommand"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, errs)
	}
}

// zombi with flags and no command still runs the server, with Go flag
// package spellings (-port 9000, --kafka-port=9092).
func TestServeIsTheDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the zombi binary")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	httpPort, _ := zombitest.FreePort()
	kafkaPort, _ := zombitest.FreePort()
	cmd := exec.Command(bin, "-port", strconv.Itoa(httpPort), "--kafka-port="+strconv.Itoa(kafkaPort),
		"-host", "127.0.0.1", "--data-dir", filepath.Join(t.TempDir(), "d"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", httpPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("zombi with flags and no command exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 30s\n%s", logs.String())
		}
	}
	// SIGINT: a clean stop, exit status 0.
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit 20s after SIGINT")
	}
}

// consume -g --follow rides out a server restart (same data, same ports):
// it keeps retrying, prints what arrives after it once, and commits what it
// printed within a couple of seconds.
func TestCLIConsumeGroupFollowSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the zombi binary")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	// The Kafka port is the same across the restart (the HTTP one is
	// zombitest's choice each time; consume does not use it).
	kafkaPort, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	env := []string{"ZOMBI_KAFKA_LISTENERS=PLAINTEXT://127.0.0.1:" + strconv.Itoa(kafkaPort),
		"ZOMBI_GROUP_INITIAL_REBALANCE_DELAY_MS=0"}
	p := &e2e{proc: zombitest.StartT(t, dataDir, env...), bin: bin}
	p.ok(t, "", "topic", "create", "f", "-p", "1")
	p.ok(t, "a\nb\n", "produce", "f")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "consume", "f", "-g", "fg", "--follow", "--format", `%v\n`)
	cmd.Env = append(os.Environ(), "ZOMBI_BROKERS="+p.proc.KafkaAddr, "ZOMBI_API="+p.proc.HTTPBase, "ZOMBI_CLIENT_TLS=false")
	var out, errb syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-exited:
				t.Fatalf("%s: consume exited (%v)\nstdout: %q\nstderr: %s", what, err, out.String(), errb.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %v: %s\nstdout: %q\nstderr: %s", within, what, out.String(), errb.String())
			}
		}
	}
	committed := func(want int64) func() bool {
		return func() bool {
			cl, err := kgo.NewClient(kgo.SeedBrokers(p.proc.KafkaAddr), kgo.RetryTimeout(2*time.Second))
			if err != nil {
				return false
			}
			defer cl.Close()
			offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "fg")
			o, _ := offs.Lookup("f", 0)
			return err == nil && o.At == want
		}
	}
	waitFor("the first two records", 20*time.Second, func() bool { return out.String() == "a\nb\n" })
	waitFor("offset 2 committed soon after printing", 4*time.Second, committed(2))

	if err := p.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the consumer meets the closed port
	select {
	case err := <-exited:
		t.Fatalf("consume --follow exited while the server was down (%v)\nstderr: %s", err, errb.String())
	default:
	}
	p.proc = zombitest.StartT(t, dataDir, env...)
	p.ok(t, "c\n", "produce", "f")
	waitFor("the record produced after the restart, printed once", 40*time.Second, func() bool { return out.String() == "a\nb\nc\n" })
	waitFor("offset 3 committed", 10*time.Second, committed(3))
	time.Sleep(500 * time.Millisecond)
	if got := out.String(); got != "a\nb\nc\n" {
		t.Fatalf("printed twice after the restart: %q", got)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("consume --follow after Ctrl-C: %v\nstderr: %s", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("consume --follow did not stop on Ctrl-C")
	}
}

// Against Zombi itself: produce auto-creates a missing topic (Zombi's
// default) and spreads unkeyed records, group seek starts a group that does
// not exist yet, and cleanup.policy=compact is accepted with a warning.
func TestCLIZombiNewUserPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the zombi binary")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	p := &e2e{proc: zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), "ZOMBI_DEFAULT_PARTITIONS=2"), bin: bin}
	var sum produceSummary
	p.okJSON(t, &sum, "a\nb\nc\nd\n", "produce", "auto", "-o", "json")
	if sum.Records != 4 || len(sum.Partitions) != 2 || sum.Partitions[0].Records != 2 {
		t.Fatalf("produce to a missing topic on Zombi: %+v", sum)
	}

	if code, _, errs := p.zombi(t, "", "group", "seek", "newg", "--to", "start"); code != 2 || !strings.Contains(errs, "--topics") {
		t.Fatalf("seek of a new group without --topics: exit %d, %q", code, errs)
	}
	var plan seekPlan
	p.okJSON(t, &plan, "", "group", "seek", "newg", "--to", "@-1d", "--topics", "auto", "--execute", "-o", "json")
	if !plan.Executed || len(plan.Plan) != 2 || plan.Plan[0].Current != -1 || plan.Plan[0].Target != 0 {
		t.Fatalf("seek --execute of a new group on Zombi: %+v", plan)
	}
	if out := p.ok(t, "", "consume", "auto", "-g", "newg", "--format", `%v`); len(out) != 4 {
		t.Fatalf("consume -g after seeking a new group: %q", out)
	}

	code, _, errs := p.zombi(t, "", "topic", "create", "changelog", "-c", "cleanup.policy=compact")
	if code != 0 || errs != "zombi: warning: topic changelog: cleanup.policy=compact is stored but Zombi does not compact (old records are deleted by retention only)\n" {
		t.Fatalf("topic create -c cleanup.policy=compact on Zombi: exit %d, stderr %q", code, errs)
	}
}
