package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// txnFake is the tests' Cluster for the transaction coordinator's door:
// the shared fake (node 2 of 3, every node at this server's address) with
// the coordinator of every transactional id set by the test, and internal
// appends that succeed.
type txnFake struct {
	*fakeCluster
	cmu       sync.Mutex
	coord     CoordinatorView
	coordErr  error
	appendErr error // AppendInternal's answer when set
	appends   int
}

func (f *txnFake) CoordinatorOf(kind int8, key string) (CoordinatorView, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	v := f.coord
	v.Partition = coordlog.Partition(key)
	return v, f.coordErr
}

func (f *txnFake) AppendInternal(ctx context.Context, kind int8, part int32, epoch int32, raw []byte) (int64, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	if f.appendErr != nil {
		return 0, f.appendErr
	}
	if kind != int8(coordlog.Transaction) || epoch != f.coord.Epoch {
		return 0, ErrFencedLeaderEpoch
	}
	f.appends++
	return int64(f.appends), nil
}

func (f *txnFake) setCoord(v CoordinatorView, err error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	f.coord, f.coordErr = v, err
}

// startTxnCluster starts a cluster-mode server (node 2) over a real log.
func startTxnCluster(t *testing.T, mod func(*Config)) (*testEnv, *txnFake) {
	t.Helper()
	fc := &txnFake{fakeCluster: newFakeCluster()}
	cfg := testConfig()
	cfg.Cluster = fc
	if mod != nil {
		mod(&cfg)
	}
	e := startServer(t, cfg)
	host, port, err := net.SplitHostPort(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	fc.mu.Lock()
	fc.log, fc.host, fc.port = e.l, host, int32(p)
	fc.mu.Unlock()
	return e, fc
}

func markersReq(pid int64, epoch int16, coordEpoch int32, commit bool, topic string, parts ...int32) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed = pid, epoch, coordEpoch, commit
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: topic, Partitions: parts}}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
	return req
}

// markerCodesOf flattens a WriteTxnMarkers answer.
func markerCodesOf(resp *kmsg.WriteTxnMarkersResponse) []int16 {
	var out []int16
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				out = append(out, p.ErrorCode)
			}
		}
	}
	return out
}

func wantCodes(t *testing.T, what string, got []int16, want ...int16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: codes %v, want %v", what, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: codes %v, want %v (%v)", what, got, want, kerr.ErrorForCode(got[i]))
		}
	}
}

func advertises(t *testing.T, c *rawConn, key int16) (kmsg.ApiVersionsResponseApiKey, bool) {
	t.Helper()
	av := c.do(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	for _, k := range av.ApiKeys {
		if k.ApiKey == key {
			return k, true
		}
	}
	return kmsg.ApiVersionsResponseApiKey{}, false
}

func TestWriteTxnMarkersOneNodeUnsupported(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, ok := advertises(t, c, kmsg.WriteTxnMarkers.Int16()); ok {
		t.Fatal("one node advertises WriteTxnMarkers")
	}
	if _, err := e.l.CreateTopic("one", 1, nil); err != nil {
		t.Fatal(err)
	}
	resp := c.do(markersReq(5, 0, 0, false, "one", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "one node", markerCodesOf(resp), kerr.UnsupportedVersion.Code)
}

// writeMarkerReady reports whether log.WriteMarker is implemented (T1's,
// merged separately): until then the marker paths that reach it cannot be
// checked here.
func writeMarkerReady(t *testing.T, l *plog.Log) bool {
	t.Helper()
	_, err := l.WriteMarker(context.Background(), "no-such-topic", 0, plog.MarkerRequest{ProducerID: 1})
	return err == nil || !strings.Contains(err.Error(), "not implemented")
}

func TestWriteTxnMarkersDoor(t *testing.T) {
	e, fc := startTxnCluster(t, nil)
	c := e.dial(t)
	k, ok := advertises(t, c, kmsg.WriteTxnMarkers.Int16())
	if !ok || k.MinVersion != 0 || k.MaxVersion != 2 {
		t.Fatalf("cluster mode: WriteTxnMarkers advertised %v as %+v, want v0-v2", ok, k)
	}
	if _, err := e.l.CreateTopic("mk", 2, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("mk", 0, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 1}, ISR: []int32{2, 1}})
	fc.setPartition("mk", 1, PartitionView{Leader: 3, LeaderEpoch: 1, Replicas: []int32{3, 2}, ISR: []int32{3, 2}})
	resp := c.do(markersReq(7, 0, 4, true, "mk", 1), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "partition led by node 3", markerCodesOf(resp), kerr.NotLeaderForPartition.Code)
	resp = c.do(markersReq(7, 0, 4, true, "nope", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "unknown topic", markerCodesOf(resp), kerr.UnknownTopicOrPartition.Code)
	resp = c.do(markersReq(7, 0, 4, true, "mk", 9), 0).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "unknown partition, v0", markerCodesOf(resp), kerr.UnknownTopicOrPartition.Code)
	// Hostile: negative and huge partitions, a topic name that is not
	// one, no markers at all: clear codes, and the server stays up.
	resp = c.do(markersReq(-5, -3, -1, true, "mk", -1, 1<<30), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "hostile partitions", markerCodesOf(resp), kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicOrPartition.Code)
	resp = c.do(markersReq(7, 0, 4, true, "", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "empty topic name", markerCodesOf(resp), kerr.UnknownTopicOrPartition.Code)
	if resp = c.do(kmsg.NewPtrWriteTxnMarkersRequest(), 1).(*kmsg.WriteTxnMarkersResponse); len(resp.Markers) != 0 {
		t.Fatalf("no markers: %+v", resp)
	}
	fc.mu.Lock()
	fc.notEnough = true
	fc.mu.Unlock()
	resp = c.do(markersReq(7, 0, 4, true, "mk", 0), 2).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "too few in-sync replicas", markerCodesOf(resp), kerr.NotEnoughReplicas.Code)
	fc.mu.Lock()
	fc.notEnough = false
	fc.mu.Unlock()

	if !writeMarkerReady(t, e.l) {
		t.Skip("log.WriteMarker is not implemented on this branch yet (T1): the fencing half of this test needs it")
	}
	// A transaction open in mk-0 ends with the marker of coordinator epoch
	// 4; an older coordinator's marker is fenced.
	if code := txnProduceCluster(t, e, fc, "mk", 0, 7, 0); code != 0 {
		t.Fatalf("transactional produce: %v", kerr.ErrorForCode(code))
	}
	resp = c.do(markersReq(7, 0, 4, true, "mk", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "marker at coordinator epoch 4", markerCodesOf(resp), 0)
	if n := len(get(fc.fakeCluster, func() []int64 { return fc.awaited })); n == 0 {
		t.Fatal("the marker was answered without waiting for its replication")
	}
	resp = c.do(markersReq(7, 0, 3, false, "mk", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "marker of an older coordinator", markerCodesOf(resp), kerr.TransactionCoordinatorFenced.Code)
}

// txnProduceCluster writes one transactional batch of pid/epoch into
// topic/p, verified as the coordinator's (cached) answer.
func txnProduceCluster(t *testing.T, e *testEnv, _ *txnFake, topic string, p int32, pid int64, epoch int16) int16 {
	t.Helper()
	e.s.tc.verified.add(pid, epoch, topic, p)
	return txnProduce(t, e.dial(t), "tx-marker", topic, p, pid, epoch, 0, "v")
}

func TestWriteTxnMarkersClusterAction(t *testing.T) {
	principalByClientID.Store(true)
	t.Cleanup(func() { principalByClientID.Store(false) })
	svc, err := auth.Open(auth.NewMemStore(), auth.Config{Authorization: true, Superusers: []string{"admin", "test"}})
	if err != nil {
		t.Fatal(err)
	}
	e, fc := startTxnCluster(t, func(c *Config) { c.Auth = svc })
	if _, err := e.l.CreateTopic("mka", 1, nil); err != nil {
		t.Fatal(err)
	}
	fc.setPartition("mka", 0, PartitionView{Leader: 3, LeaderEpoch: 1, Replicas: []int32{3}, ISR: []int32{3}})
	// bob may see the topic (the client looks it up first), not act as a
	// node.
	for _, err := range svc.CreateACLs([]auth.ACL{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "mka",
		PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:bob", Host: "*",
		Operation: kmsg.ACLOperationDescribe, Permission: kmsg.ACLPermissionTypeAllow}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ClientID("bob"), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kresp, err := cl.Request(ctx, markersReq(7, 0, 1, true, "mka", 0))
	if err != nil {
		t.Fatal(err)
	}
	wantCodes(t, "without CLUSTER_ACTION", markerCodesOf(kresp.(*kmsg.WriteTxnMarkersResponse)), kerr.ClusterAuthorizationFailed.Code)
	// The superuser (nodes' principal) passes the check and reaches the
	// leader check.
	resp := e.dial(t).do(markersReq(7, 0, 1, true, "mka", 0), 1).(*kmsg.WriteTxnMarkersResponse)
	wantCodes(t, "with CLUSTER_ACTION", markerCodesOf(resp), kerr.NotLeaderForPartition.Code)
}

func TestTxnCoordinatorDoorCodes(t *testing.T) {
	e, fc := startTxnCluster(t, nil)
	c := e.dial(t)
	if _, err := e.l.CreateTopic("cd", 1, nil); err != nil {
		t.Fatal(err)
	}
	const id = "door-id"
	all := func(what string, want int16) {
		t.Helper()
		if r := initTxn(t, c, id, 4, 10_000, -1, -1); r.ErrorCode != want {
			t.Fatalf("%s: InitProducerId %v", what, kerr.ErrorForCode(r.ErrorCode))
		}
		wantCodes(t, what+": AddPartitionsToTxn v3", addParts(t, c, 3, id, 1, 0, "cd", 0), want)
		ao := kmsg.NewPtrAddOffsetsToTxnRequest()
		ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = id, 1, 0, "g"
		if r := c.do(ao, 3).(*kmsg.AddOffsetsToTxnResponse); r.ErrorCode != want {
			t.Fatalf("%s: AddOffsetsToTxn %v", what, kerr.ErrorForCode(r.ErrorCode))
		}
		if code := endTxn(t, c, 3, id, 1, 0, true); code != want {
			t.Fatalf("%s: EndTxn %v", what, kerr.ErrorForCode(code))
		}
		dt := kmsg.NewPtrDescribeTransactionsRequest()
		dt.TransactionalIDs = []string{id}
		if r := c.do(dt, 0).(*kmsg.DescribeTransactionsResponse); r.TransactionStates[0].ErrorCode != want {
			t.Fatalf("%s: DescribeTransactions %v", what, kerr.ErrorForCode(r.TransactionStates[0].ErrorCode))
		}
		v4 := kmsg.NewPtrAddPartitionsToTxnRequest()
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, 1, 0, true
		tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "cd", Partitions: []int32{0}}}
		v4.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
		r4 := c.do(v4, 4).(*kmsg.AddPartitionsToTxnResponse)
		if r4.ErrorCode != 0 || len(r4.Transactions) != 1 || r4.Transactions[0].Topics[0].Partitions[0].ErrorCode != want {
			t.Fatalf("%s: AddPartitionsToTxn v4 VerifyOnly %+v", what, r4)
		}
	}
	fc.setCoord(CoordinatorView{}, ErrCoordinatorNotAvailable)
	all("no leader", kerr.CoordinatorNotAvailable.Code)
	fc.setCoord(CoordinatorView{Leader: 3, Epoch: 2}, nil)
	all("another node", kerr.NotCoordinator.Code)
	fc.setCoord(CoordinatorView{Leader: 2, Epoch: 2, Local: true}, nil)
	all("loading", kerr.CoordinatorLoadInProgress.Code)
	// Loaded here, but the txn coordinator was not told (no Load):
	// NOT_COORDINATOR from the coordinator itself.
	fc.setCoord(CoordinatorView{Leader: 2, Epoch: 2, Local: true, Loaded: true}, nil)
	if r := initTxn(t, c, id, 4, 10_000, -1, -1); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("partition not loaded in txn: InitProducerId %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestTxnClusterCoordinatorAndVerification runs a transaction on the
// loaded coordinator of this node: its state goes through AppendInternal
// at the partition's epoch, and transactional produce is verified with it
// (cached), a partition outside the transaction refused.
func TestTxnClusterCoordinatorAndVerification(t *testing.T) {
	e, fc := startTxnCluster(t, nil)
	c := e.dial(t)
	if _, err := e.l.CreateTopic("vt", 2, nil); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		fc.setPartition("vt", p, PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2}, ISR: []int32{2}})
	}
	const id = "verify-id"
	part := coordlog.Partition(id)
	fc.setCoord(CoordinatorView{Leader: 2, Epoch: 6, Local: true, Loaded: true}, nil)
	if err := e.s.transactions().Load(part, 6); err != nil {
		t.Fatal(err)
	}
	r := initTxn(t, c, id, 4, 10_000, -1, -1)
	if r.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	wantCodes(t, "add vt-0", addParts(t, c, 3, id, r.ProducerID, r.ProducerEpoch, "vt", 0), 0)
	if n := get(fc.fakeCluster, func() int { fc.cmu.Lock(); defer fc.cmu.Unlock(); return fc.appends }); n != 2 {
		t.Fatalf("state appends: %d, want 2 (Empty, Ongoing)", n)
	}
	if code := txnProduce(t, c, id, "vt", 0, r.ProducerID, r.ProducerEpoch, 0, "a"); code != 0 {
		t.Fatalf("verified produce: %v", kerr.ErrorForCode(code))
	}
	if !e.s.txnVerified().has(r.ProducerID, r.ProducerEpoch, "vt", 0) {
		t.Fatal("verification not cached")
	}
	if code := txnProduce(t, c, id, "vt", 1, r.ProducerID, r.ProducerEpoch, 0, "b"); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce to a partition outside the transaction: %v", kerr.ErrorForCode(code))
	}
	if lso, err := e.l.LastStable("vt", 0); err != nil || lso != 0 {
		t.Fatalf("LSO with the transaction open: %d %v", lso, err)
	}
	// Two phases, the marker written by this node (the partition's
	// leader) through the marker sender's local path.
	if code := endTxn(t, c, 3, id, r.ProducerID, r.ProducerEpoch, true); code != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := e.s.transactions().Describe(id)
		lso, _ := e.l.LastStable("vt", 0)
		if info.State == "CompleteCommit" && lso == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after EndTxn: state %s, LSO %d; want CompleteCommit and the marker at 1", info.State, lso)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := get(fc.fakeCluster, func() int { fc.cmu.Lock(); defer fc.cmu.Unlock(); return fc.appends }); n != 4 {
		t.Fatalf("state appends: %d, want 4 (Empty, Ongoing, PrepareCommit, CompleteCommit)", n)
	}
	if e.s.txnVerified().has(r.ProducerID, r.ProducerEpoch, "vt", 0) {
		t.Fatal("verification still cached after the partition's marker")
	}
	// The next transaction. A coordinator elsewhere: the request goes
	// node to node (here to this server as "node 3", which is not the
	// coordinator): retriable.
	wantCodes(t, "add vt-1", addParts(t, c, 3, id, r.ProducerID, r.ProducerEpoch, "vt", 1), 0)
	fc.setCoord(CoordinatorView{Leader: 3, Epoch: 6}, nil)
	if code := txnProduce(t, c, id, "vt", 1, r.ProducerID, r.ProducerEpoch, 0, "b"); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("produce verified with a coordinator that moved: %v", kerr.ErrorForCode(code))
	}
	// The partition moved: appends at the old epoch are refused, the
	// client hears NOT_COORDINATOR.
	fc.setCoord(CoordinatorView{Leader: 2, Epoch: 7, Local: true, Loaded: true}, nil)
	if code := endTxn(t, c, 3, id, r.ProducerID, r.ProducerEpoch, false); code != kerr.NotCoordinator.Code {
		t.Fatalf("EndTxn appending at an old epoch: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
}

func TestTxnVerifyCache(t *testing.T) {
	c := newTxnVerifyCache(time.Minute)
	c.add(5, 1, "t", 0)
	switch {
	case !c.has(5, 1, "t", 0):
		t.Fatal("added entry missing")
	case c.has(5, 2, "t", 0), c.has(5, 1, "t", 1), c.has(6, 1, "t", 0):
		t.Fatal("another epoch, partition or producer verified")
	}
	c.forget(5, "t", 0)
	if c.has(5, 1, "t", 0) {
		t.Fatal("verified after its marker")
	}
	var none *txnVerifyCache
	if none.has(5, 1, "t", 0) {
		t.Fatal("nil cache verified")
	}
	none.forget(5, "t", 0)
}

func TestMarkerSenderRetriesAndSkips(t *testing.T) {
	e, fc := startTxnCluster(t, nil)
	if _, err := e.l.CreateTopic("ms", 1, nil); err != nil {
		t.Fatal(err)
	}
	// ms-0 led by node 3: the request goes over the network (to this
	// server, which is node 2 and refuses it): retried until the ctx ends.
	fc.setPartition("ms", 0, PartitionView{Leader: 3, LeaderEpoch: 1, Replicas: []int32{3}, ISR: []int32{3}})
	// ghost-0 is known to the cluster, not to the leader's log.
	fc.setPartition("ghost", 0, PartitionView{Leader: 3, LeaderEpoch: 1, Replicas: []int32{3}, ISR: []int32{3}})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := e.s.sendMarkers(ctx, 1, 9, 0, true, []plog.TopicPartition{{Topic: "ms", Partition: 0}, {Topic: "gone", Partition: 0}, {Topic: "ghost", Partition: 0}})
	if err == nil || !strings.Contains(err.Error(), "2 partitions left") {
		t.Fatalf("sendMarkers to a refusing leader: %v", err)
	}
	if refusals := get(fc.fakeCluster, func() int { return fc.refusals }); refusals < 3 {
		t.Fatalf("the refused marker was tried %d times in %v, want retries", refusals, time.Since(start))
	}
	// ghost-0: its leader does not have it while the cluster does: asked
	// again; once the cluster drops it too (deleted), done.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	go func() {
		time.Sleep(500 * time.Millisecond)
		fc.mu.Lock()
		delete(fc.parts, "ghost/0")
		fc.mu.Unlock()
	}()
	start = time.Now()
	if err := e.s.sendMarkers(ctx2, 1, 9, 0, true, []plog.TopicPartition{{Topic: "gone", Partition: 0}, {Topic: "ghost", Partition: 0}}); err != nil {
		t.Fatalf("markers to deleted partitions: %v", err)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("a partition the cluster still knows counted as done after %s", el)
	}
}

func TestClusterTxnVerifierInternalTopics(t *testing.T) {
	e, _ := startTxnCluster(t, nil)
	if err := e.s.verifyClusterTxn(5, 0, coordlog.OffsetsTopic, 3); err != nil {
		t.Fatalf("the group coordinator's transactional offsets refused: %v", err)
	}
	if err := e.s.verifyClusterTxn(5, 0, "user-topic", 3); err == nil {
		t.Fatal("an unverified user partition accepted")
	}
}

// TestTxnClusterStoreAppendErrors: the cluster's append errors reach the
// transaction coordinator as the Kafka codes its clients retry on.
func TestTxnClusterStoreAppendErrors(t *testing.T) {
	e, fc := startTxnCluster(t, nil)
	st := txnClusterStore{e.s}
	for _, c := range []struct {
		err  error
		want *kerr.Error
	}{
		{ErrNotLeader, kerr.NotCoordinator},
		{fmt.Errorf("append: %w", plog.ErrNotLeader), kerr.NotCoordinator},
		{ErrFencedLeaderEpoch, kerr.NotCoordinator},
		{ErrNotEnoughReplicas, kerr.CoordinatorNotAvailable},
		{ErrNotEnoughReplicasAfterAppend, kerr.CoordinatorNotAvailable},
		{context.DeadlineExceeded, kerr.RequestTimedOut},
		{plog.ErrStorage, kerr.CoordinatorNotAvailable},
	} {
		fc.cmu.Lock()
		fc.appendErr = c.err
		fc.cmu.Unlock()
		err := st.Append(context.Background(), 1, 0, []byte("x"))
		var ke *kerr.Error
		if !errors.As(err, &ke) || ke != c.want || !errors.Is(err, c.err) {
			t.Errorf("append error %v: got %v, want %v wrapping it", c.err, err, c.want)
		}
	}
	fc.cmu.Lock()
	fc.appendErr = nil
	fc.cmu.Unlock()
	if err := st.Append(context.Background(), 1, 0, []byte("x")); err != nil {
		t.Fatalf("append: %v", err)
	}
}
