package groups

import (
	"bytes"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Group is one consumer group. Every field is guarded by mu.
type Group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	state        State
	removed      bool // dropped from the coordinator's map (or closed)
	generation   int32
	protocolType string
	protocol     string // selected protocol of the current generation
	leader       string
	members      map[string]*member
	pending      map[string]*time.Timer // KIP-394: ids handed out, not yet joined
	static       map[string]string      // instance id -> member id
	seq          uint64                 // join order, for leader choice and listing

	// timer is the group's one deadline: the rebalance timeout while
	// PreparingRebalance (or the initial delay), the pending-sync timeout
	// after a join completes. timerSeq invalidates a timer that fires after
	// it was replaced or stopped.
	timer    *time.Timer
	timerSeq uint64
	delaying bool
}

type member struct {
	id, instanceID       string
	clientID, clientHost string
	protocols            []Protocol
	session, rebalance   time.Duration
	assignment           []byte
	bytes                int64 // accounted in Coordinator.bytes
	joinSeq              uint64

	joinCh      chan JoinResponse // a live JoinGroup waiting for the barrier
	syncCh      chan SyncResponse // a live SyncGroup waiting for the leader
	joined      bool              // joined the rebalance in progress
	pendingSync bool              // in the generation, has not sent SyncGroup yet
	deadline    time.Time         // session expiry
	timer       *time.Timer
}

func (m *member) metadataFor(protocol string) ([]byte, bool) {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata, true
		}
	}
	return nil, false
}

func (m *member) supports(protocol string) bool {
	_, ok := m.metadataFor(protocol)
	return ok
}

func sameProtocols(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

// ---- timers -----------------------------------------------------------

// arm replaces the group timer with fn after d. fn runs with g.mu held.
func (g *Group) arm(d time.Duration, fn func()) {
	g.disarm()
	seq := g.timerSeq
	g.timer = time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.removed || g.timerSeq != seq {
			return
		}
		fn()
		g.maybeDrop()
	})
}

func (g *Group) disarm() {
	g.timerSeq++
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
}

// startSession starts m's session timer. The timer re-arms itself while the
// member heartbeats (refresh moves the deadline) or has a JoinGroup or
// SyncGroup waiting.
func (g *Group) startSession(m *member) {
	g.refresh(m)
	m.timer = time.AfterFunc(m.session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.removed || g.members[m.id] != m {
			return
		}
		if m.joinCh != nil || m.syncCh != nil {
			m.timer.Reset(m.session)
			return
		}
		if d := time.Until(m.deadline); d > 0 {
			m.timer.Reset(d)
			return
		}
		g.c.logger.Debug("member session expired", "group", g.name, "member", m.id)
		g.removeMember(m)
		g.afterRemoval("session timeout of " + m.id)
		g.maybeDrop()
	})
}

func (g *Group) refresh(m *member) { m.deadline = time.Now().Add(m.session) }

func (g *Group) addPending(id string, session time.Duration) {
	var t *time.Timer
	t = time.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.removed || g.pending[id] != t {
			return
		}
		delete(g.pending, id)
		g.maybeCompleteJoin()
		g.maybeDrop()
	})
	g.pending[id] = t
}

// maybeDrop removes an empty group with nobody joining from the map: its
// committed offsets live on in the log, its membership state is nothing.
func (g *Group) maybeDrop() {
	if !g.removed && g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 {
		g.disarm()
		g.c.drop(g)
	}
}

// shutdown stops every timer and answers every waiter with err; the group
// is dead.
func (g *Group) shutdown(err *kerr.Error) {
	g.state = Dead
	g.removed = true
	g.disarm()
	for _, m := range g.members {
		m.timer.Stop()
		g.answer(m, err)
		g.c.bytes.Add(-m.bytes)
		m.bytes = 0
	}
	for _, t := range g.pending {
		t.Stop()
	}
	clear(g.members)
	clear(g.pending)
	clear(g.static)
}

// answer fails m's waiting JoinGroup and SyncGroup with err.
func (g *Group) answer(m *member, err *kerr.Error) {
	if m.joinCh != nil {
		m.joinCh <- JoinResponse{Err: err, Generation: -1, MemberID: m.id}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- SyncResponse{Err: err}
		m.syncCh = nil
	}
}

// ---- accounting -------------------------------------------------------

func (g *Group) fits(delta int64) bool {
	return delta <= 0 || g.c.bytes.Load()+delta <= g.c.cfg.MaxBytes
}

func (g *Group) setProtocols(m *member, ps []Protocol) {
	n := int64(protocolsSize(ps) + len(m.assignment))
	g.c.bytes.Add(n - m.bytes)
	m.bytes, m.protocols = n, ps
}

func (g *Group) setAssignment(m *member, a []byte) {
	n := int64(protocolsSize(m.protocols) + len(a))
	g.c.bytes.Add(n - m.bytes)
	m.bytes, m.assignment = n, a
}

// ---- membership -------------------------------------------------------

func (g *Group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].joinSeq < ms[j].joinSeq })
	return ms
}

// acceptsProtocols reports whether a member with req's protocol type and
// protocols can be in the group with the other members: same type, and at
// least one protocol every other member supports.
func (g *Group) acceptsProtocols(req JoinRequest) bool {
	exclude := req.MemberID
	var excludeStatic string
	if req.InstanceID != "" {
		excludeStatic = g.static[req.InstanceID]
	}
	others := 0
	for id := range g.members {
		if id != exclude && id != excludeStatic {
			others++
		}
	}
	if others == 0 {
		return true
	}
	if req.ProtocolType != g.protocolType {
		return false
	}
	for _, p := range req.Protocols {
		all := true
		for id, m := range g.members {
			if id != exclude && id != excludeStatic && !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most members
// prefer; ties go to the earliest member's preference.
func (g *Group) selectProtocol() string {
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return ""
	}
	var cands []string
	for _, p := range ms[0].protocols {
		all := true
		for _, m := range ms[1:] {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			cands = append(cands, p.Name)
		}
	}
	if len(cands) == 0 {
		return ms[0].protocols[0].Name
	}
	votes := make(map[string]int, len(cands))
	for _, m := range ms {
		for _, p := range m.protocols {
			if _, ok := votes[p.Name]; ok || contains(cands, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (g *Group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalance)
	}
	return d
}

// removeMember drops m; its waiters get UNKNOWN_MEMBER_ID. The caller then
// calls afterRemoval (or is completing a join).
func (g *Group) removeMember(m *member) {
	m.timer.Stop()
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	g.answer(m, kerr.UnknownMemberID)
	g.c.bytes.Add(-m.bytes)
	m.bytes = 0
	if g.leader == m.id {
		g.leader = ""
	}
}

func (g *Group) afterRemoval(reason string) {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(reason)
		g.maybeCompleteJoin()
	case PreparingRebalance:
		g.maybeCompleteJoin()
	}
}

// ---- rebalance --------------------------------------------------------

// prepareRebalance moves the group to PreparingRebalance: waiting syncs are
// told REBALANCE_IN_PROGRESS, and the join barrier gets its timeout (the
// members' longest rebalance timeout).
func (g *Group) prepareRebalance(reason string) {
	wasEmpty := g.state == Empty
	for _, m := range g.members {
		if m.syncCh != nil {
			m.syncCh <- SyncResponse{Err: kerr.RebalanceInProgress}
			m.syncCh = nil
		}
		m.pendingSync = false
	}
	g.state = PreparingRebalance
	timeout := g.maxRebalanceTimeout()
	g.c.logger.Debug("preparing rebalance", "group", g.name, "generation", g.generation, "members", len(g.members), "reason", reason)
	if delay := g.c.cfg.InitialRebalanceDelay; wasEmpty && delay > 0 {
		delay = min(delay, timeout)
		g.delaying = true
		g.arm(delay, func() {
			g.delaying = false
			g.arm(timeout-delay, g.forceCompleteJoin)
			g.maybeCompleteJoin()
		})
		return
	}
	g.delaying = false
	g.arm(timeout, g.forceCompleteJoin)
}

// maybeCompleteJoin completes the join barrier once every member has
// joined and nobody is between the two KIP-394 steps (as Kafka's
// hasAllMembersJoined): consumers starting together then form one
// generation, not one per arrival.
func (g *Group) maybeCompleteJoin() {
	if g.state != PreparingRebalance || g.delaying || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if !m.joined {
			return
		}
	}
	g.completeJoin()
}

func (g *Group) forceCompleteJoin() {
	if g.state == PreparingRebalance {
		g.completeJoin()
	}
}

// completeJoin closes the join barrier: members that did not rejoin are
// removed, the generation advances, a protocol and a leader are chosen, and
// every waiting JoinGroup is answered (the leader with the member list).
func (g *Group) completeJoin() {
	g.disarm()
	g.delaying = false
	for _, m := range g.members {
		if !m.joined {
			g.c.logger.Debug("member did not rejoin in time", "group", g.name, "member", m.id)
			g.removeMember(m)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = Empty, "", ""
		return
	}
	g.protocol = g.selectProtocol()
	ms := g.sortedMembers()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ms[0].id
	}
	g.state = CompletingRebalance
	g.c.logger.Debug("join complete", "group", g.name, "generation", g.generation, "protocol", g.protocol, "members", len(ms), "leader", g.leader)
	for _, m := range ms {
		m.joined = false
		m.pendingSync = true
		g.refresh(m)
		if m.joinCh != nil {
			m.joinCh <- g.joinResponse(m)
			m.joinCh = nil
		}
	}
	g.arm(g.maxRebalanceTimeout(), g.expirePendingSync)
}

// expirePendingSync removes members of the generation that never sent
// SyncGroup within the rebalance timeout, and rebalances without them.
func (g *Group) expirePendingSync() {
	if g.state != CompletingRebalance && g.state != Stable {
		return
	}
	removed := false
	for _, m := range g.members {
		if m.pendingSync {
			g.c.logger.Debug("member did not sync in time", "group", g.name, "member", m.id)
			g.removeMember(m)
			removed = true
		}
	}
	if removed {
		g.afterRemoval("members did not sync")
	}
}

func (g *Group) joinResponse(m *member) JoinResponse {
	r := JoinResponse{
		Generation:   g.generation,
		ProtocolType: g.protocolType,
		Protocol:     g.protocol,
		LeaderID:     g.leader,
		MemberID:     m.id,
	}
	if m.id == g.leader {
		for _, mm := range g.sortedMembers() {
			md, _ := mm.metadataFor(g.protocol)
			r.Members = append(r.Members, GroupMember{MemberID: mm.id, InstanceID: mm.instanceID, Metadata: md})
		}
	}
	return r
}

func (g *Group) setJoinWaiter(m *member) chan JoinResponse {
	if m.joinCh != nil {
		// A second JoinGroup while one waits: the first (on a connection
		// the client has given up on) is answered and replaced.
		m.joinCh <- JoinResponse{Err: kerr.RebalanceInProgress, Generation: -1, MemberID: m.id}
	}
	m.joinCh = make(chan JoinResponse, 1)
	m.joined = true
	return m.joinCh
}

// ---- requests ---------------------------------------------------------

func (g *Group) join(req JoinRequest) (JoinResponse, chan JoinResponse) {
	fail := func(err *kerr.Error) (JoinResponse, chan JoinResponse) {
		return JoinResponse{Err: err, Generation: -1, MemberID: req.MemberID}, nil
	}
	if g.state == Dead {
		return fail(kerr.CoordinatorNotAvailable)
	}
	if !g.acceptsProtocols(req) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	if req.MemberID == "" {
		if req.InstanceID != "" {
			if old, ok := g.static[req.InstanceID]; ok {
				return g.rejoinStatic(g.members[old], req)
			}
			return g.addMember(newMemberID(req.ClientID), false, req)
		}
		if req.RequireKnownMemberID {
			if len(g.members)+len(g.pending) >= g.c.cfg.MaxMembers {
				return fail(kerr.GroupMaxSizeReached)
			}
			id := newMemberID(req.ClientID)
			g.addPending(id, req.SessionTimeout)
			return JoinResponse{Err: kerr.MemberIDRequired, Generation: -1, MemberID: id}, nil
		}
		return g.addMember(newMemberID(req.ClientID), false, req)
	}
	if req.InstanceID != "" {
		if cur, ok := g.static[req.InstanceID]; ok && cur != req.MemberID {
			return fail(kerr.FencedInstanceID)
		}
	}
	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		return g.addMember(req.MemberID, true, req)
	}
	m := g.members[req.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID)
	}
	return g.rejoin(m, req)
}

func (g *Group) addMember(id string, wasPending bool, req JoinRequest) (JoinResponse, chan JoinResponse) {
	fail := func(err *kerr.Error) (JoinResponse, chan JoinResponse) {
		return JoinResponse{Err: err, Generation: -1, MemberID: req.MemberID}, nil
	}
	if !wasPending && len(g.members)+len(g.pending) >= g.c.cfg.MaxMembers {
		return fail(kerr.GroupMaxSizeReached)
	}
	if !g.fits(int64(protocolsSize(req.Protocols))) {
		return fail(kerr.CoordinatorNotAvailable)
	}
	g.seq++
	m := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		session: req.SessionTimeout, rebalance: req.RebalanceTimeout, joinSeq: g.seq,
	}
	g.setProtocols(m, req.Protocols)
	g.members[id] = m
	if req.InstanceID != "" {
		g.static[req.InstanceID] = id
	}
	if g.state == Empty {
		g.protocolType = req.ProtocolType
	}
	ch := g.setJoinWaiter(m)
	g.startSession(m)
	g.c.logger.Debug("member joining", "group", g.name, "member", id, "client", req.ClientID)
	if g.state != PreparingRebalance {
		g.prepareRebalance("new member " + id)
	}
	g.maybeCompleteJoin()
	return JoinResponse{}, ch
}

// rejoin handles a JoinGroup of a known member.
func (g *Group) rejoin(m *member, req JoinRequest) (JoinResponse, chan JoinResponse) {
	changed := !sameProtocols(m.protocols, req.Protocols)
	if changed && !g.fits(int64(protocolsSize(req.Protocols)-protocolsSize(m.protocols))) {
		return JoinResponse{Err: kerr.CoordinatorNotAvailable, Generation: -1, MemberID: req.MemberID}, nil
	}
	m.session, m.rebalance = req.SessionTimeout, req.RebalanceTimeout
	if changed {
		g.setProtocols(m, req.Protocols)
	}
	g.refresh(m)
	switch g.state {
	case CompletingRebalance:
		if !changed {
			// It missed the JoinGroup response: the same answer again.
			return g.joinResponse(m), nil
		}
	case Stable:
		if !changed && m.id != g.leader {
			return g.joinResponse(m), nil
		}
	}
	ch := g.setJoinWaiter(m)
	if g.state != PreparingRebalance {
		g.prepareRebalance("member " + m.id + " rejoined")
	}
	g.maybeCompleteJoin()
	return JoinResponse{}, ch
}

// rejoinStatic handles a static member joining again with no member id
// (a restart): it gets a new id, the old one is fenced, and a stable group
// keeps its assignment without a rebalance (KIP-345).
func (g *Group) rejoinStatic(m *member, req JoinRequest) (JoinResponse, chan JoinResponse) {
	if !g.fits(int64(protocolsSize(req.Protocols) - protocolsSize(m.protocols))) {
		return JoinResponse{Err: kerr.CoordinatorNotAvailable, Generation: -1}, nil
	}
	g.answer(m, kerr.FencedInstanceID)
	oldID, oldLeader := m.id, g.leader
	newID := newMemberID(req.ClientID)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.session, m.rebalance = req.SessionTimeout, req.RebalanceTimeout
	g.setProtocols(m, req.Protocols)
	g.refresh(m)
	g.c.logger.Debug("static member rejoined", "group", g.name, "instance", req.InstanceID, "old", oldID, "new", newID)
	if g.state == Stable && g.selectProtocol() == g.protocol {
		// The old leader id is returned so that a rejoining leader does
		// not compute an assignment a stable group would never hand out.
		return JoinResponse{
			Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol,
			LeaderID: oldLeader, MemberID: newID,
		}, nil
	}
	ch := g.setJoinWaiter(m)
	if g.state != PreparingRebalance {
		g.prepareRebalance("static member " + req.InstanceID + " rejoined")
	}
	g.maybeCompleteJoin()
	return JoinResponse{}, ch
}

func (g *Group) fenced(memberID, instanceID string) bool {
	if instanceID == "" {
		return false
	}
	cur, ok := g.static[instanceID]
	return ok && cur != memberID
}

func (g *Group) sync(req SyncRequest) (SyncResponse, chan SyncResponse) {
	fail := func(err *kerr.Error) (SyncResponse, chan SyncResponse) { return SyncResponse{Err: err}, nil }
	if g.state == Dead {
		return fail(kerr.CoordinatorNotAvailable)
	}
	if g.fenced(req.MemberID, req.InstanceID) {
		return fail(kerr.FencedInstanceID)
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return fail(kerr.UnknownMemberID)
	case req.Generation != g.generation:
		return fail(kerr.IllegalGeneration)
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		return fail(kerr.InconsistentGroupProtocol)
	}
	switch g.state {
	case PreparingRebalance:
		return fail(kerr.RebalanceInProgress)
	case Stable:
		g.refresh(m)
		g.synced(m)
		return g.syncResponse(m), nil
	case CompletingRebalance:
	default:
		return fail(kerr.UnknownMemberID)
	}
	g.refresh(m)
	if m.id == g.leader {
		var delta int64
		for _, mm := range g.members {
			a := req.Assignments[mm.id]
			if len(a) > g.c.cfg.MaxMemberBytes {
				g.prepareRebalance("leader sent an oversized assignment")
				return fail(kerr.InvalidRequest)
			}
			delta += int64(len(a) - len(mm.assignment))
		}
		if !g.fits(delta) {
			g.prepareRebalance("assignments over the coordinator's memory budget")
			return fail(kerr.CoordinatorNotAvailable)
		}
		for _, mm := range g.members {
			g.setAssignment(mm, append([]byte{}, req.Assignments[mm.id]...))
		}
		g.state = Stable
		g.c.logger.Debug("group stable", "group", g.name, "generation", g.generation)
		g.synced(m)
		for _, mm := range g.members {
			if mm.syncCh != nil {
				mm.syncCh <- g.syncResponse(mm)
				mm.syncCh = nil
			}
		}
		return g.syncResponse(m), nil
	}
	if m.syncCh != nil {
		m.syncCh <- SyncResponse{Err: kerr.RebalanceInProgress}
	}
	m.syncCh = make(chan SyncResponse, 1)
	m.pendingSync = false
	return SyncResponse{}, m.syncCh
}

// synced marks m's SyncGroup received; when no member of the generation is
// left to sync, the pending-sync timer stops.
func (g *Group) synced(m *member) {
	m.pendingSync = false
	if g.state != Stable {
		return
	}
	for _, mm := range g.members {
		if mm.pendingSync {
			return
		}
	}
	g.disarm()
}

func (g *Group) syncResponse(m *member) SyncResponse {
	return SyncResponse{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
}

func (g *Group) heartbeat(memberID, instanceID string, generation int32) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	m, err := g.checkMember(memberID, instanceID, generation)
	if err != nil {
		return err
	}
	g.refresh(m)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

func (g *Group) leave(lm LeaveMember) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	id := lm.MemberID
	if lm.InstanceID != "" {
		cur, ok := g.static[lm.InstanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case id != "" && id != cur:
			return kerr.FencedInstanceID
		}
		id = cur
	}
	if t, ok := g.pending[id]; ok {
		t.Stop()
		delete(g.pending, id)
		return nil
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.c.logger.Debug("member leaving", "group", g.name, "member", id, "reason", lm.Reason)
	g.removeMember(m)
	g.afterRemoval("member " + id + " left")
	return nil
}

func (g *Group) checkCommit(memberID, instanceID string, generation int32, simple bool) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if simple && len(g.members) == 0 {
		return nil
	}
	m, err := g.checkMember(memberID, instanceID, generation)
	if err != nil {
		return err
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	g.refresh(m)
	return nil
}

// checkMember checks who a Heartbeat or OffsetCommit comes from: not fenced (a
// static member's old instance), not between the KIP-394 steps, known, and
// of the current generation.
func (g *Group) checkMember(memberID, instanceID string, generation int32) (*member, *kerr.Error) {
	if g.fenced(memberID, instanceID) {
		return nil, kerr.FencedInstanceID
	}
	if _, ok := g.pending[memberID]; ok {
		return nil, kerr.RebalanceInProgress
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return nil, kerr.UnknownMemberID
	case generation != g.generation:
		return nil, kerr.IllegalGeneration
	}
	return m, nil
}

func (g *Group) describe() GroupInfo {
	info := GroupInfo{
		Group: g.name, State: g.state, ProtocolType: g.protocolType,
		Generation: g.generation, Leader: g.leader,
	}
	stable := g.state == Stable
	if stable {
		info.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		mi := MemberInfo{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			mi.Metadata, _ = m.metadataFor(g.protocol)
			mi.Assignment = m.assignment
		}
		info.Members = append(info.Members, mi)
	}
	return info
}
