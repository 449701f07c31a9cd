package log

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/zombi-dev/zombi/log/batch"
)

// gather returns the log collector's series as name -> label string -> value.
func gather(t *testing.T, l *Log) map[string]map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(l.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		out[mf.GetName()] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, lp := range m.GetLabel() {
				key += lp.GetName() + "=" + lp.GetValue() + ","
			}
			out[mf.GetName()][key] = metricValue(m)
		}
	}
	return out
}

func metricValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestCollectorTopicsAndTraffic(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("a", 2, nil); err != nil {
		t.Fatal(err)
	}
	three := batch.NewBuilder()
	for i := range 3 {
		three.Add(int64(i), nil, []byte("v"), nil)
	}
	appendOne(t, l, "a", 0, append([]byte(nil), three.Bytes()...))
	appendOne(t, l, "a", 0, oneRecord(2, "", "x"))
	appendOne(t, l, "a", 1, oneRecord(3, "", "y"))
	l.CountServed("a", 4, 100)
	l.CountServed("gone", 1, 1) // unknown: ignored

	g := gather(t, l)
	want := map[string]map[string]float64{
		"kafka_topic_partitions":               {"topic=a,": 2},
		"kafka_topic_partition_current_offset": {"partition=0,topic=a,": 4, "partition=1,topic=a,": 1},
		"kafka_topic_partition_oldest_offset":  {"partition=0,topic=a,": 0, "partition=1,topic=a,": 0},
		"zombi_records_in_total":               {"topic=a,": 5},
		"zombi_records_out_total":              {"topic=a,": 4},
		"zombi_bytes_out_total":                {"topic=a,": 100},
	}
	for name, series := range want {
		for k, v := range series {
			if got, ok := g[name][k]; !ok || got != v {
				t.Errorf("%s{%s} = %v (present %v), want %v", name, k, got, ok, v)
			}
		}
	}
	if g["zombi_bytes_in_total"]["topic=a,"] <= 0 {
		t.Errorf("zombi_bytes_in_total{a} = %v", g["zombi_bytes_in_total"]["topic=a,"])
	}

	// Growing keeps the traffic counters; trimming moves the oldest offset.
	if _, err := l.AddPartitions("a", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TrimBefore(context.Background(), "a", 0, 3); err != nil {
		t.Fatal(err)
	}
	g = gather(t, l)
	if g["zombi_records_out_total"]["topic=a,"] != 4 || g["kafka_topic_partitions"]["topic=a,"] != 3 {
		t.Errorf("after AddPartitions: out %v, partitions %v", g["zombi_records_out_total"]["topic=a,"], g["kafka_topic_partitions"]["topic=a,"])
	}
	if v := g["kafka_topic_partition_oldest_offset"]["partition=0,topic=a,"]; v != 3 {
		t.Errorf("oldest offset after TrimBefore(3) = %v", v)
	}

	// A deleted topic has no series.
	if err := l.DeleteTopic("a"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(l.Collector()); n != 0 {
		t.Errorf("%d series after the only topic was deleted", n)
	}
}

func TestWritesRefusedByReason(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("r", 1, nil); err != nil {
		t.Fatal(err)
	}
	count := func(reason string) float64 { return testutil.ToFloat64(writesRefused.WithLabelValues(reason)) }
	unknown, corrupt := count("unknown_topic"), count("corrupt_batch")
	full := count("hot_tier_full")

	l.Append(context.Background(), []AppendRequest{{Topic: "nope", Batch: oneRecord(1, "", "x")}})
	bad := oneRecord(1, "", "x")
	bad[len(bad)-1] ^= 0xff // CRC mismatch
	l.Append(context.Background(), []AppendRequest{{Topic: "r", Batch: bad}})
	l.SetAppendGate(func(string, int32) error { return ErrHotTierFull })
	l.Append(context.Background(), []AppendRequest{{Topic: "r", Batch: oneRecord(1, "", "x")}})

	if got := count("unknown_topic") - unknown; got != 1 {
		t.Errorf("unknown_topic counted %v times", got)
	}
	if got := count("corrupt_batch") - corrupt; got != 1 {
		t.Errorf("corrupt_batch counted %v times", got)
	}
	if got := count("hot_tier_full") - full; got != 1 {
		t.Errorf("hot_tier_full counted %v times", got)
	}
}
