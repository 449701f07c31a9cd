package kafka

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// TestClusterInternalTopicsMetadata: in cluster mode the internal topics
// do not exist until the cluster has created them (Metadata by name:
// UNKNOWN_TOPIC_OR_PARTITION, or LEADER_NOT_AVAILABLE when auto-creation
// starts it; not listed); once created, Metadata and
// DescribeTopicPartitions show the cluster's leaders, epochs, replicas and
// ISR with is_internal, the same on every node; operator changes stay
// refused.
func TestClusterInternalTopicsMetadata(t *testing.T) {
	e, fc := startCluster(t)
	r := e.dial(t)
	metadata := func(allowCreate bool, names ...string) *kmsg.MetadataResponse {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = allowCreate
		if names != nil {
			req.Topics = []kmsg.MetadataRequestTopic{}
			for _, n := range names {
				req.Topics = append(req.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(n)})
			}
		}
		return r.do(req, 12).(*kmsg.MetadataResponse)
	}
	for _, mt := range metadata(false, internalNames...).Topics {
		if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(mt.Partitions) != 0 {
			t.Errorf("%s before creation: code %d, %d partitions; want UNKNOWN_TOPIC_OR_PARTITION", *mt.Topic, mt.ErrorCode, len(mt.Partitions))
		}
	}
	for _, mt := range metadata(true, internalNames...).Topics {
		if mt.ErrorCode != kerr.LeaderNotAvailable.Code || !mt.IsInternal {
			t.Errorf("%s auto-created: code %d internal %v; want LEADER_NOT_AVAILABLE while the cluster creates it", *mt.Topic, mt.ErrorCode, mt.IsInternal)
		}
	}
	if got := metadata(false).Topics; len(got) != 0 {
		t.Errorf("all topics before creation: %d listed, want none", len(got))
	}
	dreq := kmsg.NewPtrDescribeTopicPartitionsRequest()
	dreq.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: "__consumer_offsets"}}
	if dt := r.do(dreq, 0).(*kmsg.DescribeTopicPartitionsResponse).Topics[0]; dt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("DescribeTopicPartitions before creation: code %d, want UNKNOWN_TOPIC_OR_PARTITION", dt.ErrorCode)
	}

	// The cluster creates __consumer_offsets: leaders spread over 1, 2, 3.
	want := map[int32]PartitionView{}
	for p := range int32(50) {
		l := p%3 + 1
		v := PartitionView{Leader: l, LeaderEpoch: p % 4, Replicas: []int32{l, l%3 + 1, (l+1)%3 + 1}, ISR: []int32{l, l%3 + 1}, Offline: []int32{}}
		fc.setPartition("__consumer_offsets", p, v)
		want[p] = v
	}
	md := metadata(false, "__consumer_offsets", "__transaction_state")
	it, _ := plog.LookupInternalTopic("__consumer_offsets")
	co, ts := md.Topics[0], md.Topics[1]
	if co.ErrorCode != 0 || !co.IsInternal || co.TopicID != it.UUID || len(co.Partitions) != 50 {
		t.Fatalf("__consumer_offsets: code %d internal %v id %x, %d partitions", co.ErrorCode, co.IsInternal, co.TopicID, len(co.Partitions))
	}
	for _, p := range co.Partitions {
		w := want[p.Partition]
		if p.ErrorCode != 0 || p.Leader != w.Leader || p.LeaderEpoch != w.LeaderEpoch || !equalIDs(p.Replicas, w.Replicas) || !equalIDs(p.ISR, w.ISR) {
			t.Errorf("__consumer_offsets/%d: %+v, want the cluster's %+v", p.Partition, p, w)
		}
	}
	if ts.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("__transaction_state, not created: code %d", ts.ErrorCode)
	}
	all := metadata(false).Topics
	if len(all) != 1 || *all[0].Topic != "__consumer_offsets" || !all[0].IsInternal {
		t.Errorf("all topics: %d listed, want __consumer_offsets alone", len(all))
	}
	dt := r.do(dreq, 0).(*kmsg.DescribeTopicPartitionsResponse).Topics[0]
	if dt.ErrorCode != 0 || !dt.IsInternal || len(dt.Partitions) != 50 || dt.Partitions[7].LeaderID != want[7].Leader ||
		!equalIDs(dt.Partitions[7].ISR, want[7].ISR) {
		t.Errorf("DescribeTopicPartitions: code %d internal %v, %d partitions", dt.ErrorCode, dt.IsInternal, len(dt.Partitions))
	}

	// Only the coordinators write them.
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{"__consumer_offsets"}
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("__consumer_offsets")}}
	if dt := r.do(del, 6).(*kmsg.DeleteTopicsResponse).Topics[0]; dt.ErrorCode != kerr.InvalidTopicException.Code ||
		dt.ErrorMessage == nil || !strings.Contains(*dt.ErrorMessage, "only the coordinators write it") {
		t.Errorf("DeleteTopics: code %d message %v, want INVALID_TOPIC_EXCEPTION saying why", dt.ErrorCode, dt.ErrorMessage)
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "__consumer_offsets", Count: 60}}
	if c := r.do(cp, 3).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; c != kerr.InvalidTopicException.Code {
		t.Errorf("CreatePartitions: code %d, want INVALID_TOPIC_EXCEPTION", c)
	}
	if p := r.produce("__consumer_offsets", 0, 9, mkBatch("x")); p.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("Produce: code %d, want INVALID_TOPIC_EXCEPTION", p.ErrorCode)
	}
	// An unclean election of a leaderless internal partition would lose
	// acknowledged commits: refused, the cluster not asked.
	fc.setPartition("__consumer_offsets", 3, PartitionView{Leader: -1, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Offline: []int32{1}})
	el := kmsg.NewPtrElectLeadersRequest()
	el.ElectionType = 1
	el.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "__consumer_offsets", Partitions: []int32{3}}}
	if er := r.do(el, 2).(*kmsg.ElectLeadersResponse); len(er.Topics) != 1 || er.Topics[0].Partitions[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("unclean ElectLeaders of a leaderless internal partition: %+v, want INVALID_TOPIC_EXCEPTION", er.Topics)
	}
	if got := get(fc, func() []string { return fc.ops.elections }); len(got) != 0 {
		t.Errorf("the cluster was asked for elections %v", got)
	}
	if got := get(fc, func() []string { return fc.deleted }); len(got) != 0 {
		t.Errorf("the cluster was asked to delete %v", got)
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
