package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Kafka commands are plain Kafka tools: the same command lines against
// franz-go's kfake, an in-process Kafka that is not Zombi, and against
// Apache Kafka itself (apache_kafka_test.go).

// fakeKafka is a Kafka that is not Zombi, with the commands run in-process
// against it.
type fakeKafka struct {
	addr      string
	clusterID string // "" when not known in advance
}

func startKfake(t *testing.T) *fakeKafka {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ClusterID("kfake-cluster"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return useKafka(t, c.ListenAddrs()[0], "kfake-cluster")
}

func useKafka(t *testing.T, addr, clusterID string) *fakeKafka {
	t.Helper()
	t.Setenv("ZOMBI_BROKERS", addr)
	t.Setenv("ZOMBI_API", "http://127.0.0.1:1") // no Zombi REST API here
	return &fakeKafka{addr: addr, clusterID: clusterID}
}

// eventually retries cond for up to 20 s: a real cluster's metadata
// follows a change a moment later.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", what)
		}
	}
}

func (f *fakeKafka) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func (f *fakeKafka) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := f.run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("zombi %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (f *fakeKafka) okJSON(t *testing.T, v any, stdin string, args ...string) {
	t.Helper()
	out := f.ok(t, stdin, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("zombi %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (f *fakeKafka) fails(t *testing.T, args ...string) {
	t.Helper()
	if code, out, errs := f.run(t, "", args...); code != 1 || errs == "" {
		t.Fatalf("zombi %s: want exit 1 with a message, got %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
}

func (f *fakeKafka) admin(t *testing.T) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func TestTopicCommandsOnKfake(t *testing.T) { topicSuite(t, startKfake(t)) }
func TestGroupCommandsOnKfake(t *testing.T) { groupSuite(t, startKfake(t)) }

func topicSuite(t *testing.T, f *fakeKafka) {
	adm := f.admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var created []topicResult
	f.okJSON(t, &created, "", "topic", "create", "k1", "k2", "-p", "2", "-c", "retention.ms=60000")
	if len(created) != 2 || created[0].Error != "" || created[1].Error != "" {
		t.Fatalf("create: %+v", created)
	}
	f.fails(t, "topic", "create", "k1")

	var listed []struct {
		Name       string `json:"name"`
		Partitions int    `json:"partitions"`
	}
	eventually(t, "topic list shows k1 and k2", func() bool {
		listed = nil
		f.okJSON(t, &listed, "", "topic", "list")
		return len(listed) == 2
	})
	if listed[0].Name != "k1" || listed[0].Partitions != 2 {
		t.Fatalf("list: %+v", listed)
	}

	f.ok(t, "a\nb\nc\nd\n", "produce", "k1", "-p", "1")
	var desc []describedTopic
	f.okJSON(t, &desc, "", "topic", "describe", "k1")
	if len(desc) != 1 || len(desc[0].Partitions) != 2 || desc[0].Partitions[1].HighWatermark != 4 || desc[0].Partitions[1].HotStart != nil {
		t.Fatalf("describe: %+v", desc)
	}
	if v, src := desc[0].config("retention.ms"); v != "60000" || src != "topic" {
		t.Fatalf("retention.ms = %q from %q", v, src)
	}

	f.ok(t, "", "topic", "alter-config", "k1", "--set", "retention.ms=120000", "--set", "retention.bytes=1000")
	f.ok(t, "", "topic", "alter-config", "k1", "--delete", "retention.bytes")
	eventually(t, "retention.ms 120000 and retention.bytes not set on the topic after alter-config", func() bool {
		desc = nil
		f.okJSON(t, &desc, "", "topic", "describe", "k1")
		v, _ := desc[0].config("retention.ms")
		_, src := desc[0].config("retention.bytes")
		return v == "120000" && src != "topic"
	})

	f.ok(t, "", "topic", "add-partitions", "k1", "-n", "1")
	eventually(t, "3 partitions after add-partitions -n 1", func() bool {
		md, err := adm.Metadata(ctx, "k1")
		return err == nil && len(md.Topics["k1"].Partitions) == 3
	})
	f.ok(t, "", "topic", "add-partitions", "k1", "--total", "5")
	eventually(t, "5 partitions after add-partitions --total 5", func() bool {
		md, err := adm.Metadata(ctx, "k1")
		return err == nil && len(md.Topics["k1"].Partitions) == 5
	})

	f.ok(t, "", "topic", "trim", "k1", "-p", "1", "--before", "2")
	starts, err := adm.ListStartOffsets(ctx, "k1")
	if s, _ := starts.Lookup("k1", 1); err != nil || s.Offset != 2 {
		t.Fatalf("log start after trim: %+v %v", s, err)
	}
	if out := f.ok(t, "", "consume", "k1", "--format", `%o=%v,`); out != "2=c,3=d," {
		t.Fatalf("consume after trim: %q", out)
	}

	f.ok(t, "", "topic", "delete", "k1", "k2")
	eventually(t, "no topics after delete", func() bool {
		tl, err := adm.ListTopics(ctx)
		return err == nil && len(tl) == 0
	})

	var info struct {
		ClusterID string `json:"cluster_id"`
		Brokers   []any  `json:"brokers"`
	}
	f.okJSON(t, &info, "", "cluster", "info")
	if info.ClusterID == "" || (f.clusterID != "" && info.ClusterID != f.clusterID) || len(info.Brokers) != 1 {
		t.Fatalf("cluster info: %+v", info)
	}
}

func groupSuite(t *testing.T, f *fakeKafka) {
	adm := f.admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f.ok(t, "", "topic", "create", "q", "-p", "1")
	f.ok(t, "0\n1\n2\n3\n4\n5\n", "produce", "q")

	member, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("q"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID("fake-worker"))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for n := 0; n < 6 && ctx.Err() == nil; {
		n += member.PollFetches(ctx).NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	var groups []struct {
		Group   string `json:"group"`
		Members int    `json:"members"`
	}
	f.okJSON(t, &groups, "", "group", "list")
	if len(groups) != 1 || groups[0].Group != "g" || groups[0].Members != 1 {
		t.Fatalf("group list: %+v", groups)
	}
	var described []groupInfo
	f.okJSON(t, &described, "", "group", "describe", "g")
	if len(described) != 1 || len(described[0].Partitions) != 1 || described[0].Partitions[0].Committed != 6 ||
		described[0].Partitions[0].ClientID != "fake-worker" {
		t.Fatalf("group describe: %+v", described)
	}
	f.fails(t, "group", "seek", "g", "--to", "start", "--execute")
	member.Close()

	var plan seekPlan
	f.okJSON(t, &plan, "", "group", "seek", "g", "--to", "-1h")
	if plan.Executed || len(plan.Plan) != 1 || plan.Plan[0].Current != 6 || plan.Plan[0].Target != 0 {
		t.Fatalf("seek plan: %+v", plan)
	}
	f.okJSON(t, &plan, "", "group", "seek", "g", "--to", "4", "--execute")
	offs, err := adm.FetchOffsets(ctx, "g")
	if o, _ := offs.Lookup("q", 0); err != nil || o.At != 4 {
		t.Fatalf("committed after seek --execute: %+v %v", o, err)
	}
	if out := f.ok(t, "", "consume", "q", "-g", "g", "--format", `%v,`); out != "4,5," {
		t.Fatalf("consume -g after seek: %q", out)
	}
	f.ok(t, "", "group", "delete", "g")
	eventually(t, "no group after delete", func() bool {
		groups = nil
		f.okJSON(t, &groups, "", "group", "list")
		return len(groups) == 0
	})
}

// consume --follow waits for records produced after it started and stops
// after -n of them.
func TestConsumeFollowOnKfake(t *testing.T) {
	f := startKfake(t)
	f.ok(t, "", "topic", "create", "live", "-p", "1")
	f.ok(t, "old\n", "produce", "live")
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := Execute([]string{"consume", "live", "-o", "end", "--follow", "-n", "2", "--format", `%v,`}, strings.NewReader(""), &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.DefaultProduceTopic("live"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.After(30 * time.Second)
	for i := 0; ; i++ {
		select {
		case r := <-done:
			if r.code != 0 || r.out != "new,new," {
				t.Fatalf("consume --follow -n 2: exit %d, printed %q, stderr %q", r.code, r.out, r.errs)
			}
			return
		case <-deadline:
			t.Fatal("consume --follow -n 2 did not return 30s after records were produced")
		case <-time.After(200 * time.Millisecond):
			// Produced until the consumer (started at the end) has seen two.
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("new")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// topic describe takes the hot and cold ranges from the API's TABLE
// (DESIGN.md admin REST), here served by a stand-in with cold data in
// partition 0 only.
func TestDescribeTakesRangesFromTheAPI(t *testing.T) {
	f := startKfake(t)
	f.ok(t, "", "topic", "create", "r", "-p", "2")
	var listed []struct {
		TopicID string `json:"topic_id"`
	}
	f.okJSON(t, &listed, "", "topic", "list")
	id := listed[0].TopicID
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/tables/r/info" {
			http.NotFound(w, req)
			return
		}
		io.WriteString(w, `{"name":"r","topic_id":"`+id+`","partitions":2,"configs":{},"records":0,"bytes":0,"partition_offsets":[`+
			`{"partition":0,"log_start":0,"high_watermark":10,"hot_start":4,"cold_start":0,"cold_end":4,"bytes":1},`+
			`{"partition":1,"log_start":0,"high_watermark":0,"hot_start":0,"bytes":0}]}`)
	}))
	defer api.Close()
	t.Setenv("ZOMBI_API", api.URL)
	var desc []struct {
		Partitions []partitionInfo `json:"partitions"`
	}
	f.okJSON(t, &desc, "", "topic", "describe", "r")
	p0, p1 := desc[0].Partitions[0], desc[0].Partitions[1]
	if p0.HotStart == nil || *p0.HotStart != 4 || p0.ColdStart == nil || *p0.ColdStart != 0 || p0.ColdEnd == nil || *p0.ColdEnd != 4 {
		t.Fatalf("partition 0 ranges: %+v", p0)
	}
	if p1.HotStart == nil || *p1.HotStart != 0 || p1.ColdStart != nil || p1.ColdEnd != nil {
		t.Fatalf("partition 1 ranges: %+v", p1)
	}
	if out := f.ok(t, "", "topic", "describe", "r"); !strings.Contains(out, "[0, 4)") {
		t.Fatalf("text describe lacks the cold range:\n%s", out)
	}

	// Another server's topic of the same name: no ranges, a warning.
	id = "AAAAAAAAAAAAAAAAAAAAAA"
	code, out, errs := f.run(t, "", "topic", "describe", "r")
	if code != 0 || strings.Contains(out, "[0, 4)") || !regexpMatch(`(?m)^0\s+\d+\s+0\s+0\s+-\s+-\s*$`, out) ||
		!strings.Contains(errs, "zombi: warning: topic r: "+api.URL+" has topic id AAAAAAAAAAAAAAAAAAAAAA, the brokers "+listed[0].TopicID) {
		t.Fatalf("describe with a mismatched topic id: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	desc = nil
	f.okJSON(t, &desc, "", "topic", "describe", "r")
	if p := desc[0].Partitions[0]; p.HotStart != nil || p.ColdStart != nil {
		t.Fatalf("json ranges from another topic: %+v", p)
	}
}

// group describe: a partition without a committed offset shows "-" (json
// -1) for committed and lag and stays out of the total; group seek on a
// group that does not exist yet plans from --topics (and wants them).
func TestGroupLagAndNewGroupSeekOnKfake(t *testing.T) {
	f := startKfake(t)
	adm := f.admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.ok(t, "", "topic", "create", "l", "-p", "2")
	f.ok(t, "a\nb\nc\n", "produce", "l", "-p", "0")
	f.ok(t, "d\ne\n", "produce", "l", "-p", "1")
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "l", Partition: 0, At: 1, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "half", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	var described []groupInfo
	f.okJSON(t, &described, "", "group", "describe", "half")
	if len(described) != 1 || len(described[0].Partitions) != 2 {
		t.Fatalf("group describe half: %+v", described)
	}
	g := described[0]
	if p0, p1 := g.Partitions[0], g.Partitions[1]; p0.Committed != 1 || p0.Lag != 2 || p1.Committed != -1 || p1.Lag != -1 || g.TotalLag != 2 {
		t.Fatalf("group describe half: total lag %d, partitions %+v", g.TotalLag, g.Partitions)
	}
	out := f.ok(t, "", "group", "describe", "half")
	if !regexpMatch(`TOTAL-LAG\s+2\n`, out) {
		t.Errorf("text total lag is not 2:\n%s", out)
	}
	if !regexpMatch(`(?m)^l\s+1\s+-\s+2\s+-\s`, out) {
		t.Errorf("text row of partition 1 lacks '-' for committed and lag:\n%s", out)
	}

	// A new group: --topics is required, then the plan covers them.
	if code, _, errs := f.run(t, "", "group", "seek", "newg", "--to", "start"); code != 2 || !strings.Contains(errs, "--topics") {
		t.Fatalf("seek of a new group without --topics: exit %d, %q", code, errs)
	}
	var plan seekPlan
	f.okJSON(t, &plan, "", "group", "seek", "newg", "--to", "end", "--topics", "l")
	if plan.Executed || len(plan.Plan) != 2 || plan.Plan[0].Current != -1 || plan.Plan[0].Target != 3 || plan.Plan[1].Target != 2 {
		t.Fatalf("dry-run seek of a new group: %+v", plan)
	}
	f.okJSON(t, &plan, "", "group", "seek", "newg", "--to", "@-1h", "--topics", "l", "--execute")
	got, err := adm.FetchOffsets(ctx, "newg")
	if o, _ := got.Lookup("l", 1); err != nil || !plan.Executed || o.At != 0 {
		t.Fatalf("new group after seek --execute: %+v %v (plan %+v)", o, err, plan)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// A failed topic or group is named on stderr with its reason, on one line.
func TestPerItemFailuresOnStderrOnKfake(t *testing.T) {
	f := startKfake(t)
	f.ok(t, "", "topic", "create", "t1", "-p", "1")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"topic", "create", "t1"}, []string{"zombi: topic t1: TOPIC_ALREADY_EXISTS"}},
		{[]string{"topic", "create", "t1", "t2", "t3"}, []string{"zombi: topic t1: TOPIC_ALREADY_EXISTS"}},
		{[]string{"topic", "delete", "n1", "n2"}, []string{"zombi: topic n1: UNKNOWN_TOPIC_OR_PARTITION", "zombi: topic n2: UNKNOWN", "2 of 2 topic(s) failed"}},
		{[]string{"topic", "delete", "nosuch"}, []string{"zombi: topic nosuch: UNKNOWN_TOPIC_OR_PARTITION"}},
		{[]string{"topic", "trim", "t1", "-p", "0,99", "--before", "0"}, []string{"zombi: trim t1: partition 99: UNKNOWN_TOPIC_OR_PARTITION: topic t1 has no partition 99"}},
	} {
		code, _, errs := f.run(t, "", tc.args...)
		for _, w := range tc.want {
			if code != 1 || !strings.Contains(errs, w) || strings.Contains(errs, "shard errors") {
				t.Errorf("zombi %v: exit %d, stderr %q lacks %q", tc.args, code, errs, w)
			}
		}
	}
}

// produce: unkeyed records go round robin over the partitions, keyed ones
// by the key's hash; a missing topic is auto-created when the broker allows.
func TestProduceSpreadsAndAutoCreatesOnKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f := useKafka(t, c.ListenAddrs()[0], "")
	f.ok(t, "", "topic", "create", "s", "-p", "3")
	var sum produceSummary
	f.okJSON(t, &sum, "a\nb\nc\nd\ne\nf\n", "produce", "s")
	if len(sum.Partitions) != 3 {
		t.Fatalf("6 unkeyed records on 3 partitions: %+v", sum)
	}
	for _, p := range sum.Partitions {
		if p.Records != 2 {
			t.Errorf("unkeyed records not round robin: %+v", sum.Partitions)
		}
	}
	f.okJSON(t, &sum, "k 1\nk 2\nk 3\nk 4\n", "produce", "s", "--format", `%k %v\n`)
	if len(sum.Partitions) != 1 || sum.Partitions[0].Records != 4 {
		t.Errorf("one key spread over partitions: %+v", sum.Partitions)
	}
	// murmur2 as Kafka's Java client: the same partition kgo's key hasher picks.
	want := int32(kgo.StickyKeyPartitioner(nil).ForTopic("s").Partition(&kgo.Record{Key: []byte("k")}, 3))
	if sum.Partitions[0].Partition != want {
		t.Errorf("key k went to partition %d, murmur2 says %d", sum.Partitions[0].Partition, want)
	}
	f.okJSON(t, &sum, "x\n", "produce", "fresh")
	if sum.Records != 1 {
		t.Fatalf("produce to a missing topic with auto-create on: %+v", sum)
	}
}

// topic create with cleanup.policy=compact warns when the server is Zombi
// (its API knows the topic by the same id), and only then.
func TestCompactWarningOnlyOnZombi(t *testing.T) {
	f := startKfake(t)
	adm := f.admin(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		topic := strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/tables/"), "/info")
		md, err := adm.Metadata(req.Context(), topic)
		if err != nil || md.Topics[topic].Err != nil || topic == "other" {
			http.NotFound(w, req)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"name": topic, "topic_id": topicID(md.Topics[topic].ID)})
	}))
	defer api.Close()
	t.Setenv("ZOMBI_API", api.URL)
	const warn = "cleanup.policy=compact is stored but Zombi does not compact"
	if code, _, errs := f.run(t, "", "topic", "create", "c1", "-c", "cleanup.policy=compact,delete"); code != 0 ||
		!strings.Contains(errs, "zombi: warning: topic c1: "+warn) {
		t.Errorf("compact on Zombi: exit %d, stderr %q", code, errs)
	}
	for _, args := range [][]string{
		{"topic", "create", "c2", "-c", "cleanup.policy=delete"},
		{"topic", "create", "other", "-c", "cleanup.policy=compact"}, // the API does not know it: not a Zombi
	} {
		if code, _, errs := f.run(t, "", args...); code != 0 || strings.Contains(errs, warn) {
			t.Errorf("zombi %v: exit %d, stderr %q", args, code, errs)
		}
	}
}
