// Package groups is Zombi's classic consumer-group coordinator: the state
// machine behind JoinGroup, SyncGroup, Heartbeat, LeaveGroup, the member and
// generation checks of OffsetCommit, and the group views of DescribeGroups,
// ListGroups and DeleteGroups. It knows nothing of the wire protocol's
// framing or of committed offsets (those live in the partition log); the
// handlers in package kafka translate requests into calls here.
//
// States (Kafka's names):
//
//	Empty ──join──► PreparingRebalance ──all joined / rebalance timeout──► CompletingRebalance
//	  ▲                  ▲   │ (no member left)                                  │ leader's SyncGroup
//	  └──────────────────┼───┘                                                   ▼
//	                     └──── join of a new member, leave, session expiry ── Stable
//
// Each group has its own mutex; blocking calls (Join, Sync) wait on a
// channel outside every lock, so a slow or stuck group never holds up
// another. Session, rebalance and pending-sync timeouts are time.AfterFunc
// timers that take the group's lock and check that they still apply.
//
// Lock order: Group.mu may be held while taking Coordinator.mu (to drop an
// empty group from the map), never the reverse.
package groups

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config bounds the coordinator. Zero values take the defaults below.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for (Kafka's group.min/max.session.timeout.ms); outside
	// them JoinGroup fails with INVALID_SESSION_TIMEOUT. Zombi's default
	// minimum (1 s) is lower than Kafka's 6 s so that tests and impatient
	// deployments can detect dead members quickly.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay holds the first rebalance of an empty group this
	// long so that members starting together land in one generation
	// (Kafka's group.initial.rebalance.delay.ms, 3 s there; 0 by default
	// here: every join completes as soon as all known members have joined).
	InitialRebalanceDelay time.Duration
	// MaxGroups bounds the groups held in memory (groups with members or
	// members in the middle of joining); more get COORDINATOR_NOT_AVAILABLE.
	MaxGroups int
	// MaxMembers bounds the members of one group, including those between
	// the two steps of KIP-394; more get GROUP_MAX_SIZE_REACHED.
	MaxMembers int
	// MaxMemberBytes bounds one member's protocol metadata and, separately,
	// its assignment; larger ones get INVALID_REQUEST.
	MaxMemberBytes int
	// MaxBytes bounds the protocol metadata and assignments held by all
	// groups together; a join or sync that would exceed it gets
	// COORDINATOR_NOT_AVAILABLE (retriable).
	MaxBytes int64
	// Logger receives member and rebalance events at debug level.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMinSessionTimeout = time.Second
	DefaultMaxSessionTimeout = 30 * time.Minute
	DefaultMaxGroups         = 10000
	DefaultMaxMembers        = 1000
	DefaultMaxMemberBytes    = 1 << 20
	DefaultMaxBytes          = 256 << 20
)

// State is a group's state.
type State int8

// States, in Kafka's names.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string { return stateNames[s] }

// StateNames lists every state name, in order.
func StateNames() []string { return append([]string(nil), stateNames[:]...) }

// Protocol is one assignment protocol a member supports, with its opaque
// metadata (for "consumer" groups, the subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	Group      string
	MemberID   string
	InstanceID string // static membership (KIP-345); "" for dynamic members
	ClientID   string
	ClientHost string
	// ProtocolType is the kind of group ("consumer", "connect", ...).
	ProtocolType     string
	Protocols        []Protocol
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration // <= 0: the session timeout (JoinGroup v0)
	// RequireKnownMemberID is KIP-394 (JoinGroup v4+): a dynamic member
	// joining without an id gets one back with MEMBER_ID_REQUIRED and must
	// join again with it.
	RequireKnownMemberID bool
	Reason               string
}

// GroupMember is a member as the leader sees it in its JoinGroup response.
type GroupMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinResponse answers a JoinGroup. Err is nil on success.
type JoinResponse struct {
	Err          *kerr.Error
	Generation   int32
	ProtocolType string
	Protocol     string
	LeaderID     string
	MemberID     string
	Members      []GroupMember // the leader's only
}

// SyncRequest is a SyncGroup.
type SyncRequest struct {
	Group        string
	MemberID     string
	InstanceID   string
	Generation   int32
	ProtocolType *string           // v5+: checked when set
	Protocol     *string           // v5+: checked when set
	Assignments  map[string][]byte // the leader's: member id -> assignment
}

// SyncResponse answers a SyncGroup.
type SyncResponse struct {
	Err          *kerr.Error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// LeaveMember names one member leaving (LeaveGroup v3+ batches them).
type LeaveMember struct {
	MemberID   string
	InstanceID string
	Reason     string
}

// MemberInfo describes one member (DescribeGroups, the REST API).
type MemberInfo struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte // for the selected protocol; only when Stable
	Assignment []byte // only when Stable
}

// GroupInfo describes one group.
type GroupInfo struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string // only when Stable, as Kafka reports it
	Generation   int32
	Leader       string
	Members      []MemberInfo
}

// Coordinator holds the groups with live members. Groups known only by
// their committed offsets are not here; callers merge those in.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	groups map[string]*Group
	closed bool

	bytes atomic.Int64 // protocol metadata and assignments held
}

// New returns a coordinator.
func New(cfg Config) *Coordinator {
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if cfg.MaxGroups <= 0 {
		cfg.MaxGroups = DefaultMaxGroups
	}
	if cfg.MaxMembers <= 0 {
		cfg.MaxMembers = DefaultMaxMembers
	}
	if cfg.MaxMemberBytes <= 0 {
		cfg.MaxMemberBytes = DefaultMaxMemberBytes
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Coordinator{cfg: cfg, logger: cfg.Logger.With("component", "groups"), groups: map[string]*Group{}}
}

// Close stops every timer and answers every waiting JoinGroup and SyncGroup
// with COORDINATOR_NOT_AVAILABLE; later calls get the same error.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	gs := make([]*Group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	clear(c.groups)
	c.mu.Unlock()
	for _, g := range gs {
		g.mu.Lock()
		g.shutdown(kerr.CoordinatorNotAvailable)
		g.mu.Unlock()
	}
}

// Bytes reports the protocol metadata and assignment bytes held.
func (c *Coordinator) Bytes() int64 { return c.bytes.Load() }

// lookup modes: whether a missing group is made, and whether MaxGroups
// applies (a group made only to hold its lock for a moment does not count).
const (
	lookupOnly = iota
	lookupCreate
	lookupCreateOverCap
)

// lookup returns a group, creating it unless mode is lookupOnly. It returns
// a nil group and an error code when the coordinator is closed or full.
func (c *Coordinator) lookup(name string, mode int) (*Group, *kerr.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, kerr.CoordinatorNotAvailable
	}
	g := c.groups[name]
	if g == nil && mode != lookupOnly {
		if mode == lookupCreate && len(c.groups) >= c.cfg.MaxGroups {
			return nil, kerr.CoordinatorNotAvailable
		}
		g = &Group{c: c, name: name, members: map[string]*member{}, pending: map[string]*time.Timer{}, static: map[string]string{}}
		c.groups[name] = g
	}
	return g, nil
}

// locked runs fn with the group's lock held, retrying when the group was
// dropped from the map between the lookup and the lock. A nil group (not
// found, create unset) is passed to fn without a lock.
func (c *Coordinator) locked(name string, create bool, fn func(g *Group) *kerr.Error) *kerr.Error {
	mode := lookupOnly
	if create {
		mode = lookupCreate
	}
	return c.lockedMode(name, mode, fn)
}

func (c *Coordinator) lockedMode(name string, mode int, fn func(g *Group) *kerr.Error) *kerr.Error {
	for {
		g, err := c.lookup(name, mode)
		if err != nil {
			return err
		}
		if g == nil {
			return fn(nil)
		}
		g.mu.Lock()
		if g.removed {
			g.mu.Unlock()
			continue
		}
		err = fn(g)
		g.maybeDrop()
		g.mu.Unlock()
		return err
	}
}

// drop removes g from the map. Callers hold g.mu.
func (c *Coordinator) drop(g *Group) {
	g.removed = true
	c.mu.Lock()
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
	c.mu.Unlock()
}

// Join handles a JoinGroup; it blocks until the rebalance completes, the
// member is removed, or ctx ends (the connection closed).
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResponse {
	switch {
	case req.Group == "" || len(req.Group) > maxGroupLen:
		return JoinResponse{Err: kerr.InvalidGroupID, Generation: -1}
	case len(req.InstanceID) > maxIDLen || len(req.ClientID) > maxIDLen || len(req.ClientHost) > maxIDLen:
		// Kept per member, so bounded like the protocol metadata is.
		return JoinResponse{Err: kerr.InvalidRequest, Generation: -1, MemberID: req.MemberID}
	case req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout:
		return JoinResponse{Err: kerr.InvalidSessionTimeout, Generation: -1, MemberID: req.MemberID}
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return JoinResponse{Err: kerr.InconsistentGroupProtocol, Generation: -1, MemberID: req.MemberID}
	case protocolsSize(req.Protocols) > c.cfg.MaxMemberBytes:
		return JoinResponse{Err: kerr.InvalidRequest, Generation: -1, MemberID: req.MemberID}
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	req.Protocols = cloneProtocols(req.Protocols)
	var (
		resp JoinResponse
		ch   chan JoinResponse
		g    *Group
	)
	if err := c.locked(req.Group, true, func(gg *Group) *kerr.Error {
		g = gg
		resp, ch = g.join(req)
		return nil
	}); err != nil {
		return JoinResponse{Err: err, Generation: -1, MemberID: req.MemberID}
	}
	if ch == nil {
		return resp
	}
	return await(ctx, g, ch, func(m *member) *chan JoinResponse { return &m.joinCh },
		JoinResponse{Err: kerr.CoordinatorNotAvailable, Generation: -1, MemberID: req.MemberID})
}

// await waits for the answer on ch (buffered, sent under the group's lock).
// When ctx ends first, the member's waiter (field) is cleared so that nobody
// sends to ch any more, and an answer that raced in is still returned;
// otherwise gone.
func await[R any](ctx context.Context, g *Group, ch chan R, field func(*member) *chan R, gone R) R {
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
	}
	g.mu.Lock()
	for _, m := range g.members {
		if f := field(m); *f == ch {
			*f = nil
		}
	}
	g.mu.Unlock()
	select {
	case r := <-ch:
		return r
	default:
		return gone
	}
}

// Sync handles a SyncGroup; it blocks until the leader's assignment
// arrives, a new rebalance starts, or ctx ends.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) SyncResponse {
	if req.Group == "" {
		return SyncResponse{Err: kerr.InvalidGroupID}
	}
	var (
		resp SyncResponse
		ch   chan SyncResponse
		g    *Group
	)
	if err := c.locked(req.Group, false, func(gg *Group) *kerr.Error {
		if gg == nil {
			return kerr.UnknownMemberID
		}
		g = gg
		resp, ch = g.sync(req)
		return nil
	}); err != nil {
		return SyncResponse{Err: err}
	}
	if ch == nil {
		return resp
	}
	return await(ctx, g, ch, func(m *member) *chan SyncResponse { return &m.syncCh }, SyncResponse{Err: kerr.CoordinatorNotAvailable})
}

// Heartbeat handles a Heartbeat.
func (c *Coordinator) Heartbeat(group, memberID, instanceID string, generation int32) *kerr.Error {
	if group == "" {
		return kerr.InvalidGroupID
	}
	return c.locked(group, false, func(g *Group) *kerr.Error {
		if g == nil {
			return kerr.UnknownMemberID
		}
		return g.heartbeat(memberID, instanceID, generation)
	})
}

// Leave handles a LeaveGroup: one error per member, in order.
func (c *Coordinator) Leave(group string, members []LeaveMember) (*kerr.Error, []*kerr.Error) {
	if group == "" {
		return kerr.InvalidGroupID, nil
	}
	out := make([]*kerr.Error, len(members))
	err := c.locked(group, false, func(g *Group) *kerr.Error {
		for i, lm := range members {
			if g == nil {
				out[i] = kerr.UnknownMemberID
				continue
			}
			out[i] = g.leave(lm)
		}
		return nil
	})
	return err, out
}

// CheckCommit validates an OffsetCommit's member and generation. A simple
// commit (generation < 0, no member id) is allowed unless the group has
// members; a member's commit must name a member of the current generation,
// and is refused while the group waits for the leader's assignment.
func (c *Coordinator) CheckCommit(group, memberID, instanceID string, generation int32) *kerr.Error {
	simple := generation < 0 && memberID == ""
	return c.locked(group, false, func(g *Group) *kerr.Error {
		if g == nil {
			switch {
			case simple:
				return nil
			case memberID != "":
				return kerr.UnknownMemberID
			default:
				return kerr.IllegalGeneration
			}
		}
		return g.checkCommit(memberID, instanceID, generation, simple)
	})
}

// Describe returns a group's view; ok is false when the coordinator holds
// no such group (it may still have committed offsets).
func (c *Coordinator) Describe(group string) (info GroupInfo, ok bool) {
	_ = c.locked(group, false, func(g *Group) *kerr.Error {
		if g != nil {
			info, ok = g.describe(), true
		}
		return nil
	})
	return info, ok
}

// List returns every group held, sorted by name; members come without
// their protocol metadata.
func (c *Coordinator) List() []GroupInfo {
	c.mu.Lock()
	gs := make([]*Group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	out := make([]GroupInfo, 0, len(gs))
	for _, g := range gs {
		g.mu.Lock()
		if !g.removed {
			info := g.describe()
			for i := range info.Members {
				info.Members[i].Metadata = nil
			}
			out = append(out, info)
		}
		g.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// Delete removes an empty group (DeleteGroups). found is false when the
// coordinator holds no such group; a group with members (or members joining)
// gets NON_EMPTY_GROUP. Deleting committed offsets is the caller's part.
//
// deleteOffsets runs with the group's lock held (the group is made for the
// purpose when none is in memory), so that no member can join and commit
// between the check and the deletion; it reports whether there were any.
// found is false when the group had neither members nor offsets.
func (c *Coordinator) Delete(group string, deleteOffsets func() (bool, *kerr.Error)) (found bool, err *kerr.Error) {
	err = c.lockedMode(group, lookupCreateOverCap, func(g *Group) *kerr.Error {
		if g.state != Empty || len(g.members) > 0 || len(g.pending) > 0 {
			found = true
			return kerr.NonEmptyGroup
		}
		had, err := deleteOffsets()
		if err != nil {
			return err
		}
		found = had
		g.shutdown(kerr.CoordinatorNotAvailable)
		c.drop(g)
		return nil
	})
	return found, err
}

// WhileEmpty runs fn with the group's lock held when the group has no
// members and nobody joining, so that no member can join (and commit) until
// fn returns: the REST door's offset reset. While the group has members it
// returns kerr.NonEmptyGroup without calling fn; fn's error is returned as
// it is.
func (c *Coordinator) WhileEmpty(group string, fn func() error) error {
	var fnErr error
	err := c.lockedMode(group, lookupCreateOverCap, func(g *Group) *kerr.Error {
		if g.state != Empty || len(g.members) > 0 || len(g.pending) > 0 {
			return kerr.NonEmptyGroup
		}
		fnErr = fn()
		return nil
	})
	if err != nil {
		return err
	}
	return fnErr
}

// Subscriptions returns, for a group with members, its protocol type and the
// member metadata of the selected protocol (or of each member's first
// protocol while no protocol is selected). active is false for an empty or
// unknown group.
func (c *Coordinator) Subscriptions(group string) (protocolType string, metadata [][]byte, active bool) {
	_ = c.locked(group, false, func(g *Group) *kerr.Error {
		if g == nil || len(g.members) == 0 {
			return nil
		}
		active, protocolType = true, g.protocolType
		for _, m := range g.members {
			if md, ok := m.metadataFor(g.protocol); ok {
				metadata = append(metadata, md)
			} else if len(m.protocols) > 0 {
				metadata = append(metadata, m.protocols[0].Metadata)
			}
		}
		return nil
	})
	return protocolType, metadata, active
}

// Bounds on the strings a member brings (group ids as the log's offset keys).
const (
	maxGroupLen = 32767
	maxIDLen    = 1024
)

// newMemberID returns clientID-UUID, as Kafka forms member ids.
func newMemberID(clientID string) string {
	if len(clientID) > 64 {
		n := 64
		for n > 0 && !utf8.RuneStart(clientID[n]) {
			n-- // never cut a character: clients echo the id back as a string
		}
		clientID = clientID[:n]
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return clientID + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// protocolOverhead is what one protocol entry costs beyond its bytes, so
// that many empty protocols are not free.
const protocolOverhead = 32

func protocolsSize(ps []Protocol) int {
	n := 0
	for _, p := range ps {
		n += protocolOverhead + len(p.Name) + len(p.Metadata)
	}
	return n
}

func cloneProtocols(ps []Protocol) []Protocol {
	out := make([]Protocol, len(ps))
	for i, p := range ps {
		out[i] = Protocol{Name: p.Name, Metadata: append([]byte(nil), p.Metadata...)}
	}
	return out
}

// ConsumerAssignment decodes a "consumer" protocol member assignment into
// topic -> partitions; ok is false when b is not one.
func ConsumerAssignment(b []byte) (map[string][]int32, bool) {
	if len(b) == 0 {
		return nil, false
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		return nil, false
	}
	out := make(map[string][]int32, len(a.Topics))
	for _, t := range a.Topics {
		out[t.Topic] = append(out[t.Topic], t.Partitions...)
	}
	return out, true
}

// Unload drops every group owns says this node no longer coordinates (its
// __consumer_offsets partition moved away, cluster mode): members waiting in
// JoinGroup or SyncGroup, and those who come next, get NOT_COORDINATOR.
//
// Kafka's GroupMetadataManager.removeGroupsForPartition: the groups go
// with their members and timers; committed offsets stay (they are the
// partition's, and its new leader serves them). A request that passed the
// caller's coordinator check just before the unload may still make a group
// here; its members' next requests fail that check, and it goes when their
// sessions expire.
func (c *Coordinator) Unload(owns func(group string) bool) {
	c.mu.Lock()
	var gs []*Group
	for name, g := range c.groups {
		if owns(name) {
			gs = append(gs, g)
		}
	}
	c.mu.Unlock()
	for _, g := range gs {
		g.mu.Lock()
		if !g.removed {
			g.shutdown(kerr.NotCoordinator)
			c.drop(g)
		}
		g.mu.Unlock()
	}
	if len(gs) > 0 {
		c.logger.Info("groups unloaded", "groups", len(gs))
	}
}
