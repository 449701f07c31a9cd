package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/zombi-dev/zombi/auth"
)

// ACL tests run a server whose requests act as User:<client id>
// (principalByClientID), so that several principals share one server while
// every request takes the real path: socket, framing, handler, authorizer.
// "admin" and "test" (the client id of rawConn) are superusers.

type authEnv struct {
	*testEnv
	svc *auth.Service
}

func startAuthServer(t *testing.T) *authEnv {
	t.Helper()
	principalByClientID.Store(true)
	// Registered first, so it runs after the server is closed.
	t.Cleanup(func() { principalByClientID.Store(false) })
	svc, err := auth.Open(auth.NewMemStore(), auth.Config{Authorization: true, Superusers: []string{"admin", "test"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Auth = svc
	return &authEnv{startServer(t, cfg), svc}
}

// grant creates ALLOW ACLs for User:user from any host.
func (e *authEnv) grant(t *testing.T, user string, rt kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, ops ...kmsg.ACLOperation) {
	t.Helper()
	e.acl(t, kmsg.ACLPermissionTypeAllow, user, rt, name, pattern, ops...)
}

func (e *authEnv) acl(t *testing.T, perm kmsg.ACLPermissionType, user string, rt kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, ops ...kmsg.ACLOperation) {
	t.Helper()
	var acls []auth.ACL
	for _, op := range ops {
		acls = append(acls, auth.ACL{ResourceType: rt, ResourceName: name, PatternType: pattern,
			Principal: "User:" + user, Host: "*", Operation: op, Permission: perm})
	}
	for _, err := range e.svc.CreateACLs(acls) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// client is a franz-go client acting as user.
func (e *authEnv) client(t *testing.T, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addr), kgo.ClientID(user),
		kgo.RequestRetries(1), kgo.RetryTimeout(2 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// doAs sends req on r with client id user (so as User:user) and decodes the
// response.
func (r *rawConn) doAs(user string, req kmsg.Request, version int16) kmsg.Response {
	r.t.Helper()
	req.SetVersion(version)
	r.corr++
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(version))
	buf = binary.BigEndian.AppendUint32(buf, uint32(r.corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(user)))
	buf = append(buf, user...)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	_ = r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(buf); err != nil {
		r.t.Fatal(err)
	}
	return r.recv(req, r.corr)
}

const (
	litACL = kmsg.ACLResourcePatternTypeLiteral
	preACL = kmsg.ACLResourcePatternTypePrefixed
	topicR = kmsg.ACLResourceTypeTopic
	groupR = kmsg.ACLResourceTypeGroup
	clustR = kmsg.ACLResourceTypeCluster
)

func wantErr(t *testing.T, what string, got error, want *kerr.Error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got %v, want %s", what, got, want.Message)
	}
}

func (e *authEnv) createTopics(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := e.l.CreateTopic(n, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestACLProduceConsume: a user without WRITE cannot produce, WRITE lets it,
// READ lets another consume, a superuser bypasses all.
func TestACLProduceConsume(t *testing.T) {
	e := startAuthServer(t)
	ctx := ctxT(t)
	e.createTopics(t, "orders", "other")
	c := e.dial(t)

	// Raw Produce without WRITE: TOPIC_AUTHORIZATION_FAILED, nothing stored.
	pr := c.doAs("alice", produceReq("orders", 0, -1, mkBatch("x")), 9).(*kmsg.ProduceResponse)
	wantCode(t, "produce without WRITE", pr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	if _, hwm, _ := e.l.Offsets("orders", 0); hwm != 0 {
		t.Fatalf("a refused produce stored records: hwm %d", hwm)
	}
	// Idempotent producer init without WRITE anywhere: CLUSTER_AUTHORIZATION_FAILED.
	ip := c.doAs("alice", kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse)
	wantCode(t, "InitProducerId without WRITE anywhere", ip.ErrorCode, kerr.ClusterAuthorizationFailed)

	// WRITE on another topic is enough for InitProducerId (KIP-679), not
	// for producing to orders: kgo sees TOPIC_AUTHORIZATION_FAILED.
	e.grant(t, "alice", topicR, "other", litACL, kmsg.ACLOperationWrite)
	ip = c.doAs("alice", kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse)
	wantCode(t, "InitProducerId with WRITE on a topic", ip.ErrorCode, nil)
	alice := e.client(t, "alice")
	err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("no")}).FirstErr()
	wantErr(t, "kgo produce without WRITE", err, kerr.TopicAuthorizationFailed)

	e.grant(t, "alice", topicR, "orders", litACL, kmsg.ACLOperationWrite)
	alice2 := e.client(t, "alice") // a fresh client: the first one gave up on orders
	for i := range 3 {
		if err := alice2.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte{byte('a' + i)}}).FirstErr(); err != nil {
			t.Fatalf("produce with WRITE: %v", err)
		}
	}

	// bob: no READ, then READ on the topic and the group.
	fr := c.doAs("bob", fetchReq("orders", 0, 0, 0, 0), 12).(*kmsg.FetchResponse)
	wantCode(t, "fetch without READ", fr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	if len(fr.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatal("a refused fetch returned records")
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "orders"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lr := c.doAs("bob", lo, 7).(*kmsg.ListOffsetsResponse)
	wantCode(t, "ListOffsets without DESCRIBE", lr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)

	e.grant(t, "bob", topicR, "orders", litACL, kmsg.ACLOperationRead)
	e.grant(t, "bob", groupR, "bobs", litACL, kmsg.ACLOperationRead)
	bob := e.client(t, "bob", kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("bobs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	got := 0
	for got < 3 {
		fs := bob.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("bob consumed %d of 3", got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("bob: %v", err) })
		got += fs.NumRecords()
	}
	if err := bob.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("bob commits with READ on group and topic: %v", err)
	}

	// The superuser needs no ACL.
	admin := e.client(t, "admin")
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "other", Value: []byte("su")}).FirstErr(); err != nil {
		t.Fatalf("superuser produce: %v", err)
	}
	fr = c.doAs("admin", fetchReq("orders", 0, 0, 0, 0), 12).(*kmsg.FetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("superuser fetch: %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
}

// TestACLPrefixedAndDeny: a PREFIXED ACL covers a topic created later; DENY
// beats ALLOW.
func TestACLPrefixedAndDeny(t *testing.T) {
	e := startAuthServer(t)
	ctx := ctxT(t)
	e.grant(t, "carol", topicR, "logs-", preACL, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate)
	carol := e.client(t, "carol", kgo.AllowAutoTopicCreation())
	// A new topic, auto-created on carol's Metadata because of CREATE.
	if err := carol.ProduceSync(ctx, &kgo.Record{Topic: "logs-new", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new topic under a PREFIXED ACL: %v", err)
	}
	if _, ok := e.l.Topic("logs-new"); !ok {
		t.Fatal("logs-new was not created")
	}
	err := carol.ProduceSync(ctx, &kgo.Record{Topic: "metrics-new", Value: []byte("v")}).FirstErr()
	wantErr(t, "produce outside the prefix", err, kerr.TopicAuthorizationFailed)
	if _, ok := e.l.Topic("metrics-new"); ok {
		t.Fatal("a topic outside the prefix was created")
	}

	// DENY wins over ALLOW, whatever the pattern.
	e.createTopics(t, "public", "secret")
	e.grant(t, "dave", topicR, "*", litACL, kmsg.ACLOperationRead)
	e.acl(t, kmsg.ACLPermissionTypeDeny, "dave", topicR, "sec", preACL, kmsg.ACLOperationRead)
	c := e.dial(t)
	fr := c.doAs("dave", fetchReq("secret", 0, 0, 0, 0), 12).(*kmsg.FetchResponse)
	wantCode(t, "fetch a DENY topic", fr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	fr = c.doAs("dave", fetchReq("public", 0, 0, 0, 0), 12).(*kmsg.FetchResponse)
	wantCode(t, "fetch an ALLOW topic", fr.Topics[0].Partitions[0].ErrorCode, nil)
	// DENY on User:* applies to dave too.
	e.acl(t, kmsg.ACLPermissionTypeDeny, "*", topicR, "public", litACL, kmsg.ACLOperationAll)
	fr = c.doAs("dave", fetchReq("public", 0, 0, 0, 0), 12).(*kmsg.FetchResponse)
	wantCode(t, "fetch under DENY User:*", fr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
}

// TestACLMetadata: Metadata lists only describable topics, refuses named
// ones without DESCRIBE and auto-creation without CREATE, and reports
// authorized operations.
func TestACLMetadata(t *testing.T) {
	e := startAuthServer(t)
	e.createTopics(t, "a", "b")
	e.grant(t, "erin", topicR, "a", litACL, kmsg.ACLOperationDescribe)
	e.grant(t, "erin", topicR, "auto-", preACL, kmsg.ACLOperationDescribe)
	c := e.dial(t)

	all := kmsg.NewPtrMetadataRequest()
	all.IncludeTopicAuthorizedOperations, all.IncludeClusterAuthorizedOperations = true, true
	mr := c.doAs("erin", all, 9).(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 || *mr.Topics[0].Topic != "a" {
		t.Fatalf("erin sees %d topics, want only a", len(mr.Topics))
	}
	if got := mr.Topics[0].AuthorizedOperations; got != 1<<kmsg.ACLOperationDescribe {
		t.Fatalf("authorized operations on a: %b, want DESCRIBE only", got)
	}
	if mr.AuthorizedOperations != 0 {
		t.Fatalf("cluster authorized operations without DESCRIBE: %b", mr.AuthorizedOperations)
	}

	named := kmsg.NewPtrMetadataRequest()
	named.AllowAutoTopicCreation = true
	for _, n := range []string{"a", "b", "nope", "auto-x"} {
		n := n
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &n
		named.Topics = append(named.Topics, rt)
	}
	mr = c.doAs("erin", named, 12).(*kmsg.MetadataResponse)
	want := map[string]*kerr.Error{"a": nil, "b": kerr.TopicAuthorizationFailed, "nope": kerr.TopicAuthorizationFailed,
		"auto-x": kerr.TopicAuthorizationFailed}
	for _, rt := range mr.Topics {
		wantCode(t, "metadata "+*rt.Topic, rt.ErrorCode, want[*rt.Topic])
		if rt.ErrorCode == kerr.TopicAuthorizationFailed.Code && (len(rt.Partitions) > 0 || rt.TopicID != ([16]byte{})) {
			t.Fatalf("refused topic %s disclosed partitions or id", *rt.Topic)
		}
	}
	if _, ok := e.l.Topic("auto-x"); ok {
		t.Fatal("auto-x was created without CREATE")
	}
	// With CREATE on the prefix, auto-creation works.
	e.grant(t, "erin", topicR, "auto-", preACL, kmsg.ACLOperationCreate)
	mr = c.doAs("erin", named, 12).(*kmsg.MetadataResponse)
	for _, rt := range mr.Topics {
		if *rt.Topic == "auto-x" {
			wantCode(t, "auto-create with CREATE", rt.ErrorCode, nil)
		}
	}

	// A superuser's authorized operations: everything a topic supports.
	mr = c.doAs("admin", all, 9).(*kmsg.MetadataResponse)
	if len(mr.Topics) != 5 || mr.Topics[0].AuthorizedOperations != 3576 || mr.AuthorizedOperations != 8096 {
		t.Fatalf("admin: %d topics, topic ops %d, cluster ops %d", len(mr.Topics), mr.Topics[0].AuthorizedOperations, mr.AuthorizedOperations)
	}
	// DescribeTopicPartitions: the same rule, refused ones last.
	dr := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, n := range []string{"b", "a"} {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = n
		dr.Topics = append(dr.Topics, rt)
	}
	dresp := c.doAs("erin", dr, 0).(*kmsg.DescribeTopicPartitionsResponse)
	if len(dresp.Topics) != 2 || *dresp.Topics[0].Topic != "a" || dresp.Topics[0].ErrorCode != 0 ||
		*dresp.Topics[1].Topic != "b" || dresp.Topics[1].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("DescribeTopicPartitions: %+v", dresp.Topics)
	}
}

// TestACLGroupsAndAdmin: group requests need the group ACL, CreateTopics
// needs CREATE, DeleteTopics DELETE.
func TestACLGroupsAndAdmin(t *testing.T) {
	e := startAuthServer(t)
	ctx := ctxT(t)
	e.createTopics(t, "t")
	e.grant(t, "frank", topicR, "t", litACL, kmsg.ACLOperationRead)
	c := e.dial(t)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"g"}
	fcr := c.doAs("frank", fc, 4).(*kmsg.FindCoordinatorResponse)
	wantCode(t, "FindCoordinator without group DESCRIBE", fcr.Coordinators[0].ErrorCode, kerr.GroupAuthorizationFailed)

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "g", "consumer", 10000, 10000
	jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
	jr := c.doAs("frank", jg, 9).(*kmsg.JoinGroupResponse)
	wantCode(t, "JoinGroup without group READ", jr.ErrorCode, kerr.GroupAuthorizationFailed)

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = "g", -1
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "t"
	ot.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}
	oc.Topics = append(oc.Topics, ot)
	ocr := c.doAs("frank", oc, 8).(*kmsg.OffsetCommitResponse)
	wantCode(t, "OffsetCommit without group READ", ocr.Topics[0].Partitions[0].ErrorCode, kerr.GroupAuthorizationFailed)

	// kgo's group consumer fails the same way.
	frank := e.client(t, "frank", kgo.ConsumeTopics("t"), kgo.ConsumerGroup("g"))
	fs := frank.PollFetches(ctx)
	var gerr error
	fs.EachError(func(_ string, _ int32, err error) { gerr = err })
	wantErr(t, "kgo group consumer without group READ", gerr, kerr.GroupAuthorizationFailed)

	// With READ on the group: the commit goes through.
	e.grant(t, "frank", groupR, "g", litACL, kmsg.ACLOperationRead)
	ocr = c.doAs("frank", oc, 8).(*kmsg.OffsetCommitResponse)
	wantCode(t, "OffsetCommit with READ", ocr.Topics[0].Partitions[0].ErrorCode, nil)
	// ...but not to a topic it may not READ, in the same request.
	e.createTopics(t, "t2")
	ot2 := ot
	ot2.Topic = "t2"
	oc.Topics = append(oc.Topics, ot2)
	ocr = c.doAs("frank", oc, 8).(*kmsg.OffsetCommitResponse)
	wantCode(t, "OffsetCommit t with READ", ocr.Topics[0].Partitions[0].ErrorCode, nil)
	wantCode(t, "OffsetCommit t2 without READ", ocr.Topics[1].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	if _, ok, _ := e.l.FetchOffset("g", "t2", 0); ok {
		t.Fatal("a refused commit was stored")
	}
	// ListGroups without DESCRIBE on the cluster: only the groups it may see.
	adm := kadm.NewClient(e.client(t, "gina"))
	lg, err := adm.ListGroups(ctx)
	if err != nil || len(lg) != 0 {
		t.Fatalf("gina lists %v, %v", lg.Groups(), err)
	}
	adm = kadm.NewClient(e.client(t, "frank"))
	if lg, err = adm.ListGroups(ctx); err != nil || len(lg) != 1 {
		t.Fatalf("frank lists %v, %v", lg.Groups(), err)
	}

	// CreateTopics: refused without CREATE, allowed by CREATE on a prefix.
	ct, err := adm.CreateTopics(ctx, 1, 1, nil, "frank-1", "x-1")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateTopics without CREATE", ct["frank-1"].Err, kerr.TopicAuthorizationFailed)
	e.grant(t, "frank", topicR, "frank-", preACL, kmsg.ACLOperationCreate)
	ct, err = adm.CreateTopics(ctx, 1, 1, nil, "frank-1", "x-1")
	if err != nil {
		t.Fatal(err)
	}
	if ct["frank-1"].Err != nil {
		t.Fatalf("CreateTopics with CREATE on the prefix: %v", ct["frank-1"].Err)
	}
	wantErr(t, "CreateTopics outside the prefix", ct["x-1"].Err, kerr.TopicAuthorizationFailed)
	dt, err := adm.DeleteTopics(ctx, "frank-1")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteTopics without DELETE", dt["frank-1"].Err, kerr.TopicAuthorizationFailed)
	if _, ok := e.l.Topic("frank-1"); !ok {
		t.Fatal("a refused DeleteTopics deleted the topic")
	}
}

// TestACLAdminAPIs: CreateAcls, DescribeAcls, DeleteAcls through kadm (v3)
// and by hand at v0-v2; only principals with ALTER/DESCRIBE on the cluster.
func TestACLAdminAPIs(t *testing.T) {
	e := startAuthServer(t)
	ctx := ctxT(t)
	adm := kadm.NewClient(e.client(t, "admin"))
	b := kadm.NewACLs().Allow("User:alice").Topics("t1", "t2").Operations(kmsg.ACLOperationRead, kmsg.ACLOperationWrite)
	created, err := adm.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 4 {
		t.Fatalf("%d results", len(created))
	}
	for _, r := range created {
		if r.Err != nil {
			t.Fatalf("create %s %s: %v", r.Name, r.Operation, r.Err)
		}
	}
	pb := kadm.NewACLs().Deny("User:*").Groups("g-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kmsg.ACLOperationDelete)
	if _, err := adm.CreateACLs(ctx, pb); err != nil {
		t.Fatal(err)
	}
	desc, err := adm.DescribeACLs(ctx, kadm.NewACLs().Allow().AllowHosts().Deny().DenyHosts().AnyResource().
		ResourcePatternType(kadm.ACLPatternAny).Operations(kmsg.ACLOperationAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range desc {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		n += len(r.Described)
	}
	if n != 5 {
		t.Fatalf("described %d ACLs, want 5", n)
	}
	// The ACLs act at once: alice may read t1.
	e.createTopics(t, "t1")
	c := e.dial(t)
	fr := c.doAs("alice", fetchReq("t1", 0, 0, 0, 0), 12).(*kmsg.FetchResponse)
	wantCode(t, "fetch after CreateAcls", fr.Topics[0].Partitions[0].ErrorCode, nil)

	// v0-v2 by hand. v0: no pattern type; the filter is LITERAL, so the
	// PREFIXED ACL is not listed.
	for v := int16(0); v <= 2; v++ {
		d := kmsg.NewPtrDescribeACLsRequest()
		d.ResourceType, d.Operation, d.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		if v >= 1 {
			d.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
		}
		dr := c.do(d, v).(*kmsg.DescribeACLsResponse)
		wantCode(t, "DescribeAcls", dr.ErrorCode, nil)
		want := 2 // resources t1, t2
		if v >= 1 {
			want = 3 // and the prefixed group
		}
		if len(dr.Resources) != want {
			t.Fatalf("DescribeAcls v%d: %d resources, want %d", v, len(dr.Resources), want)
		}
	}
	cr := kmsg.NewPtrCreateACLsRequest()
	cc := kmsg.NewCreateACLsRequestCreation()
	cc.ResourceType, cc.ResourceName, cc.Principal, cc.Host = kmsg.ACLResourceTypeGroup, "v0group", "User:bob", "*"
	cc.Operation, cc.PermissionType = kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	bad := cc
	bad.ResourceType, bad.ResourceName = kmsg.ACLResourceTypeCluster, "not-the-cluster"
	cr.Creations = []kmsg.CreateACLsRequestCreation{cc, bad}
	crr := c.do(cr, 0).(*kmsg.CreateACLsResponse)
	wantCode(t, "CreateAcls v0", crr.Results[0].ErrorCode, nil)
	wantCode(t, "CreateAcls v0 bad cluster name", crr.Results[1].ErrorCode, kerr.InvalidRequest)
	if acls, _ := e.svc.DescribeACLs(auth.ACLFilter{ResourceType: kmsg.ACLResourceTypeGroup, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}); len(acls) != 1 || acls[0].ResourceName != "v0group" {
		t.Fatalf("v0 creation stored as %+v, want one LITERAL ACL", acls)
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	df := kmsg.NewDeleteACLsRequestFilter()
	df.ResourceType, df.Operation, df.PermissionType = kmsg.ACLResourceTypeGroup, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = []kmsg.DeleteACLsRequestFilter{df}
	delr := c.do(del, 0).(*kmsg.DeleteACLsResponse)
	if r := delr.Results[0]; r.ErrorCode != 0 || len(r.MatchingACLs) != 1 || r.MatchingACLs[0].ResourceName != "v0group" {
		t.Fatalf("DeleteAcls v0 (LITERAL only): %+v", r)
	}

	// kadm delete of alice's ACLs (v3).
	deleted, err := adm.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("t1", "t2").
		Operations(kmsg.ACLOperationAny))
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for _, r := range deleted {
		n += len(r.Deleted)
	}
	if n != 4 {
		t.Fatalf("deleted %d ACLs, want 4", n)
	}
	fr = c.doAs("alice", fetchReq("t1", 0, 0, 0, 0), 12).(*kmsg.FetchResponse)
	wantCode(t, "fetch after DeleteAcls", fr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)

	// A principal without ALTER/DESCRIBE on the cluster.
	crr = c.doAs("alice", cr, 3).(*kmsg.CreateACLsResponse)
	wantCode(t, "CreateAcls as alice", crr.Results[0].ErrorCode, kerr.ClusterAuthorizationFailed)
	dr := c.doAs("alice", kmsg.NewPtrDescribeACLsRequest(), 3).(*kmsg.DescribeACLsResponse)
	wantCode(t, "DescribeAcls as alice", dr.ErrorCode, kerr.ClusterAuthorizationFailed)
	delr = c.doAs("alice", del, 3).(*kmsg.DeleteACLsResponse)
	wantCode(t, "DeleteAcls as alice", delr.Results[0].ErrorCode, kerr.ClusterAuthorizationFailed)
	e.grant(t, "alice", clustR, auth.ClusterName, litACL, kmsg.ACLOperationDescribe)
	anyACL := kmsg.NewPtrDescribeACLsRequest()
	anyACL.ResourceType, anyACL.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	anyACL.Operation, anyACL.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dr = c.doAs("alice", anyACL, 3).(*kmsg.DescribeACLsResponse)
	wantCode(t, "DescribeAcls with DESCRIBE on the cluster", dr.ErrorCode, nil)
	if len(dr.Resources) != 2 { // the prefixed group and the cluster
		t.Fatalf("alice describes %d resources, want 2", len(dr.Resources))
	}
}

// TestSecurityDisabled: without the auth service the ACL and SCRAM APIs
// answer SECURITY_DISABLED, and authorized operations are everything.
func TestSecurityDisabled(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	dr := c.do(kmsg.NewPtrDescribeACLsRequest(), 1).(*kmsg.DescribeACLsResponse)
	wantCode(t, "DescribeAcls", dr.ErrorCode, kerr.SecurityDisabled)
	cr := kmsg.NewPtrCreateACLsRequest()
	cr.Creations = []kmsg.CreateACLsRequestCreation{kmsg.NewCreateACLsRequestCreation()}
	wantCode(t, "CreateAcls", c.do(cr, 2).(*kmsg.CreateACLsResponse).Results[0].ErrorCode, kerr.SecurityDisabled)
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Filters = []kmsg.DeleteACLsRequestFilter{kmsg.NewDeleteACLsRequestFilter()}
	wantCode(t, "DeleteAcls", c.do(del, 3).(*kmsg.DeleteACLsResponse).Results[0].ErrorCode, kerr.SecurityDisabled)
	wantCode(t, "DescribeUserScramCredentials", c.do(kmsg.NewPtrDescribeUserSCRAMCredentialsRequest(), 0).(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode, kerr.SecurityDisabled)
	al := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	al.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "u", Mechanism: 1}}
	wantCode(t, "AlterUserScramCredentials", c.do(al, 0).(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode, kerr.SecurityDisabled)

	if _, err := e.l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	m := kmsg.NewPtrMetadataRequest()
	m.IncludeTopicAuthorizedOperations, m.IncludeClusterAuthorizedOperations = true, true
	mr := c.do(m, 10).(*kmsg.MetadataResponse)
	if mr.Topics[0].AuthorizedOperations != 3576 || mr.AuthorizedOperations != 8096 {
		t.Fatalf("authorized operations without authorizer: topic %d cluster %d", mr.Topics[0].AuthorizedOperations, mr.AuthorizedOperations)
	}
	m.IncludeTopicAuthorizedOperations, m.IncludeClusterAuthorizedOperations = false, false
	mr = c.do(m, 10).(*kmsg.MetadataResponse)
	if mr.Topics[0].AuthorizedOperations != authorizedOpsOmitted || mr.AuthorizedOperations != authorizedOpsOmitted {
		t.Fatal("authorized operations sent when not asked for")
	}
}

// TestSCRAMCredentialAPIs: AlterUserScramCredentials and
// DescribeUserScramCredentials through kadm, Kafka's per-user errors by
// hand, and the stored credential verifies the password.
func TestSCRAMCredentialAPIs(t *testing.T) {
	e := startAuthServer(t)
	ctx := ctxT(t)
	adm := kadm.NewClient(e.client(t, "admin"))
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "alice-secret"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range altered {
		if r.Err != nil {
			t.Fatalf("upsert %s: %v", r.User, r.Err)
		}
	}
	if _, err := e.svc.VerifyPassword(ctx, "alice", "alice-secret"); err != nil {
		t.Fatalf("alice's password after AlterUserScramCredentials: %v", err)
	}
	if _, err := e.svc.VerifyPassword(ctx, "alice", "wrong"); err == nil {
		t.Fatal("a wrong password verified")
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := described["alice"]; a.Err != nil || len(a.CredInfos) != 1 || a.CredInfos[0].Mechanism != kadm.ScramSha256 || a.CredInfos[0].Iterations != 8192 {
		t.Fatalf("alice described as %+v", a)
	}
	if b := described["bob"]; len(b.CredInfos) != 1 || b.CredInfos[0].Mechanism != kadm.ScramSha512 {
		t.Fatalf("bob described as %+v", b)
	}

	c := e.dial(t)
	d := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	d.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "alice"}, {Name: "nobody"}, {Name: "bob"}, {Name: "bob"}}
	dr := c.do(d, 0).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	codes := map[string]int16{}
	for _, r := range dr.Results {
		codes[r.User] = r.ErrorCode
	}
	want := map[string]*kerr.Error{"alice": nil, "nobody": kerr.ResourceNotFound, "bob": kerr.DuplicateResource}
	for u, code := range want {
		wantCode(t, "describe "+u, codes[u], code)
	}

	up := func(name string, mech int8, iter int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		return kmsg.AlterUserSCRAMCredentialsRequestUpsertion{Name: name, Mechanism: mech, Iterations: iter, Salt: []byte("salt"), SaltedPassword: make([]byte, 32)}
	}
	al := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	al.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "bob", Mechanism: 2}, {Name: "carol", Mechanism: 1}}
	al.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("bob", 1, 4096), up("dave", 3, 4096), up("erin", 1, 100), up("fay", 1, 20000), up("", 1, 4096)}
	ar := c.do(al, 0).(*kmsg.AlterUserSCRAMCredentialsResponse)
	codes = map[string]int16{}
	for _, r := range ar.Results {
		codes[r.User] = r.ErrorCode
	}
	want = map[string]*kerr.Error{"bob": kerr.DuplicateResource, "carol": kerr.ResourceNotFound,
		"dave": kerr.UnsupportedSaslMechanism, "erin": kerr.UnacceptableCredential,
		"fay": kerr.UnacceptableCredential, "": kerr.UnacceptableCredential}
	if len(ar.Results) != len(want) {
		t.Fatalf("%d results, want one per user (%d)", len(ar.Results), len(want))
	}
	for u, code := range want {
		wantCode(t, "alter "+u, codes[u], code)
	}
	if _, err := e.svc.VerifyPassword(ctx, "bob", "bob-secret"); err != nil {
		t.Fatalf("a duplicate alteration changed bob: %v", err)
	}

	// Deletion through kadm; then bob is gone.
	if _, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil); err != nil {
		t.Fatal(err)
	}
	described, err = adm.DescribeUserSCRAMs(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "describe a deleted user", described["bob"].Err, kerr.ResourceNotFound)

	// Without ALTER/DESCRIBE on the cluster.
	ar = c.doAs("alice", al, 0).(*kmsg.AlterUserSCRAMCredentialsResponse)
	for _, r := range ar.Results {
		wantCode(t, "alter as alice", r.ErrorCode, kerr.ClusterAuthorizationFailed)
	}
	dr = c.doAs("alice", d, 0).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	wantCode(t, "describe as alice", dr.ErrorCode, kerr.ClusterAuthorizationFailed)
	if len(dr.Results) != 0 {
		t.Fatal("a refused describe listed users")
	}
}

// TestACLRefusals: the other APIs' checks, each refused without its ACL
// and answered with it, in the place of the response Kafka uses.
func TestACLRefusals(t *testing.T) {
	e := startAuthServer(t)
	e.createTopics(t, "t")
	c := e.dial(t)
	if r := c.do(commitReq("g", "t", 0, 1), 8).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal("superuser commit failed")
	}
	const who = "nobody"

	// Group APIs.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", "m", 1
	wantCode(t, "Heartbeat", c.doAs(who, hb, 4).(*kmsg.HeartbeatResponse).ErrorCode, kerr.GroupAuthorizationFailed)
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group, lv.Members = "g", []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	wantCode(t, "LeaveGroup", c.doAs(who, lv, 5).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.GroupAuthorizationFailed)
	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Group, sg.MemberID, sg.Generation = "g", "m", 1
	wantCode(t, "SyncGroup", c.doAs(who, sg, 5).(*kmsg.SyncGroupResponse).ErrorCode, kerr.GroupAuthorizationFailed)
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups, dg.IncludeAuthorizedOperations = []string{"g"}, true
	dgr := c.doAs(who, dg, 5).(*kmsg.DescribeGroupsResponse)
	wantCode(t, "DescribeGroups", dgr.Groups[0].ErrorCode, kerr.GroupAuthorizationFailed)
	if dgr.Groups[0].State != "" {
		t.Fatalf("a refused DescribeGroups tells the state %q", dgr.Groups[0].State)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	wantCode(t, "DeleteGroups", c.doAs(who, del, 2).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, kerr.GroupAuthorizationFailed)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	wantCode(t, "OffsetDelete", c.doAs(who, od, 0).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.GroupAuthorizationFailed)

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "g"
	of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}} // v8+: all topics
	ofr := c.doAs(who, of, 1).(*kmsg.OffsetFetchResponse)
	wantCode(t, "OffsetFetch v1 (per partition)", ofr.Topics[0].Partitions[0].ErrorCode, kerr.GroupAuthorizationFailed)
	wantCode(t, "OffsetFetch v5 (top level)", c.doAs(who, of, 5).(*kmsg.OffsetFetchResponse).ErrorCode, kerr.GroupAuthorizationFailed)
	wantCode(t, "OffsetFetch v8 (per group)", c.doAs(who, of, 8).(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode, kerr.GroupAuthorizationFailed)

	// With DESCRIBE and DELETE on the group but nothing on the topic.
	e.grant(t, who, groupR, "g", litACL, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete)
	dgr = c.doAs(who, dg, 5).(*kmsg.DescribeGroupsResponse)
	if g := dgr.Groups[0]; g.ErrorCode != 0 || g.State != "Empty" || g.AuthorizedOperations != 1<<kmsg.ACLOperationDescribe|1<<kmsg.ACLOperationDelete {
		t.Fatalf("DescribeGroups with DESCRIBE: %v %q ops %b", kerr.ErrorForCode(g.ErrorCode), g.State, g.AuthorizedOperations)
	}
	ofr = c.doAs(who, of, 8).(*kmsg.OffsetFetchResponse)
	if g := ofr.Groups[0]; g.ErrorCode != 0 || len(g.Topics) != 0 {
		t.Fatalf("OffsetFetch of all topics shows %d topics without DESCRIBE on them", len(g.Topics))
	}
	ofr = c.doAs(who, of, 5).(*kmsg.OffsetFetchResponse)
	if p := ofr.Topics[0].Partitions[0]; p.ErrorCode != kerr.TopicAuthorizationFailed.Code || p.Offset != -1 {
		t.Fatalf("OffsetFetch of a named topic without DESCRIBE: %v offset %d", kerr.ErrorForCode(p.ErrorCode), p.Offset)
	}
	odr := c.doAs(who, od, 0).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "OffsetDelete without topic READ", odr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)

	// Topic admin APIs.
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}}
	dcr := c.doAs(who, dc, 4).(*kmsg.DescribeConfigsResponse)
	wantCode(t, "DescribeConfigs topic", dcr.Resources[0].ErrorCode, kerr.TopicAuthorizationFailed)
	wantCode(t, "DescribeConfigs broker", dcr.Resources[1].ErrorCode, kerr.ClusterAuthorizationFailed)
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "t", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Offset: -1}}}}
	wantCode(t, "DeleteRecords", c.doAs(who, dr, 2).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t", Count: 2}}
	wantCode(t, "CreatePartitions", c.doAs(who, cp, 3).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode, kerr.TopicAuthorizationFailed)
	if info, _ := e.l.Topic("t"); info.Partitions != 1 {
		t.Fatal("a refused CreatePartitions added partitions")
	}
	ole := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ole.ReplicaID = -1
	ole.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{LeaderEpoch: 0}}}}
	wantCode(t, "OffsetForLeaderEpoch", c.doAs(who, ole, 4).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)

	// DeleteTopics by id: no name without DESCRIBE, the name with it.
	info, _ := e.l.Topic("t")
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: info.UUID}}
	dtr := c.doAs(who, dt, 6).(*kmsg.DeleteTopicsResponse)
	if r := dtr.Topics[0]; r.ErrorCode != kerr.TopicAuthorizationFailed.Code || r.Topic != nil {
		t.Fatalf("DeleteTopics by id without DESCRIBE: %v, name %v", kerr.ErrorForCode(r.ErrorCode), r.Topic)
	}
	e.grant(t, who, topicR, "t", litACL, kmsg.ACLOperationDescribe)
	dtr = c.doAs(who, dt, 6).(*kmsg.DeleteTopicsResponse)
	if r := dtr.Topics[0]; r.ErrorCode != kerr.TopicAuthorizationFailed.Code || r.Topic == nil || *r.Topic != "t" {
		t.Fatalf("DeleteTopics by id with DESCRIBE: %v, name %v", kerr.ErrorForCode(r.ErrorCode), r.Topic)
	}

	// CreateTopics with CREATE but not DESCRIBE_CONFIGS: created, configs
	// withheld.
	e.grant(t, who, topicR, "n-", preACL, kmsg.ACLOperationCreate)
	ctr := c.doAs(who, createReq(false, ct("n-1", 1, 1)), 7).(*kmsg.CreateTopicsResponse)
	if r := ctr.Topics[0]; r.ErrorCode != 0 || r.ConfigErrorCode != kerr.TopicAuthorizationFailed.Code || len(r.Configs) != 0 || r.NumPartitions != 1 {
		t.Fatalf("CreateTopics without DESCRIBE_CONFIGS: %v, config error %v, %d configs", kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(r.ConfigErrorCode), len(r.Configs))
	}

	// DescribeCluster needs nothing; its authorized operations need DESCRIBE.
	dcl := kmsg.NewPtrDescribeClusterRequest()
	dcl.IncludeClusterAuthorizedOperations = true
	dclr := c.doAs(who, dcl, 1).(*kmsg.DescribeClusterResponse)
	if dclr.ErrorCode != 0 || dclr.ClusterAuthorizedOperations != 0 || len(dclr.Brokers) != 1 {
		t.Fatalf("DescribeCluster: %v ops %b", kerr.ErrorForCode(dclr.ErrorCode), dclr.ClusterAuthorizedOperations)
	}
	e.grant(t, who, clustR, auth.ClusterName, litACL, kmsg.ACLOperationAlter)
	dclr = c.doAs(who, dcl, 1).(*kmsg.DescribeClusterResponse)
	if want := int32(1<<kmsg.ACLOperationAlter | 1<<kmsg.ACLOperationDescribe); dclr.ClusterAuthorizedOperations != want {
		t.Fatalf("DescribeCluster ops %b, want %b (ALTER implies DESCRIBE)", dclr.ClusterAuthorizedOperations, want)
	}
}

// BenchmarkAllowed is the per-check cost a handler pays: with authorization
// off (today's default), for a superuser, and for a user allowed by one of
// 200 ACLs (literal and prefixed). Allocations must be 0.
func BenchmarkAllowed(b *testing.B) {
	ci := newConnInfo("127.0.0.1:5555", nil)
	ctx := withConnInfo(context.Background(), ci)
	svc, err := auth.Open(auth.NewMemStore(), auth.Config{Authorization: true, Superusers: []string{"admin"}})
	if err != nil {
		b.Fatal(err)
	}
	var acls []auth.ACL
	for i := range 100 {
		for _, pt := range []kmsg.ACLResourcePatternType{litACL, preACL} {
			acls = append(acls, auth.ACL{ResourceType: topicR, ResourceName: fmt.Sprintf("t%03d", i), PatternType: pt,
				Principal: fmt.Sprintf("User:u%d", i), Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow})
		}
	}
	acls = append(acls, auth.ACL{ResourceType: topicR, ResourceName: "orders", PatternType: litACL,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow})
	for _, err := range svc.CreateACLs(acls) {
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		svc  *auth.Service
		user string
	}{{"off", nil, "alice"}, {"superuser", svc, "admin"}, {"acl", svc, "alice"}} {
		b.Run(bc.name, func(b *testing.B) {
			principalByClientID.Store(true)
			defer principalByClientID.Store(false)
			ci.setClientID([]byte(bc.user))
			s := &Server{cfg: Config{Auth: bc.svc}}
			b.ReportAllocs()
			for b.Loop() {
				if !s.allowed(ctx, kmsg.ACLOperationWrite, topicR, "orders") {
					b.Fatal("refused")
				}
			}
		})
	}
}

// TestACLOverSASL: the principal of a SASL connection is what the ACLs see.
// A user made through AlterUserScramCredentials (kadm, as the admin over
// SCRAM-SHA-512) logs in with SCRAM-SHA-256 and PLAIN, is refused a produce
// without WRITE and allowed once CreateAcls grants it.
func TestACLOverSASL(t *testing.T) {
	svc, err := auth.Open(auth.NewMemStore(), auth.Config{Authorization: true, Superusers: []string{"admin"},
		FailedAuthDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPassword("admin", "admin-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Auth = svc
	e := startSecure(t, cfg, Listener{Protocol: SASLPlainText})
	addr := e.addrs[SASLPlainText]
	ctx := ctxT(t)
	newClient := func(m sasl.Mechanism) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(m), kgo.RequestRetries(1), kgo.RetryTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	adm := kadm.NewClient(newClient(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "sasl-orders"); err != nil {
		t.Fatal(err)
	}
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-pw"}})
	if err != nil || altered["alice"].Err != nil {
		t.Fatalf("AlterUserScramCredentials: %v %v", err, altered["alice"].Err)
	}

	scramAlice := scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha256Mechanism()
	err = newClient(scramAlice).ProduceSync(ctx, &kgo.Record{Topic: "sasl-orders", Value: []byte("x")}).FirstErr()
	wantErr(t, "alice without WRITE", err, kerr.TopicAuthorizationFailed)
	// No SCRAM-SHA-512 credential was made for alice.
	err = newClient(scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha512Mechanism()).Ping(ctx)
	wantErr(t, "alice over SCRAM-SHA-512", err, kerr.SaslAuthenticationFailed)

	created, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("sasl-orders").
		Operations(kmsg.ACLOperationWrite, kmsg.ACLOperationRead))
	if err != nil || created[0].Err != nil {
		t.Fatalf("CreateAcls: %v", err)
	}
	for _, m := range []sasl.Mechanism{scramAlice, plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism()} {
		if err := newClient(m).ProduceSync(ctx, &kgo.Record{Topic: "sasl-orders", Value: []byte(m.Name())}).FirstErr(); err != nil {
			t.Fatalf("alice over %s with WRITE: %v", m.Name(), err)
		}
	}
	if _, hwm, _ := e.l.Offsets("sasl-orders", 0); hwm != 2 {
		t.Fatalf("high watermark %d, want 2", hwm)
	}
}
