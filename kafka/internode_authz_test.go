package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/auth"
)

// TestInterNodeRequestsNeedClusterAction: what only nodes send each other
// (AddPartitionsToTxn v4+ verification, WriteTxnMarkers) needs
// CLUSTER_ACTION on the cluster, as in Kafka: a user with every topic
// right but not that one is refused with CLUSTER_AUTHORIZATION_FAILED and
// nothing changes; an ACL granting ClusterAction (not only a superuser)
// passes the check.
func TestInterNodeRequestsNeedClusterAction(t *testing.T) {
	principalByClientID.Store(true)
	t.Cleanup(func() { principalByClientID.Store(false) })
	svc, err := auth.Open(auth.NewMemStore(), auth.Config{Authorization: true, Superusers: []string{"admin", "test"}})
	if err != nil {
		t.Fatal(err)
	}
	env, fc := startTxnCluster(t, func(c *Config) { c.Auth = svc })
	e := &authEnv{env, svc}
	if _, err := e.l.CreateTopic("inn", 1, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("inn", 0, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}})
	fc.setCoord(CoordinatorView{Leader: 3, Epoch: 2}, nil) // another node's: the check passed shows as NOT_COORDINATOR
	e.grant(t, "user", topicR, "inn", litACL, kmsg.ACLOperationAll)
	e.grant(t, "user", kmsg.ACLResourceTypeTransactionalId, "tx", litACL, kmsg.ACLOperationAll)
	e.grant(t, "node", kmsg.ACLResourceTypeCluster, auth.ClusterName, litACL, kmsg.ACLOperationClusterAction)
	c := e.dial(t)

	verify := kmsg.NewPtrAddPartitionsToTxnRequest()
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = "tx", 1, 0, true
	tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "inn", Partitions: []int32{0}}}
	verify.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
	r := c.doAs("user", verify, 4).(*kmsg.AddPartitionsToTxnResponse)
	if r.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(r.Transactions) != 0 {
		t.Errorf("AddPartitionsToTxn v4 without CLUSTER_ACTION: code %v, %d transactions, want CLUSTER_AUTHORIZATION_FAILED and none", kerr.ErrorForCode(r.ErrorCode), len(r.Transactions))
	}
	r = c.doAs("node", verify, 4).(*kmsg.AddPartitionsToTxnResponse)
	if r.ErrorCode != 0 || len(r.Transactions) != 1 || r.Transactions[0].Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("AddPartitionsToTxn v4 with a ClusterAction ACL: %+v, want the coordinator's answer (NOT_COORDINATOR)", r)
	}

	hwm := func() int64 {
		_, h, err := e.s.partitionOffsets("inn", 0)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := hwm()
	wm := c.doAs("user", markersReq(7, 0, 1, true, "inn", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "WriteTxnMarkers without CLUSTER_ACTION", markerCodesOf(wm), kerr.ClusterAuthorizationFailed.Code)
	if after := hwm(); after != before {
		t.Errorf("the partition's end moved %d -> %d after refused markers", before, after)
	}
	// This node (2) leads the partition: the node's markers are taken.
	wm = c.doAs("node", markersReq(7, 0, 1, true, "inn", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "WriteTxnMarkers with a ClusterAction ACL", markerCodesOf(wm), 0)

	// A follower's fetch as the user: every partition refused (Kafka
	// answers TOPIC_AUTHORIZATION_FAILED there), the node's passes.
	rf := fetchReq("inn", 0, 0, 0, 0)
	rf.ReplicaID = 3
	if code := c.doAs("user", rf, 12).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("replica fetch without CLUSTER_ACTION: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	if code := c.doAs("node", rf, 12).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; code == kerr.TopicAuthorizationFailed.Code {
		t.Errorf("replica fetch with a ClusterAction ACL refused")
	}
}
