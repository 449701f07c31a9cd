package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// The eleven names /metrics had before client_golang (contract: they stay,
// with their meaning).
var oldNames = []string{
	"zombi_uptime_seconds", "zombi_writes_total", "zombi_write_bytes_total", "zombi_write_requests_total",
	"zombi_write_rate_per_second", "zombi_write_latency_avg_microseconds", "zombi_reads_total",
	"zombi_read_records_total", "zombi_read_rate_per_second", "zombi_read_latency_avg_microseconds", "zombi_errors_total",
}

// lintExempt are the promlint findings the contract imposes: the two old
// average-latency gauges keep their microsecond names.
var lintExempt = map[string]bool{
	"zombi_write_latency_avg_microseconds": true,
	"zombi_read_latency_avg_microseconds":  true,
}

type scrape struct {
	raw []byte
	mfs map[string]*dto.MetricFamily
}

func doScrape(t *testing.T, base string) scrape {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse the scrape: %v\n%s", err, raw)
	}
	return scrape{raw, mfs}
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// get returns the value of the one series of name with the labels, and
// whether there is one.
func (s scrape) get(name string, labels map[string]string) (float64, bool) {
	mf := s.mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if labelsMatch(m, labels) {
			return value(m), true
		}
	}
	return 0, false
}

func (s scrape) want(t *testing.T, name string, labels map[string]string, v float64) {
	t.Helper()
	got, ok := s.get(name, labels)
	if !ok {
		t.Fatalf("%s%v: no such series", name, labels)
	}
	if got != v {
		t.Fatalf("%s%v = %v, want %v", name, labels, got, v)
	}
}

// series counts name's series that carry label=value.
func (s scrape) series(name, label, v string) int {
	n := 0
	for _, m := range s.mfs[name].GetMetric() {
		if labelsMatch(m, map[string]string{label: v}) {
			n++
		}
	}
	return n
}

func TestScrapeEndToEnd(t *testing.T) {
	p := zombitest.StartT(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic, parts, perPart = "orders", 3, 10
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	// Kafka door: perPart records in each partition.
	var recs []*kgo.Record
	for p := int32(0); p < parts; p++ {
		for i := 0; i < perPart; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("v%d-%d", p, i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// REST door: two more in partition 1.
	for i := 0; i < 2; i++ {
		resp, err := http.Post(p.HTTPBase+"/tables/"+topic, "application/json", strings.NewReader(`{"payload":"rest","partition":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("POST /tables/%s: %d", topic, resp.StatusCode)
		}
	}

	s := doScrape(t, p.HTTPBase)
	t.Run("lint", func(t *testing.T) {
		problems, err := promlint.New(bytes.NewReader(s.raw)).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range problems {
			t.Logf("promlint: %s: %s", pr.Metric, pr.Text)
			if !lintExempt[pr.Metric] {
				t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
			}
		}
	})
	t.Run("old names", func(t *testing.T) {
		for _, n := range oldNames {
			if _, ok := s.get(n, nil); !ok {
				t.Errorf("%s missing", n)
			}
		}
		s.want(t, "zombi_writes_total", nil, parts*perPart+2)
	})
	t.Run("offsets after produce", func(t *testing.T) {
		s.want(t, "kafka_brokers", nil, 1)
		s.want(t, "kafka_topic_partitions", map[string]string{"topic": topic}, parts)
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < parts; p++ {
			want := int64(perPart)
			if p == 1 {
				want += 2
			}
			end, _ := ends.Lookup(topic, p)
			if end.Offset != want {
				t.Fatalf("partition %d: the log's end offset is %d, want %d", p, end.Offset, want)
			}
			lbl := map[string]string{"topic": topic, "partition": fmt.Sprint(p)}
			s.want(t, "kafka_topic_partition_current_offset", lbl, float64(want))
			s.want(t, "kafka_topic_partition_oldest_offset", lbl, 0)
		}
	})
	t.Run("records in, both doors", func(t *testing.T) {
		s.want(t, "zombi_records_in_total", map[string]string{"topic": topic}, parts*perPart+2)
		if b, _ := s.get("zombi_bytes_in_total", map[string]string{"topic": topic}); b < parts*perPart*4 {
			t.Fatalf("zombi_bytes_in_total = %v", b)
		}
		if n, _ := s.get("zombi_kafka_request_duration_seconds", map[string]string{"api": "Produce"}); n < 1 {
			t.Fatalf("no Produce observed in zombi_kafka_request_duration_seconds")
		}
		s.want(t, "zombi_http_request_duration_seconds", map[string]string{"route": "/tables/:table", "method": "POST", "code": "202"}, 2)
		s.want(t, "zombi_http_requests_total", map[string]string{"route": "/tables/:table", "method": "POST", "code": "202"}, 2)
		if _, ok := s.get("zombi_build_info", map[string]string{"go_version": strings.TrimSpace(goVersion(s))}); !ok {
			t.Fatal("zombi_build_info missing")
		}
	})

	// A group member consumes everything and commits; then 5 more records
	// arrive in partition 0: lag 5 there, 0 elsewhere.
	const group = "g1"
	consumer, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := 0
	for got < parts*perPart+2 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll after %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	var more []*kgo.Record
	for i := 0; i < 5; i++ {
		more = append(more, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("late")})
	}
	if err := cl.ProduceSync(ctx, more...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s = doScrape(t, p.HTTPBase)
	t.Run("lag after a commit", func(t *testing.T) {
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < parts; p++ {
			c, _ := committed.Lookup(topic, p)
			lbl := map[string]string{"consumergroup": group, "topic": topic, "partition": fmt.Sprint(p)}
			s.want(t, "kafka_consumergroup_current_offset", lbl, float64(c.At))
			lag := 0.0
			if p == 0 {
				lag = 5
			}
			s.want(t, "kafka_consumergroup_lag", lbl, lag)
		}
		s.want(t, "kafka_consumergroup_lag_sum", map[string]string{"consumergroup": group, "topic": topic}, 5)
	})
	t.Run("members while joined", func(t *testing.T) {
		s.want(t, "kafka_consumergroup_members", map[string]string{"consumergroup": group}, 1)
		s.want(t, "zombi_groups", map[string]string{"state": "Stable"}, 1)
		// The member's client may already have fetched the 5 late records.
		if n, _ := s.get("zombi_records_out_total", map[string]string{"topic": topic}); n < parts*perPart+2 || n > parts*perPart+2+5 {
			t.Fatalf("zombi_records_out_total = %v, want %d to %d", n, parts*perPart+2, parts*perPart+2+5)
		}
		if b, _ := s.get("zombi_bytes_out_total", map[string]string{"topic": topic}); b <= 0 {
			t.Fatalf("zombi_bytes_out_total = %v", b)
		}
		if n, _ := s.get("zombi_connections", map[string]string{"listener": "http"}); n < 1 {
			t.Fatalf("zombi_connections{listener=http} = %v, want >= 1 (this scrape's)", n)
		}
	})

	consumer.Close() // leaves the group
	deadline := time.Now().Add(10 * time.Second)
	for {
		s = doScrape(t, p.HTTPBase)
		if n, _ := s.get("kafka_consumergroup_members", map[string]string{"consumergroup": group}); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("kafka_consumergroup_members stays above 0 after the member left")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.want(t, "zombi_groups", map[string]string{"state": "Empty"}, 1)

	t.Run("partitions without a committed offset", func(t *testing.T) {
		// kafka_exporter: a consumed topic's partition without a committed
		// offset reports offset -1 and lag -1, left out of the sums; a group
		// known only by its offsets has 0 members.
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, "g2", offs); err != nil {
			t.Fatal(err)
		}
		s := doScrape(t, p.HTTPBase)
		lbl := func(p int) map[string]string {
			return map[string]string{"consumergroup": "g2", "topic": topic, "partition": fmt.Sprint(p)}
		}
		s.want(t, "kafka_consumergroup_current_offset", lbl(0), 3)
		s.want(t, "kafka_consumergroup_lag", lbl(0), perPart+5-3)
		for p := 1; p < parts; p++ {
			s.want(t, "kafka_consumergroup_current_offset", lbl(p), -1)
			s.want(t, "kafka_consumergroup_lag", lbl(p), -1)
		}
		s.want(t, "kafka_consumergroup_lag_sum", map[string]string{"consumergroup": "g2", "topic": topic}, perPart+5-3)
		s.want(t, "kafka_consumergroup_members", map[string]string{"consumergroup": "g2"}, 0)
		s.want(t, "zombi_groups", map[string]string{"state": "Empty"}, 2)
	})

	t.Run("writes refused over max.message.bytes, both doors", func(t *testing.T) {
		before, _ := doScrape(t, p.HTTPBase).get("zombi_writes_refused_total", map[string]string{"reason": "record_too_large"})
		small := map[string]*string{"max.message.bytes": kadm.StringPtr("200")}
		if _, err := adm.CreateTopic(ctx, 1, 1, small, "small"); err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("x"), 1000)
		raw, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if err := raw.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: big}).FirstErr(); err == nil {
			t.Fatal("a 1000-byte record went into a topic with max.message.bytes=200")
		}
		resp, err := http.Post(p.HTTPBase+"/tables/small", "application/json", strings.NewReader(`{"payload":"`+string(big)+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("POST of a record over max.message.bytes: %d", resp.StatusCode)
		}
		after, _ := doScrape(t, p.HTTPBase).get("zombi_writes_refused_total", map[string]string{"reason": "record_too_large"})
		if after-before != 2 {
			t.Fatalf("zombi_writes_refused_total{reason=record_too_large} grew by %v, want 2 (one per door)", after-before)
		}
	})

	t.Run("unmatched route and odd method are bounded", func(t *testing.T) {
		req, _ := http.NewRequest("BREW", p.HTTPBase+"/no/such/"+fmt.Sprint(time.Now().UnixNano()), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := doScrape(t, p.HTTPBase)
		if _, ok := s.get("zombi_http_requests_total", map[string]string{"route": "unmatched", "method": "OTHER"}); !ok {
			t.Fatalf("no zombi_http_requests_total{route=unmatched,method=OTHER}:\n%s", grep(s.raw, "zombi_http_requests_total"))
		}
		if bytes.Contains(s.raw, []byte("/no/such/")) || bytes.Contains(s.raw, []byte("BREW")) {
			t.Fatal("a raw URL or method reached a label")
		}
	})

	t.Run("deleted topic's series disappear", func(t *testing.T) {
		if _, err := adm.DeleteTopics(ctx, topic); err != nil {
			t.Fatal(err)
		}
		s := doScrape(t, p.HTTPBase)
		for name := range s.mfs {
			if n := s.series(name, "topic", topic); n > 0 {
				t.Errorf("%s still has %d series for the deleted topic", name, n)
			}
		}
	})
}

func goVersion(s scrape) string {
	for _, m := range s.mfs["zombi_build_info"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "go_version" {
				return lp.GetValue()
			}
		}
	}
	return "none"
}

func grep(b []byte, prefix string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
