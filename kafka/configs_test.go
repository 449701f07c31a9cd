package kafka

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
	"github.com/zombi-dev/zombi/stats"
)

// startWithDefaults is startServer on a log with the given broker-level
// topic config values.
func startWithDefaults(t *testing.T, td *topicconfig.Broker) *testEnv {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), TopicDefaults: td, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(l, stats.New(), testConfig(), slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close(); _ = l.Close() })
	return &testEnv{l: l, s: s, addr: ln.Addr().String()}
}

func admin(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func sp(s string) *string { return &s }

// describeTopicCfg returns a topic's configs by name.
func describeTopicCfg(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe %s: %v %+v", topic, err, rcs)
	}
	out := map[string]kadm.Config{}
	for _, c := range rcs[0].Configs {
		out[c.Key] = c
	}
	return out
}

// first is the one resource's answer of an alter call.
func first(t *testing.T) func(kadm.AlterConfigsResponses, error) kadm.AlterConfigsResponse {
	return func(rs kadm.AlterConfigsResponses, err error) kadm.AlterConfigsResponse {
		t.Helper()
		if err != nil || len(rs) != 1 {
			t.Fatalf("alter: %v %+v", err, rs)
		}
		return rs[0]
	}
}

// TestAlterConfigsKadm: IncrementalAlterConfigs SET/DELETE, legacy
// AlterConfigs replacing the whole set, validate_only, and what
// DescribeConfigs reports after each, with sources and synonyms.
func TestAlterConfigsKadm(t *testing.T) {
	td := topicconfig.KafkaDefaults()
	td.LocalRetentionMs = 60000
	td.Static = map[string]string{"local.retention.ms": "ZOMBI_HOT_RETENTION_SECS"}
	e := startWithDefaults(t, &td)
	ctx := ctxT(t)
	_, adm := admin(t, e.addr)
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"segment.ms": sp("100000")}, "ac"); err != nil {
		t.Fatal(err)
	}
	cfg := describeTopicCfg(t, ctx, adm, "ac")
	if c := cfg["retention.ms"]; *c.Value != "-1" || c.Source != kmsg.ConfigSourceDefaultConfig || len(c.Synonyms) != 1 || c.Synonyms[0].Key != "log.retention.ms" {
		t.Fatalf("default retention.ms: %+v", c)
	}
	if c := cfg["local.retention.ms"]; *c.Value != "60000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig || c.Synonyms[0].Key != "log.local.retention.ms" {
		t.Fatalf("static local.retention.ms: %+v", c)
	}
	if c := cfg["segment.ms"]; *c.Value != "100000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig || len(c.Synonyms) != 2 ||
		c.Synonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig || c.Synonyms[1].Key != "log.roll.ms" {
		t.Fatalf("override segment.ms: %+v", c)
	}

	// Incremental: SET two, DELETE one; validate_only first changes nothing.
	ops := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("3600000")}, {Op: kadm.SetConfig, Name: "message.timestamp.type", Value: sp("LogAppendTime")}, {Op: kadm.DeleteConfig, Name: "segment.ms"}}
	if r := first(t)(adm.ValidateAlterTopicConfigs(ctx, ops, "ac")); r.Err != nil {
		t.Fatalf("validate: %v %s", r.Err, r.ErrMessage)
	}
	if info, _ := e.l.Topic("ac"); len(info.Configs) != 1 {
		t.Fatalf("validate_only changed %v", info.Configs)
	}
	if r := first(t)(adm.AlterTopicConfigs(ctx, ops, "ac")); r.Err != nil {
		t.Fatalf("incremental: %v %s", r.Err, r.ErrMessage)
	}
	cfg = describeTopicCfg(t, ctx, adm, "ac")
	if c := cfg["retention.ms"]; *c.Value != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms after set: %+v", c)
	}
	if c := cfg["segment.ms"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.ms after delete: %+v", c)
	}
	if info, _ := e.l.Topic("ac"); !info.Effective().LogAppendTime || info.Effective().RetentionMs != 3600000 {
		t.Fatalf("effective %+v", info.Effective())
	}

	// Legacy AlterConfigs replaces the whole set.
	if r := first(t)(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: sp("5000")}}, "ac")); r.Err != nil {
		t.Fatalf("state: %v %s", r.Err, r.ErrMessage)
	}
	if info, _ := e.l.Topic("ac"); len(info.Configs) != 1 || info.Configs["max.message.bytes"] != "5000" {
		t.Fatalf("after AlterConfigs: %v", info.Configs)
	}

	// Refusals change nothing.
	for _, tc := range []struct {
		ops     []kadm.AlterConfig
		state   bool
		want    error
		message string
	}{
		{[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such", Value: sp("1")}}, false, kerr.InvalidConfig, "Unknown topic config name: no.such"},
		{[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: sp("compact")}}, false, kerr.InvalidConfig, "Zombi does not compact"},
		{[]kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: sp("5")}}, false, kerr.InvalidConfig, "Can't APPEND to key retention.ms because its type is not LIST."},
		{[]kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "max.message.bytes", Value: sp("5")}}, false, kerr.InvalidConfig, "Can't SUBTRACT to key max.message.bytes because its type is not LIST."},
		{[]kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("compact")}}, false, kerr.InvalidConfig, "Zombi does not compact"},
		{[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("1")}, {Op: kadm.DeleteConfig, Name: "retention.ms"}}, false, kerr.InvalidRequest, "duplicate config keys"},
		{[]kadm.AlterConfig{{Name: "retention.ms", Value: sp("x")}}, true, kerr.InvalidConfig, "Not a number of type LONG"},
		{[]kadm.AlterConfig{{Name: "retention.ms"}}, true, kerr.InvalidConfig, "Null value not supported"},
	} {
		var err error
		var msg string
		if tc.state {
			r := first(t)(adm.AlterTopicConfigsState(ctx, tc.ops, "ac"))
			err, msg = r.Err, r.ErrMessage
		} else {
			r := first(t)(adm.AlterTopicConfigs(ctx, tc.ops, "ac"))
			err, msg = r.Err, r.ErrMessage
		}
		if !errors.Is(err, tc.want) || !strings.Contains(msg, tc.message) {
			t.Errorf("%+v: %v %q, want %v %q", tc.ops[0], err, msg, tc.want, tc.message)
		}
	}
	if info, _ := e.l.Topic("ac"); len(info.Configs) != 1 || info.Configs["max.message.bytes"] != "5000" {
		t.Fatalf("refusals changed the configs: %v", info.Configs)
	}
	// cleanup.policy is a list: APPEND and SUBTRACT apply.
	if r := first(t)(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("delete")}}, "ac")); r.Err != nil {
		t.Fatalf("append delete: %v %s", r.Err, r.ErrMessage)
	}
	if info, _ := e.l.Topic("ac"); info.Configs["cleanup.policy"] != "delete" {
		t.Fatalf("after append: %v", info.Configs)
	}
	// Unknown topic.
	if r := first(t)(adm.AlterTopicConfigs(ctx, ops[:1], "nope")); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", r.Err)
	}
	// Broker: no dynamic configs; an empty set is fine, a config refused.
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: sp("5")}}, 1)
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, kerr.InvalidRequest) || !strings.Contains(rs[0].ErrMessage, "Cannot update these configs dynamically") {
		t.Fatalf("broker alter: %v %+v", err, rs)
	}
	if rs, err := adm.AlterBrokerConfigsState(ctx, nil); err != nil || len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("empty broker state: %v %+v", err, rs)
	}
}

// TestTopicConfigsHonouredKafka: LogAppendTime read back by kgo, a batch
// over max.message.bytes refused with nothing appended, retention.ms
// moving the log start.
func TestTopicConfigsHonouredKafka(t *testing.T) {
	e := startServer(t, testConfig())
	ctx := ctxT(t)
	cl, adm := admin(t, e.addr, kgo.ProducerLinger(0), kgo.RecordRetries(1), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"message.timestamp.type": sp("LogAppendTime"), "max.message.bytes": sp("300")}, "hk"); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "hk", Value: []byte("small"), Timestamp: time.UnixMilli(5)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "hk", Value: make([]byte, 400)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("big record: %v, want MESSAGE_TOO_LARGE", err)
	}
	if _, hwm, _ := e.l.Offsets("hk", 0); hwm != 1 {
		t.Fatalf("hwm %d after the refused batch, want 1", hwm)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics("hk"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	fs := cons.PollFetches(ctx)
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("fetched %d records: %v", len(recs), fs.Errors())
	}
	r := recs[0]
	if r.Attrs.TimestampType() != 1 || r.Timestamp.Before(before.Truncate(time.Millisecond)) || r.Timestamp.After(after) {
		t.Fatalf("record timestamp %v type %d, want the broker's time in [%v, %v] and LogAppendTime", r.Timestamp, r.Attrs.TimestampType(), before, after)
	}

	// Retention: records with old timestamps go once retention.ms is set.
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, "rk"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "rk", Value: []byte("old"), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "rk", Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r := first(t)(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("60000")}}, "rk")); r.Err != nil {
		t.Fatal(r.Err, r.ErrMessage)
	}
	if err := e.l.ApplyRetention(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, "rk")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("rk", 0); o.Offset != 3 {
		t.Fatalf("log start %d after retention, want 3", o.Offset)
	}
}

// TestAlterConfigsACL: ALTER_CONFIGS on the topic for AlterConfigs and
// IncrementalAlterConfigs (TOPIC_AUTHORIZATION_FAILED otherwise, nothing
// changes), on the cluster for the broker.
func TestAlterConfigsACL(t *testing.T) {
	e := startAuthServer(t)
	ctx := ctxT(t)
	if _, err := e.l.CreateTopic("acl-cfg", 1, nil); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(e.client(t, "carol"))
	set := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("1000")}}
	rs, err := adm.AlterTopicConfigs(ctx, set, "acl-cfg")
	if err != nil || !errors.Is(rs[0].Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("incremental without ALTER_CONFIGS: %v %+v", err, rs)
	}
	rs, err = adm.AlterTopicConfigsState(ctx, set, "acl-cfg")
	if err != nil || !errors.Is(rs[0].Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("AlterConfigs without ALTER_CONFIGS: %v %+v", err, rs)
	}
	rs, err = adm.AlterBrokerConfigs(ctx, set, 1)
	if err != nil || !errors.Is(rs[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("broker without ALTER_CONFIGS: %v %+v", err, rs)
	}
	if info, _ := e.l.Topic("acl-cfg"); info.Configs != nil {
		t.Fatalf("refused alter changed %v", info.Configs)
	}
	e.grant(t, "carol", topicR, "acl-cfg", litACL, kmsg.ACLOperationAlterConfigs)
	rs, err = adm.AlterTopicConfigs(ctx, set, "acl-cfg")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("with ALTER_CONFIGS: %v %+v", err, rs)
	}
	if info, _ := e.l.Topic("acl-cfg"); info.Configs["retention.ms"] != "1000" {
		t.Fatalf("configs %v", info.Configs)
	}
}

// TestDescribeConfigsMinInsyncReplicas: the broker's min.insync.replicas
// (ZOMBI_MIN_INSYNC_REPLICAS in cluster mode) is described as
// STATIC_BROKER_CONFIG under the topic and the broker, a topic's override
// wins and reaches Effective, with unclean.leader.election.enable; an
// invalid value changes nothing. Without the setting: Kafka's 1, DEFAULT_CONFIG.
func TestDescribeConfigsMinInsyncReplicas(t *testing.T) {
	td := topicconfig.KafkaDefaults()
	td.MinInsyncReplicas = 2
	td.Static = map[string]string{"min.insync.replicas": "ZOMBI_MIN_INSYNC_REPLICAS"}
	e := startWithDefaults(t, &td)
	ctx := ctxT(t)
	_, adm := admin(t, e.addr)
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, "mi"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"min.insync.replicas": sp("3"), "unclean.leader.election.enable": sp("true")}, "mo"); err != nil {
		t.Fatal(err)
	}
	cfg := describeTopicCfg(t, ctx, adm, "mi")
	if c := cfg["min.insync.replicas"]; c.Value == nil || *c.Value != "2" || c.Source != kmsg.ConfigSourceStaticBrokerConfig ||
		len(c.Synonyms) != 1 || c.Synonyms[0].Key != "min.insync.replicas" || *c.Synonyms[0].Value != "2" || c.Synonyms[0].Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("min.insync.replicas from the setting: %+v", c)
	}
	if c := cfg["unclean.leader.election.enable"]; c.Value == nil || *c.Value != "false" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("unclean.leader.election.enable default: %+v", c)
	}
	cfg = describeTopicCfg(t, ctx, adm, "mo")
	if c := cfg["min.insync.replicas"]; *c.Value != "3" || c.Source != kmsg.ConfigSourceDynamicTopicConfig || len(c.Synonyms) != 2 ||
		*c.Synonyms[1].Value != "2" || c.Synonyms[1].Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("min.insync.replicas override: %+v", c)
	}
	if c := cfg["unclean.leader.election.enable"]; *c.Value != "true" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("unclean.leader.election.enable override: %+v", c)
	}
	for topic, want := range map[string]struct {
		minISR  int
		unclean bool
	}{"mi": {2, false}, "mo": {3, true}} {
		info, _ := e.l.Topic(topic)
		if eff := info.Effective(); eff.MinInsyncReplicas != want.minISR || eff.UncleanLeaderElection != want.unclean {
			t.Errorf("%s: effective MinInsyncReplicas %d UncleanLeaderElection %v, want %+v", topic, eff.MinInsyncReplicas, eff.UncleanLeaderElection, want)
		}
	}

	r := first(t)(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: sp("0")}}, "mo"))
	if !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "Value must be at least 1") {
		t.Fatalf("min.insync.replicas=0: %v %q, want INVALID_CONFIG", r.Err, r.ErrMessage)
	}
	if info, _ := e.l.Topic("mo"); info.Configs["min.insync.replicas"] != "3" || info.Effective().MinInsyncReplicas != 3 {
		t.Fatalf("a refused change changed %v", info.Configs)
	}

	brokers, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(brokers) != 1 {
		t.Fatalf("describe broker: %v %+v", err, brokers)
	}
	found := false
	for _, c := range brokers[0].Configs {
		if c.Key == "min.insync.replicas" {
			found = true
			if c.Value == nil || *c.Value != "2" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("broker min.insync.replicas: %+v", c)
			}
		}
	}
	if !found {
		t.Error("the broker's configs lack min.insync.replicas")
	}

	plain := startWithDefaults(t, nil)
	_, adm2 := admin(t, plain.addr)
	if _, err := adm2.CreateTopic(ctx, 1, -1, nil, "mp"); err != nil {
		t.Fatal(err)
	}
	if c := describeTopicCfg(t, ctx, adm2, "mp")["min.insync.replicas"]; *c.Value != "1" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("min.insync.replicas without the setting: %+v", c)
	}
}
