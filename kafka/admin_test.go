package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

func createReq(validate bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics, req.ValidateOnly = topics, validate
	return req
}

func ct(name string, parts int32, rf int16) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, parts, rf
	return t
}

func TestCreateDeleteTopics(t *testing.T) {
	cfg := testConfig()
	cfg.DefaultPartitions = 3
	e := startServer(t, cfg)
	c := e.dial(t)
	withCfg := ct("c2", 2, 1)
	v := "compact"
	withCfg.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "cleanup.policy", Value: &v}}
	resp := c.do(createReq(false, ct("c1", -1, -1), withCfg, ct("bad name", 1, 1), ct("c3", 0, 1), ct("c4", 1, 3), ct("dup", 1, 1), ct("dup", 1, 1)), 7).(*kmsg.CreateTopicsResponse)
	want := []int16{0, 0, kerr.InvalidTopicException.Code, kerr.InvalidPartitions.Code, kerr.InvalidReplicationFactor.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}
	for i, rt := range resp.Topics {
		if rt.ErrorCode != want[i] {
			t.Errorf("%s: %v, want %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode), kerr.ErrorForCode(want[i]))
		}
	}
	if r := resp.Topics[0]; r.NumPartitions != 3 || r.TopicID == ([16]byte{}) {
		t.Fatalf("%+v", r)
	}
	// Every config of the new topic comes back, as Kafka answers (the Java
	// AdminClient fails on a null list); an override as a dynamic config.
	if got := len(resp.Topics[0].Configs); got != len(topicconfig.Describe) {
		t.Fatalf("c1: %d configs, want %d", got, len(topicconfig.Describe))
	}
	var policy kmsg.CreateTopicsResponseTopicConfig
	for _, c := range resp.Topics[1].Configs {
		if c.Name == "cleanup.policy" {
			policy = c
		}
	}
	if policy.Value == nil || *policy.Value != "compact" || policy.Source != int8(kmsg.ConfigSourceDynamicTopicConfig) {
		t.Fatalf("c2 cleanup.policy: %+v", policy)
	}
	if info, _ := e.l.Topic("c2"); info.Partitions != 2 || info.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("%+v", info)
	}
	// Exists; validate only.
	for _, ver := range []int16{0, 4, 5} {
		resp = c.do(createReq(false, ct("c1", 1, 1)), ver).(*kmsg.CreateTopicsResponse)
		if resp.Topics[0].ErrorCode != kerr.TopicAlreadyExists.Code {
			t.Fatalf("v%d: %v", ver, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
		}
	}
	resp = c.do(createReq(true, ct("vo", 4, 1)), 3).(*kmsg.CreateTopicsResponse)
	if _, ok := e.l.Topic("vo"); ok || resp.Topics[0].ErrorCode != 0 {
		t.Fatal("validate_only created the topic or failed")
	}

	// CreatePartitions.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "c1", Count: 5}, {Topic: "c2", Count: 1}, {Topic: "nope", Count: 2}}
	cpr := c.do(cp, 3).(*kmsg.CreatePartitionsResponse)
	if cpr.Topics[0].ErrorCode != 0 || cpr.Topics[1].ErrorCode != kerr.InvalidPartitions.Code || cpr.Topics[2].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", cpr.Topics)
	}
	if info, _ := e.l.Topic("c1"); info.Partitions != 5 {
		t.Fatalf("%+v", info)
	}

	// DeleteTopics by name (v0, v5) and by id (v6).
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"c1", "nope"}
	dr := c.do(dt, 1).(*kmsg.DeleteTopicsResponse)
	if dr.Topics[0].ErrorCode != 0 || dr.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", dr.Topics)
	}
	info, _ := e.l.Topic("c2")
	dt = kmsg.NewPtrDeleteTopicsRequest()
	dt.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: info.UUID}, {TopicID: [16]byte{7}}}
	dr = c.do(dt, 6).(*kmsg.DeleteTopicsResponse)
	if dr.Topics[0].ErrorCode != 0 || *dr.Topics[0].Topic != "c2" || dr.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("%+v", dr.Topics)
	}
	if len(e.l.Topics()) != 0 {
		t.Fatalf("left: %+v", e.l.Topics())
	}
}

func TestDescribeConfigsAndCluster(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, err := e.l.CreateTopic("dc", 1, map[string]string{"retention.ms": "1000", "x.custom": "y"}); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	req.Resources = []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "dc"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "dc", ConfigNames: []string{"cleanup.policy"}},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "nope"},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "2"},
	}
	for _, v := range []int16{0, 1, 3, 4} {
		resp := c.do(req, v).(*kmsg.DescribeConfigsResponse)
		got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, cfg := range resp.Resources[0].Configs {
			got[cfg.Name] = cfg
		}
		if *got["retention.ms"].Value != "1000" || *got["cleanup.policy"].Value != "delete" || *got["x.custom"].Value != "y" || got["min.insync.replicas"].Value == nil || got["max.message.bytes"].Value == nil {
			t.Fatalf("v%d: %+v", v, got)
		}
		if v >= 1 && got["retention.ms"].Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatalf("v%d: source %v", v, got["retention.ms"].Source)
		}
		if n := len(resp.Resources[1].Configs); n != 1 {
			t.Fatalf("v%d: filter returned %d", v, n)
		}
		if len(resp.Resources[2].Configs) < 5 || resp.Resources[2].ErrorCode != 0 {
			t.Fatalf("v%d broker: %+v", v, resp.Resources[2])
		}
		if resp.Resources[3].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Resources[4].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("v%d errors: %d %d", v, resp.Resources[3].ErrorCode, resp.Resources[4].ErrorCode)
		}
	}
	for v := int16(0); v <= 2; v++ {
		resp := c.do(kmsg.NewPtrDescribeClusterRequest(), v).(*kmsg.DescribeClusterResponse)
		if resp.ControllerID != 1 || len(resp.Brokers) != 1 || resp.ClusterID != ClusterID {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
}

func TestFindCoordinator(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "g"
		resp := c.do(req, v).(*kmsg.FindCoordinatorResponse)
		if resp.ErrorCode != 0 || resp.NodeID != 1 || resp.Port == 0 {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
	for v := int16(4); v <= 6; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{"a", "b"}
		resp := c.do(req, v).(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) != 2 || resp.Coordinators[1].Key != "b" || resp.Coordinators[1].NodeID != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		req.CoordinatorType = 1
		resp = c.do(req, v).(*kmsg.FindCoordinatorResponse)
		if resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].NodeID != 1 || resp.Coordinators[0].Port == 0 {
			t.Fatalf("v%d txn: %+v", v, resp)
		}
	}
}

func commitReq(group, topic string, part int32, off int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	meta := "m"
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: part, Offset: off, LeaderEpoch: -1, Metadata: &meta}}}}
	return req
}

func TestOffsetCommitFetch(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	info, err := e.l.CreateTopic("oc", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 9; v++ {
		resp := c.do(commitReq("g", "oc", 0, int64(10+v)), v).(*kmsg.OffsetCommitResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit v%d: %v", v, kerr.ErrorForCode(code))
		}
		o, ok, _ := e.l.FetchOffset("g", "oc", 0)
		if !ok || o.Offset != int64(10+v) {
			t.Fatalf("commit v%d stored %+v", v, o)
		}
	}
	req := commitReq("g", "", 1, 42)
	req.Topics[0].TopicID = info.UUID
	if code := c.do(req, 10).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("v10 by id: %v", kerr.ErrorForCode(code))
	}
	// Membership is not supported yet; empty group is invalid.
	req = commitReq("g", "oc", 0, 1)
	req.MemberID = "m-1"
	if code := c.do(req, 8).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("member: %v", kerr.ErrorForCode(code))
	}
	if code := c.do(commitReq("", "oc", 0, 1), 8).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group: %v", kerr.ErrorForCode(code))
	}

	// OffsetFetch v1-v7: named partitions, then all (v2+).
	for v := int16(1); v <= 7; v++ {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = "g"
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "oc", Partitions: []int32{0, 1}}, {Topic: "other", Partitions: []int32{0}}}
		resp := c.do(req, v).(*kmsg.OffsetFetchResponse)
		p := resp.Topics[0].Partitions
		if p[0].Offset != 19 || p[1].Offset != 42 || *p[0].Metadata != "m" || resp.Topics[1].Partitions[0].Offset != -1 {
			t.Fatalf("v%d: %+v", v, resp.Topics)
		}
		if v < 2 {
			continue // null (all topics) from v2
		}
		req.Topics = nil
		resp = c.do(req, v).(*kmsg.OffsetFetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d all: %+v", v, resp.Topics)
		}
	}
	// v8+: groups.
	for v := int16(8); v <= 10; v++ {
		req := kmsg.NewPtrOffsetFetchRequest()
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "g"
		g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "oc", TopicID: info.UUID, Partitions: []int32{1}}}
		req.Groups = []kmsg.OffsetFetchRequestGroup{g, {Group: "empty"}}
		resp := c.do(req, v).(*kmsg.OffsetFetchResponse)
		if len(resp.Groups) != 2 || resp.Groups[0].Topics[0].Partitions[0].Offset != 42 || len(resp.Groups[1].Topics) != 0 {
			t.Fatalf("v%d: %+v", v, resp.Groups)
		}
		if v >= 10 && resp.Groups[0].Topics[0].TopicID != info.UUID {
			t.Fatalf("v%d: id", v)
		}
	}
}

func TestDeleteRecords(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	for i := 0; i < 4; i++ {
		c.produce("dr", 0, 9, mkBatch("x"))
	}
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "dr", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 2}, {Partition: 3, Offset: 1}}}}
	resp := c.do(req, 2).(*kmsg.DeleteRecordsResponse)
	if p := resp.Topics[0].Partitions; p[0].LowWatermark != 2 || p[0].ErrorCode != 0 || p[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", p)
	}
	fp := c.do(fetchReq("dr", 0, 0, 0, 0), 11).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.LogStartOffset != 2 {
		t.Fatalf("%+v", fp)
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	c.produce("ole", 0, 9, mkBatch("a", "b", "c"))
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "ole", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{
			{Partition: 0, CurrentLeaderEpoch: 0, LeaderEpoch: 0},
			{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 5},
			{Partition: 9, LeaderEpoch: 0},
		}}}
		p := c.do(req, v).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions
		if p[0].EndOffset != 3 || p[0].ErrorCode != 0 || p[1].EndOffset != -1 || p[2].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v%d: %+v", v, p)
		}
	}
}

func TestDescribeTopicPartitions(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	for name, parts := range map[string]int32{"a": 3, "b": 2, "c": 1} {
		if _, err := e.l.CreateTopic(name, parts, nil); err != nil {
			t.Fatal(err)
		}
	}
	describe := func(limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, names ...string) *kmsg.DescribeTopicPartitionsResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		for _, n := range names {
			req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
		}
		req.ResponsePartitionLimit, req.Cursor = limit, cursor
		return c.do(req, 0).(*kmsg.DescribeTopicPartitionsResponse)
	}
	// page renders a response as "topic:partitions|..." and the next cursor.
	page := func(r *kmsg.DescribeTopicPartitionsResponse) string {
		s := ""
		for _, t := range r.Topics {
			s += fmt.Sprintf("%s/%d:", *t.Topic, t.ErrorCode)
			for _, p := range t.Partitions {
				if p.LeaderID != NodeID || p.LeaderEpoch != 0 || len(p.ISR) != 1 || len(p.Replicas) != 1 {
					s += "bad"
				}
				s += fmt.Sprint(p.Partition)
			}
			s += "|"
		}
		if r.NextCursor != nil {
			s += fmt.Sprintf("next %s/%d", r.NextCursor.Topic, r.NextCursor.Partition)
		}
		return s
	}
	unknown := kerr.UnknownTopicOrPartition.Code
	// Every topic: the internal ones (50 partitions each) come first.
	internalPages := ""
	for _, it := range plog.InternalTopics() {
		internalPages += it.Name + "/0:"
		for p := range it.Partitions {
			internalPages += fmt.Sprint(p)
		}
		internalPages += "|"
	}
	cases := []struct {
		name   string
		resp   *kmsg.DescribeTopicPartitionsResponse
		expect string
	}{
		{"all", describe(200, nil), internalPages + "a/0:012|b/0:01|c/0:0|"},
		{"the internal topics fill a page", describe(100, nil), internalPages + "next a/0"},
		{"named, sorted, unknown, no auto-create", describe(100, nil, "c", "zz", "a"), fmt.Sprintf("a/0:012|c/0:0|zz/%d:|", unknown)},
		{"first page", describe(2, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a"}), "a/0:01|next a/2"},
		{"page ends on a topic's end", describe(3, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a"}), "a/0:012|next b/0"},
		{"from a cursor", describe(2, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a", Partition: 2}), "a/0:2|b/0:0|next b/1"},
		{"last page", describe(5, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "b", Partition: 1}), "b/0:1|c/0:0|"},
		{"cursor outside the named topics", describe(5, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "b"}, "a", "c"), fmt.Sprintf("a/%d:|c/%d:|", kerr.InvalidRequest.Code, kerr.InvalidRequest.Code)},
	}
	for _, tc := range cases {
		if got := page(tc.resp); got != tc.expect {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.expect)
		}
	}
	if _, ok := e.l.Topic("zz"); ok {
		t.Fatal("DescribeTopicPartitions created a topic")
	}
}

// Topic configs are checked as Kafka 4.4 checks them: an unknown name or a
// bad value is INVALID_CONFIG with Kafka's message, and nothing is created.
func TestCreateTopicsConfigChecks(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	cases := []struct {
		name, value string
		msg         string // "" when Kafka accepts it
	}{
		{"no.such.config", "x", "Unknown topic config name: no.such.config"},
		{"message.format.version", "3.0-IV1", "Unknown topic config name: message.format.version"},
		{"retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "9223372036854775808", "Invalid value 9223372036854775808 for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "-5", "Invalid value -5 for configuration retention.ms: Value must be at least -1"},
		{"retention.ms", " 100 ", ""},
		{"retention.ms", "-1", ""},
		{"segment.bytes", "100", "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576"},
		{"segment.bytes", "2147483648", "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT"},
		{"max.message.bytes", "0", ""},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"min.insync.replicas", "+2", ""},
		{"cleanup.policy", "foo", "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "delete", ""},
		// Stored, not honoured: Connect and Streams create their internal
		// topics compacted (AlterConfigs and REST refuse it).
		{"cleanup.policy", "compact, delete", ""},
		{"cleanup.policy", "", ""},
		{"compression.type", "none", "Invalid value none for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"compression.type", " gzip ", ""},
		{"compression.gzip.level", "0", "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{"compression.zstd.level", "23", "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"},
		{"min.cleanable.dirty.ratio", "1e-1", ""},
		{"min.cleanable.dirty.ratio", "-0.1", "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"},
		{"preallocate", "TRUE", ""},
		{"unclean.leader.election.enable", "yes", "Invalid value yes for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		{"message.timestamp.type", "LogAppendTime", ""},
		{"leader.replication.throttled.replicas", "0:1, 1:1", ""},
		{"leader.replication.throttled.replicas", "foo", "Invalid value foo for configuration leader.replication.throttled.replicas: must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{"remote.storage.enable", "true", "Invalid value true for configuration remote.storage.enable: Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."},
	}
	for i, tc := range cases {
		for _, validate := range []bool{true, false} {
			name := fmt.Sprintf("cfg-%d", i)
			if validate {
				name += "-v"
			}
			rt := ct(name, 1, 1)
			v := tc.value
			rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: tc.name, Value: &v}}
			r := c.do(createReq(validate, rt), 7).(*kmsg.CreateTopicsResponse).Topics[0]
			_, created := e.l.Topic(name)
			if tc.msg == "" {
				if r.ErrorCode != 0 || created == validate {
					t.Errorf("%s=%q (validate %v): %v %v, created %v", tc.name, tc.value, validate, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage, created)
				}
				continue
			}
			if r.ErrorCode != kerr.InvalidConfig.Code || r.ErrorMessage == nil || *r.ErrorMessage != tc.msg || created {
				msg := "<nil>"
				if r.ErrorMessage != nil {
					msg = *r.ErrorMessage
				}
				t.Errorf("%s=%q (validate %v): %v %q, created %v; want INVALID_CONFIG %q", tc.name, tc.value, validate, kerr.ErrorForCode(r.ErrorCode), msg, created, tc.msg)
			}
		}
	}
}

// A topic with message.timestamp.type=LogAppendTime: the produce response
// and the stored batch carry the broker's append time, as Kafka's do.
func TestProduceLogAppendTime(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	for _, typ := range []string{"LogAppendTime", "CreateTime"} {
		rt := ct("lat-"+typ, 1, 1)
		v := typ
		rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "message.timestamp.type", Value: &v}}
		if r := c.do(createReq(false, rt), 7).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != 0 {
			t.Fatalf("create: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		before := time.Now().UnixMilli()
		p := c.produce("lat-"+typ, 0, 9, mkBatchTs(1000, "a", "b"))
		after := time.Now().UnixMilli()
		if p.ErrorCode != 0 {
			t.Fatalf("%s: produce: %v", typ, kerr.ErrorForCode(p.ErrorCode))
		}
		res, err := e.l.Read("lat-"+typ, 0, 0, 1<<20)
		if err != nil || len(res.Batches) != 1 {
			t.Fatalf("%s: read: %+v %v", typ, res, err)
		}
		h, err := batch.Validate(res.Batches[0].Raw)
		if err != nil {
			t.Fatalf("%s: stored batch: %v", typ, err)
		}
		_, recs, _ := batch.Records(res.Batches[0].Raw, 0)
		if typ == "CreateTime" {
			if p.LogAppendTime != -1 || h.MaxTimestamp != 1001 || h.Attributes&batch.TimestampTypeMask != 0 || recs[1].Timestamp != 1001 {
				t.Fatalf("CreateTime: response %d, stored %+v, records %+v", p.LogAppendTime, h, recs)
			}
			continue
		}
		if p.LogAppendTime < before || p.LogAppendTime > after || h.MaxTimestamp != p.LogAppendTime ||
			h.Attributes&batch.TimestampTypeMask == 0 || recs[0].Timestamp != p.LogAppendTime || recs[1].Timestamp != p.LogAppendTime {
			t.Fatalf("LogAppendTime: response %d (between %d and %d), stored %+v, records %+v", p.LogAppendTime, before, after, h, recs)
		}
	}
}

// A Kafka topic config Zombi does not act on is stored and described with
// Kafka's type (DescribeConfigs v3+), not as a string.
func TestDescribeConfigsKafkaTypes(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	rt := ct("typed", 1, 1)
	lag, ratio, pre := "100", "0.3", "true"
	rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "min.compaction.lag.ms", Value: &lag},
		{Name: "min.cleanable.dirty.ratio", Value: &ratio}, {Name: "preallocate", Value: &pre}}
	if r := c.do(createReq(false, rt), 7).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "typed"}}
	resp := c.do(req, 4).(*kmsg.DescribeConfigsResponse)
	want := map[string]kmsg.ConfigType{"min.compaction.lag.ms": kmsg.ConfigTypeLong, "min.cleanable.dirty.ratio": kmsg.ConfigTypeDouble, "preallocate": kmsg.ConfigTypeBoolean}
	for _, cfg := range resp.Resources[0].Configs {
		if typ, ok := want[cfg.Name]; ok {
			if cfg.ConfigType != typ || cfg.Source != kmsg.ConfigSourceDynamicTopicConfig {
				t.Errorf("%s: type %v source %v, want %v, dynamic topic config", cfg.Name, cfg.ConfigType, cfg.Source, typ)
			}
			delete(want, cfg.Name)
		}
	}
	if len(want) != 0 {
		t.Fatalf("not described: %v", want)
	}
}
