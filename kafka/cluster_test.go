package kafka

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// The door in cluster mode, against a fake Cluster (cluster_fake_test.go):
// three nodes, this server is node 2, every node at this server's address.

// clusterClient is a franz-go client of the test server.
func clusterClient(t *testing.T, e *testEnv, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addr), kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestClusterMetadataShape(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("shape", 3, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("shape", 0, PartitionView{Leader: 2, LeaderEpoch: 7, Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3}, Offline: []int32{1}})
	fc.setPartition("shape", 1, PartitionView{Leader: -1, LeaderEpoch: 4, Replicas: []int32{1, 3}, ISR: []int32{1}, Offline: []int32{1, 3}})
	// partition 2: unknown to the cluster

	adm := kadm.NewClient(clusterClient(t, e))
	md, err := adm.Metadata(ctxT(t), "shape")
	if err != nil {
		t.Fatal(err)
	}
	if md.Controller != 3 {
		t.Errorf("controller %d, want 3", md.Controller)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("brokers %+v, want nodes 1, 2, 3", md.Brokers)
	}
	for i, b := range md.Brokers {
		if b.NodeID != int32(i+1) || b.Rack == nil || *b.Rack != fc.racks[b.NodeID] {
			t.Errorf("broker %d: %+v, want node %d in %s", i, b, i+1, fc.racks[int32(i+1)])
		}
	}
	if got := get(fc, func() []string { return slices.Clone(fc.listeners) }); len(got) == 0 || got[0] != "PLAINTEXT" {
		t.Errorf("Nodes asked for listeners %v, want PLAINTEXT (the connection's)", got)
	}
	ps := md.Topics["shape"].Partitions
	p0 := ps[0]
	if p0.Err != nil || p0.Leader != 2 || p0.LeaderEpoch != 7 || !slices.Equal(p0.Replicas, []int32{2, 3, 1}) ||
		!slices.Equal(p0.ISR, []int32{2, 3}) || !slices.Equal(p0.OfflineReplicas, []int32{1}) {
		t.Errorf("partition 0: %+v, want leader 2 epoch 7 replicas [2 3 1] ISR [2 3] offline [1]", p0)
	}
	p1 := ps[1]
	if !errors.Is(p1.Err, kerr.LeaderNotAvailable) || p1.Leader != -1 || p1.LeaderEpoch != 4 || !slices.Equal(p1.OfflineReplicas, []int32{1, 3}) {
		t.Errorf("offline partition 1: %+v, want LEADER_NOT_AVAILABLE, leader -1, epoch 4, offline [1 3]", p1)
	}
	if p2 := ps[2]; !errors.Is(p2.Err, kerr.LeaderNotAvailable) || p2.Leader != -1 {
		t.Errorf("unknown partition 2: %+v, want LEADER_NOT_AVAILABLE with leader -1", p2)
	}

	// DescribeCluster and DescribeTopicPartitions give the same views.
	r := e.dial(t)
	dc := r.do(kmsg.NewPtrDescribeClusterRequest(), 1).(*kmsg.DescribeClusterResponse)
	if dc.ControllerID != 3 || len(dc.Brokers) != 3 || dc.Brokers[2].NodeID != 3 || dc.Brokers[2].Rack == nil || *dc.Brokers[2].Rack != "rack-c" {
		t.Errorf("DescribeCluster: controller %d brokers %+v, want controller 3 and nodes 1-3 with racks", dc.ControllerID, dc.Brokers)
	}
	dreq := kmsg.NewPtrDescribeTopicPartitionsRequest()
	dt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	dt.Topic = "shape"
	dreq.Topics = append(dreq.Topics, dt)
	dreq.ResponsePartitionLimit = 100
	dresp := r.do(dreq, 0).(*kmsg.DescribeTopicPartitionsResponse)
	if len(dresp.Topics) != 1 || len(dresp.Topics[0].Partitions) != 3 {
		t.Fatalf("DescribeTopicPartitions: %+v", dresp.Topics)
	}
	dp := dresp.Topics[0].Partitions
	if dp[0].ErrorCode != 0 || dp[0].LeaderID != 2 || dp[0].LeaderEpoch != 7 || !slices.Equal(dp[0].Replicas, []int32{2, 3, 1}) ||
		!slices.Equal(dp[0].ISR, []int32{2, 3}) || !slices.Equal(dp[0].OfflineReplicas, []int32{1}) {
		t.Errorf("DescribeTopicPartitions partition 0: %+v", dp[0])
	}
	if dp[1].ErrorCode != kerr.LeaderNotAvailable.Code || dp[1].LeaderID != -1 || dp[2].ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Errorf("DescribeTopicPartitions partitions 1, 2: %+v %+v, want LEADER_NOT_AVAILABLE, leader -1", dp[1], dp[2])
	}

	// The internal topics are the cluster's: none until it creates them
	// (TestClusterInternalTopicsMetadata), never this node's alone.
	imd, err := adm.Metadata(ctxT(t), "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if it := imd.Topics["__consumer_offsets"]; !errors.Is(it.Err, kerr.UnknownTopicOrPartition) || len(it.Partitions) != 0 {
		t.Errorf("__consumer_offsets not created by the cluster: %v, %d partitions; want UNKNOWN_TOPIC_OR_PARTITION", it.Err, len(it.Partitions))
	}
}

// A producer sent to the wrong node gets NOT_LEADER_OR_FOLLOWER, refreshes
// its metadata and produces to the new leader.
func TestClusterProduceNotLeaderRetries(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("moving", 1, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("moving", 0, PartitionView{Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
	fc.mu.Lock()
	fc.moveOnRefusal = true
	fc.mu.Unlock()

	cl := clusterClient(t, e, kgo.DefaultProduceTopic("moving"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	res := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("v")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce after a leader move: %v", err)
	}
	if r := res[0].Record; r.Offset != 0 {
		t.Errorf("offset %d, want 0", r.Offset)
	}
	if n := get(fc, func() int { return fc.refusals }); n != 1 {
		t.Errorf("%d NOT_LEADER refusals, want 1 (the first produce, to node 1)", n)
	}
	if _, hwm, _ := e.l.Offsets("moving", 0); hwm != 1 {
		t.Errorf("high watermark %d, want 1: the refused produce appended nothing, the retry one record", hwm)
	}
}

// acks=all is answered once AwaitReplicated returns; the partitions of one
// request wait together.
func TestClusterProduceAcksAllWaits(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("wait", 2, nil); err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		fc.setPartition("wait", p, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}})
	}
	release := make(chan struct{})
	fc.mu.Lock()
	fc.release = release
	fc.mu.Unlock()

	// Two partitions in one request: both waits must be in progress at once.
	r := e.dial(t)
	req := produceReq("wait", 0, -1, mkBatch("a", "b"))
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 1, mkBatch("c")
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	req.TimeoutMillis = 10000
	corr := r.send(req, 9)
	deadline := time.Now().Add(5 * time.Second)
	for get(fc, func() int { return fc.awaiting }) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d AwaitReplicated calls in progress, want 2 at once (partitions wait in parallel)", get(fc, func() int { return fc.awaiting }))
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	resp := r.recv(req, corr).(*kmsg.ProduceResponse)
	for _, sp := range resp.Topics[0].Partitions {
		if sp.ErrorCode != 0 || sp.BaseOffset != 0 {
			t.Errorf("partition %d: code %d base %d, want 0 and offset 0", sp.Partition, sp.ErrorCode, sp.BaseOffset)
		}
	}
	awaited := get(fc, func() []int64 { return slices.Sorted(slices.Values(fc.awaited)) })
	if !slices.Equal(awaited, []int64{0, 1}) {
		t.Errorf("AwaitReplicated last offsets %v, want [0 1] (partition 1's one record, partition 0's two)", awaited)
	}

	// A franz-go acks=all producer is answered only after the release.
	release2 := make(chan struct{})
	fc.mu.Lock()
	fc.release = release2
	fc.mu.Unlock()
	cl := clusterClient(t, e, kgo.DefaultProduceTopic("wait"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	done := make(chan error, 1)
	cl.Produce(ctxT(t), &kgo.Record{Value: []byte("x"), Partition: 0}, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		t.Fatalf("acks=all answered (%v) before the ISR had the record", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release2)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("acks=all produce: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("acks=all produce not answered 10 s after the release")
	}
}

// acks=all refused or not replicated: the right codes, and no offsets.
func TestClusterProduceNotEnoughReplicas(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("few", 1, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("few", 0, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2}})
	fc.mu.Lock()
	fc.notEnough = true
	fc.mu.Unlock()
	r := e.dial(t)

	sp := r.produce("few", 0, 9, mkBatch("a"))
	if sp.ErrorCode != kerr.NotEnoughReplicas.Code || sp.BaseOffset != -1 {
		t.Errorf("acks=all with too few in sync: code %d base %d, want NOT_ENOUGH_REPLICAS (19), -1", sp.ErrorCode, sp.BaseOffset)
	}
	if _, hwm, _ := e.l.Offsets("few", 0); hwm != 0 {
		t.Errorf("high watermark %d after NOT_ENOUGH_REPLICAS, want 0 (nothing appended)", hwm)
	}
	// acks=1 answers as on one node.
	resp := r.do(produceReq("few", 0, 1, mkBatch("b")), 9).(*kmsg.ProduceResponse)
	if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Errorf("acks=1: code %d base %d, want 0, 0", sp.ErrorCode, sp.BaseOffset)
	}
	if n := get(fc, func() int { return len(fc.awaited) }); n != 0 {
		t.Errorf("acks=1 waited for replication (%d AwaitReplicated calls)", n)
	}

	// Appended, then the ISR shrank: NOT_ENOUGH_REPLICAS_AFTER_APPEND.
	fc.mu.Lock()
	fc.notEnough, fc.awaitErr = false, ErrNotEnoughReplicasAfterAppend
	fc.mu.Unlock()
	sp = r.produce("few", 0, 9, mkBatch("c"))
	if sp.ErrorCode != kerr.NotEnoughReplicasAfterAppend.Code || sp.BaseOffset != -1 {
		t.Errorf("after append: code %d base %d, want NOT_ENOUGH_REPLICAS_AFTER_APPEND (20), -1", sp.ErrorCode, sp.BaseOffset)
	}
	// Not replicated within the request's timeout: REQUEST_TIMED_OUT.
	fc.mu.Lock()
	fc.awaitErr, fc.release = nil, make(chan struct{}) // never released
	fc.mu.Unlock()
	req := produceReq("few", 0, -1, mkBatch("d"))
	req.TimeoutMillis = 200
	start := time.Now()
	resp = r.do(req, 9).(*kmsg.ProduceResponse)
	if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != kerr.RequestTimedOut.Code || sp.BaseOffset != -1 {
		t.Errorf("timeout: code %d base %d, want REQUEST_TIMED_OUT (7), -1", sp.ErrorCode, sp.BaseOffset)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a 200 ms produce timeout answered after %v", d)
	}
}

// Fetch, ListOffsets and OffsetForLeaderEpoch check the leader and the
// client's current leader epoch.
func TestClusterFetchEpochs(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("ep", 2, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("ep", 0, PartitionView{Leader: 2, LeaderEpoch: 5, Replicas: []int32{2, 3}, ISR: []int32{2, 3}})
	fc.setPartition("ep", 1, PartitionView{Leader: 3, LeaderEpoch: 5, Replicas: []int32{3, 2}, ISR: []int32{3, 2}})
	r := e.dial(t)
	if sp := r.do(produceReq("ep", 0, 1, mkBatch("a", "b")), 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; sp.ErrorCode != 0 {
		t.Fatalf("produce: code %d", sp.ErrorCode)
	}
	fetch := func(part, epoch int32) kmsg.FetchResponseTopicPartition {
		req := fetchReq("ep", part, 0, 0, 0)
		req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch
		return r.do(req, 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	for _, c := range []struct {
		part, epoch int32
		want        int16
	}{
		{0, 5, 0}, {0, -1, 0},
		{0, 4, kerr.FencedLeaderEpoch.Code},
		{0, 6, kerr.UnknownLeaderEpoch.Code},
		{1, 5, kerr.NotLeaderForPartition.Code},
	} {
		sp := fetch(c.part, c.epoch)
		if sp.ErrorCode != c.want {
			t.Errorf("fetch partition %d with epoch %d: code %d, want %d", c.part, c.epoch, sp.ErrorCode, c.want)
		}
		if c.want == 0 && len(decodeAll(t, sp.RecordBatches)) != 2 {
			t.Errorf("fetch partition %d with epoch %d: not the 2 records", c.part, c.epoch)
		}
		if c.want != 0 && len(sp.RecordBatches) != 0 {
			t.Errorf("fetch partition %d with epoch %d: records with an error", c.part, c.epoch)
		}
	}

	// KIP-951: the refusal names the current leader and its node.
	info, _ := e.l.Topic("ep")
	freq := fetchReq("", 1, 0, 0, 0)
	freq.Topics[0].TopicID = info.UUID
	fresp := r.do(freq, 16).(*kmsg.FetchResponse)
	if sp := fresp.Topics[0].Partitions[0]; sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 3 || sp.CurrentLeader.LeaderEpoch != 5 {
		t.Errorf("fetch v16 from a follower: code %d current leader %+v, want NOT_LEADER_OR_FOLLOWER naming node 3, epoch 5", sp.ErrorCode, sp.CurrentLeader)
	}
	if len(fresp.Brokers) != 1 || fresp.Brokers[0].NodeID != 3 || fresp.Brokers[0].Port == 0 {
		t.Errorf("fetch v16 node endpoints %+v, want node 3's", fresp.Brokers)
	}
	presp := r.do(produceReq("ep", 1, 1, mkBatch("x")), 10).(*kmsg.ProduceResponse)
	if sp := presp.Topics[0].Partitions[0]; sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 3 || len(presp.Brokers) != 1 || presp.Brokers[0].NodeID != 3 {
		t.Errorf("produce v10 to a follower: code %d current leader %+v brokers %+v, want NOT_LEADER_OR_FOLLOWER naming node 3", sp.ErrorCode, sp.CurrentLeader, presp.Brokers)
	}

	// DeleteRecords: the leader only.
	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = "ep"
	drt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 1, Offset: -1}, {Partition: 0, Offset: 1}}
	dr.Topics = append(dr.Topics, drt)
	drp := r.do(dr, 2).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions
	if drp[0].ErrorCode != kerr.NotLeaderForPartition.Code || drp[1].ErrorCode != 0 || drp[1].LowWatermark != 1 {
		t.Errorf("DeleteRecords: follower %+v, leader %+v; want NOT_LEADER_OR_FOLLOWER and low watermark 1", drp[0], drp[1])
	}

	// DescribeProducers: the leader only.
	dpr := kmsg.NewPtrDescribeProducersRequest()
	dpr.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "ep", Partitions: []int32{1, 0}}}
	dpp := r.do(dpr, 0).(*kmsg.DescribeProducersResponse).Topics[0].Partitions
	if dpp[0].ErrorCode != kerr.NotLeaderForPartition.Code || dpp[1].ErrorCode != 0 {
		t.Errorf("DescribeProducers: follower code %d, leader code %d; want NOT_LEADER_OR_FOLLOWER and 0", dpp[0].ErrorCode, dpp[1].ErrorCode)
	}

	lo := func(part, epoch int32) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "ep"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = part, -1, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return r.do(req, 7).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	if sp := lo(0, 5); sp.ErrorCode != 0 || sp.Offset != 2 || sp.LeaderEpoch != 5 {
		t.Errorf("ListOffsets latest: %+v, want offset 2 with the cluster's leader epoch 5", sp)
	}
	if sp := lo(0, 4); sp.ErrorCode != kerr.FencedLeaderEpoch.Code || sp.Offset != -1 {
		t.Errorf("ListOffsets with an old epoch: code %d offset %d, want FENCED_LEADER_EPOCH, -1", sp.ErrorCode, sp.Offset)
	}
	if sp := lo(1, -1); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Errorf("ListOffsets on a follower: code %d, want NOT_LEADER_OR_FOLLOWER", sp.ErrorCode)
	}

	ofe := func(part, current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "ep"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = part, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return r.do(req, 4).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	if sp := ofe(0, 5, 0); sp.ErrorCode != 0 || sp.LeaderEpoch != 0 || sp.EndOffset != 2 {
		t.Errorf("OffsetForLeaderEpoch epoch 0: %+v, want epoch 0 ending at 2", sp)
	}
	if sp := ofe(0, 6, 0); sp.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("OffsetForLeaderEpoch with a newer current epoch: code %d, want UNKNOWN_LEADER_EPOCH", sp.ErrorCode)
	}
	if sp := ofe(1, -1, 0); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Errorf("OffsetForLeaderEpoch on a follower: code %d, want NOT_LEADER_OR_FOLLOWER", sp.ErrorCode)
	}
}

// A follower's fetch is reported to the cluster; a consumer with a rack is
// sent to its preferred read replica (KIP-392) and follows it.
func TestClusterFollowerAndPreferredReplica(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("rk", 1, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("rk", 0, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}})
	r := e.dial(t)
	if sp := r.do(produceReq("rk", 0, 1, mkBatch("a", "b", "c")), 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; sp.ErrorCode != 0 {
		t.Fatalf("produce: code %d", sp.ErrorCode)
	}

	freq := fetchReq("rk", 0, 1, 0, 0)
	freq.ReplicaID = 3
	sp := r.do(freq, 12).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if sp.ErrorCode != 0 || sp.HighWatermark != 3 || len(sp.RecordBatches) == 0 {
		t.Errorf("follower fetch: code %d hwm %d %d bytes, want the batch and high watermark 3", sp.ErrorCode, sp.HighWatermark, len(sp.RecordBatches))
	}
	if got := get(fc, func() []followerFetch { return slices.Clone(fc.fetched) }); !slices.Equal(got, []followerFetch{{3, 1}}) {
		t.Errorf("FollowerFetched calls %v, want replica 3 at offset 1", got)
	}
	// v15+: the replica is in ReplicaState.
	freq = fetchReq("rk", 0, 3, 0, 0)
	freq.ReplicaState.ID = 3
	info, _ := e.l.Topic("rk")
	freq.Topics[0].TopicID = info.UUID
	if sp := r.do(freq, 15).(*kmsg.FetchResponse).Topics[0].Partitions[0]; sp.ErrorCode != 0 {
		t.Errorf("follower fetch v15: code %d", sp.ErrorCode)
	}
	if got := get(fc, func() []followerFetch { return slices.Clone(fc.fetched) }); len(got) != 2 || got[1] != (followerFetch{3, 3}) {
		t.Errorf("FollowerFetched calls %v, want a second one, replica 3 at offset 3", got)
	}

	// KIP-392 by hand: no records, the offsets, and the replica to go to.
	fc.mu.Lock()
	fc.preferred = 3
	fc.mu.Unlock()
	freq = fetchReq("rk", 0, 0, 1<<20, 5000) // a long poll, answered at once
	freq.Rack = "rack-c"
	start := time.Now()
	sp = r.do(freq, 11).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a fetch sent to its preferred replica was answered after %v, want at once", d)
	}
	if sp.ErrorCode != 0 || sp.PreferredReadReplica != 3 || len(sp.RecordBatches) != 0 || sp.HighWatermark != 3 {
		t.Errorf("fetch from rack-c: code %d preferred %d %d bytes hwm %d, want preferred 3, no records, hwm 3",
			sp.ErrorCode, sp.PreferredReadReplica, len(sp.RecordBatches), sp.HighWatermark)
	}
	if n := get(fc, func() int { return len(fc.fetched) }); n != 2 {
		t.Errorf("a consumer fetch was reported as a follower's (%d FollowerFetched calls)", n)
	}

	// A franz-go consumer in rack-c is told to go to node 3, goes, and
	// reads everything there.
	fc.mu.Lock()
	fc.preferred, fc.preferredAsks = 3, 0
	fc.mu.Unlock()
	cl := clusterClient(t, e, kgo.Rack("rack-c"), kgo.ConsumeTopics("rk"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	ctx := ctxT(t)
	for len(got) < 3 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v before %v", got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Errorf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("consumed %v, want a b c", got)
	}
	if n := get(fc, func() int { return fc.preferredAsks }); n < 2 {
		t.Errorf("PreferredReadReplica asked %d times, want at least 2 (the leader's answer, then node 3's fetch)", n)
	}
}

// Topic changes go to the cluster.
func TestClusterTopicAdmin(t *testing.T) {
	e, fc := startCluster(t)
	adm := kadm.NewClient(clusterClient(t, e))
	ctx := ctxT(t)

	res, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"retention.ms": kadm.StringPtr("60000")}, "rf3")
	if err != nil || res.Err != nil {
		t.Fatalf("create rf 3: %v %v", err, res.Err)
	}
	if res.ReplicationFactor != 3 || res.NumPartitions != 3 {
		t.Errorf("created with %d partitions rf %d, want 3 and 3", res.NumPartitions, res.ReplicationFactor)
	}
	if info, ok := e.l.Topic("rf3"); !ok || info.Partitions != 3 || info.Configs["retention.ms"] != "60000" {
		t.Errorf("the log has %+v, %v; want rf3 with 3 partitions and retention.ms", info, ok)
	}
	res, err = adm.CreateTopic(ctx, 1, -1, nil, "rfdefault")
	if err != nil || res.Err != nil || res.ReplicationFactor != 3 {
		t.Errorf("create rf -1: %v %v rf %d, want the cluster's default, 3", err, res.Err, res.ReplicationFactor)
	}
	for _, c := range []struct {
		rf  int16
		msg string
	}{
		{4, "Replication factor: 4 larger than available brokers: 3."},
		{0, "Replication factor must be larger than 0, or -1 to use the default value."},
	} {
		res, _ = adm.CreateTopic(ctx, 1, c.rf, nil, "bad")
		if !errors.Is(res.Err, kerr.InvalidReplicationFactor) || res.ErrMessage != c.msg {
			t.Errorf("create rf %d: %v %q, want INVALID_REPLICATION_FACTOR %q", c.rf, res.Err, res.ErrMessage, c.msg)
		}
	}
	// validate_only stays here: the cluster is not asked.
	vres, err := adm.ValidateCreateTopics(ctx, 1, 4, nil, "v")
	if err != nil || !errors.Is(vres["v"].Err, kerr.InvalidReplicationFactor) {
		t.Errorf("validate rf 4: %v %+v, want INVALID_REPLICATION_FACTOR", err, vres["v"])
	}
	want := []createCall{{"rf3", 3, 3}, {"rfdefault", 1, -1}, {"bad", 1, 4}}
	if got := get(fc, func() []createCall { return slices.Clone(fc.created) }); !slices.Equal(got, want) {
		t.Errorf("CreateTopic calls %v, want %v (rf 0 and validate_only refused here)", got, want)
	}
	// A manual assignment is refused for now.
	creq := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "manual", -1, -1
	ct.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1, 2}}}
	creq.Topics = append(creq.Topics, ct)
	if st := e.dial(t).do(creq, 5).(*kmsg.CreateTopicsResponse).Topics[0]; st.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("manual assignment: code %d, want INVALID_REQUEST", st.ErrorCode)
	}

	// Auto-creation through the cluster, default replication factor.
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("auto")
	mreq.Topics, mreq.AllowAutoTopicCreation = append(mreq.Topics, mt), true
	if mt := e.dial(t).do(mreq, 9).(*kmsg.MetadataResponse).Topics[0]; mt.ErrorCode != 0 || len(mt.Partitions) != 1 || mt.Partitions[0].Leader != 2 {
		t.Errorf("auto-created topic: %+v, want one partition led by node 2", mt)
	}
	if got := get(fc, func() []createCall { return slices.Clone(fc.created) }); len(got) != 4 || got[3] != (createCall{"auto", 1, -1}) {
		t.Errorf("CreateTopic calls %v, want the auto-created topic with rf -1 last", got)
	}

	if _, err := adm.CreatePartitions(ctx, 2, "rf3"); err != nil {
		t.Fatal(err)
	}
	if n := get(fc, func() int32 { return fc.added["rf3"] }); n != 5 {
		t.Errorf("AddPartitions total %d, want 5", n)
	}
	ares, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("120000")}}, "rf3")
	if err != nil || ares[0].Err != nil {
		t.Fatalf("alter configs: %v %+v", err, ares)
	}
	if v := get(fc, func() string { return fc.configs["rf3"]["retention.ms"] }); v != "120000" {
		t.Errorf("SetTopicConfigs got retention.ms %q, want 120000", v)
	}
	dres, err := adm.DeleteTopic(ctx, "rf3")
	if err != nil || dres.Err != nil {
		t.Fatalf("delete: %v %v", err, dres.Err)
	}
	if got := get(fc, func() []string { return slices.Clone(fc.deleted) }); !slices.Equal(got, []string{"rf3"}) {
		t.Errorf("DeleteTopic calls %v, want [rf3]", got)
	}
	if _, ok := e.l.Topic("rf3"); ok {
		t.Error("rf3 still in the log after DeleteTopics")
	}
}

// errorCode maps every Cluster error to its Kafka code, wrapped or not.
func TestClusterErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want *kerr.Error
	}{
		{ErrNotLeader, kerr.NotLeaderForPartition},
		{ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
		{ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
		{ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
		{ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
		{ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
		{ErrReplicaNotAvailable, kerr.ReplicaNotAvailable},
	} {
		wrapped := errors.Join(errors.New("ctx"), c.err)
		if got := errorCode(c.err); got != c.want.Code {
			t.Errorf("%v: code %d, want %d", c.err, got, c.want.Code)
		}
		if got := errorCode(wrapped); got != c.want.Code {
			t.Errorf("wrapped %v: code %d, want %d", c.err, got, c.want.Code)
		}
	}
	if got := errorCode(context.DeadlineExceeded); got != kerr.RequestTimedOut.Code {
		t.Errorf("a replication wait past the timeout: code %d, want REQUEST_TIMED_OUT", got)
	}
}

// A follower's fetch needs CLUSTER_ACTION on the cluster, not READ on the
// topic (Kafka's); OffsetForLeaderEpoch takes CLUSTER_ACTION for DESCRIBE.
func TestClusterFollowerFetchNeedsClusterAction(t *testing.T) {
	principalByClientID.Store(true)
	t.Cleanup(func() { principalByClientID.Store(false) })
	svc, err := auth.Open(auth.NewMemStore(), auth.Config{Authorization: true, Superusers: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	fc := newFakeCluster()
	cfg := testConfig()
	cfg.Auth, cfg.Cluster = svc, fc
	e := &authEnv{startServer(t, cfg), svc}
	e.createTopics(t, "sec")
	fc.setPartition("sec", 0, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}})
	e.grant(t, "reader", topicR, "sec", litACL, kmsg.ACLOperationRead)
	e.grant(t, "replica", kmsg.ACLResourceTypeCluster, auth.ClusterName, litACL, kmsg.ACLOperationClusterAction)
	c := e.dial(t)

	replicaFetch := fetchReq("sec", 0, 0, 0, 0)
	replicaFetch.ReplicaID = 3
	consumerFetch := fetchReq("sec", 0, 0, 0, 0)
	code := func(user string, req *kmsg.FetchRequest) int16 {
		return c.doAs(user, req, 12).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "replica fetch with READ only", code("reader", replicaFetch), kerr.TopicAuthorizationFailed)
	wantCode(t, "replica fetch with CLUSTER_ACTION", code("replica", replicaFetch), nil)
	wantCode(t, "consumer fetch with CLUSTER_ACTION only", code("replica", consumerFetch), kerr.TopicAuthorizationFailed)
	wantCode(t, "consumer fetch with READ", code("reader", consumerFetch), nil)
	if got := get(fc, func() []followerFetch { return slices.Clone(fc.fetched) }); !slices.Equal(got, []followerFetch{{3, 0}}) {
		t.Errorf("FollowerFetched calls %v, want only the authorized replica fetch", got)
	}

	ofe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ofe.ReplicaID = 3
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "sec"
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.CurrentLeaderEpoch, op.LeaderEpoch = 1, 0
	ot.Partitions = append(ot.Partitions, op)
	ofe.Topics = append(ofe.Topics, ot)
	wantCode(t, "OffsetForLeaderEpoch with CLUSTER_ACTION", c.doAs("replica", ofe, 4).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode, nil)
	wantCode(t, "OffsetForLeaderEpoch with nothing", c.doAs("nobody", ofe, 4).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
}
