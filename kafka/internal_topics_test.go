package kafka

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

var internalNames = []string{"__consumer_offsets", "__transaction_state"}

// checkInternalMetadata checks one Metadata topic entry of an internal topic.
func checkInternalMetadata(t *testing.T, what string, version int16, mt kmsg.MetadataResponseTopic) {
	t.Helper()
	it, _ := plog.LookupInternalTopic(*mt.Topic)
	if mt.ErrorCode != 0 || len(mt.Partitions) != 50 || version >= 1 && !mt.IsInternal || version >= 10 && mt.TopicID != it.UUID {
		t.Fatalf("%s v%d %s: code %d, %d partitions, internal %v, id %x", what, version, *mt.Topic, mt.ErrorCode, len(mt.Partitions), mt.IsInternal, mt.TopicID)
	}
	for _, p := range mt.Partitions {
		if p.Leader != NodeID || len(p.Replicas) != 1 || p.Replicas[0] != NodeID || len(p.ISR) != 1 || p.ISR[0] != NodeID {
			t.Fatalf("%s v%d %s/%d: %+v", what, version, *mt.Topic, p.Partition, p)
		}
	}
}

// TestInternalTopicsMetadata: the internal topics in Metadata (every
// version, all topics and by name; by id from v12), in
// DescribeTopicPartitions, and never in the log, even after auto-creating
// lookups.
func TestInternalTopicsMetadata(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, err := e.l.CreateTopic("a", 1, nil); err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 13; v++ {
		all := kmsg.NewPtrMetadataRequest()
		if v == 0 {
			all.Topics = []kmsg.MetadataRequestTopic{}
		}
		r := c.do(all, v).(*kmsg.MetadataResponse)
		found := 0
		for _, mt := range r.Topics {
			if plog.IsInternalTopic(*mt.Topic) {
				checkInternalMetadata(t, "all topics", v, mt)
				found++
			} else if mt.IsInternal {
				t.Fatalf("v%d: %s marked internal", v, *mt.Topic)
			}
		}
		if found != 2 || len(r.Topics) != 3 {
			t.Fatalf("all topics v%d: %d internal of %d topics", v, found, len(r.Topics))
		}
		byName := kmsg.NewPtrMetadataRequest()
		for _, n := range internalNames {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			byName.Topics = append(byName.Topics, rt)
		}
		byName.AllowAutoTopicCreation = true
		r = c.do(byName, v).(*kmsg.MetadataResponse)
		if len(r.Topics) != 2 {
			t.Fatalf("by name v%d: %d topics", v, len(r.Topics))
		}
		for _, mt := range r.Topics {
			checkInternalMetadata(t, "by name", v, mt)
		}
		if v >= 12 { // topic ids in requests: v10+, null names v12+
			byID := kmsg.NewPtrMetadataRequest()
			it, _ := plog.LookupInternalTopic("__transaction_state")
			rt := kmsg.NewMetadataRequestTopic()
			rt.TopicID = it.UUID
			byID.Topics = append(byID.Topics, rt)
			r = c.do(byID, v).(*kmsg.MetadataResponse)
			checkInternalMetadata(t, "by id", v, r.Topics[0])
		}
	}
	d := c.do(kmsg.NewPtrDescribeTopicPartitionsRequest(), 0).(*kmsg.DescribeTopicPartitionsResponse)
	internal := 0
	for _, dt := range d.Topics {
		if dt.IsInternal != plog.IsInternalTopic(*dt.Topic) {
			t.Fatalf("DescribeTopicPartitions %s: internal %v", *dt.Topic, dt.IsInternal)
		}
		if dt.IsInternal {
			internal++
			if dt.ErrorCode != 0 || len(dt.Partitions) != 50 || dt.Partitions[49].LeaderID != NodeID {
				t.Fatalf("DescribeTopicPartitions %s: %+v", *dt.Topic, dt)
			}
		}
	}
	if internal != 2 {
		t.Fatalf("DescribeTopicPartitions: %d internal topics", internal)
	}
	named := kmsg.NewPtrDescribeTopicPartitionsRequest()
	rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	rt.Topic = "__consumer_offsets"
	named.Topics = append(named.Topics, rt)
	d = c.do(named, 0).(*kmsg.DescribeTopicPartitionsResponse)
	if len(d.Topics) != 1 || !d.Topics[0].IsInternal || len(d.Topics[0].Partitions) != 50 {
		t.Fatalf("DescribeTopicPartitions by name: %+v", d.Topics)
	}
	for _, n := range internalNames {
		if _, ok := e.l.Topic(n); ok {
			t.Fatalf("%s became a log topic", n)
		}
		if _, err := e.l.CreateTopic(n, 1, nil); !errors.Is(err, plog.ErrInternalTopic) {
			t.Fatalf("log CreateTopic(%s): %v", n, err)
		}
	}
	if got := len(e.l.Topics()); got != 1 {
		t.Fatalf("the log has %d topics, want 1", got)
	}
}

// TestInternalTopicsReadOnly: every write or admin change of an internal
// topic is refused with Kafka's code (or INVALID_TOPIC_EXCEPTION where
// Kafka 4.4 would change it), reads see empty partitions, and describing
// their configs works.
func TestInternalTopicsReadOnly(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	const name = "__consumer_offsets"
	it, _ := plog.LookupInternalTopic(name)

	pr := produceReq(name, 0, -1, mkBatch("x"))
	bad := kmsg.NewProduceRequestTopicPartition()
	bad.Partition, bad.Records = 50, mkBatch("y")
	pr.Topics[0].Partitions = append(pr.Topics[0].Partitions, bad)
	p := c.do(pr, 9).(*kmsg.ProduceResponse).Topics[0].Partitions
	if p[0].ErrorCode != errInvalidTopic || p[0].ErrorMessage == nil || *p[0].ErrorMessage != "Cannot append to internal topic __consumer_offsets" {
		t.Fatalf("produce: %d %v", p[0].ErrorCode, p[0].ErrorMessage)
	}
	if p[1].ErrorCode != errUnknownTopic {
		t.Fatalf("produce to partition 50: %d", p[1].ErrorCode)
	}

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = name, 1, 1
	ct.Topics = append(ct.Topics, ctt)
	if got := c.do(ct, 7).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; got != kerr.TopicAlreadyExists.Code {
		t.Fatalf("create topics: %d", got)
	}

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{name}
	if r := c.do(dt, 5).(*kmsg.DeleteTopicsResponse).Topics[0]; r.ErrorCode != errInvalidTopic || r.ErrorMessage == nil {
		t.Fatalf("delete topics: %+v", r)
	}
	dt = kmsg.NewPtrDeleteTopicsRequest()
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.TopicID = it.UUID
	dt.Topics = append(dt.Topics, dtt)
	if r := c.do(dt, 6).(*kmsg.DeleteTopicsResponse).Topics[0]; r.ErrorCode != errInvalidTopic || r.Topic == nil || *r.Topic != name {
		t.Fatalf("delete topics by id: %+v", r)
	}

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = name, 60
	cp.Topics = append(cp.Topics, cpt)
	if got := c.do(cp, 3).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; got != errInvalidTopic {
		t.Fatalf("create partitions: %d", got)
	}

	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = name
	drt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 0}}
	dr.Topics = append(dr.Topics, drt)
	if got := c.do(dr, 2).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode; got != errInvalidTopic {
		t.Fatalf("delete records: %d", got)
	}

	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	iar := kmsg.NewIncrementalAlterConfigsRequestResource()
	iar.ResourceType, iar.ResourceName = kmsg.ConfigResourceTypeTopic, name
	iar.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}
	ia.Resources, ia.ValidateOnly = append(ia.Resources, iar), true
	if got := c.do(ia, 1).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode; got != errInvalidTopic {
		t.Fatalf("incremental alter configs: %d", got)
	}
	ac := kmsg.NewPtrAlterConfigsRequest()
	acr := kmsg.NewAlterConfigsRequestResource()
	acr.ResourceType, acr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	ac.Resources = append(ac.Resources, acr)
	if got := c.do(ac, 2).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode; got != errInvalidTopic {
		t.Fatalf("alter configs: %d", got)
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	dc.Resources = append(dc.Resources, dcr)
	dres := c.do(dc, 4).(*kmsg.DescribeConfigsResponse).Resources[0]
	compact := false
	for _, cfg := range dres.Configs {
		compact = compact || cfg.Name == "cleanup.policy" && cfg.Value != nil && *cfg.Value == "compact" && cfg.Source == kmsg.ConfigSourceDynamicTopicConfig
	}
	if dres.ErrorCode != 0 || !compact {
		t.Fatalf("describe configs: code %d, cleanup.policy=compact as the topic's own: %v", dres.ErrorCode, compact)
	}

	lo := kmsg.NewPtrListOffsetsRequest()
	lot := kmsg.NewListOffsetsRequestTopic()
	lot.Topic = name
	for i, ts := range []int64{tsEarliest, tsLatest, tsMaxTimestamp, 1000} {
		lop := kmsg.NewListOffsetsRequestTopicPartition()
		lop.Partition, lop.Timestamp = int32(i), ts
		lot.Partitions = append(lot.Partitions, lop)
	}
	lo.Topics = append(lo.Topics, lot)
	want := []int64{0, 0, -1, -1}
	for i, lp := range c.do(lo, 9).(*kmsg.ListOffsetsResponse).Topics[0].Partitions {
		if lp.ErrorCode != 0 || lp.Offset != want[i] {
			t.Fatalf("list offsets %d: code %d offset %d, want %d", i, lp.ErrorCode, lp.Offset, want[i])
		}
	}

	fr := c.do(fetchReq(name, 3, 0, 0, 0), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if fr.ErrorCode != 0 || fr.HighWatermark != 0 || fr.LastStableOffset != 0 || len(fr.RecordBatches) != 0 {
		t.Fatalf("fetch: %+v", fr)
	}
	fr = c.do(fetchReq(name, 3, 7, 0, 0), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if fr.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 7: %d", fr.ErrorCode)
	}
	// A long poll of internal partitions only waits out max_wait (no spin,
	// no hang).
	start := time.Now()
	fr = c.do(fetchReq(name, 0, 0, 1, 300), 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if el := time.Since(start); fr.ErrorCode != 0 || el < 250*time.Millisecond || el > 5*time.Second {
		t.Fatalf("long poll: code %d after %v", fr.ErrorCode, el)
	}
	// Group offsets are unaffected: a simple commit on an internal topic's
	// partition is stored, fetched and deleted as any other.
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = "g", -1
	oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: name, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 0}}}}
	if got := c.do(oc, 8).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; got != 0 {
		t.Fatalf("offset commit: %d", got)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "g"
	of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: name, Partitions: []int32{1}}}
	if got := c.do(of, 7).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]; got.ErrorCode != 0 || got.Offset != 0 {
		t.Fatalf("offset fetch: %+v", got)
	}
	of10 := kmsg.NewPtrOffsetFetchRequest()
	of10.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}} // all topics, by id
	if g := c.do(of10, 10).(*kmsg.OffsetFetchResponse).Groups[0]; len(g.Topics) != 1 || g.Topics[0].TopicID != it.UUID {
		t.Fatalf("offset fetch v10 of all topics: %+v", g)
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: name, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	if r := c.do(od, 0).(*kmsg.OffsetDeleteResponse); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", r)
	}
	if _, ok := e.l.Topic(name); ok {
		t.Fatal("a log topic was created")
	}
}

// TestInternalTopicsKadm: kadm hides the internal topics unless asked, and
// a franz-go producer gets Kafka's error.
func TestInternalTopicsKadm(t *testing.T) {
	e := startServer(t, testConfig())
	ctx := ctxT(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, "visible"); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := td.Names(); len(names) != 1 || names[0] != "visible" {
		t.Fatalf("ListTopics: %v", names)
	}
	td, err = adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range internalNames {
		if d, ok := td[n]; !ok || !d.IsInternal || len(d.Partitions) != 50 {
			t.Fatalf("ListTopicsWithInternal: %s missing or wrong: %+v", n, d)
		}
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce: %v", err)
	}
}

// TestInternalTopicsACL: the internal topics are described under the same
// DESCRIBE ACL as any topic, and producing to them needs WRITE first.
func TestInternalTopicsACL(t *testing.T) {
	e := startAuthServer(t)
	e.grant(t, "erin", topicR, "__consumer_offsets", litACL, kmsg.ACLOperationDescribe)
	c := e.dial(t)
	md := c.doAs("erin", kmsg.NewPtrMetadataRequest(), 12).(*kmsg.MetadataResponse)
	if len(md.Topics) != 1 || *md.Topics[0].Topic != "__consumer_offsets" || !md.Topics[0].IsInternal {
		t.Fatalf("all topics as erin: %+v", md.Topics)
	}
	named := kmsg.NewPtrMetadataRequest()
	named.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("__transaction_state")}}
	md = c.doAs("erin", named, 12).(*kmsg.MetadataResponse)
	wantCode(t, "metadata of an internal topic without DESCRIBE", md.Topics[0].ErrorCode, kerr.TopicAuthorizationFailed)
	p := c.doAs("erin", produceReq("__consumer_offsets", 0, -1, mkBatch("x")), 9).(*kmsg.ProduceResponse)
	wantCode(t, "produce without WRITE", p.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	e.grant(t, "erin", topicR, "__consumer_offsets", litACL, kmsg.ACLOperationWrite)
	p = c.doAs("erin", produceReq("__consumer_offsets", 0, -1, mkBatch("x")), 9).(*kmsg.ProduceResponse)
	wantCode(t, "produce with WRITE", p.Topics[0].Partitions[0].ErrorCode, kerr.InvalidTopicException)
}
