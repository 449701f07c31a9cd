package compat

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/kafkatest"
)

// Kafka's own command-line tools (tools/apache-kafka/kafka.sh, Apache Kafka
// 4.4.0) run the way users run them, against Zombi and against Apache Kafka.
// Every tool start is a JVM (1-2 s of CPU), so the scenarios run as parallel
// subtests (at most -parallel, GOMAXPROCS by default, at a time) and use
// franz-go for the set-up that is not what they test.

// kafkaTool runs one of Kafka's tools and returns its stdout; it fails the
// test with stderr when the tool exits non-zero.
func kafkaTool(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	if why := kafkatest.Missing(); why != "" {
		t.Skip("Kafka's tools: " + why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	out, errOut, err := kafkatest.Tool(ctx, stdin, name, args...)
	if err != nil {
		t.Fatalf("%v (after %v)\nstdout:\n%s\nstderr:\n%s", err, time.Since(start).Round(time.Millisecond), out, errOut)
	}
	return out
}

// toolTable parses the whitespace-aligned table kafka-consumer-groups prints
// (a header line starting with GROUP, then one row per partition) into one
// map per row, column name to value.
func toolTable(t *testing.T, out string) []map[string]string {
	t.Helper()
	var cols []string
	var rows []map[string]string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "GROUP" {
			cols = f
			continue
		}
		if cols == nil || len(f) != len(cols) {
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = f[i]
		}
		rows = append(rows, row)
	}
	if cols == nil {
		t.Fatalf("no table in the output:\n%s", out)
	}
	return rows
}

// byPartition picks column col of each row of topic, by partition.
func byPartition(t *testing.T, rows []map[string]string, topic, col string) map[int32]string {
	t.Helper()
	out := map[int32]string{}
	for _, r := range rows {
		if r["TOPIC"] != topic {
			continue
		}
		p, err := strconv.Atoi(r["PARTITION"])
		if err != nil {
			t.Fatalf("row %v: partition: %v", r, err)
		}
		out[int32(p)] = r[col]
	}
	return out
}

func toolAdmin(t *testing.T, b broker) *kadm.Client {
	return kadm.NewClient(newClient(t, b.addr))
}

func createTopic(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produceStamped writes n records to each partition of topic, value
// "p<partition>-<i>", timestamp base + i seconds.
func produceStamped(t *testing.T, ctx context.Context, b broker, topic string, partitions int32, n int, base time.Time) {
	t.Helper()
	cl := newClient(t, b.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i), Timestamp: base.Add(time.Duration(i) * time.Second)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

func TestKafkaTools(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		t.Run("topics", func(t *testing.T) { t.Parallel(); toolTopics(t, b) })
		t.Run("console", func(t *testing.T) { t.Parallel(); toolConsole(t, b) })
		t.Run("consumer-groups", func(t *testing.T) { t.Parallel(); toolConsumerGroups(t, b) })
		t.Run("configs", func(t *testing.T) { t.Parallel(); toolConfigs(t, b) })
		t.Run("get-offsets", func(t *testing.T) { t.Parallel(); toolGetOffsets(t, b) })
		t.Run("perf-test", func(t *testing.T) { t.Parallel(); toolPerfTest(t, b) })
	})
}

var describePartition = regexp.MustCompile(`(?m)^\s*Topic: (\S+)\s+Partition: (\d+)\s+Leader: (\d+)\s+Replicas: (\S+)\s+Isr: (\S+)`)

// describeTopic runs kafka-topics --describe and checks the partition lines:
// count partitions, each led by node 1, replicas and ISR node 1.
func describeTopic(t *testing.T, b broker, topic string, count int) string {
	t.Helper()
	out := kafkaTool(t, "", "kafka-topics", "--bootstrap-server", b.addr, "--describe", "--topic", topic)
	if !strings.Contains(out, "Topic: "+topic+"\t") || !strings.Contains(out, fmt.Sprintf("PartitionCount: %d\t", count)) ||
		!strings.Contains(out, "ReplicationFactor: 1\t") {
		t.Fatalf("describe %s: want PartitionCount: %d, ReplicationFactor: 1:\n%s", topic, count, out)
	}
	m := describePartition.FindAllStringSubmatch(out, -1)
	if len(m) != count {
		t.Fatalf("describe %s: %d partition lines, want %d:\n%s", topic, len(m), count, out)
	}
	for i, l := range m {
		if l[1] != topic || l[2] != strconv.Itoa(i) || l[3] != "1" || l[4] != "1" || l[5] != "1" {
			t.Fatalf("describe %s: partition line %q, want partition %d, leader 1, replicas 1, isr 1", topic, l[0], i)
		}
	}
	return out
}

func toolTopics(t *testing.T, b broker) {
	topic := topicName(t, "t")
	out := kafkaTool(t, "", "kafka-topics", "--bootstrap-server", b.addr, "--create", "--topic", topic,
		"--partitions", "2", "--replication-factor", "1", "--config", "retention.ms=3600000")
	// (A warning about '.' and '_' in topic names may come first.)
	if !strings.HasSuffix(out, "\nCreated topic "+topic+".\n") && out != "Created topic "+topic+".\n" {
		t.Fatalf("create: %q", out)
	}
	if lines := strings.Fields(kafkaTool(t, "", "kafka-topics", "--bootstrap-server", b.addr, "--list")); !slices.Contains(lines, topic) {
		t.Fatalf("--list does not show %s: %v", topic, lines)
	}
	out = describeTopic(t, b, topic, 2)
	if !strings.Contains(out, "retention.ms=3600000") {
		t.Fatalf("describe does not show the topic's config retention.ms=3600000:\n%s", out)
	}
	kafkaTool(t, "", "kafka-topics", "--bootstrap-server", b.addr, "--alter", "--topic", topic, "--partitions", "3")
	describeTopic(t, b, topic, 3)
	kafkaTool(t, "", "kafka-topics", "--bootstrap-server", b.addr, "--delete", "--topic", topic)
	// Kafka deletes asynchronously (the controller, then the metadata
	// reaches the broker): poll with the admin client.
	adm := toolAdmin(t, b)
	ctx := testCtx(t, 30*time.Second)
	for {
		td, err := adm.ListTopics(ctx)
		if err == nil && !td.Has(topic) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s still listed after --delete: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func toolConsole(t *testing.T, b broker) {
	ctx := testCtx(t, 3*time.Minute)
	topic := topicName(t, "t")
	createTopic(t, ctx, toolAdmin(t, b), topic, 1, nil)
	// Headers TAB key : value, as the console producer parses them with
	// parse.headers and parse.key.
	in := "h1:a,h2:b\tk1:v1\n" +
		"h1:c\tk2:v2 with spaces\n" +
		"h3:\tk3:v3\n"
	kafkaTool(t, in, "kafka-console-producer", "--bootstrap-server", b.addr, "--topic", topic,
		"--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
		"--reader-property", "parse.headers=true",
		"--command-property", "acks=all")
	out := kafkaTool(t, "", "kafka-console-consumer", "--bootstrap-server", b.addr, "--topic", topic,
		"--from-beginning", "--max-messages", "3", "--timeout-ms", "60000",
		"--formatter-property", "print.key=true", "--formatter-property", "print.offset=true",
		"--formatter-property", "print.partition=true", "--formatter-property", "print.headers=true")
	want := "Partition:0\tOffset:0\th1:a,h2:b\tk1\tv1\n" +
		"Partition:0\tOffset:1\th1:c\tk2\tv2 with spaces\n" +
		"Partition:0\tOffset:2\th3:\tk3\tv3\n"
	if out != want {
		t.Fatalf("console consumer printed:\n%q\nwant:\n%q", out, want)
	}
	// The same records through franz-go: the tool's headers and keys are real.
	recs := consume(t, b.addr, topic, 3)
	if string(recs[0].Key) != "k1" || string(recs[0].Value) != "v1" || len(recs[0].Headers) != 2 ||
		recs[0].Headers[0].Key != "h1" || string(recs[0].Headers[0].Value) != "a" ||
		recs[0].Headers[1].Key != "h2" || string(recs[0].Headers[1].Value) != "b" {
		t.Fatalf("first record: key %q value %q headers %v", recs[0].Key, recs[0].Value, recs[0].Headers)
	}
}

func toolConsumerGroups(t *testing.T, b broker) {
	ctx := testCtx(t, 4*time.Minute)
	topic, group := topicName(t, "t"), topicName(t, "g")
	adm := toolAdmin(t, b)
	createTopic(t, ctx, adm, topic, 2, nil)
	// Five records per partition, timestamps base+0s .. base+4s.
	base := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	produceStamped(t, ctx, b, topic, 2, 5, base)
	// The group has committed 3 on partition 0 and 5 on partition 1 (no
	// members: a simple commit, as an admin tool or a stopped app leaves it).
	commit := kadm.Offsets{}
	commit.AddOffset(topic, 0, 3, -1)
	commit.AddOffset(topic, 1, 5, -1)
	if err := adm.CommitAllOffsets(ctx, group, commit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cg := func(args ...string) string {
		t.Helper()
		return kafkaTool(t, "", "kafka-consumer-groups", append([]string{"--bootstrap-server", b.addr}, args...)...)
	}
	committed := func() map[int32]int64 {
		t.Helper()
		got, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("fetch offsets: %v", err)
		}
		m := map[int32]int64{}
		got.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				m[o.Partition] = o.At
			}
		})
		return m
	}
	checkNew := func(out string, want map[int32]string) {
		t.Helper()
		if got := byPartition(t, toolTable(t, out), topic, "NEW-OFFSET"); !maps(got, want) {
			t.Fatalf("reset printed NEW-OFFSET %v, want %v:\n%s", got, want, out)
		}
		wantN := map[int32]int64{}
		for p, v := range want {
			wantN[p], _ = strconv.ParseInt(v, 10, 64)
		}
		if got := committed(); fmt.Sprint(got) != fmt.Sprint(wantN) {
			t.Fatalf("committed after reset: %v, want %v", got, wantN)
		}
	}

	if lines := strings.Fields(cg("--list")); !slices.Contains(lines, group) {
		t.Fatalf("--list does not show %s: %v", group, lines)
	}
	rows := toolTable(t, cg("--describe", "--group", group))
	for col, want := range map[string]map[int32]string{
		"CURRENT-OFFSET": {0: "3", 1: "5"},
		"LOG-END-OFFSET": {0: "5", 1: "5"},
		"LAG":            {0: "2", 1: "0"},
	} {
		if got := byPartition(t, rows, topic, col); !maps(got, want) {
			t.Fatalf("--describe: %s %v, want %v: %v", col, got, want, rows)
		}
	}

	checkNew(cg("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute"), map[int32]string{0: "0", 1: "0"})
	// The first record at or after base+3s is offset 3 in each partition.
	at := base.Add(3 * time.Second).Format("2006-01-02T15:04:05.000Z07:00")
	checkNew(cg("--reset-offsets", "--group", group, "--topic", topic, "--to-datetime", at, "--execute"), map[int32]string{0: "3", 1: "3"})
	checkNew(cg("--reset-offsets", "--group", group, "--topic", topic, "--to-offset", "2", "--execute"), map[int32]string{0: "2", 1: "2"})
	rows = toolTable(t, cg("--describe", "--group", group))
	if got, want := byPartition(t, rows, topic, "CURRENT-OFFSET"), map[int32]string{0: "2", 1: "2"}; !maps(got, want) {
		t.Fatalf("--describe after --to-offset 2: CURRENT-OFFSET %v, want %v: %v", got, want, rows)
	}
	if got, want := byPartition(t, rows, topic, "LAG"), map[int32]string{0: "3", 1: "3"}; !maps(got, want) {
		t.Fatalf("--describe after --to-offset 2: LAG %v, want %v: %v", got, want, rows)
	}

	// A consumer of the group resumes at offset 2 of each partition.
	cl := newClient(t, b.addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond))
	first := map[int32]string{}
	n := 0
	for n < 6 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group consumer got %d of 6 records: %v", n, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = fmt.Sprintf("%d:%s", r.Offset, r.Value)
			}
		})
	}
	if want := map[int32]string{0: "2:p0-2", 1: "2:p1-2"}; !maps(first, want) {
		t.Fatalf("group consumer started at %v, want %v", first, want)
	}
	cl.Close() // leaves the group: --delete needs it empty

	out := cg("--delete", "--group", group)
	if !strings.Contains(out, "Deletion of requested consumer groups ('"+group+"') was successful.") {
		t.Fatalf("--delete: %s", out)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(groups.Groups(), group) {
		t.Fatalf("group %s still listed after --delete: %v", group, groups.Groups())
	}
}

func maps[V comparable](a, b map[int32]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func toolConfigs(t *testing.T, b broker) {
	ctx := testCtx(t, 3*time.Minute)
	topic := topicName(t, "t")
	ret, policy := "3600000", "compact"
	createTopic(t, ctx, toolAdmin(t, b), topic, 1, map[string]*string{"retention.ms": &ret, "cleanup.policy": &policy})
	kc := func(args ...string) string {
		t.Helper()
		return kafkaTool(t, "", "kafka-configs", append([]string{"--bootstrap-server", b.addr, "--describe"}, args...)...)
	}
	out := kc("--entity-type", "topics", "--entity-name", topic)
	if !strings.Contains(out, "Dynamic configs for topic "+topic+" are:") ||
		!strings.Contains(out, "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000") ||
		!strings.Contains(out, "  cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact") {
		t.Fatalf("describe topic %s: want its two dynamic configs:\n%s", topic, out)
	}
	out = kc("--entity-type", "topics", "--entity-name", topic, "--all")
	if !strings.Contains(out, "All configs for topic "+topic+" are:") || !strings.Contains(out, "  retention.ms=3600000 ") ||
		!strings.Contains(out, "  cleanup.policy=compact ") || !strings.Contains(out, "  max.message.bytes=") ||
		!strings.Contains(out, "  segment.bytes=") {
		t.Fatalf("describe topic %s --all: want retention.ms, cleanup.policy, max.message.bytes, segment.bytes:\n%s", topic, out)
	}
	// kafka-configs --alter (IncrementalAlterConfigs): add one, delete one.
	kafkaTool(t, "", "kafka-configs", "--bootstrap-server", b.addr, "--alter", "--entity-type", "topics", "--entity-name", topic,
		"--add-config", "max.message.bytes=50000", "--delete-config", "retention.ms")
	var out2 string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		// Kafka applies an alteration through its controller: describe may lag.
		if out2 = kc("--entity-type", "topics", "--entity-name", topic); !strings.Contains(out2, "retention.ms=") {
			break
		}
	}
	if !strings.Contains(out2, "  max.message.bytes=50000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=50000") ||
		strings.Contains(out2, "retention.ms=") || !strings.Contains(out2, "  cleanup.policy=compact ") {
		t.Fatalf("describe topic %s after --alter: want max.message.bytes=50000 and cleanup.policy, no retention.ms:\n%s", topic, out2)
	}
	// Neither broker has dynamic broker configs: the header alone.
	if out = kc("--entity-type", "brokers", "--entity-name", "1"); strings.TrimSpace(out) != "Dynamic configs for broker 1 are:" {
		t.Fatalf("describe broker 1: %q, want the header and no dynamic config", out)
	}
	out = kc("--entity-type", "brokers", "--entity-name", "1", "--all")
	if !strings.Contains(out, "All configs for broker 1 are:") || !strings.Contains(out, "  num.partitions=1 ") ||
		!strings.Contains(out, "  auto.create.topics.enable=true ") {
		t.Fatalf("describe broker 1 --all: want num.partitions=1 and auto.create.topics.enable=true:\n%s", out)
	}
}

func toolGetOffsets(t *testing.T, b broker) {
	ctx := testCtx(t, 3*time.Minute)
	topic := topicName(t, "t")
	adm := toolAdmin(t, b)
	createTopic(t, ctx, adm, topic, 2, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	produceStamped(t, ctx, b, topic, 2, 5, base)
	// Partition 1 starts at 2 after DeleteRecords: --time -2 shows it.
	del := kadm.Offsets{}
	del.AddOffset(topic, 1, 2, -1)
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"latest", []string{"--time", "-1"}, "%[1]s:0:5\n%[1]s:1:5\n"},
		{"earliest", []string{"--time", "-2"}, "%[1]s:0:0\n%[1]s:1:2\n"},
		{"timestamp", []string{"--time", strconv.FormatInt(base.Add(3*time.Second).UnixMilli(), 10)}, "%[1]s:0:3\n%[1]s:1:3\n"},
		{"after-last", []string{"--time", strconv.FormatInt(base.Add(time.Minute).UnixMilli(), 10)}, "\n"}, // no offset: no line
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := kafkaTool(t, "", "kafka-get-offsets", append([]string{"--bootstrap-server", b.addr, "--topic", topic}, c.args...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			slices.Sort(lines)
			want := c.want
			if strings.Contains(want, "%") {
				want = fmt.Sprintf(want, topic)
			}
			if got := strings.Join(lines, "\n") + "\n"; got != want {
				t.Fatalf("kafka-get-offsets %v:\n%s\nwant:\n%s", c.args, got, want)
			}
		})
	}
}

var perfSummary = regexp.MustCompile(`(?m)^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency`)

func toolPerfTest(t *testing.T, b broker) {
	ctx := testCtx(t, 4*time.Minute)
	topic := topicName(t, "t")
	adm := toolAdmin(t, b)
	createTopic(t, ctx, adm, topic, 2, nil)
	const n = 20000
	out := kafkaTool(t, "", "kafka-producer-perf-test", "--topic", topic, "--num-records", strconv.Itoa(n),
		"--record-size", "100", "--throughput", "-1", "--producer-props", "bootstrap.servers="+b.addr, "acks=all")
	m := perfSummary.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no summary line in kafka-producer-perf-test's output:\n%s", out)
	}
	last := m[len(m)-1]
	sent, _ := strconv.Atoi(last[1])
	rate, _ := strconv.ParseFloat(last[2], 64)
	if sent != n || rate <= 0 {
		t.Fatalf("producer perf test: %d records sent at %v records/sec, want %d at > 0:\n%s", sent, rate, n, out)
	}
	t.Logf("%s: kafka-producer-perf-test: %s", b.name, last[0])
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("the topic holds %d records after the perf test, want %d", total, n)
	}

	out = kafkaTool(t, "", "kafka-consumer-perf-test", "--bootstrap-server", b.addr, "--topic", topic,
		"--num-records", strconv.Itoa(n), "--timeout", "60000")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("kafka-consumer-perf-test printed no result:\n%s", out)
	}
	head := strings.Split(lines[len(lines)-2], ", ")
	vals := strings.Split(lines[len(lines)-1], ", ")
	if len(head) != len(vals) {
		t.Fatalf("kafka-consumer-perf-test: header and values differ:\n%s", out)
	}
	res := map[string]string{}
	for i, h := range head {
		res[strings.TrimSpace(h)] = strings.TrimSpace(vals[i])
	}
	if res["data.consumed.in.nMsg"] != strconv.Itoa(n) || res["data.consumed.in.MB"] != "1.9073" {
		t.Fatalf("kafka-consumer-perf-test: consumed %s records, %s MB; want %d, 1.9073:\n%s", res["data.consumed.in.nMsg"], res["data.consumed.in.MB"], n, out)
	}
	t.Logf("%s: kafka-consumer-perf-test: %v", b.name, res)
}
