package compat

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicConfigsAlterDescribe: the same kadm calls get the same answers
// from Zombi and Apache Kafka 4.4: IncrementalAlterConfigs SET and DELETE,
// APPEND and SUBTRACT refused on a non-list config, an unknown name
// refused, legacy AlterConfigs replacing the whole set, validate_only
// changing nothing, and DescribeConfigs' values and sources after each.
// Then the configs are honoured alike: a batch over max.message.bytes is
// refused, and LogAppendTime gives records the broker's time.
func TestTopicConfigsAlterDescribe(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 2*time.Minute)
		cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(1))
		adm := kadm.NewClient(cl)
		topic := topicName(t, "cfg")
		createTopic(t, ctx, adm, topic, 1, map[string]*string{"segment.ms": kadm.StringPtr("100000")})

		dynamic := func() map[string]string {
			t.Helper()
			var rcs kadm.ResourceConfigs
			var err error
			// Kafka applies an alteration through its controller: describe
			// may lag it by a moment.
			out := map[string]string{}
			rcs, err = adm.DescribeTopicConfigs(ctx, topic)
			if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
				t.Fatalf("describe: %v %+v", err, rcs)
			}
			for _, c := range rcs[0].Configs {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
					out[c.Key] = *c.Value
				}
			}
			return out
		}
		waitDynamic := func(want map[string]string) {
			t.Helper()
			var got map[string]string
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				if got = dynamic(); sameMap(got, want) {
					return
				}
			}
			t.Fatalf("dynamic configs %v, want %v", got, want)
		}
		alter := func(state, validate bool, ops ...kadm.AlterConfig) kadm.AlterConfigsResponse {
			t.Helper()
			var rs kadm.AlterConfigsResponses
			var err error
			switch {
			case state:
				rs, err = adm.AlterTopicConfigsState(ctx, ops, topic)
			case validate:
				rs, err = adm.ValidateAlterTopicConfigs(ctx, ops, topic)
			default:
				rs, err = adm.AlterTopicConfigs(ctx, ops, topic)
			}
			if err != nil || len(rs) != 1 {
				t.Fatalf("alter %+v: %v %+v", ops, err, rs)
			}
			return rs[0]
		}
		waitDynamic(map[string]string{"segment.ms": "100000"})

		set := []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("3600000")},
			{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("1048576")},
			{Op: kadm.DeleteConfig, Name: "segment.ms"},
		}
		if r := alter(false, true, set...); r.Err != nil {
			t.Fatalf("validate only: %v %s", r.Err, r.ErrMessage)
		}
		waitDynamic(map[string]string{"segment.ms": "100000"})
		if r := alter(false, false, set...); r.Err != nil {
			t.Fatalf("incremental: %v %s", r.Err, r.ErrMessage)
		}
		waitDynamic(map[string]string{"retention.ms": "3600000", "retention.bytes": "1048576"})

		for _, tc := range []struct {
			op      kadm.AlterConfig
			want    error
			message string
		}{
			{kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("5")}, kerr.InvalidConfig, "Can't APPEND to key retention.ms because its type is not LIST."},
			{kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "max.message.bytes", Value: kadm.StringPtr("5")}, kerr.InvalidConfig, "Can't SUBTRACT to key max.message.bytes because its type is not LIST."},
			{kadm.AlterConfig{Op: kadm.SetConfig, Name: "no.such.config", Value: kadm.StringPtr("1")}, kerr.InvalidConfig, "no.such.config"},
			{kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("-5")}, kerr.InvalidConfig, "retention.ms"},
			{kadm.AlterConfig{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: kadm.StringPtr("Sometime")}, kerr.InvalidConfig, "message.timestamp.type"},
		} {
			r := alter(false, false, tc.op)
			t.Logf("%d %s %q: %v %q", tc.op.Op, tc.op.Name, *tc.op.Value, r.Err, r.ErrMessage)
			if !errors.Is(r.Err, tc.want) || !strings.Contains(r.ErrMessage, tc.message) {
				t.Errorf("%+v: %v %q, want %v with %q", tc.op, r.Err, r.ErrMessage, tc.want, tc.message)
			}
		}

		// The broker has no dynamic configs Zombi could change: a config
		// that Kafka cannot change dynamically either gets the same code.
		brs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "broker.id", Value: kadm.StringPtr("7")}}, 1)
		if err != nil || len(brs) != 1 {
			t.Fatalf("broker alter: %v %+v", err, brs)
		}
		t.Logf("broker: %v %q", brs[0].Err, brs[0].ErrMessage)
		if !errors.Is(brs[0].Err, kerr.InvalidRequest) {
			t.Errorf("broker.id: %v %q, want INVALID_REQUEST", brs[0].Err, brs[0].ErrMessage)
		}
		// A config named twice in one resource.
		r := alter(false, false, kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"})
		t.Logf("duplicate: %v %q", r.Err, r.ErrMessage)
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("duplicate keys: %v %q, want INVALID_REQUEST", r.Err, r.ErrMessage)
		}

		// Legacy AlterConfigs: the set given is the whole set.
		if r := alter(true, false, kadm.AlterConfig{Name: "max.message.bytes", Value: kadm.StringPtr("2000")}, kadm.AlterConfig{Name: "message.timestamp.type", Value: kadm.StringPtr("LogAppendTime")}); r.Err != nil {
			t.Fatalf("AlterConfigs: %v %s", r.Err, r.ErrMessage)
		}
		waitDynamic(map[string]string{"max.message.bytes": "2000", "message.timestamp.type": "LogAppendTime"})

		// Honoured: a batch over max.message.bytes is refused; a record
		// gets the broker's time.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strings.Repeat("z", 3000))}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("big record: %v, want MESSAGE_TOO_LARGE", err)
		}
		before := time.Now().Add(-time.Second)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("small"), Timestamp: time.UnixMilli(1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		recs := consume(t, b.addr, topic, 1)
		if r := recs[0]; r.Attrs.TimestampType() != 1 || r.Timestamp.Before(before) || string(r.Value) != "small" {
			t.Fatalf("record %q at %v (type %d): want the broker's time and LogAppendTime", r.Value, r.Timestamp, r.Attrs.TimestampType())
		}
	})
}

func sameMap(a, b map[string]string) bool {
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
