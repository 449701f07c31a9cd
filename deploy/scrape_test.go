package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestDashboardMetricsInScrape: every metric the dashboard and the
// Prometheus rules query exists in a real scrape of the real binary after
// real traffic (a kgo produce, a consumer group that commits, HTTP writes
// and reads, a flush to S3 when versitygw is there), with the labels the
// queries group by, match on and print in legends.
func TestDashboardMetricsInScrape(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	env := []string{"ZOMBI_FLUSH_INTERVAL_SECS=1", "ZOMBI_MAX_REQUEST_BYTES=4096"}
	withS3 := false
	if s3 := startS3(t); s3 != "" {
		withS3 = true
		env = append(env, "ZOMBI_S3_BUCKET=dash", "ZOMBI_S3_ENDPOINT=http://"+s3, "ZOMBI_S3_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=testkey", "AWS_SECRET_ACCESS_KEY=testsecret123")
	} else {
		t.Log("versitygw not found (make test-deps, or ZOMBI_VERSITYGW): no bucket, so the metrics that need one are not required")
	}
	p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), env...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	closeGroup := traffic(ctx, t, p)
	defer closeGroup()

	// Everything the dashboard and the rules query.
	records := loadRules(t).records()
	exprs := append(loadDashboard(t).exprs(t), loadRules(t).exprs()...)
	var uses []queryUse
	want := map[string]bool{}
	for _, e := range exprs {
		q, err := parsePromQL(e.Expr)
		if err != nil {
			t.Fatalf("%s: %v", e.Where, err)
		}
		q.Metrics = resolveRecords(t, q.Metrics, records)
		uses = append(uses, queryUse{e, q})
		for _, m := range q.Metrics {
			if !prometheusOwn[m] {
				want[m] = true
			}
		}
	}

	// Scrape until every queried name is there (the flush to S3 takes a
	// second or two), then check the labels on the last scrape.
	var fams map[string]*dto.MetricFamily
	var missing []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams = scrape(t, p.HTTPBase)
		missing = missing[:0]
		for m := range want {
			if lookup(fams, m) == nil && (withS3 || !bucketOnly[m]) {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("queried by the dashboard or the rules but not in the scrape after 30s of traffic: %v\n"+
			"(names: DESIGN.md Metrics and issue 12 point 3; the scrape has %v)", missing, names(fams))
	}

	checkLabels(t, uses, fams)
	if t.Failed() {
		return
	}

	// A second scrape after more traffic, once the cold tier has moved on,
	// and Prometheus' engine over both.
	t.Run("queries evaluate", func(t *testing.T) {
		first := fams
		prod, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.DefaultProduceTopic("dash-events"))
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		for i := 0; i < 10; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("more")}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		if resp, err := http.Post(p.HTTPBase+"/tables/dash-http", "application/json", strings.NewReader(`{"payload":"more"}`)); err == nil {
			resp.Body.Close()
		}
		if resp, err := http.Get(p.HTTPBase + "/tables/dash-events"); err == nil {
			resp.Body.Close()
		}
		second := scrape(t, p.HTTPBase)
		for deadline := time.Now().Add(20 * time.Second); withS3 && coldEnd(second) <= coldEnd(first); {
			if time.Now().After(deadline) {
				t.Fatalf("the cold tier did not move on in 20s (cold end %v)", coldEnd(second))
			}
			time.Sleep(300 * time.Millisecond)
			second = scrape(t, p.HTTPBase)
		}
		evaluateQueries(t, first, second, withS3)
	})
}

// coldEnd is the sum of zombi_tier_cold_end_offset over partitions.
func coldEnd(fams map[string]*dto.MetricFamily) float64 {
	var sum float64
	for _, m := range fams["zombi_tier_cold_end_offset"].GetMetric() {
		sum += m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return sum
}

// checkLabels: each query's label names (matchers, by/on lists, legend)
// are on one of its metrics, and literal matchers match a series.
func checkLabels(t *testing.T, uses []queryUse, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for _, u := range uses {
		var present []*dto.MetricFamily
		for _, m := range u.q.Metrics {
			if f := lookup(fams, m); f != nil {
				present = append(present, f)
			}
		}
		if len(present) == 0 {
			continue // up, or a bucket-only metric without a bucket
		}
		labels := append(append([]string{}, u.q.Labels...), legendLabels(u.Legend)...)
		for _, l := range labels {
			if l == "job" || l == "instance" { // target labels Prometheus adds
				continue
			}
			if !anyHasLabel(present, l) {
				t.Errorf("%s: label %q is on none of %v", u.Where, l, u.q.Metrics)
			}
		}
		for l, v := range u.q.Equal {
			if l == "job" || l == "instance" {
				continue
			}
			if !anyHasLabelValue(present, l, v) {
				t.Errorf("%s: no series of %v has %s=%q", u.Where, u.q.Metrics, l, v)
			}
		}
	}
}

// bucketOnly are the series that appear only with a cold tier (an
// s3_reachable of 0 without one would fire ZombiS3Unreachable), or only
// after its first flush: absent without a bucket.
var bucketOnly = map[string]bool{"zombi_tier_cold_end_offset": true, "zombi_tier_pending_bytes": true, "zombi_tier_s3_reachable": true}

// queryUse is one expression and what it reads.
type queryUse struct {
	promExpr
	q promQuery
}

// resolveRecords replaces recorded names by the metrics their rules read.
func resolveRecords(t *testing.T, ms []string, records map[string]string) []string {
	t.Helper()
	var out []string
	for _, m := range ms {
		expr, ok := records[m]
		if !ok {
			out = append(out, m)
			continue
		}
		q, err := parsePromQL(expr)
		if err != nil {
			t.Fatalf("rule %s: %v", m, err)
		}
		out = append(out, resolveRecords(t, q.Metrics, records)...)
	}
	return uniq(out)
}

// lookup finds the family of a queried name: the name itself, or the
// histogram (or summary) a _bucket, _sum or _count series belongs to.
func lookup(fams map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	if f, ok := fams[name]; ok {
		return f
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f, ok := fams[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY && suf != "_bucket") {
				return f
			}
		}
	}
	return nil
}

func anyHasLabel(fams []*dto.MetricFamily, l string) bool {
	for _, f := range fams {
		if l == "le" && f.GetType() == dto.MetricType_HISTOGRAM {
			return true
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == l {
					return true
				}
			}
		}
	}
	return false
}

func anyHasLabelValue(fams []*dto.MetricFamily, l, v string) bool {
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == l && lp.GetValue() == v {
					return true
				}
			}
		}
	}
	return false
}

func names(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for n := range fams {
		if strings.HasPrefix(n, "zombi_") || strings.HasPrefix(n, "kafka_") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// scrape reads GET /metrics in Prometheus' text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics is not Prometheus text: %v", err)
	}
	return fams
}

// traffic makes the labelled series appear: a kgo produce, a consumer group
// that consumes and commits part of it (lag), HTTP writes and a read, a body
// over ZOMBI_MAX_REQUEST_BYTES (refused). It returns a func that closes the
// group member, which stays in the group while the test scrapes.
func traffic(ctx context.Context, t *testing.T, p *zombitest.Proc) func() {
	t.Helper()
	const topic, group = "dash-events", "dash-group"
	prod, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < 20; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(fmt.Sprintf("v%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 20 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			cons.Close()
			t.Fatalf("consumed %d of 20 records: %v", got, err)
		}
		fs.EachError(func(tp string, part int32, err error) { t.Logf("fetch %s/%d: %v", tp, part, err) })
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		cons.Close()
		t.Fatalf("commit: %v", err)
	}
	// Five more after the commit: a lag of five.
	for i := 0; i < 5; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	post := func(path string, body []byte) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.HTTPBase+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/tables/dash-http", []byte(`{"payload":"from http"}`)); code/100 != 2 {
		t.Fatalf("POST /tables/dash-http: %d", code)
	}
	big := []byte(`{"payload":"` + strings.Repeat("x", 8000) + `"}`)
	if code := post("/tables/dash-http", big); code != http.StatusRequestEntityTooLarge {
		t.Logf("POST of 8 KB over ZOMBI_MAX_REQUEST_BYTES=4096: %d, want 413", code)
	}
	resp, err := http.Get(p.HTTPBase + "/tables/" + topic)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return cons.Close
}

// startS3 starts versitygw (a real S3 server) on a free port and returns its
// address, "" when the binary is not there.
func startS3(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("ZOMBI_VERSITYGW")
	if bin == "" {
		if _, err := os.Stat(repoPath(".bin", "versitygw")); err == nil {
			bin = repoPath(".bin", "versitygw")
		} else if p, err := exec.LookPath("versitygw"); err == nil {
			bin = p
		}
	}
	if bin == "" {
		return ""
	}
	port, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", t.TempDir())
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=testkey", "ROOT_SECRET_ACCESS_KEY=testsecret123")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	for i := 0; i < 250; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("versitygw not listening after 5s")
	return ""
}
