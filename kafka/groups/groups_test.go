package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newCoord(t *testing.T, cfg Config) *Coordinator {
	t.Helper()
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = 10 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

func protos(names ...string) []Protocol {
	out := make([]Protocol, len(names))
	for i, n := range names {
		out[i] = Protocol{Name: n, Metadata: []byte("md-" + n)}
	}
	return out
}

func jreq(group, member string, ps ...string) JoinRequest {
	if len(ps) == 0 {
		ps = []string{"range"}
	}
	return JoinRequest{
		Group: group, MemberID: member, ClientID: "c", ClientHost: "/127.0.0.1",
		ProtocolType: "consumer", Protocols: protos(ps...),
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
	}
}

// asyncJoin runs a Join in the background.
func asyncJoin(c *Coordinator, req JoinRequest) chan JoinResponse {
	ch := make(chan JoinResponse, 1)
	go func() { ch <- c.Join(context.Background(), req) }()
	return ch
}

func asyncSync(c *Coordinator, req SyncRequest) chan SyncResponse {
	ch := make(chan SyncResponse, 1)
	go func() { ch <- c.Sync(context.Background(), req) }()
	return ch
}

func wait[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting")
	}
	panic("unreachable")
}

func notYet[T any](t *testing.T, ch chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("answered early: %+v", v)
	case <-time.After(50 * time.Millisecond):
	}
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func state(t *testing.T, c *Coordinator, group string) State {
	t.Helper()
	info, ok := c.Describe(group)
	if !ok {
		return Dead
	}
	return info.State
}

// stableOne brings a one-member group to Stable and returns the member id.
func stableOne(t *testing.T, c *Coordinator, req JoinRequest) (string, int32) {
	t.Helper()
	r := c.Join(context.Background(), req)
	if r.Err != nil {
		t.Fatalf("join: %v", r.Err)
	}
	s := c.Sync(context.Background(), SyncRequest{Group: req.Group, MemberID: r.MemberID, Generation: r.Generation,
		Assignments: map[string][]byte{r.MemberID: []byte("all")}})
	if s.Err != nil || string(s.Assignment) != "all" {
		t.Fatalf("sync: %+v", s)
	}
	return r.MemberID, r.Generation
}

func TestKIP394TwoStepJoinToStable(t *testing.T) {
	c := newCoord(t, Config{})
	req := jreq("g", "", "cooperative-sticky", "range")
	req.RequireKnownMemberID = true
	r := c.Join(context.Background(), req)
	wantErr(t, "first join", r.Err, kerr.MemberIDRequired)
	if r.MemberID == "" || r.Generation != -1 {
		t.Fatalf("first join: %+v", r)
	}
	if st := state(t, c, "g"); st != Empty {
		t.Fatalf("state %v with a pending member", st)
	}
	// Heartbeat of a pending member: rejoin.
	wantErr(t, "pending heartbeat", c.Heartbeat("g", r.MemberID, "", -1), kerr.RebalanceInProgress)
	req.MemberID = r.MemberID
	r2 := c.Join(context.Background(), req)
	if r2.Err != nil || r2.Generation != 1 || r2.LeaderID != r.MemberID || r2.Protocol != "cooperative-sticky" ||
		r2.ProtocolType != "consumer" || len(r2.Members) != 1 || string(r2.Members[0].Metadata) != "md-cooperative-sticky" {
		t.Fatalf("second join: %+v", r2)
	}
	if st := state(t, c, "g"); st != CompletingRebalance {
		t.Fatalf("state %v", st)
	}
	wantErr(t, "commit while completing", c.CheckCommit("g", r.MemberID, "", 1), kerr.RebalanceInProgress)
	pt, p := "consumer", "cooperative-sticky"
	s := c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: r.MemberID, Generation: 1, ProtocolType: &pt, Protocol: &p,
		Assignments: map[string][]byte{r.MemberID: []byte("a1")}})
	if s.Err != nil || string(s.Assignment) != "a1" || s.Protocol != p || s.ProtocolType != pt {
		t.Fatalf("sync: %+v", s)
	}
	info, _ := c.Describe("g")
	if info.State != Stable || info.Protocol != p || len(info.Members) != 1 || string(info.Members[0].Assignment) != "a1" ||
		string(info.Members[0].Metadata) != "md-cooperative-sticky" || info.Members[0].ClientID != "c" {
		t.Fatalf("describe: %+v", info)
	}
	wantErr(t, "heartbeat", c.Heartbeat("g", r.MemberID, "", 1), nil)
	wantErr(t, "commit", c.CheckCommit("g", r.MemberID, "", 1), nil)
	wantErr(t, "stale commit", c.CheckCommit("g", r.MemberID, "", 0), kerr.IllegalGeneration)
	wantErr(t, "simple commit to an active group", c.CheckCommit("g", "", "", -1), kerr.UnknownMemberID)
	// A follower-less stable group: the leader rejoining triggers a rebalance.
	r3 := c.Join(context.Background(), req)
	if r3.Err != nil || r3.Generation != 2 {
		t.Fatalf("leader rejoin: %+v", r3)
	}
}

func TestSecondMemberRebalance(t *testing.T) {
	c := newCoord(t, Config{})
	m1, gen := stableOne(t, c, jreq("g", ""))
	j2 := asyncJoin(c, jreq("g", ""))
	// m1 learns of the rebalance from its heartbeat.
	deadline := time.Now().Add(5 * time.Second)
	for c.Heartbeat("g", m1, "", gen) != kerr.RebalanceInProgress {
		if time.Now().After(deadline) {
			t.Fatal("no rebalance signalled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	notYet(t, j2)
	wantErr(t, "sync during rebalance", c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: m1, Generation: gen}).Err, kerr.RebalanceInProgress)
	wantErr(t, "commit during prepare (old generation still current)", c.CheckCommit("g", m1, "", gen), nil)
	r1 := c.Join(context.Background(), jreq("g", m1))
	r2 := wait(t, j2)
	if r1.Err != nil || r2.Err != nil || r1.Generation != 2 || r2.Generation != 2 {
		t.Fatalf("joins: %+v %+v", r1, r2)
	}
	if r1.LeaderID != m1 || r2.LeaderID != m1 || len(r1.Members) != 2 || len(r2.Members) != 0 {
		t.Fatalf("leader should stay m1 and alone see members: %+v %+v", r1, r2)
	}
	// The follower's sync waits for the leader's.
	s2 := asyncSync(c, SyncRequest{Group: "g", MemberID: r2.MemberID, Generation: 2})
	notYet(t, s2)
	s1 := c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: m1, Generation: 2,
		Assignments: map[string][]byte{m1: []byte("p0"), r2.MemberID: []byte("p1"), "stranger": []byte("x")}})
	if s1.Err != nil || string(s1.Assignment) != "p0" {
		t.Fatalf("leader sync %+v", s1)
	}
	if s := wait(t, s2); s.Err != nil || string(s.Assignment) != "p1" {
		t.Fatalf("follower sync %+v", s)
	}
	// A follower rejoining with the same metadata while stable: no rebalance.
	r2b := c.Join(context.Background(), jreq("g", r2.MemberID))
	if r2b.Err != nil || r2b.Generation != 2 || state(t, c, "g") != Stable {
		t.Fatalf("follower rejoin: %+v %v", r2b, state(t, c, "g"))
	}
	// With changed metadata: a rebalance.
	j2c := asyncJoin(c, jreq("g", r2.MemberID, "roundrobin", "range"))
	for state(t, c, "g") != PreparingRebalance {
		time.Sleep(time.Millisecond)
	}
	r1 = c.Join(context.Background(), jreq("g", m1))
	if r := wait(t, j2c); r.Err != nil || r.Generation != 3 || r1.Protocol != "range" {
		t.Fatalf("rebalance on new metadata: %+v %+v", r, r1)
	}
}

func TestSessionTimeoutRemovesMember(t *testing.T) {
	c := newCoord(t, Config{})
	short := jreq("g", "")
	short.SessionTimeout, short.RebalanceTimeout = 100*time.Millisecond, 5*time.Second
	m1, _ := stableOne(t, c, short)
	// Heartbeats keep it alive past the session timeout.
	for range 6 {
		time.Sleep(40 * time.Millisecond)
		wantErr(t, "heartbeat", c.Heartbeat("g", m1, "", 1), nil)
	}
	// Silence: it is removed and the group empties (and is dropped).
	time.Sleep(250 * time.Millisecond)
	if _, ok := c.Describe("g"); ok {
		t.Fatal("group of an expired member still held")
	}
	wantErr(t, "heartbeat after expiry", c.Heartbeat("g", m1, "", 1), kerr.UnknownMemberID)
	if c.Bytes() != 0 {
		t.Fatalf("%d bytes still accounted", c.Bytes())
	}
}

func TestKilledMemberRebalancesTheRest(t *testing.T) {
	c := newCoord(t, Config{})
	req := jreq("g", "")
	req.SessionTimeout, req.RebalanceTimeout = 150*time.Millisecond, 5*time.Second
	m1, gen := stableOne(t, c, req)
	j2 := asyncJoin(c, req)
	for c.Heartbeat("g", m1, "", gen) != kerr.RebalanceInProgress {
		time.Sleep(5 * time.Millisecond)
	}
	re := req
	re.MemberID = m1
	r1 := c.Join(context.Background(), re)
	r2 := wait(t, j2)
	gen = r1.Generation
	s2 := asyncSync(c, SyncRequest{Group: "g", MemberID: r2.MemberID, Generation: gen})
	if s := c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: m1, Generation: gen,
		Assignments: map[string][]byte{m1: []byte("L"), r2.MemberID: []byte("F")}}); s.Err != nil {
		t.Fatal(s.Err)
	}
	wait(t, s2)
	// The follower is "killed": it never heartbeats again. The leader keeps
	// heartbeating and learns of the rebalance within about a session.
	start := time.Now()
	for {
		err := c.Heartbeat("g", m1, "", gen)
		if err == kerr.RebalanceInProgress {
			break
		}
		if err != nil || time.Since(start) > 3*time.Second {
			t.Fatalf("heartbeat %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > time.Second {
		t.Fatalf("rebalance after %v; session is 150ms", el)
	}
	r := c.Join(context.Background(), re)
	if r.Err != nil || r.Generation != gen+1 || len(r.Members) != 1 || r.LeaderID != m1 {
		t.Fatalf("rejoin after the follower died: %+v", r)
	}
}

func TestRebalanceTimeoutRemovesLaggards(t *testing.T) {
	c := newCoord(t, Config{})
	req := jreq("g", "")
	req.RebalanceTimeout = 200 * time.Millisecond
	m1, _ := stableOne(t, c, req)
	// A second member joins; m1 heartbeats (stays alive) but never rejoins.
	j2 := asyncJoin(c, req)
	start := time.Now()
	for {
		if c.Heartbeat("g", m1, "", 1) == kerr.UnknownMemberID {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r2 := wait(t, j2)
	if r2.Err != nil || r2.Generation != 2 || r2.LeaderID != r2.MemberID || len(r2.Members) != 1 {
		t.Fatalf("join after timeout: %+v", r2)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("laggard removed after %v, before the rebalance timeout", el)
	}
}

func TestPendingSyncTimeout(t *testing.T) {
	c := newCoord(t, Config{})
	req := jreq("g", "")
	req.RebalanceTimeout = 150 * time.Millisecond
	r := c.Join(context.Background(), req)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	// The leader never syncs: after the rebalance timeout it is removed.
	time.Sleep(400 * time.Millisecond)
	if _, ok := c.Describe("g"); ok {
		t.Fatal("group whose leader never synced still held")
	}
}

func TestCompletingRebalanceRejoinGetsSameAnswer(t *testing.T) {
	c := newCoord(t, Config{})
	r := c.Join(context.Background(), jreq("g", ""))
	again := c.Join(context.Background(), jreq("g", r.MemberID))
	if again.Err != nil || again.Generation != r.Generation || len(again.Members) != 1 || state(t, c, "g") != CompletingRebalance {
		t.Fatalf("%+v", again)
	}
}

func TestStaticMembership(t *testing.T) {
	c := newCoord(t, Config{})
	req := jreq("g", "")
	req.InstanceID = "i1"
	req.RequireKnownMemberID = true // static members skip the two steps
	m1, gen := stableOne(t, c, req)
	req2 := jreq("g", "")
	req2.InstanceID = "i2"
	j2 := asyncJoin(c, req2)
	for c.Heartbeat("g", m1, "i1", gen) != kerr.RebalanceInProgress {
		time.Sleep(5 * time.Millisecond)
	}
	reqRe := req
	reqRe.MemberID = m1
	r1 := c.Join(context.Background(), reqRe)
	r2 := wait(t, j2)
	gen = r1.Generation
	s2 := asyncSync(c, SyncRequest{Group: "g", MemberID: r2.MemberID, InstanceID: "i2", Generation: gen})
	c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: m1, InstanceID: "i1", Generation: gen,
		Assignments: map[string][]byte{m1: []byte("A"), r2.MemberID: []byte("B")}})
	wait(t, s2)

	// i2 restarts: joins with no member id, gets a new one, same generation,
	// no rebalance, and its old assignment.
	r2b := c.Join(context.Background(), req2)
	if r2b.Err != nil || r2b.Generation != gen || r2b.MemberID == r2.MemberID || r2b.LeaderID != m1 || state(t, c, "g") != Stable {
		t.Fatalf("static rejoin: %+v state %v", r2b, state(t, c, "g"))
	}
	s := c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: r2b.MemberID, InstanceID: "i2", Generation: gen})
	if s.Err != nil || string(s.Assignment) != "B" {
		t.Fatalf("static sync %+v", s)
	}
	// The old incarnation is fenced.
	wantErr(t, "old heartbeat", c.Heartbeat("g", r2.MemberID, "i2", gen), kerr.FencedInstanceID)
	wantErr(t, "old commit", c.CheckCommit("g", r2.MemberID, "i2", gen), kerr.FencedInstanceID)
	wantErr(t, "old join", c.Join(context.Background(), JoinRequest{Group: "g", MemberID: r2.MemberID, InstanceID: "i2", ProtocolType: "consumer",
		Protocols: protos("range"), SessionTimeout: time.Second}).Err, kerr.FencedInstanceID)
	wantErr(t, "old leave", func() *kerr.Error {
		_, errs := c.Leave("g", []LeaveMember{{MemberID: r2.MemberID, InstanceID: "i2"}})
		return errs[0]
	}(), kerr.FencedInstanceID)
	wantErr(t, "new heartbeat", c.Heartbeat("g", r2b.MemberID, "i2", gen), nil)

	// The static leader restarts: it is told the old leader id, so it does
	// not assign.
	r1b := c.Join(context.Background(), req)
	if r1b.Err != nil || r1b.LeaderID != m1 || r1b.MemberID == m1 || len(r1b.Members) != 0 {
		t.Fatalf("static leader rejoin %+v", r1b)
	}
	info, _ := c.Describe("g")
	if info.Leader != r1b.MemberID {
		t.Fatalf("leader should be the new id, is %s", info.Leader)
	}
	// Leave by instance id alone.
	_, errs := c.Leave("g", []LeaveMember{{InstanceID: "i1"}, {InstanceID: "nope"}})
	wantErr(t, "leave i1", errs[0], nil)
	wantErr(t, "leave unknown instance", errs[1], kerr.UnknownMemberID)
}

func TestLeaveBatch(t *testing.T) {
	c := newCoord(t, Config{})
	m1, _ := stableOne(t, c, jreq("g", ""))
	gerr, errs := c.Leave("g", []LeaveMember{{MemberID: m1}, {MemberID: "ghost"}})
	if gerr != nil || errs[0] != nil || errs[1] != kerr.UnknownMemberID {
		t.Fatalf("%v %v", gerr, errs)
	}
	if _, ok := c.Describe("g"); ok {
		t.Fatal("empty group still held")
	}
	gerr, errs = c.Leave("nope", []LeaveMember{{MemberID: "x"}})
	if gerr != nil || errs[0] != kerr.UnknownMemberID {
		t.Fatalf("%v %v", gerr, errs)
	}
	gerr, _ = c.Leave("", nil)
	wantErr(t, "empty group", gerr, kerr.InvalidGroupID)
	// A leaving member releases a waiting join of the others.
	m1, _ = stableOne(t, c, jreq("g", ""))
	j2 := asyncJoin(c, jreq("g", ""))
	for state(t, c, "g") != PreparingRebalance {
		time.Sleep(time.Millisecond)
	}
	notYet(t, j2)
	_, errs = c.Leave("g", []LeaveMember{{MemberID: m1}})
	if r := wait(t, j2); r.Err != nil || r.LeaderID != r.MemberID || errs[0] != nil {
		t.Fatalf("%+v %v", r, errs)
	}
}

func TestErrors(t *testing.T) {
	c := newCoord(t, Config{MaxSessionTimeout: time.Minute})
	bg := context.Background()
	cases := []struct {
		name string
		req  JoinRequest
		want *kerr.Error
	}{
		{"empty group", jreq("", ""), kerr.InvalidGroupID},
		{"session too short", func() JoinRequest { r := jreq("g", ""); r.SessionTimeout = time.Millisecond; return r }(), kerr.InvalidSessionTimeout},
		{"session too long", func() JoinRequest { r := jreq("g", ""); r.SessionTimeout = time.Hour; return r }(), kerr.InvalidSessionTimeout},
		{"no protocols", func() JoinRequest { r := jreq("g", ""); r.Protocols = nil; return r }(), kerr.InconsistentGroupProtocol},
		{"no protocol type", func() JoinRequest { r := jreq("g", ""); r.ProtocolType = ""; return r }(), kerr.InconsistentGroupProtocol},
		{"unknown member", jreq("g", "who"), kerr.UnknownMemberID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.name, c.Join(bg, tc.req).Err, tc.want) })
	}
	m1, gen := stableOne(t, c, jreq("g", "", "range", "roundrobin"))
	other := jreq("g", "")
	other.ProtocolType = "connect"
	wantErr(t, "other protocol type", c.Join(bg, other).Err, kerr.InconsistentGroupProtocol)
	wantErr(t, "no common protocol", c.Join(bg, jreq("g", "", "sticky")).Err, kerr.InconsistentGroupProtocol)
	wantErr(t, "heartbeat unknown group", c.Heartbeat("nope", m1, "", gen), kerr.UnknownMemberID)
	wantErr(t, "heartbeat unknown member", c.Heartbeat("g", "x", "", gen), kerr.UnknownMemberID)
	wantErr(t, "heartbeat old generation", c.Heartbeat("g", m1, "", gen-1), kerr.IllegalGeneration)
	wantErr(t, "heartbeat empty group id", c.Heartbeat("", m1, "", gen), kerr.InvalidGroupID)
	wantErr(t, "sync unknown group", c.Sync(bg, SyncRequest{Group: "nope", MemberID: m1}).Err, kerr.UnknownMemberID)
	wantErr(t, "sync unknown member", c.Sync(bg, SyncRequest{Group: "g", MemberID: "x", Generation: gen}).Err, kerr.UnknownMemberID)
	wantErr(t, "sync old generation", c.Sync(bg, SyncRequest{Group: "g", MemberID: m1, Generation: gen + 1}).Err, kerr.IllegalGeneration)
	bad := "roundrobin"
	wantErr(t, "sync other protocol", c.Sync(bg, SyncRequest{Group: "g", MemberID: m1, Generation: gen, Protocol: &bad}).Err, kerr.InconsistentGroupProtocol)
	wantErr(t, "commit unknown group member", c.CheckCommit("nope", "m", "", 3), kerr.UnknownMemberID)
	wantErr(t, "commit unknown group generation", c.CheckCommit("nope", "", "", 3), kerr.IllegalGeneration)
	wantErr(t, "simple commit", c.CheckCommit("nope", "", "", -1), nil)
	noOffsets := func() (bool, *kerr.Error) { return false, nil }
	found, err := c.Delete("g", noOffsets)
	if !found || err != kerr.NonEmptyGroup {
		t.Fatalf("delete active: %v %v", found, err)
	}
	c.Leave("g", []LeaveMember{{MemberID: m1}})
	if found, _ := c.Delete("g", noOffsets); found {
		t.Fatal("an empty group without offsets is not found")
	}
}

// A member cannot join (and then commit) while DeleteGroups deletes the
// group's offsets: the deletion holds the group's lock.
func TestDeleteHoldsOffJoins(t *testing.T) {
	c := newCoord(t, Config{})
	inDelete, release := make(chan struct{}), make(chan struct{})
	deleted := make(chan bool, 1)
	go func() {
		found, err := c.Delete("g", func() (bool, *kerr.Error) {
			close(inDelete)
			<-release
			return true, nil
		})
		deleted <- found && err == nil
	}()
	<-inDelete
	join := asyncJoin(c, jreq("g", ""))
	notYet(t, join)
	close(release)
	if !wait(t, deleted) {
		t.Fatal("delete of a group with offsets failed")
	}
	if r := wait(t, join); r.Err != nil || r.Generation != 1 {
		t.Fatalf("join after the delete: %+v", r)
	}
}

// WhileEmpty (the REST offset reset) holds off joins as Delete does, and
// refuses a group with members.
func TestWhileEmpty(t *testing.T) {
	c := newCoord(t, Config{})
	inFn, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.WhileEmpty("g", func() error {
			close(inFn)
			<-release
			return errors.New("from fn")
		})
	}()
	<-inFn
	join := asyncJoin(c, jreq("g", ""))
	notYet(t, join)
	close(release)
	if err := wait(t, done); err == nil || err.Error() != "from fn" {
		t.Fatalf("fn's error: %v", err)
	}
	r := wait(t, join)
	if r.Err != nil {
		t.Fatalf("join after: %+v", r)
	}
	called := false
	err := c.WhileEmpty("g", func() error { called = true; return nil })
	var ke *kerr.Error
	if called || !errors.As(err, &ke) || ke != kerr.NonEmptyGroup {
		t.Fatalf("with a member: called %v, %v", called, err)
	}
	if _, ok := c.Describe("nope"); ok {
		t.Fatal("unexpected group")
	}
	if err := c.WhileEmpty("nope", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Describe("nope"); ok {
		t.Fatal("WhileEmpty left a group behind")
	}
}

func TestProtocolSelection(t *testing.T) {
	c := newCoord(t, Config{})
	j1 := asyncJoin(c, jreq("g", "", "a", "b", "c"))
	r1 := wait(t, j1)
	if r1.Protocol != "a" {
		t.Fatalf("one member: %s", r1.Protocol)
	}
	c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: r1.MemberID, Generation: r1.Generation})
	j2, j3 := asyncJoin(c, jreq("g", "", "b", "c")), asyncJoin(c, jreq("g", "", "c", "b"))
	for {
		info, _ := c.Describe("g")
		if info.State == PreparingRebalance && len(info.Members) == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r1 = c.Join(context.Background(), jreq("g", r1.MemberID, "a", "b", "c"))
	r2, r3 := wait(t, j2), wait(t, j3)
	// Candidates b, c; votes: m1 b, m2 b, m3 c.
	if r1.Protocol != "b" || r2.Protocol != "b" || r3.Protocol != "b" {
		t.Fatalf("selected %s %s %s", r1.Protocol, r2.Protocol, r3.Protocol)
	}
	for _, m := range r1.Members {
		if string(m.Metadata) != "md-b" {
			t.Fatalf("leader sees metadata %q", m.Metadata)
		}
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	c := newCoord(t, Config{InitialRebalanceDelay: 150 * time.Millisecond})
	j1 := asyncJoin(c, jreq("g", ""))
	time.Sleep(30 * time.Millisecond)
	j2 := asyncJoin(c, jreq("g", ""))
	r1, r2 := wait(t, j1), wait(t, j2)
	if r1.Generation != 1 || r2.Generation != 1 || r1.LeaderID != r2.LeaderID {
		t.Fatalf("both should land in generation 1: %+v %+v", r1, r2)
	}
}

func TestListDescribeDelete(t *testing.T) {
	c := newCoord(t, Config{})
	stableOne(t, c, jreq("b", ""))
	c.Join(context.Background(), jreq("a", ""))
	list := c.List()
	if len(list) != 2 || list[0].Group != "a" || list[0].State != CompletingRebalance || list[1].State != Stable || list[1].Members[0].Metadata != nil || string(list[1].Members[0].Assignment) != "all" {
		t.Fatalf("%+v", list)
	}
	info, _ := c.Describe("a")
	if info.Protocol != "" || info.Members[0].Metadata != nil {
		t.Fatalf("metadata shown outside Stable: %+v", info)
	}
	pt, md, active := c.Subscriptions("b")
	if !active || pt != "consumer" || len(md) != 1 || string(md[0]) != "md-range" {
		t.Fatalf("subscriptions %v %q %v", pt, md, active)
	}
	if _, _, active := c.Subscriptions("zzz"); active {
		t.Fatal("unknown group active")
	}
}

func TestCaps(t *testing.T) {
	c := newCoord(t, Config{MaxMembers: 2, MaxGroups: 2, MaxMemberBytes: 100, MaxBytes: 300})
	bg := context.Background()
	req := jreq("g", "")
	req.RequireKnownMemberID = true
	r1, r2 := c.Join(bg, req), c.Join(bg, req)
	wantErr(t, "first", r1.Err, kerr.MemberIDRequired)
	wantErr(t, "second", r2.Err, kerr.MemberIDRequired)
	wantErr(t, "third", c.Join(bg, req).Err, kerr.GroupMaxSizeReached)
	c.Join(bg, jreq("h", ""))
	wantErr(t, "third group", c.Join(bg, jreq("i", "")).Err, kerr.CoordinatorNotAvailable)
	big := jreq("h", "")
	big.Protocols = []Protocol{{Name: "range", Metadata: make([]byte, 200)}}
	wantErr(t, "big metadata", c.Join(bg, big).Err, kerr.InvalidRequest)
	// Budget: 300 bytes across the coordinator.
	c2 := newCoord(t, Config{MaxMemberBytes: 200, MaxBytes: 300})
	fat := jreq("x", "")
	fat.Protocols = []Protocol{{Name: "range", Metadata: make([]byte, 150)}}
	if r := c2.Join(bg, fat); r.Err != nil {
		t.Fatal(r.Err)
	}
	fat.Group = "y"
	wantErr(t, "over budget", c2.Join(bg, fat).Err, kerr.CoordinatorNotAvailable)
}

func TestCloseAnswersWaitersAndRefuses(t *testing.T) {
	c := New(Config{Logger: slog.New(slog.DiscardHandler)})
	m1, gen := stableOne(t, c, jreq("g", ""))
	j2 := asyncJoin(c, jreq("g", ""))
	for state(t, c, "g") != PreparingRebalance {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	wantErr(t, "waiting join", wait(t, j2).Err, kerr.CoordinatorNotAvailable)
	wantErr(t, "heartbeat", c.Heartbeat("g", m1, "", gen), kerr.CoordinatorNotAvailable)
	wantErr(t, "join", c.Join(context.Background(), jreq("g", "")).Err, kerr.CoordinatorNotAvailable)
	wantErr(t, "commit", c.CheckCommit("g", m1, "", gen), kerr.CoordinatorNotAvailable)
	if c.Bytes() != 0 {
		t.Fatalf("%d bytes after close", c.Bytes())
	}
	c.Close() // twice is fine
}

func TestCancelledJoin(t *testing.T) {
	c := newCoord(t, Config{})
	m1, _ := stableOne(t, c, jreq("g", ""))
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan JoinResponse, 1)
	short := jreq("g", "")
	short.SessionTimeout = 100 * time.Millisecond
	go func() { ch <- c.Join(ctx, short) }()
	for state(t, c, "g") != PreparingRebalance {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wantErr(t, "cancelled join", wait(t, ch).Err, kerr.CoordinatorNotAvailable)
	// The vanished joiner expires by its session; m1 rejoins alone.
	time.Sleep(200 * time.Millisecond)
	r := c.Join(context.Background(), jreq("g", m1))
	if r.Err != nil || len(r.Members) != 1 {
		t.Fatalf("%+v", r)
	}
}

// TestSlowGroupDoesNotBlockOthers: a group stuck in a join barrier (one
// member never rejoins, long rebalance timeout) does not delay other groups.
func TestSlowGroupDoesNotBlockOthers(t *testing.T) {
	c := newCoord(t, Config{})
	stableOne(t, c, jreq("slow", ""))
	stuck := asyncJoin(c, jreq("slow", ""))
	start := time.Now()
	for i := range 100 {
		g := fmt.Sprintf("fast-%d", i)
		m, gen := stableOne(t, c, jreq(g, ""))
		wantErr(t, "heartbeat", c.Heartbeat(g, m, "", gen), nil)
		c.Leave(g, []LeaveMember{{MemberID: m}})
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("100 groups took %v next to a stuck one", el)
	}
	notYet(t, stuck)
}

// TestRebalanceStorm: many members join, some vanish mid-join (cancelled
// requests, never heartbeating), others leave; in the end every group is
// dropped, no bytes are held and no goroutine is left (goleak in TestMain).
func TestRebalanceStorm(t *testing.T) {
	c := newCoord(t, Config{})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := fmt.Sprintf("storm-%d", i%5)
			req := jreq(g, "")
			req.SessionTimeout, req.RebalanceTimeout = 100*time.Millisecond, 300*time.Millisecond
			req.RequireKnownMemberID = true
			r := c.Join(context.Background(), req)
			if r.Err != kerr.MemberIDRequired {
				return
			}
			if i%3 == 0 {
				return // vanishes between the two steps
			}
			req.MemberID = r.MemberID
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*20*time.Millisecond)
			defer cancel()
			r = c.Join(ctx, req)
			if r.Err == nil && i%2 == 0 {
				c.Leave(g, []LeaveMember{{MemberID: r.MemberID}})
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.List()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("groups left after the storm: %+v", c.List())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.Bytes() != 0 {
		t.Fatalf("%d bytes still held", c.Bytes())
	}
}

// Member ids embed the client id; cutting it must not split a character,
// or clients that decode the id as a string send back different bytes.
func TestMemberIDIsValidUTF8(t *testing.T) {
	for _, cid := range []string{strings.Repeat("a", 63) + "é", strings.Repeat("日本", 40), "short"} {
		id := newMemberID(cid)
		if !utf8.ValidString(id) {
			t.Errorf("member id for %q is not valid UTF-8: %q", cid, id)
		}
	}
}

// Strings a member brings are bounded: they are kept per member.
func TestJoinRefusesOversizedStrings(t *testing.T) {
	c := New(Config{})
	defer c.Close()
	base := JoinRequest{Group: "g", ProtocolType: "consumer", SessionTimeout: 10 * time.Second,
		Protocols: []Protocol{{Name: "range", Metadata: []byte{1}}}}
	long := strings.Repeat("x", maxIDLen+1)
	for name, tc := range map[string]struct {
		mutate func(*JoinRequest)
		want   *kerr.Error
	}{
		"group":    {func(r *JoinRequest) { r.Group = strings.Repeat("g", maxGroupLen+1) }, kerr.InvalidGroupID},
		"instance": {func(r *JoinRequest) { r.InstanceID = long }, kerr.InvalidRequest},
		"client":   {func(r *JoinRequest) { r.ClientID = long }, kerr.InvalidRequest},
	} {
		req := base
		tc.mutate(&req)
		if resp := c.Join(context.Background(), req); resp.Err != tc.want {
			t.Errorf("%s: got %v, want %v", name, resp.Err, tc.want)
		}
	}
}

// The join barrier waits for members between the two KIP-394 steps, so
// consumers starting together form one generation (Kafka's
// hasAllMembersJoined), not one per arrival.
func TestJoinBarrierWaitsForPendingMembers(t *testing.T) {
	c := newCoord(t, Config{})
	a, gen := stableOne(t, c, jreq("g", ""))
	breq := jreq("g", "")
	breq.RequireKnownMemberID = true
	first := c.Join(context.Background(), breq)
	wantErr(t, "B's first join", first.Err, kerr.MemberIDRequired)
	ra := asyncJoin(c, jreq("g", a))
	notYet(t, ra) // B is pending: the barrier waits for it
	breq.MemberID = first.MemberID
	rb := asyncJoin(c, breq)
	ja, jb := wait(t, ra), wait(t, rb)
	if ja.Err != nil || jb.Err != nil || ja.Generation != gen+1 || jb.Generation != gen+1 {
		t.Fatalf("joins: %+v / %+v", ja, jb)
	}
	if ja.LeaderID == a && len(ja.Members) != 2 {
		t.Fatalf("leader sees %d members, want 2", len(ja.Members))
	}
}

// TestUnloadAnswersWaitersNotCoordinator: Unload drops the groups it is
// told to (a partition moved away): a JoinGroup and a SyncGroup blocked in
// them get NOT_COORDINATOR, the groups are gone with their bytes, and the
// other groups stay as they were.
func TestUnloadAnswersWaitersNotCoordinator(t *testing.T) {
	c := newCoord(t, Config{})
	stableOne(t, c, jreq("a", ""))
	// b: a stable member and a second one blocked in JoinGroup.
	stableOne(t, c, jreq("b", ""))
	joinB := asyncJoin(c, jreq("b", ""))
	notYet(t, joinB)
	// d: two members of generation 2, the follower blocked in SyncGroup.
	d1, _ := stableOne(t, c, jreq("d", ""))
	joinD2 := asyncJoin(c, jreq("d", ""))
	notYet(t, joinD2)
	r1 := c.Join(context.Background(), jreq("d", d1))
	r2 := wait(t, joinD2)
	if r1.Err != nil || r2.Err != nil || r1.Generation != 2 || r1.LeaderID != d1 {
		t.Fatalf("d rejoin: %+v / %+v", r1, r2)
	}
	syncD2 := asyncSync(c, SyncRequest{Group: "d", MemberID: r2.MemberID, Generation: 2})
	notYet(t, syncD2)
	cm, cgen := stableOne(t, c, jreq("c", ""))
	cBytes := int64(protocolsSize(protos("range")) + len("all"))

	c.Unload(func(g string) bool { return g != "c" })

	wantErr(t, "join blocked in b", wait(t, joinB).Err, kerr.NotCoordinator)
	wantErr(t, "sync blocked in d", wait(t, syncD2).Err, kerr.NotCoordinator)
	for _, g := range []string{"a", "b", "d"} {
		if _, ok := c.Describe(g); ok {
			t.Errorf("group %s still held after Unload", g)
		}
	}
	if st := state(t, c, "c"); st != Stable {
		t.Fatalf("group c: state %v after another partition's Unload, want Stable", st)
	}
	wantErr(t, "heartbeat in c", c.Heartbeat("c", cm, "", cgen), nil)
	if got := c.Bytes(); got != cBytes {
		t.Errorf("bytes held %d after Unload, want %d (group c's alone)", got, cBytes)
	}
	// The dropped groups start over (a new coordinator's view): generation 1.
	r := c.Join(context.Background(), jreq("a", ""))
	if r.Err != nil || r.Generation != 1 {
		t.Fatalf("join a after Unload: %+v", r)
	}
}
