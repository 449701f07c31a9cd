package compat

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/log/batch"
)

// newClient is a franz-go client of the broker at addr that may auto-create
// topics. Kafka creates an auto-created topic asynchronously: the first
// produce sees UNKNOWN_TOPIC_OR_PARTITION and the client asks again, at most
// once per MetadataMinAge (5 s by default, 200 ms here).
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.MetadataMinAge(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consume reads n records of topic from the start (direct partition
// consumption, no group) and then checks that nothing more arrives.
func consume(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, addr, append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, opts...)...)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(out), n, topic, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	// Nothing more (no duplicates behind the ones counted).
	extraCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if extra := cl.PollFetches(extraCtx).Records(); len(extra) > 0 {
		t.Fatalf("%d records more than the %d expected", len(extra), n)
	}
	if len(out) != n {
		t.Fatalf("got %d records, want %d", len(out), n)
	}
	return out
}

// checkOrder checks that offsets in each partition are contiguous from 0
// and that values are unique.
func checkOrder(t *testing.T, recs []*kgo.Record) {
	t.Helper()
	next := map[int32]int64{}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		if seen[string(r.Value)] {
			t.Fatalf("duplicate value %q", r.Value)
		}
		seen[string(r.Value)] = true
	}
}

// waitTopics waits until the broker's metadata shows each topic with the
// given number of partitions (0: the topic does not exist). Zombi answers
// CreateTopics, CreatePartitions and DeleteTopics once its metadata shows
// the change; Kafka once its controller committed it, and the broker's
// metadata follows a moment later. It asks the broker directly (kadm's
// ListTopics may answer from the client's cache) and never auto-creates.
func waitTopics(t *testing.T, ctx context.Context, cl *kgo.Client, want map[string]int) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for topic := range want {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	type state struct {
		partitions int
		err        error
	}
	for {
		got := map[string]state{}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			for _, rt := range resp.Topics {
				if rt.Topic != nil {
					got[*rt.Topic] = state{len(rt.Partitions), kerr.ErrorForCode(rt.ErrorCode)}
				}
			}
		}
		ok := err == nil
		for topic, n := range want {
			st, has := got[topic]
			if n == 0 && has && !errors.Is(st.err, kerr.UnknownTopicOrPartition) ||
				n > 0 && (st.err != nil || st.partitions != n) {
				ok = false
			}
		}
		if ok {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("metadata never showed the partitions %v: %+v %v", want, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFranzGoKeyedHeadersThreePartitions(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 60*time.Second)
		topic := topicName(t, "t")
		cl := newClient(t, b.addr, kgo.ProducerLinger(5*time.Millisecond))
		adm := kadm.NewClient(cl)
		if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		const n = 3000
		for i := 0; i < n; i++ {
			r := &kgo.Record{
				Topic:   topic,
				Key:     []byte("key-" + strconv.Itoa(i%17)),
				Value:   []byte(fmt.Sprintf("%s|%06d", "key-"+strconv.Itoa(i%17), i)),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(i))}, {Key: "src", Value: []byte("franz-go")}},
			}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		recs := consume(t, b.addr, topic, n)
		checkOrder(t, recs)
		keyPart := map[string]int32{}
		lastSeq := map[string]int{}
		parts := map[int32]bool{}
		for _, r := range recs {
			parts[r.Partition] = true
			k := string(r.Key)
			if p, ok := keyPart[k]; ok && p != r.Partition {
				t.Fatalf("key %s in partitions %d and %d", k, p, r.Partition)
			}
			keyPart[k] = r.Partition
			if !bytes.HasPrefix(r.Value, r.Key) {
				t.Fatalf("value %q does not belong to key %q", r.Value, r.Key)
			}
			if len(r.Headers) != 2 || r.Headers[1].Key != "src" || string(r.Headers[1].Value) != "franz-go" {
				t.Fatalf("headers %+v", r.Headers)
			}
			seq, _ := strconv.Atoi(string(r.Headers[0].Value))
			if prev, ok := lastSeq[k]; ok && seq <= prev {
				t.Fatalf("key %s: seq %d after %d (per-partition order broken)", k, seq, prev)
			}
			lastSeq[k] = seq
			if r.Timestamp.IsZero() || time.Since(r.Timestamp) > time.Minute {
				t.Fatalf("timestamp %v", r.Timestamp)
			}
		}
		if len(parts) != 3 {
			t.Fatalf("records landed in %d partitions", len(parts))
		}
	})
}

func TestFranzGoCompressionCodecs(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		codecs := map[string]kgo.CompressionCodec{
			"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
			"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
		}
		for name, codec := range codecs {
			t.Run(name, func(t *testing.T) {
				t.Parallel() // one topic each
				ctx := testCtx(t, 60*time.Second)
				topic := topicName(t, "t")
				cl := newClient(t, b.addr, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(10*time.Millisecond))
				const n = 500
				for i := 0; i < n; i++ {
					v := bytes.Repeat([]byte(fmt.Sprintf("%s-%d ", name, i)), 20) // compressible
					cl.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, func(_ *kgo.Record, err error) {
						if err != nil {
							t.Errorf("produce: %v", err)
						}
					})
				}
				if err := cl.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				recs := consume(t, b.addr, topic, n)
				checkOrder(t, recs)
				for i, r := range recs {
					if want := bytes.Repeat([]byte(fmt.Sprintf("%s-%d ", name, i)), 20); !bytes.Equal(r.Value, want) {
						t.Fatalf("record %d: %q", i, r.Value)
					}
				}
			})
		}
	})
}

func TestFranzGoListOffsets(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 30*time.Second)
		topic := topicName(t, "t")
		cl := newClient(t, b.addr)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		for i := 0; i < 10; i++ {
			r := &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i)), Timestamp: base.Add(time.Duration(i) * time.Minute)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		adm := kadm.NewClient(cl)
		start, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		end, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := start.Lookup(topic, 0); o.Offset != 0 || o.Err != nil {
			t.Fatalf("start %+v", o)
		}
		if o, _ := end.Lookup(topic, 0); o.Offset != 10 || o.Err != nil {
			t.Fatalf("end %+v", o)
		}
		after, err := adm.ListOffsetsAfterMilli(ctx, base.Add(4*time.Minute+time.Second).UnixMilli(), topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := after.Lookup(topic, 0); o.Offset != 5 || o.Timestamp != base.Add(5*time.Minute).UnixMilli() {
			t.Fatalf("after 4m1s: %+v", o)
		}
		after, err = adm.ListOffsetsAfterMilli(ctx, time.Now().Add(time.Hour).UnixMilli(), topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := after.Lookup(topic, 0); o.Offset != 10 {
			// kadm maps "no such record" (-1) to the end offset.
			t.Fatalf("in the future: %+v", o)
		}
		maxTs, err := adm.ListMaxTimestampOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := maxTs.Lookup(topic, 0); o.Offset != 9 {
			t.Fatalf("max timestamp: %+v", o)
		}
	})
}

func TestFranzGoAdminCreateDelete(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 30*time.Second)
		cl := newClient(t, b.addr)
		adm := kadm.NewClient(cl)
		ta, tb := topicName(t, "a"), topicName(t, "b")
		cfg := "86400000"
		resps, err := adm.CreateTopics(ctx, 2, 1, map[string]*string{"retention.ms": &cfg}, ta, tb)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resps.Sorted() {
			if r.Err != nil || r.ID == (kadm.TopicID{}) {
				t.Fatalf("create %s: %v", r.Topic, r.Err)
			}
		}
		resps, _ = adm.CreateTopics(ctx, 2, 1, nil, ta)
		if r := resps[ta]; !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			t.Fatalf("create again: %v", r.Err)
		}
		waitTopics(t, ctx, cl, map[string]int{ta: 2, tb: 2})
		if _, err := adm.CreatePartitions(ctx, 2, ta); err != nil { // +2 -> 4
			t.Fatal(err)
		}
		waitTopics(t, ctx, cl, map[string]int{ta: 4})
		rc, err := adm.DescribeTopicConfigs(ctx, ta)
		if err != nil {
			t.Fatal(err)
		}
		conf, err := rc.On(ta, nil)
		if err != nil || conf.Err != nil {
			t.Fatal(err, conf.Err)
		}
		vals := map[string]string{}
		for _, c := range conf.Configs {
			vals[c.Key] = c.MaybeValue()
		}
		if vals["retention.ms"] != "86400000" || vals["cleanup.policy"] != "delete" || vals["min.insync.replicas"] != "1" {
			t.Fatalf("%v", vals)
		}
		if _, err := adm.DescribeBrokerConfigs(ctx, 1); err != nil {
			t.Fatal(err)
		}
		meta, err := adm.BrokerMetadata(ctx)
		if err != nil || len(meta.Brokers) != 1 || meta.Controller != 1 {
			t.Fatalf("%+v %v", meta, err)
		}
		dr, err := adm.DeleteTopics(ctx, ta, tb)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range dr.Sorted() {
			if r.Err != nil {
				t.Fatalf("delete %s: %v", r.Topic, r.Err)
			}
		}
		waitTopics(t, ctx, cl, map[string]int{ta: 0, tb: 0})
		td, _ := adm.ListTopics(ctx)
		if td.Has(ta) || td.Has(tb) {
			t.Fatal("deleted topics still listed")
		}
		// Offsets commit/fetch for a group without membership.
		topic := topicName(t, "oc")
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1, Metadata: "m"})
		if _, err := adm.CommitOffsets(ctx, "compat-group", offs); err != nil {
			t.Fatal(err)
		}
		got, err := adm.FetchOffsets(ctx, "compat-group")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := got.Lookup(topic, 0); !ok || o.At != 1 || o.Metadata != "m" {
			t.Fatalf("%+v", got)
		}
	})
}

func TestFranzGoLargeRecord(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 60*time.Second)
		topic := topicName(t, "t")
		cl := newClient(t, b.addr, kgo.ProducerBatchMaxBytes(2<<20))
		big := make([]byte, 1000000)
		for i := range big {
			big[i] = byte(i*7 + i/1000)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("big"), Value: big}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		recs := consume(t, b.addr, topic, 2, kgo.FetchMaxPartitionBytes(512<<10))
		if !bytes.Equal(recs[0].Value, big) || string(recs[1].Value) != "after" {
			t.Fatalf("1 MB record did not round-trip (%d bytes)", len(recs[0].Value))
		}
		// Over max.message.bytes: MESSAGE_TOO_LARGE.
		huge := make([]byte, 2<<20)
		_, _ = rand.Read(huge) // incompressible: the stored batch is over 1 MiB
		cl2 := newClient(t, b.addr, kgo.ProducerBatchMaxBytes(4<<20), kgo.RecordRetries(1))
		err := cl2.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: huge}).FirstErr()
		if !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("2 MiB record: %v", err)
		}
	})
}

// TestIdempotentDuplicateBatch sends the same idempotent batch twice at the
// kmsg level: the second gets the first's offset and nothing is appended.
func TestIdempotentDuplicateBatch(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 30*time.Second)
		topic := topicName(t, "t")
		cl := newClient(t, b.addr)
		ip, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
		if err != nil || ip.ErrorCode != 0 {
			t.Fatal(err, ip)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("first")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		bb := batch.NewBuilder()
		bb.SetProducer(ip.ProducerID, ip.ProducerEpoch, 0)
		bb.Add(time.Now().UnixMilli(), nil, []byte("dup-0"), nil)
		bb.Add(time.Now().UnixMilli(), nil, []byte("dup-1"), nil)
		raw := append([]byte(nil), bb.Bytes()...)
		td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		var offsets []int64
		for i := 0; i < 2; i++ {
			req := kmsg.NewPtrProduceRequest()
			req.Acks = -1
			req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, TopicID: td[topic].ID, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: append([]byte(nil), raw...)}}}}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 {
				t.Fatalf("attempt %d: %v", i, kerr.ErrorForCode(p.ErrorCode))
			}
			offsets = append(offsets, p.BaseOffset)
		}
		if offsets[0] != 1 || offsets[1] != 1 {
			t.Fatalf("offsets %v, want [1 1]", offsets)
		}
		got := consume(t, b.addr, topic, 3)
		if string(got[1].Value) != "dup-0" || string(got[2].Value) != "dup-1" {
			t.Fatalf("%q %q", got[1].Value, got[2].Value)
		}
	})
}
