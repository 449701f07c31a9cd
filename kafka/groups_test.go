package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func joinReq(group, member string, topics ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", md.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

func syncReq(group, member string, gen int32, assign map[string]string) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	for m, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return req
}

func hbReq(group, member string, gen int32) *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	return req
}

func memberCommit(group, member string, gen int32, topic string, part int32, off int64) *kmsg.OffsetCommitRequest {
	req := commitReq(group, topic, part, off)
	req.MemberID, req.Generation = member, gen
	return req
}

func describe(c *rawConn, v int16, group string) kmsg.DescribeGroupsResponseGroup {
	c.t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	return c.do(req, v).(*kmsg.DescribeGroupsResponse).Groups[0]
}

func listGroups(c *rawConn, v int16, states, types []string) map[string]kmsg.ListGroupsResponseGroup {
	c.t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.StatesFilter, req.TypesFilter = states, types
	resp := c.do(req, v).(*kmsg.ListGroupsResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("list groups: %d", resp.ErrorCode)
	}
	out := map[string]kmsg.ListGroupsResponseGroup{}
	for _, g := range resp.Groups {
		out[g.Group] = g
	}
	return out
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var w int16
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// TestGroupOldVersions walks a one-member group through the v0 APIs (no
// KIP-394 two-step join, no instance ids), then empties and deletes it.
func TestGroupOldVersions(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, err := e.l.CreateTopic("gt", 2, nil); err != nil {
		t.Fatal(err)
	}
	j := c.do(joinReq("g0", "", "gt"), 0).(*kmsg.JoinGroupResponse)
	if j.ErrorCode != 0 || j.MemberID == "" || j.Generation != 1 || j.LeaderID != j.MemberID || len(j.Members) != 1 || *j.Protocol != "range" {
		t.Fatalf("join v0: %+v", j)
	}
	s := c.do(syncReq("g0", j.MemberID, 1, map[string]string{j.MemberID: "A"}), 0).(*kmsg.SyncGroupResponse)
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "A" {
		t.Fatalf("sync v0: %+v", s)
	}
	wantCode(t, "heartbeat v0", c.do(hbReq("g0", j.MemberID, 1), 0).(*kmsg.HeartbeatResponse).ErrorCode, nil)
	wantCode(t, "heartbeat stale", c.do(hbReq("g0", j.MemberID, 0), 0).(*kmsg.HeartbeatResponse).ErrorCode, kerr.IllegalGeneration)
	wantCode(t, "heartbeat stranger", c.do(hbReq("g0", "x", 1), 0).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
	oc := c.do(memberCommit("g0", j.MemberID, 1, "gt", 1, 42), 2).(*kmsg.OffsetCommitResponse)
	wantCode(t, "member commit", oc.Topics[0].Partitions[0].ErrorCode, nil)
	oc = c.do(memberCommit("g0", j.MemberID, 2, "gt", 1, 43), 2).(*kmsg.OffsetCommitResponse)
	wantCode(t, "stale commit", oc.Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)
	oc = c.do(memberCommit("g0", "who", 1, "gt", 1, 43), 2).(*kmsg.OffsetCommitResponse)
	wantCode(t, "stranger commit", oc.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
	oc = c.do(commitReq("g0", "gt", 1, 44), 0).(*kmsg.OffsetCommitResponse)
	wantCode(t, "simple v0 commit to an active group", oc.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
	if o, ok, _ := e.l.FetchOffset("g0", "gt", 1); !ok || o.Offset != 42 {
		t.Fatalf("stored %+v %v", o, ok)
	}

	d := describe(c, 0, "g0")
	if d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 1 || d.Members[0].ClientID != "test" ||
		d.Members[0].ClientHost != "/127.0.0.1" || string(d.Members[0].MemberAssignment) != "A" {
		t.Fatalf("describe v0: %+v", d)
	}
	if g, ok := listGroups(c, 0, nil, nil)["g0"]; !ok || g.ProtocolType != "consumer" {
		t.Fatalf("list v0: %+v", g)
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"g0", "nope", ""}
	dr := c.do(dg, 0).(*kmsg.DeleteGroupsResponse)
	wantCode(t, "delete active", dr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "delete unknown", dr.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	wantCode(t, "delete empty id", dr.Groups[2].ErrorCode, kerr.InvalidGroupID)

	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group, lv.MemberID = "g0", j.MemberID
	wantCode(t, "leave v0", c.do(lv, 0).(*kmsg.LeaveGroupResponse).ErrorCode, nil)
	wantCode(t, "leave again", c.do(lv, 1).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.UnknownMemberID)
	// Members gone, offsets remain: Empty, listed, describable.
	if d := describe(c, 0, "g0"); d.State != "Empty" || d.ErrorCode != 0 || len(d.Members) != 0 {
		t.Fatalf("describe after leave: %+v", d)
	}
	if g, ok := listGroups(c, 4, []string{"empty"}, nil)["g0"]; !ok || g.GroupState != "Empty" {
		t.Fatalf("list empty: %+v", g)
	}
	oc = c.do(commitReq("g0", "gt", 0, 7), 0).(*kmsg.OffsetCommitResponse)
	wantCode(t, "simple commit to an empty group", oc.Topics[0].Partitions[0].ErrorCode, nil)
	dr = c.do(dg, 3).(*kmsg.DeleteGroupsResponse)
	wantCode(t, "delete emptied", dr.Groups[0].ErrorCode, nil)
	if offs, _ := e.l.GroupOffsets("g0"); len(offs) != 0 {
		t.Fatalf("offsets survived DeleteGroups: %+v", offs)
	}
	if d := describe(c, 6, "g0"); d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
		t.Fatalf("describe v6 after delete: %+v", d)
	}
	if d := describe(c, 5, "g0"); d.ErrorCode != 0 || d.State != "Dead" {
		t.Fatalf("describe v5 after delete: %+v", d)
	}
}

// TestGroupFlexibleVersions: KIP-394 two-step join, a second member and a
// rebalance over two connections, SyncGroup v5 protocol checks, ListGroups
// filters, batch leave, OffsetDelete.
func TestGroupFlexibleVersions(t *testing.T) {
	e := startServer(t, testConfig())
	if _, err := e.l.CreateTopic("sub", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.CreateTopic("other", 1, nil); err != nil {
		t.Fatal(err)
	}
	c1, c2 := e.dial(t), e.dial(t)
	bad := joinReq("g", "", "sub")
	bad.SessionTimeoutMillis = 10
	wantCode(t, "short session", c1.do(bad, 9).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidSessionTimeout)
	wantCode(t, "empty group id", c1.do(joinReq("", "", "sub"), 9).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidGroupID)

	j := c1.do(joinReq("g", "", "sub"), 9).(*kmsg.JoinGroupResponse)
	wantCode(t, "first join v9", j.ErrorCode, kerr.MemberIDRequired)
	m1 := j.MemberID
	j = c1.do(joinReq("g", m1, "sub"), 9).(*kmsg.JoinGroupResponse)
	if j.ErrorCode != 0 || j.Generation != 1 || j.LeaderID != m1 || *j.ProtocolType != "consumer" || *j.Protocol != "range" {
		t.Fatalf("second join v9: %+v", j)
	}
	sr := syncReq("g", m1, 1, map[string]string{m1: "P"})
	wrong := "roundrobin"
	sr.Protocol = &wrong
	wantCode(t, "sync v5 other protocol", c1.do(sr, 5).(*kmsg.SyncGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
	pt, p := "consumer", "range"
	sr.ProtocolType, sr.Protocol = &pt, &p
	s := c1.do(sr, 5).(*kmsg.SyncGroupResponse)
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "P" || *s.Protocol != "range" || *s.ProtocolType != "consumer" {
		t.Fatalf("sync v5: %+v", s)
	}

	// A second member, v5 with KIP-394 too, on its own connection.
	j2 := c2.do(joinReq("g", "", "sub"), 5).(*kmsg.JoinGroupResponse)
	wantCode(t, "member 2 first join", j2.ErrorCode, kerr.MemberIDRequired)
	m2 := j2.MemberID
	j2req := joinReq("g", m2, "sub")
	corr := c2.send(j2req, 5) // waits for m1
	deadline := time.Now().Add(5 * time.Second)
	for {
		code := c1.do(hbReq("g", m1, 1), 4).(*kmsg.HeartbeatResponse).ErrorCode
		if code == kerr.RebalanceInProgress.Code {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat %d, no rebalance", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	j = c1.do(joinReq("g", m1, "sub"), 9).(*kmsg.JoinGroupResponse)
	j2 = c2.recv(j2req, corr).(*kmsg.JoinGroupResponse)
	if j.Generation != 2 || j2.Generation != 2 || len(j.Members) != 2 || len(j2.Members) != 0 || j2.LeaderID != m1 {
		t.Fatalf("rebalance: %+v / %+v", j, j2)
	}
	s2req := syncReq("g", m2, 2, nil)
	corr = c2.send(s2req, 3)
	c1.do(syncReq("g", m1, 2, map[string]string{m1: "P1", m2: "P2"}), 4)
	if s := c2.recv(s2req, corr).(*kmsg.SyncGroupResponse); s.ErrorCode != 0 || string(s.MemberAssignment) != "P2" {
		t.Fatalf("follower sync: %+v", s)
	}

	// Views.
	d := describe(c1, 6, "g")
	if d.State != "Stable" || len(d.Members) != 2 || d.ErrorCode != 0 {
		t.Fatalf("describe v6: %+v", d)
	}
	if _, ok := listGroups(c1, 4, []string{"STABLE"}, nil)["g"]; !ok {
		t.Fatal("states filter Stable misses the group")
	}
	if _, ok := listGroups(c1, 4, []string{"Empty"}, nil)["g"]; ok {
		t.Fatal("states filter Empty lists a stable group")
	}
	if g, ok := listGroups(c1, 5, nil, []string{"classic"})["g"]; !ok || g.GroupType != "classic" {
		t.Fatal("types filter classic misses the group")
	}
	if _, ok := listGroups(c1, 5, nil, []string{"consumer"})["g"]; ok {
		t.Fatal("types filter consumer lists a classic group")
	}

	// Commits and OffsetDelete: "sub" is subscribed, "other" is not.
	oc := memberCommit("g", m1, 2, "sub", 0, 5)
	oc.Topics = append(oc.Topics, kmsg.OffsetCommitRequestTopic{Topic: "other", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 9, LeaderEpoch: -1}}})
	for _, tp := range c1.do(oc, 8).(*kmsg.OffsetCommitResponse).Topics {
		wantCode(t, "commit "+tp.Topic, tp.Partitions[0].ErrorCode, nil)
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{
		{Topic: "sub", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "other", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}, {Partition: 3}}},
	}
	odr := c1.do(od, 0).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "offset delete group", odr.ErrorCode, nil)
	wantCode(t, "offset delete subscribed", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	wantCode(t, "offset delete other", odr.Topics[1].Partitions[0].ErrorCode, nil)
	wantCode(t, "offset delete no such partition", odr.Topics[1].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
	if _, ok, _ := e.l.FetchOffset("g", "other", 0); ok {
		t.Fatal("offset of other survived OffsetDelete")
	}
	od.Group = "nope"
	wantCode(t, "offset delete unknown group", c1.do(od, 0).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.GroupIDNotFound)

	// OffsetFetch v8 several groups, all partitions of one.
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}, {Group: "nope"}}
	ofr := c1.do(of, 8).(*kmsg.OffsetFetchResponse)
	if len(ofr.Groups) != 2 || len(ofr.Groups[0].Topics) != 1 || ofr.Groups[0].Topics[0].Partitions[0].Offset != 5 || len(ofr.Groups[1].Topics) != 0 {
		t.Fatalf("offset fetch v8: %+v", ofr.Groups)
	}

	// Batch leave v5: both members and a stranger.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group = "g"
	for _, id := range []string{m1, m2, "ghost"} {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = id
		lv.Members = append(lv.Members, m)
	}
	lr := c1.do(lv, 5).(*kmsg.LeaveGroupResponse)
	if lr.ErrorCode != 0 || len(lr.Members) != 3 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != 0 ||
		lr.Members[2].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave v5: %+v", lr)
	}
	if d := describe(c1, 6, "g"); d.State != "Empty" {
		t.Fatalf("after leave: %+v", d)
	}
}

// TestGroupSessionExpiryOverTheWire: a member that stops heartbeating is
// removed after its session timeout (1 s, the minimum).
func TestGroupSessionExpiryOverTheWire(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	req := joinReq("gs", "")
	req.SessionTimeoutMillis = 1000
	j := c.do(req, 3).(*kmsg.JoinGroupResponse)
	c.do(syncReq("gs", j.MemberID, j.Generation, nil), 2)
	time.Sleep(1300 * time.Millisecond)
	wantCode(t, "heartbeat after expiry", c.do(hbReq("gs", j.MemberID, j.Generation), 2).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
}

// TestGroupCloseAnswersWaitingJoin: a JoinGroup waiting in a barrier when
// the server closes does not keep Close waiting.
func TestGroupCloseAnswersWaitingJoin(t *testing.T) {
	e := startServer(t, testConfig())
	c1, c2 := e.dial(t), e.dial(t)
	j := c1.do(joinReq("gc", ""), 3).(*kmsg.JoinGroupResponse)
	c1.do(syncReq("gc", j.MemberID, j.Generation, nil), 2)
	c2.send(joinReq("gc", ""), 3) // waits for the first member to rejoin
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { _ = e.s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a waiting JoinGroup")
	}
}

// TestFranzGoGroup: two franz-go group consumers (cooperative-sticky, the
// default) share a 4-partition topic, commit, and a third client reads the
// commits back with kadm.
func TestFranzGoGroup(t *testing.T) {
	e := startServer(t, testConfig())
	ctx := ctxT(t)
	prod, err := kgo.NewClient(kgo.SeedBrokers(e.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, 4, -1, nil, "kg"); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Topic: "kg", Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clients := make([]*kgo.Client, 2)
	for i := range clients {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumerGroup("kgg"), kgo.ConsumeTopics("kg"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
			kgo.DisableAutoCommit(), kgo.HeartbeatInterval(200*time.Millisecond), kgo.SessionTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = cl
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cctx.Err() == nil {
				fs := cl.PollFetches(cctx)
				mu.Lock()
				fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
				mu.Unlock()
				_ = cl.CommitUncommittedOffsets(cctx)
			}
		}()
	}
	committed := func() int64 {
		fetched, err := adm.FetchOffsets(ctx, "kgg")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		fetched.Each(func(o kadm.OffsetResponse) { total += o.At })
		return total
	}
	// Every record consumed, then every offset committed by the members'
	// loops (a commit that meets a rebalance is retried by the next
	// iteration; cancelling earlier could leave a member mid-rebalance with
	// nothing to commit).
	for {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if got == n && committed() == n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d, committed offsets sum to %d", got, n, committed())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for _, cl := range clients {
		cl.Close() // leaves the group
	}
	if total := committed(); total != n {
		t.Fatalf("committed offsets sum to %d, want %d", total, n)
	}
	groups, err := adm.DescribeGroups(ctx, "kgg")
	if err != nil {
		t.Fatal(err)
	}
	if g := groups["kgg"]; g.State != "Empty" {
		t.Fatalf("group after both left: %+v", g)
	}
}

// TestGroupInitialRebalanceDelay: with the delay set, the first member of an
// empty group waits for it (and a second member arriving meanwhile lands in
// the same generation); DescribeConfigs reports the setting.
func TestGroupInitialRebalanceDelay(t *testing.T) {
	cfg := testConfig()
	cfg.GroupInitialRebalanceDelay = 400 * time.Millisecond
	e := startServer(t, cfg)
	c1, c2 := e.dial(t), e.dial(t)
	start := time.Now()
	first := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { first <- c1.do(joinReq("gd", ""), 3).(*kmsg.JoinGroupResponse) }()
	time.Sleep(100 * time.Millisecond)
	j2 := c2.do(joinReq("gd", ""), 3).(*kmsg.JoinGroupResponse)
	j1 := <-first
	if waited := time.Since(start); waited < 400*time.Millisecond {
		t.Fatalf("first join answered after %v, before the delay", waited)
	}
	if j1.ErrorCode != 0 || j2.ErrorCode != 0 || j1.Generation != 1 || j2.Generation != 1 || len(j1.Members)+len(j2.Members) != 2 {
		t.Fatalf("joins: %+v / %+v", j1, j2)
	}

	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Resources = []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1", ConfigNames: []string{"group.initial.rebalance.delay.ms"}},
	}
	resp := c1.do(req, 4).(*kmsg.DescribeConfigsResponse)
	if cs := resp.Resources[0].Configs; len(cs) != 1 || cs[0].Value == nil || *cs[0].Value != "400" {
		t.Fatalf("group.initial.rebalance.delay.ms: %+v", cs)
	}
}
