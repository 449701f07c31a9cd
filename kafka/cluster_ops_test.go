package kafka

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartitionReassignments, ListPartitionReassignments and ElectLeaders
// through a real client, against the fake Cluster and alone.

func wantKerr(t *testing.T, what string, got error, want *kerr.Error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

func TestClusterReassignments(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("ra", 3, nil); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		fc.setPartition("ra", p, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2}, ISR: []int32{2}})
	}
	ctx := ctxT(t)
	cl := clusterClient(t, e)
	adm := kadm.NewClient(cl)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("ra", 0, []int32{2, 1, 3})
	req.Assign("ra", 1, []int32{2, 2})
	req.Assign("ra", 2, []int32{2, 4})
	req.Assign("ra", 9, []int32{2})
	req.CancelAssign("nope", 0)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "RF 1 to 3", res["ra"][0].Err, nil)
	wantKerr(t, "a node twice", res["ra"][1].Err, kerr.InvalidReplicaAssignment)
	wantKerr(t, "node 4", res["ra"][2].Err, kerr.InvalidReplicaAssignment)
	wantKerr(t, "partition 9", res["ra"][9].Err, kerr.UnknownTopicOrPartition)
	wantKerr(t, "unknown topic", res["nope"][0].Err, kerr.UnknownTopicOrPartition)
	if res["ra"][1].ErrMessage == "" {
		t.Error("INVALID_REPLICA_ASSIGNMENT without a message")
	}

	ls, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"ra": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	got := ls["ra"][0]
	if len(ls["ra"]) != 1 || !slices.Equal(got.Replicas, []int32{2, 1, 3}) || !slices.Equal(got.AddingReplicas, []int32{1, 3}) || len(got.RemovingReplicas) != 0 {
		t.Fatalf("listed %+v, want ra-0 replicas [2 1 3] adding [1 3]", ls)
	}
	// Null topics: every reassignment.
	lreq := kmsg.NewPtrListPartitionReassignmentsRequest()
	lresp, err := lreq.RequestWith(ctx, cl)
	if err != nil || lresp.ErrorCode != 0 || len(lresp.Topics) != 1 || len(lresp.Topics[0].Partitions) != 1 {
		t.Fatalf("list all: %+v, %v", lresp, err)
	}

	// Cancel: then nothing is in progress, and a second cancel is refused.
	req = nil
	req.CancelAssign("ra", 0)
	for i, want := range []*kerr.Error{nil, kerr.NoReassignmentInProgress} {
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		wantKerr(t, "cancel "+string(rune('1'+i)), res["ra"][0].Err, want)
	}
	if ls, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"ra": {0: {}}}); err != nil || len(ls["ra"]) != 0 {
		t.Fatalf("after cancel: %+v, %v", ls, err)
	}
}

func TestClusterReassignmentReplicationFactorChange(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("rf", 1, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("rf", 0, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2}, ISR: []int32{2}})
	c := e.dial(t)
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.AllowReplicationFactorChange = false
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "rf"
	rt.Partitions = append(rt.Partitions, kmsg.NewAlterPartitionAssignmentsRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	// [2 3] (RF 1 -> 2) is refused; [3] (RF 1) is allowed.
	req.Topics[0].Partitions[0].Replicas = []int32{2, 3}
	resp := c.do(req, 1).(*kmsg.AlterPartitionAssignmentsResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("RF change with allow false: code %d, want INVALID_REPLICATION_FACTOR", code)
	}
	req.Topics[0].Partitions[0].Replicas = []int32{3}
	resp = c.do(req, 1).(*kmsg.AlterPartitionAssignmentsResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("same RF with allow false: code %d", code)
	}
}

func TestClusterElectLeaders(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("el", 4, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("el", 0, PartitionView{Leader: 3, LeaderEpoch: 4, Replicas: []int32{2, 3, 1}, ISR: []int32{3, 2, 1}})
	fc.setPartition("el", 1, PartitionView{Leader: 2, LeaderEpoch: 4, Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3, 1}})
	fc.setPartition("el", 2, PartitionView{Leader: 3, LeaderEpoch: 4, Replicas: []int32{2, 3, 1}, ISR: []int32{3, 1}})
	fc.setPartition("el", 3, PartitionView{Leader: -1, LeaderEpoch: 4, Replicas: []int32{1, 3}, ISR: []int32{3}})
	ctx := ctxT(t)
	adm := kadm.NewClient(clusterClient(t, e))
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"el": {0: {}, 1: {}, 2: {}, 7: {}}})
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "preferred elected", res["el"][0].Err, nil)
	wantKerr(t, "preferred leads", res["el"][1].Err, kerr.ElectionNotNeeded)
	wantKerr(t, "preferred out of ISR", res["el"][2].Err, kerr.PreferredLeaderNotAvailable)
	wantKerr(t, "unknown partition", res["el"][7].Err, kerr.UnknownTopicOrPartition)
	if v, _ := fc.Partition("el", 0); v.Leader != 2 || v.LeaderEpoch != 5 {
		t.Fatalf("el-0 after the election: %+v, want leader 2 epoch 5", v)
	}
	// All partitions: ELECTION_NOT_NEEDED is left out (el-0 and el-1 now).
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res["el"][0]; ok || len(res["el"]) != 2 {
		t.Fatalf("all partitions: %+v, want el-2 and el-3 only", res)
	}
	// Unclean: el-3 has no leader, node 1 leads it alone.
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{"el": {1: {}, 3: {}}})
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "unclean with a leader", res["el"][1].Err, kerr.ElectionNotNeeded)
	wantKerr(t, "unclean without", res["el"][3].Err, nil)
	if v, _ := fc.Partition("el", 3); v.Leader != 1 {
		t.Fatalf("el-3 after the unclean election: %+v", v)
	}
	// An unknown election type.
	c := e.dial(t)
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 7
	if r := c.do(req, 1).(*kmsg.ElectLeadersResponse); r.ErrorCode != errInvalidRequest {
		t.Fatalf("election type 7: code %d, want INVALID_REQUEST", r.ErrorCode)
	}
}

// One node: Kafka's answers on a one-broker cluster.
func TestOneNodeReassignAndElect(t *testing.T) {
	e := startServer(t, testConfig())
	if _, err := e.l.CreateTopic("one", 1, nil); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	cl := clusterClient(t, e)
	adm := kadm.NewClient(cl)
	for _, c := range []struct {
		replicas []int32
		want     *kerr.Error
	}{{[]int32{1}, nil}, {[]int32{1, 2}, kerr.InvalidReplicaAssignment}, {[]int32{2}, kerr.InvalidReplicaAssignment}, {nil, kerr.NoReassignmentInProgress}} {
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign("one", 0, c.replicas)
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		wantKerr(t, "one node, replicas "+string(rune('0'+len(c.replicas))), res["one"][0].Err, c.want)
	}
	lresp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil || lresp.ErrorCode != 0 || len(lresp.Topics) != 0 {
		t.Fatalf("list: %+v, %v", lresp, err)
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"one": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	wantKerr(t, "one node election", res["one"][0].Err, kerr.ElectionNotNeeded)
	if res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil); err != nil || len(res) != 0 {
		t.Fatalf("one node, all partitions: %+v, %v", res, err)
	}
}

// ALTER on the cluster for both changes, DESCRIBE for the list.
func TestReassignAndElectNeedClusterACLs(t *testing.T) {
	e := startAuthServer(t)
	if _, err := e.l.CreateTopic("acl", 1, nil); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	adm := kadm.NewClient(e.client(t, "gina"))
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("acl", 0, []int32{1})
	var ae *kadm.AuthError
	if _, err := adm.AlterPartitionAssignments(ctx, req); !errors.As(err, &ae) {
		t.Fatalf("reassign without ALTER on the cluster: %v", err)
	}
	if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"acl": {0: {}}}); !errors.As(err, &ae) {
		t.Fatalf("elect without ALTER on the cluster: %v", err)
	}
	if _, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"acl": {0: {}}}); !errors.As(err, &ae) {
		t.Fatalf("list without DESCRIBE on the cluster: %v", err)
	}
	e.grant(t, "gina", kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || res["acl"][0].Err != nil {
		t.Fatalf("reassign with ALTER: %+v, %v", res, err)
	}
	if _, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"acl": {0: {}}}); err != nil {
		t.Fatalf("list with DESCRIBE: %v", err)
	}
}

// DescribeLogDirs: one directory with the partitions this node holds; a
// DELETE of a broker replication throttle is a no-op (what Kafka's
// kafka-reassign-partitions --verify sends).
func TestDescribeLogDirsAndThrottleDelete(t *testing.T) {
	e, fc := startCluster(t)
	if _, err := e.l.CreateTopic("ld", 2, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("ld", 0, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 1}, ISR: []int32{2, 1}})
	fc.setPartition("ld", 1, PartitionView{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 3}, ISR: []int32{1, 3}})
	c := e.dial(t)
	resp := c.do(kmsg.NewPtrDescribeLogDirsRequest(), 4).(*kmsg.DescribeLogDirsResponse)
	if resp.ErrorCode != 0 || len(resp.Dirs) != 1 || resp.Dirs[0].Dir != "zombi" || resp.Dirs[0].TotalBytes != -1 {
		t.Fatalf("log dirs: %+v", resp)
	}
	var held []string
	for _, dt := range resp.Dirs[0].Topics {
		for _, dp := range dt.Partitions {
			held = append(held, dt.Topic+"-"+string(rune('0'+dp.Partition)))
		}
	}
	if !slices.Contains(held, "ld-0") || slices.Contains(held, "ld-1") {
		t.Fatalf("node 2 holds %v, want ld-0 and not ld-1", held)
	}

	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "2"
	for _, name := range []string{"leader.replication.throttled.rate", "follower.replication.throttled.rate"} {
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Op = name, kmsg.IncrementalAlterConfigOpDelete
		rr.Configs = append(rr.Configs, rc)
	}
	req.Resources = append(req.Resources, rr)
	if r := c.do(req, 1).(*kmsg.IncrementalAlterConfigsResponse); r.Resources[0].ErrorCode != 0 {
		t.Fatalf("delete throttles: %+v", r.Resources[0])
	}
	// Setting one is still refused.
	req.Resources[0].Configs[0].Op = kmsg.IncrementalAlterConfigOpSet
	req.Resources[0].Configs[0].Value = kmsg.StringPtr("100")
	if r := c.do(req, 1).(*kmsg.IncrementalAlterConfigsResponse); r.Resources[0].ErrorCode != errInvalidRequest {
		t.Fatalf("set a throttle: %+v", r.Resources[0])
	}
}
