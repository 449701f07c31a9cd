package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/stats"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRegistryMatchesKmsg(t *testing.T) {
	for _, a := range sortedAPIs() {
		if a.max != kmsg.RequestForKey(a.key).MaxVersion() {
			t.Errorf("%s: we implement up to v%d, kmsg knows v%d", kmsg.NameForKey(a.key), a.max, kmsg.RequestForKey(a.key).MaxVersion())
		}
	}
}

func TestApiVersions(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	for v := int16(0); v <= 5; v++ {
		resp := c.do(kmsg.NewPtrApiVersionsRequest(), v).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		got := map[int16][2]int16{}
		for _, k := range resp.ApiKeys {
			got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		if got[0] != [2]int16{0, 13} || got[1] != [2]int16{4, 18} || got[3] != [2]int16{0, 13} || got[18] != [2]int16{0, 5} {
			t.Fatalf("v%d: unexpected ranges %v", v, got)
		}
		if got[11] != [2]int16{0, 9} || got[14] != [2]int16{0, 5} || got[47] != [2]int16{0, 0} {
			t.Fatalf("v%d: group APIs %v %v %v", v, got[11], got[14], got[47])
		}
	}
	// A version from the future: v0 body, UNSUPPORTED_VERSION, the list.
	req := kmsg.NewPtrApiVersionsRequest()
	corr := c.send(req, 9)
	got, body, err := c.readFrame()
	if err != nil || got != corr {
		t.Fatalf("corr %d err %v", got, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("got error %d with %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	// The connection still works.
	if r := c.do(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatal(r.ErrorCode)
	}
}

func TestMetadata(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	for _, v := range []int16{0, 1, 4, 9, 12, 13} {
		req := kmsg.NewPtrMetadataRequest()
		name := "auto-" + string(rune('a'+v))
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &name
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp := c.do(req, v).(*kmsg.MetadataResponse)
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 || resp.Brokers[0].Host != "127.0.0.1" {
			t.Fatalf("v%d brokers %+v", v, resp.Brokers)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d topics %+v", v, resp.Topics)
		}
		if v >= 10 && resp.Topics[0].TopicID == ([16]byte{}) {
			t.Fatalf("v%d: no topic id", v)
		}
	}
	// Not allowed to create: v4+ flag false.
	req := kmsg.NewPtrMetadataRequest()
	name := "no-create"
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}}
	resp := c.do(req, 4).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("got %d", resp.Topics[0].ErrorCode)
	}
	bad := "bad/name"
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: &bad}}
	req.AllowAutoTopicCreation = true
	resp = c.do(req, 4).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("got %d", resp.Topics[0].ErrorCode)
	}
	// All topics: v0 empty list, v1+ null.
	req = kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	if n := len(c.do(req, 0).(*kmsg.MetadataResponse).Topics); n != 6+2 { // and the internal topics
		t.Fatalf("v0 all topics: %d", n)
	}
	if n := len(c.do(req, 1).(*kmsg.MetadataResponse).Topics); n != 0 {
		t.Fatalf("v1 empty list: %d topics", n)
	}
	req.Topics = nil
	all := c.do(req, 12).(*kmsg.MetadataResponse)
	if len(all.Topics) != 6+2 { // and the internal topics, sorted first
		t.Fatalf("v12 all topics: %d", len(all.Topics))
	}
	// By id.
	id := all.Topics[4].TopicID
	req.Topics = []kmsg.MetadataRequestTopic{{TopicID: id}, {TopicID: [16]byte{1}}}
	resp = c.do(req, 12).(*kmsg.MetadataResponse)
	if *resp.Topics[0].Topic != *all.Topics[4].Topic || resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("by id: %+v", resp.Topics)
	}
	// A topic asked for twice, by name or by id, is answered once, as Kafka
	// does (it reads the request's topics into a set).
	twice := *all.Topics[3].Topic
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: &twice}, {Topic: &twice}, {TopicID: id}, {TopicID: id}}
	resp = c.do(req, 12).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 2 || *resp.Topics[0].Topic != twice || resp.Topics[1].TopicID != id {
		t.Fatalf("repeated topics: %+v", resp.Topics)
	}
	// By id with an empty name, as the Java AdminClient sends it
	// (describeTopics(TopicCollection.ofTopicIds(...))): the id wins.
	empty := ""
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: &empty, TopicID: id}, {Topic: &empty, TopicID: [16]byte{1}}}
	resp = c.do(req, 12).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 2 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != *all.Topics[4].Topic ||
		resp.Topics[0].TopicID != id || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) == 0 ||
		resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code || resp.Topics[1].TopicID != [16]byte{1} {
		t.Fatalf("by id with an empty name: %+v", resp.Topics)
	}
}

func TestAdvertised(t *testing.T) {
	cfg := testConfig()
	cfg.AdvertisedHost, cfg.AdvertisedPort = "zombi.example", 19092
	e := startServer(t, cfg)
	resp := e.dial(t).do(kmsg.NewPtrMetadataRequest(), 9).(*kmsg.MetadataResponse)
	if b := resp.Brokers[0]; b.Host != "zombi.example" || b.Port != 19092 {
		t.Fatalf("%+v", b)
	}
}

func TestProduceFetch(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	// v3 (oldest stored format) then v9 (flexible) then v12.
	p := c.produce("pf", 0, 3, mkBatch("a", "b"))
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("%+v", p)
	}
	p = c.produce("pf", 0, 9, mkBatch("c"))
	if p.ErrorCode != 0 || p.BaseOffset != 2 || p.LogStartOffset != 0 {
		t.Fatalf("%+v", p)
	}
	// Two batches in one record set.
	p = c.produce("pf", 0, 12, append(mkBatch("d"), mkBatch("e", "f")...))
	if p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("%+v", p)
	}
	for _, v := range []int16{4, 7, 11, 12} {
		resp := c.do(fetchReq("pf", 0, 1, 0, 0), v).(*kmsg.FetchResponse)
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 || fp.HighWatermark != 6 || fp.LastStableOffset != 6 {
			t.Fatalf("v%d %+v", v, fp)
		}
		recs := decodeAll(t, fp.RecordBatches)
		// The whole batch holding offset 1 comes back: offsets 0..5.
		if len(recs) != 6 || recs[0].Offset != 0 || string(recs[5].Value) != "f" || string(recs[1].Key) != "k-b" || string(recs[1].Headers[0].Value) != "hv" {
			t.Fatalf("v%d: %d records", v, len(recs))
		}
	}
	// v13+: by topic id.
	info, _ := e.l.Topic("pf")
	req := produceReq("", 0, 1, mkBatch("g"))
	req.Topics[0].TopicID = info.UUID
	presp := c.do(req, 13).(*kmsg.ProduceResponse)
	if pp := presp.Topics[0].Partitions[0]; pp.ErrorCode != 0 || pp.BaseOffset != 6 || presp.Topics[0].TopicID != info.UUID {
		t.Fatalf("%+v", presp.Topics[0])
	}
	for _, v := range []int16{13, 16, 18} {
		freq := fetchReq("", 0, 6, 0, 0)
		freq.Topics[0].TopicID = info.UUID
		resp := c.do(freq, v).(*kmsg.FetchResponse)
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 || resp.Topics[0].TopicID != info.UUID {
			t.Fatalf("v%d %+v", v, fp)
		}
		if recs := decodeAll(t, fp.RecordBatches); len(recs) != 1 || string(recs[0].Value) != "g" {
			t.Fatalf("v%d %+v", v, recs)
		}
		freq.Topics[0].TopicID = [16]byte{9}
		resp = c.do(freq, v).(*kmsg.FetchResponse)
		if resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("unknown id: %+v", resp.Topics[0].Partitions[0])
		}
	}
}

func TestProduceErrors(t *testing.T) {
	cfg := testConfig()
	e := startServer(t, cfg)
	c := e.dial(t)
	if _, err := e.l.CreateTopic("small", 2, map[string]string{"max.message.bytes": "200"}); err != nil {
		t.Fatal(err)
	}
	corrupt := mkBatch("x")
	corrupt[len(corrupt)-1] ^= 0xff
	cases := []struct {
		name    string
		topic   string
		part    int32
		version int16
		records []byte
		want    *kerr.Error
	}{
		{"bad crc", "pe", 0, 9, corrupt, kerr.CorruptMessage},
		{"garbage", "pe", 0, 9, []byte("not a batch"), kerr.CorruptMessage},
		{"empty", "pe", 0, 9, nil, kerr.CorruptMessage},
		{"unknown partition", "pe", 7, 9, mkBatch("x"), kerr.UnknownTopicOrPartition},
		{"invalid topic", "a b", 0, 9, mkBatch("x"), kerr.InvalidTopicException},
		{"old version", "pe", 0, 2, mkBatch("x"), kerr.UnsupportedVersion},
		{"too large", "small", 1, 9, mkBatch(string(make([]byte, 300))), kerr.MessageTooLarge},
	}
	for _, tc := range cases {
		p := c.produce(tc.topic, tc.part, tc.version, tc.records)
		if p.ErrorCode != tc.want.Code {
			t.Errorf("%s: got %v, want %v", tc.name, kerr.ErrorForCode(p.ErrorCode), tc.want)
		}
	}
	// A transactional batch of a producer without a transaction.
	tb := mkIdemBatch(424242, 0, 0, "x")
	batch.SetTransactional(tb)
	req := produceReq("pe", 0, -1, tb)
	txn := "t"
	req.TransactionID = &txn
	if p := c.do(req, 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.InvalidTxnState.Code {
		t.Errorf("transactional: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	req = produceReq("pe", 0, 2, mkBatch("x"))
	if p := c.do(req, 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.InvalidRequiredAcks.Code {
		t.Errorf("acks 2: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	// No auto-create.
	cfg.AutoCreateTopics = false
	e2 := startServer(t, cfg)
	if p := e2.dial(t).produce("nope", 0, 9, mkBatch("x")); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("no auto-create: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

func TestProduceAcksZero(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	c.send(produceReq("a0", 0, 0, mkBatch("x")), 9)
	corr := c.send(kmsg.NewPtrApiVersionsRequest(), 3)
	if got, _, err := c.readFrame(); err != nil || got != corr {
		t.Fatalf("got corr %d (%v), want %d: acks=0 must not be answered", got, err, corr)
	}
	if _, hwm, _ := e.l.Offsets("a0", 0); hwm != 1 {
		t.Fatalf("hwm %d", hwm)
	}
	// A failing acks=0 produce closes the connection.
	c.send(produceReq("a0", 5, 0, mkBatch("x")), 9)
	c.expectClosed()
}

func TestIdempotentProduce(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	ip := c.do(kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse)
	if ip.ErrorCode != 0 || ip.ProducerID <= 0 || ip.ProducerEpoch != 0 {
		t.Fatalf("%+v", ip)
	}
	pid := ip.ProducerID
	b0 := mkIdemBatch(pid, 0, 0, "a", "b")
	p := c.produce("idem", 0, 9, append([]byte(nil), b0...))
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("%+v", p)
	}
	// The same batch again (a retry): original offset, no error, no append.
	p = c.produce("idem", 0, 9, append([]byte(nil), b0...))
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retry: %+v", p)
	}
	if _, hwm, _ := e.l.Offsets("idem", 0); hwm != 2 {
		t.Fatalf("hwm %d after retry", hwm)
	}
	// A gap in sequences.
	p = c.produce("idem", 0, 9, mkIdemBatch(pid, 0, 5, "z"))
	if p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	p = c.produce("idem", 0, 9, mkIdemBatch(pid, 0, 2, "c"))
	if p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("next: %+v", p)
	}
	// Epoch bump (v3+), then the old epoch is fenced.
	req := kmsg.NewPtrInitProducerIDRequest()
	req.ProducerID, req.ProducerEpoch = pid, 0
	ip = c.do(req, 4).(*kmsg.InitProducerIDResponse)
	if ip.ProducerID != pid || ip.ProducerEpoch != 1 {
		t.Fatalf("bump: %+v", ip)
	}
	if p := c.produce("idem", 0, 9, mkIdemBatch(pid, 1, 0, "d")); p.ErrorCode != 0 {
		t.Fatalf("new epoch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := c.produce("idem", 0, 9, mkIdemBatch(pid, 0, 3, "e")); p.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	// Ids are unique and increasing.
	last := pid
	for v := int16(0); v <= 5; v++ {
		ip := c.do(kmsg.NewPtrInitProducerIDRequest(), v).(*kmsg.InitProducerIDResponse)
		if ip.ProducerID <= last {
			t.Fatalf("v%d: id %d after %d", v, ip.ProducerID, last)
		}
		last = ip.ProducerID
	}
	txn := "txn"
	req = kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &txn, 60000
	if ip := c.do(req, 4).(*kmsg.InitProducerIDResponse); ip.ErrorCode != 0 || ip.ProducerID <= last || ip.ProducerEpoch != 0 {
		t.Fatalf("transactional: %+v", ip)
	}
}

func TestFetchLongPoll(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	c.produce("lp", 0, 9, mkBatch("a"))
	// Nothing new: waits max_wait and returns empty.
	start := time.Now()
	resp := c.do(fetchReq("lp", 0, 1, 1, 300), 11).(*kmsg.FetchResponse)
	if d := time.Since(start); d < 250*time.Millisecond || len(resp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("returned after %v with %d bytes", d, len(resp.Topics[0].Partitions[0].RecordBatches))
	}
	if resp.Topics[0].Partitions[0].RecordBatches == nil {
		t.Fatal("empty records sent as null (kafka-python fails on that)")
	}
	// New data wakes the waiting fetch long before max_wait.
	start = time.Now()
	lreq := fetchReq("lp", 0, 1, 1, 10000)
	corr := c.send(lreq, 11)
	time.Sleep(100 * time.Millisecond)
	c2 := e.dial(t)
	c2.produce("lp", 0, 9, mkBatch("b"))
	resp = c.recv(lreq, corr).(*kmsg.FetchResponse)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if recs := decodeAll(t, resp.Topics[0].Partitions[0].RecordBatches); len(recs) != 1 || string(recs[0].Value) != "b" {
		t.Fatalf("%+v", recs)
	}
}

func TestFetchOutOfRangeAndLimits(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, err := e.l.CreateTopic("lim", 2, nil); err != nil {
		t.Fatal(err)
	}
	big := string(bytes.Repeat([]byte("x"), 4000))
	for i := 0; i < 3; i++ {
		c.produce("lim", 0, 9, mkBatch(big))
		c.produce("lim", 1, 9, mkBatch(big))
	}
	fp := c.do(fetchReq("lim", 0, 99, 0, 0), 11).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.HighWatermark != 3 || fp.LogStartOffset != 0 {
		t.Fatalf("%+v", fp)
	}
	// max_bytes 1: the first batch of the first partition only.
	req := fetchReq("lim", 0, 0, 0, 0)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = 1, 1<<20
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	req.MaxBytes = 1
	resp := c.do(req, 11).(*kmsg.FetchResponse)
	if n := len(decodeAll(t, resp.Topics[0].Partitions[0].RecordBatches)); n != 1 {
		t.Fatalf("partition 0: %d records", n)
	}
	if n := len(resp.Topics[0].Partitions[1].RecordBatches); n != 0 || resp.Topics[0].Partitions[1].HighWatermark != 3 {
		t.Fatalf("partition 1: %d bytes, %+v", n, resp.Topics[0].Partitions[1])
	}
	// partition_max_bytes caps each partition; max_bytes large.
	req.MaxBytes = 1 << 20
	req.Topics[0].Partitions[0].PartitionMaxBytes = 20000
	req.Topics[0].Partitions[1].PartitionMaxBytes = 100
	resp = c.do(req, 11).(*kmsg.FetchResponse)
	if n := len(decodeAll(t, resp.Topics[0].Partitions[0].RecordBatches)); n != 2 {
		t.Fatalf("partition 0 with 20000 bytes: %d records", n)
	}
	if n := len(resp.Topics[0].Partitions[1].RecordBatches); n != 0 {
		t.Fatalf("partition 1 with 100 bytes: %d bytes", n)
	}
	// Unknown session.
	req.SessionID = 42
	if resp := c.do(req, 11).(*kmsg.FetchResponse); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("session: %d", resp.ErrorCode)
	}
	// Unknown topic.
	fp = c.do(fetchReq("nope", 0, 0, 0, 0), 4).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if fp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", fp)
	}
}

func TestListOffsets(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	c.produce("lo", 0, 9, mkBatchTs(1000, "a", "b")) // ts 1000, 1001
	c.produce("lo", 0, 9, mkBatchTs(5000, "c"))      // ts 5000
	c.produce("lo", 0, 9, mkBatchTs(2000, "d", "e")) // ts 2000, 2001
	q := func(v int16, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.MaxNumOffsets = ts, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return c.do(req, v).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	if p := q(0, -1); len(p.OldStyleOffsets) != 1 || p.OldStyleOffsets[0] != 5 {
		t.Fatalf("v0 latest %+v", p)
	}
	if p := q(0, -2); len(p.OldStyleOffsets) != 1 || p.OldStyleOffsets[0] != 0 {
		t.Fatalf("v0 earliest %+v", p)
	}
	for _, v := range []int16{1, 4, 7, 11} {
		if p := q(v, -1); p.Offset != 5 || p.ErrorCode != 0 {
			t.Fatalf("v%d latest %+v", v, p)
		}
		if p := q(v, -2); p.Offset != 0 {
			t.Fatalf("v%d earliest %+v", v, p)
		}
		if p := q(v, 1001); p.Offset != 1 || p.Timestamp != 1001 {
			t.Fatalf("v%d ts 1001 %+v", v, p)
		}
		if p := q(v, 1500); p.Offset != 2 || p.Timestamp != 5000 {
			t.Fatalf("v%d ts 1500 %+v", v, p)
		}
		if p := q(v, 9000); p.Offset != -1 || p.Timestamp != -1 {
			t.Fatalf("v%d ts 9000 %+v", v, p)
		}
	}
	if p := q(7, -3); p.Offset != 2 || p.Timestamp != 5000 {
		t.Fatalf("max timestamp %+v", p)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "nope", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Timestamp: -1}}}}
	if p := c.do(req, 5).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", p)
	}
}

func TestPipelinedResponsesInOrder(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	var corrs []int32
	var reqs []kmsg.Request
	for i := 0; i < 20; i++ {
		var r kmsg.Request
		switch i % 3 {
		case 0:
			r = produceReq("pipe", 0, -1, mkBatch("x"))
		case 1:
			r = kmsg.NewPtrApiVersionsRequest()
		default:
			r = fetchReq("pipe", 0, 0, 0, 0)
		}
		reqs = append(reqs, r)
		corrs = append(corrs, c.send(r, 9))
	}
	for i, r := range reqs {
		c.recv(r, corrs[i])
	}
}

// TestProduceBehindLongPoll: a Produce that arrives while the connection's
// long-polling Fetch waits is queued behind it, as Kafka does, and not
// answered ahead of it by the reader (which answers a Produce itself only
// when the connection has nothing else in progress).
func TestProduceBehindLongPoll(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	c.do(produceReq("lp", 0, -1, mkBatch("first")), 9) // creates the topic
	fcorr := c.send(fetchReq("lp", 0, 1, 1, 600), 11)
	time.Sleep(100 * time.Millisecond) // the Fetch is parked
	pcorr := c.send(produceReq("lp", 0, -1, mkBatch("second")), 9)
	if got, _, err := c.readFrame(); err != nil || got != fcorr {
		t.Fatalf("first response has correlation id %d (%v), want the Fetch's %d", got, err, fcorr)
	}
	if got, _, err := c.readFrame(); err != nil || got != pcorr {
		t.Fatalf("second response has correlation id %d (%v), want the Produce's %d", got, err, pcorr)
	}
	if _, hwm, _ := e.l.Offsets("lp", 0); hwm != 2 {
		t.Fatalf("hwm %d, want 2", hwm)
	}
}

func TestConnectionClosedOnBadInput(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRequestBytes = 1 << 20
	cfg.IdleTimeout = 300 * time.Millisecond
	e := startServer(t, cfg)
	write := func(c *rawConn, b []byte) {
		if _, err := c.c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// An API key kmsg does not know (those it knows but Zombi does not
	// implement are answered: TestUnsupportedAPIsAnswerAtOnce).
	c := e.dial(t)
	unknown := frame(kmsg.NewPtrMetadataRequest(), 1)
	binary.BigEndian.PutUint16(unknown[4:], 32000)
	write(c, unknown)
	c.expectClosed()
	// Frame over the size limit.
	c = e.dial(t)
	write(c, binary.BigEndian.AppendUint32(nil, 2<<20))
	c.expectClosed()
	// Negative and tiny sizes.
	c = e.dial(t)
	write(c, []byte{0xff, 0xff, 0xff, 0xff})
	c.expectClosed()
	// A body that does not decode.
	c = e.dial(t)
	f := frame(produceReq("t", 0, -1, mkBatch("x")), 1)
	f = f[:len(f)-10]
	binary.BigEndian.PutUint32(f, uint32(len(f)-4))
	write(c, f)
	c.expectClosed()
	// Fetch below the advertised range: UNSUPPORTED_VERSION, connection open.
	c = e.dial(t)
	for v := int16(0); v <= 3; v++ {
		fr := c.do(fetchReq("t", 0, 0, 0, 0), v).(*kmsg.FetchResponse)
		if fr.Topics[0].Partitions[0].ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("fetch v%d: %+v", v, fr.Topics[0].Partitions[0])
		}
	}
	// A version kmsg does not know, of a request the main goroutine
	// processes and of one the reader answers itself (Produce).
	c = e.dial(t)
	c.send(kmsg.NewPtrMetadataRequest(), 99)
	c.expectClosed()
	c = e.dial(t)
	c.send(produceReq("t", 0, -1, mkBatch("x")), 99)
	c.expectClosed()
	// An idle connection is closed after the idle timeout.
	c = e.dial(t)
	c.expectClosed()
	// A client that stops in the middle of a frame is closed too (the body
	// deadline is longer; just check the server survives everything above).
	c = e.dial(t)
	if r := c.do(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatal(r.ErrorCode)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	// The log's own goroutines live until the log closes, after this test.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("github.com/zombi-dev/zombi/log.(*Log).expireIdempotencyKeys"),
		goleak.IgnoreTopFunction("github.com/zombi-dev/zombi/log.(*Log).retentionLoop"),
		goleak.IgnoreTopFunction("github.com/zombi-dev/zombi/log.(*writer).run"))
	e := startServer(t, testConfig())
	c := e.dial(t)
	c.produce("cl", 0, 9, mkBatch("a"))
	// A long poll in flight and a half-sent frame on another connection.
	c.send(fetchReq("cl", 0, 1, 1, 60000), 11)
	c2 := e.dial(t)
	_, _ = c2.c.Write([]byte{0, 0, 0, 100, 0, 18})
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { _ = e.s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	c.expectClosed()
}

// A request that waits longer than the idle timeout (a long-polling Fetch,
// a JoinGroup waiting for a rebalance) keeps its connection; the idle
// timeout starts once nothing is in progress.
func TestIdleTimeoutSparesRequestsInProgress(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 300 * time.Millisecond
	e := startServer(t, cfg)
	if _, err := e.l.CreateTopic("idle", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t)
	start := time.Now()
	resp := c.do(fetchReq("idle", 0, 0, 1, 1000), 11).(*kmsg.FetchResponse)
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("fetch answered after %v, before its max wait", waited)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("fetch error %d", code)
	}
	// Still open after the long poll ...
	c.do(kmsg.NewPtrApiVersionsRequest(), 3)
	// ... and closed once idle.
	time.Sleep(600 * time.Millisecond)
	c.expectClosed()
}

// Producer ids stay unique across restarts even if the clock stepped back:
// ids start above the ceiling stored with the log.
func TestProducerIDsAboveStoredCeiling(t *testing.T) {
	e := startServer(t, testConfig())
	future := time.Now().Add(1000 * time.Hour).UnixMicro()
	if err := e.l.SetMeta(pidCeilingKey, binary.BigEndian.AppendUint64(nil, uint64(future))); err != nil {
		t.Fatal(err)
	}
	e2 := NewServer(e.l, nil, testConfig(), nil) // a restarted broker over the same log
	defer e2.Close()
	var last int64
	for i := 0; i < 3; i++ {
		id, err := e2.newProducerID()
		if err != nil {
			t.Fatal(err)
		}
		if id <= future || id <= last {
			t.Fatalf("id %d not above the stored ceiling %d / previous %d", id, future, last)
		}
		last = id
	}
	v, _ := e.l.Meta(pidCeilingKey)
	if c := int64(binary.BigEndian.Uint64(v)); c <= last {
		t.Fatalf("ceiling %d not raised above handed-out id %d", c, last)
	}
}

// When the ceiling cannot be stored, InitProducerId answers with a retriable
// error and hands out no id.
func TestInitProducerIDCeilingUnstorable(t *testing.T) {
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(l, stats.New(), testConfig(), slog.New(slog.DiscardHandler))
	defer s.Close()
	l.Close()
	resp, err := s.handleInitProducerID(context.Background(), kmsg.NewPtrInitProducerIDRequest())
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.InitProducerIDResponse)
	if r.ErrorCode != kerr.CoordinatorNotAvailable.Code || r.ProducerID != -1 || r.ProducerEpoch != -1 {
		t.Fatalf("got error %d, id %d, epoch %d", r.ErrorCode, r.ProducerID, r.ProducerEpoch)
	}
}

// A partition's record set of several batches is appended all or nothing.
func TestProduceRecordSetAllOrNothing(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if p := c.produce("rs", 0, 9, mkBatch("first")); p.ErrorCode != 0 {
		t.Fatalf("first: %d", p.ErrorCode)
	}
	set := append(append(mkIdemBatch(78, 0, 0, "a"), mkBatch("plain")...), mkIdemBatch(78, 0, 5, "gap")...)
	p := c.produce("rs", 0, 9, set)
	if p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code || p.BaseOffset != -1 {
		t.Fatalf("mixed record set: code %d base %d", p.ErrorCode, p.BaseOffset)
	}
	if _, hwm, _ := e.l.Offsets("rs", 0); hwm != 1 {
		t.Fatalf("high watermark %d after a refused record set, want 1", hwm)
	}
	set = append(mkBatch("x", "y"), mkBatch("z")...)
	if p := c.produce("rs", 0, 9, set); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("two-batch record set: code %d base %d", p.ErrorCode, p.BaseOffset)
	}
}

// A client asking for more than the broker's cap gets at most the cap
// (and at least one batch).
func TestFetchCappedByBroker(t *testing.T) {
	e := startServer(t, testConfig())
	old := maxFetchBytes
	maxFetchBytes = 300
	defer func() { maxFetchBytes = old }()
	c := e.dial(t)
	for i := 0; i < 10; i++ {
		if p := c.produce("cap", 0, 9, mkBatch(strings.Repeat("v", 100))); p.ErrorCode != 0 {
			t.Fatalf("produce: %d", p.ErrorCode)
		}
	}
	req := fetchReq("cap", 0, 0, 0, 0)
	req.MaxBytes = 1 << 30
	resp := c.do(req, 11).(*kmsg.FetchResponse)
	got := len(decodeAll(t, resp.Topics[0].Partitions[0].RecordBatches))
	if got == 0 || got > 2 {
		t.Fatalf("fetch under a 300-byte cap returned %d records of ~170-byte batches", got)
	}
}
