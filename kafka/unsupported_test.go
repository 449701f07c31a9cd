package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// answerWithin sends req at version on a fresh connection and waits up to
// d for a response (decoded) or the connection to close (nil). A hang fails.
func (e *testEnv) answerWithin(t *testing.T, req kmsg.Request, version int16, d time.Duration) kmsg.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, d)
	if err != nil {
		t.Fatalf("%s v%d: dial: %v (server down?)", kmsg.NameForKey(req.Key()), version, err)
	}
	defer c.Close()
	req.SetVersion(version)
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write(frame(req, 7)); err != nil {
		t.Fatalf("%s v%d: write: %v", kmsg.NameForKey(req.Key()), version, err)
	}
	var sz [4]byte
	if _, err := io.ReadFull(c, sz[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s v%d: no answer and no close within %v", kmsg.NameForKey(req.Key()), version, d)
		}
		return nil // closed
	}
	buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("%s v%d: short response: %v", kmsg.NameForKey(req.Key()), version, err)
	}
	if corr := int32(binary.BigEndian.Uint32(buf)); corr != 7 {
		t.Fatalf("%s v%d: correlation id %d", kmsg.NameForKey(req.Key()), version, corr)
	}
	body := buf[4:]
	if req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		if body, err = skipTags(body); err != nil {
			t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), version, err)
		}
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d: response does not decode: %v", kmsg.NameForKey(req.Key()), version, err)
	}
	return resp
}

// TestUnsupportedAPIsAnswerAtOnce sends every request kmsg can build that
// the server does not advertise (the advertised set is read from the
// server, so APIs added later drop out by themselves), at kmsg's highest
// version, and every advertised API one version above the server's range
// when kmsg knows that version: each gets an UNSUPPORTED_VERSION response
// within a second, and the server keeps serving.
func TestUnsupportedAPIsAnswerAtOnce(t *testing.T) {
	e := startServer(t, testConfig())
	av := e.dial(t).do(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	advertised := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range av.ApiKeys {
		advertised[k.ApiKey] = k
	}
	tried := 0
	for key := int16(0); key <= 100; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		version := req.MaxVersion()
		if a, ok := advertised[key]; ok {
			if a.MaxVersion >= version {
				continue
			}
			version = a.MaxVersion + 1
		}
		tried++
		start := time.Now()
		resp := e.answerWithin(t, req, version, time.Second)
		if resp == nil {
			t.Errorf("%s v%d: connection closed, want an UNSUPPORTED_VERSION response", kmsg.NameForKey(key), version)
			continue
		}
		if code, ok := topErrorCode(resp); ok && code != kerr.UnsupportedVersion.Code {
			t.Errorf("%s v%d: error code %d, want UNSUPPORTED_VERSION", kmsg.NameForKey(key), version, code)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Errorf("%s v%d: answered in %v", kmsg.NameForKey(key), version, el)
		}
	}
	if tried == 0 {
		t.Fatal("every API kmsg knows is advertised at its highest version: nothing to test")
	}
	t.Logf("%d unsupported APIs or versions answered", tried)
	// Still up, and the connection of an unsupported request stays usable.
	c := e.dial(t)
	c.send(kmsg.NewPtrListPartitionReassignmentsRequest(), 0)
	if _, _, err := c.readFrame(); err != nil {
		t.Fatal(err)
	}
	if r := c.do(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatal(r.ErrorCode)
	}
}

// topErrorCode is resp's top-level ErrorCode, when its version encodes one.
func topErrorCode(resp kmsg.Response) (int16, bool) {
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 || errorResponse(resp.RequestKind(), 1) == nil {
		return 0, false
	}
	return int16(f.Int()), true
}

// TestUnsupportedResponseMirrorsRequest checks that the error reaches the
// items a client looks for: each topic and partition of the request.
func TestUnsupportedResponseMirrorsRequest(t *testing.T) {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.SetVersion(0)
	for _, name := range []string{"a", "b"} {
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = name
		for p := int32(0); p < 3; p++ {
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp := unsupportedResponse(req, false, 0, 0).(*kmsg.AlterPartitionAssignmentsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || resp.ErrorMessage == nil {
		t.Fatalf("top level: %d %v", resp.ErrorCode, resp.ErrorMessage)
	}
	if len(resp.Topics) != 2 || resp.Topics[1].Topic != "b" || len(resp.Topics[1].Partitions) != 3 {
		t.Fatalf("topics not mirrored: %+v", resp.Topics)
	}
	for _, p := range resp.Topics[1].Partitions {
		if p.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("partition %d: %d", p.Partition, p.ErrorCode)
		}
	}
	if resp.Topics[1].Partitions[2].Partition != 2 {
		t.Fatalf("partition numbers not mirrored: %+v", resp.Topics[1].Partitions)
	}
	// A request array of scalars (Partitions []int32) gives entries with
	// the singular field set.
	lr := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{4, 5}
	lr.Topics = append(lr.Topics, rt)
	dp := unsupportedResponse(lr, false, 0, 0).(*kmsg.DescribeProducersResponse)
	if len(dp.Topics) != 1 || len(dp.Topics[0].Partitions) != 2 || dp.Topics[0].Partitions[1].Partition != 5 ||
		dp.Topics[0].Partitions[1].ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("scalar partitions not mirrored: %+v", dp.Topics)
	}
	// A frame of many empty entries does not become a huge response.
	big := kmsg.NewPtrDescribeProducersRequest()
	big.Topics = make([]kmsg.DescribeProducersRequestTopic, 3*maxMirrored)
	dp = unsupportedResponse(big, false, 0, 0).(*kmsg.DescribeProducersResponse)
	if len(dp.Topics) > maxMirrored {
		t.Fatalf("%d topics mirrored", len(dp.Topics))
	}
}

// unsupportedSeeds are fuzz seeds for the unsupported path and the internal
// topics: every API kmsg knows that no handler registers (at its highest
// version, empty), two with items to mirror, and requests naming the
// internal topics.
func unsupportedSeeds() []kmsg.Request {
	var out []kmsg.Request
	for key := int16(0); key <= 100; key++ {
		if r := kmsg.RequestForKey(key); r != nil {
			if _, ok := apis[key]; !ok {
				r.SetVersion(r.MaxVersion())
				out = append(out, r)
			}
		}
	}
	apa := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	apa.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: "fz", Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 1}}}}
	apa.SetVersion(apa.MaxVersion())
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "fz", Partitions: []int32{0, 1}}}
	dp.SetVersion(0)
	out = append(out, apa, dp)
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("__consumer_offsets")}}
	md.SetVersion(12)
	pr := produceReq("__transaction_state", 0, -1, mkBatch("x"))
	pr.SetVersion(9)
	fr := fetchReq("__consumer_offsets", 0, 0, 1, 10)
	fr.SetVersion(12)
	return append(out, md, pr, fr)
}
