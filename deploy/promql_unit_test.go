package deploy

import (
	"reflect"
	"testing"
)

func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		expr            string
		metrics, labels []string
		equal           map[string]string
	}{
		{`sum by (topic) (rate(zombi_records_in_total{job=~"$job",topic=~"$topic"}[$__rate_interval]))`,
			[]string{"zombi_records_in_total"}, []string{"job", "topic"}, map[string]string{}},
		{`histogram_quantile(0.99, sum by (api, le) (rate(zombi_kafka_request_duration_seconds_bucket[5m])))`,
			[]string{"zombi_kafka_request_duration_seconds_bucket"}, []string{"api", "le"}, map[string]string{}},
		{`sum by (topic) (a_offset{x="1"} - on (instance, topic, partition) group_left() b_offset)`,
			[]string{"a_offset", "b_offset"}, []string{"instance", "partition", "topic", "x"}, map[string]string{"x": "1"}},
		{`up{job="zombi"} == 0`, []string{"up"}, []string{"job"}, map[string]string{"job": "zombi"}},
		{`api:zombi_kafka_request_duration_seconds:p99_5m{api="Produce"} > 1`,
			[]string{"api:zombi_kafka_request_duration_seconds:p99_5m"}, []string{"api"}, map[string]string{"api": "Produce"}},
		{`sum(rate(x_sum[1m])) / sum(rate(x_count[1m])) and bool 1e3`, []string{"x_count", "x_sum"}, nil, map[string]string{}},
		{`label_values(kafka_topic_partitions{job=~"$job"}, topic)`, []string{"kafka_topic_partitions"}, []string{"job", "topic"}, map[string]string{}},
		{`count(kafka_topic_partitions{le=~"a,b}"})`, []string{"kafka_topic_partitions"}, []string{"le"}, map[string]string{}},
	} {
		q, err := parsePromQL(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(q.Metrics, tc.metrics) || !reflect.DeepEqual(q.Labels, tc.labels) || !reflect.DeepEqual(q.Equal, tc.equal) {
			t.Errorf("%s:\n got metrics %v labels %v equal %v\nwant metrics %v labels %v equal %v", tc.expr, q.Metrics, q.Labels, q.Equal, tc.metrics, tc.labels, tc.equal)
		}
	}
	for _, bad := range []string{`x{a=}`, `x{a="b"`, `x[5m`, `"open`} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if got := legendLabels("p99 {{method}} {{ route }} {{method}}"); !reflect.DeepEqual(got, []string{"method", "route"}) {
		t.Errorf("legendLabels: %v", got)
	}
}
