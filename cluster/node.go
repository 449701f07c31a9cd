package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// State is where a node's registration stands.
type State int32

const (
	// StateRegistered: nodes/{id} is ours under a live lease.
	StateRegistered State = iota + 1
	// StateSessionLost: the lease expired or could not be kept alive; the
	// node is not controller and is registering again.
	StateSessionLost
	// StateClosed: Close was called.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateRegistered:
		return "registered"
	case StateSessionLost:
		return "session lost"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// ErrNodeIDLive: another live node holds the id (errors.Is on Join's error).
var ErrNodeIDLive = errors.New("node id is already live")

// Node is this process's membership of the cluster: its registration
// under a lease, the live-node view, the controller election and, while it
// is controller, the controller's reactions.
type Node struct {
	cli    *clientv3.Client
	cfg    Config
	rec    meta.NodeRecord
	key    string
	ttl    int64
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	nodes *mirror // nodes/
	ctrl  *mirror // controller/ (the election's keys)

	isController atomic.Bool
	elections    atomic.Int64 // leaders this node elected as controller (metrics)
	state        atomic.Int32
	closeOnce    sync.Once

	mu   sync.Mutex
	sess *concurrency.Session // the current session

	unreadable sync.Map // partition key -> ModRevision already warned of
}

// SessionTTL is the etcd lease TTL for a session timeout: whole seconds,
// rounded up, at least 1 (2000 ms is 2 s, 2500 ms is 3 s). etcd raises a
// TTL below its minimum (1.5 election timeouts, 2 s by default) to it.
func SessionTTL(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}

// Join registers rec at nodes/{rec.ID} under a lease of
// cfg.SessionTimeout, refuses with ErrNodeIDLive (one line) when another
// live node holds the id, loads the live-node view and starts the session
// keeper and the controller campaign. rec.StartedMs is set when zero;
// rec.Rack defaults to cfg.Rack.
func Join(ctx context.Context, cli *clientv3.Client, cfg Config, rec meta.NodeRecord) (*Node, error) {
	if rec.StartedMs == 0 {
		rec.StartedMs = time.Now().UnixMilli()
	}
	if rec.Rack == "" {
		rec.Rack = cfg.Rack
	}
	logger := slog.Default().With("node", rec.ID)
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n := &Node{
		cli: cli, cfg: cfg, rec: rec, key: nodeKey(cfg.Prefix(), rec.ID),
		ttl: SessionTTL(cfg.SessionTimeout), log: logger, ctx: nctx, cancel: cancel,
		nodes: newMirror(cli, cfg.Prefix()+nodesPrefix, logger),
		ctrl:  newMirror(cli, cfg.Prefix()+controllerPrefix, logger),
	}
	sess, err := n.register(ctx, 0)
	if err != nil {
		cancel()
		return nil, err
	}
	n.sess = sess
	n.state.Store(int32(StateRegistered))
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.nodes.run(nctx) }()
	go func() { defer n.wg.Done(); n.ctrl.run(nctx) }()
	go func() { defer n.wg.Done(); n.keep(sess) }()
	// Ready once the view is loaded: wait for it, bounded.
	wctx, wcancel := context.WithTimeout(ctx, connectTimeout)
	defer wcancel()
	for !n.nodes.isLoaded() {
		ch := n.nodes.Changed()
		if n.nodes.isLoaded() {
			break
		}
		select {
		case <-ch:
		case <-wctx.Done():
			n.Close()
			return nil, fmt.Errorf("node %d joined cluster %q but could not read %s: %w", rec.ID, cfg.Name, cfg.Prefix()+nodesPrefix, wctx.Err())
		}
	}
	n.log.Info("cluster: joined", "cluster", cfg.Name, "lease_ttl_s", n.ttl, "lease", fmt.Sprintf("%x", sess.Lease()))
	return n, nil
}

// register grants a lease, starts its keep-alive and creates nodes/{id}
// under it. old is the lease of a lost session: a registration still
// under it is ours, and is revoked before trying again.
func (n *Node) register(ctx context.Context, old clientv3.LeaseID) (*concurrency.Session, error) {
	for attempt := 0; ; attempt++ {
		lease, err := grant(ctx, n.cli, n.ttl)
		if err != nil {
			return nil, fmt.Errorf("node %d: join cluster %q: %w", n.rec.ID, n.cfg.Name, err)
		}
		sess, err := concurrency.NewSession(n.cli, concurrency.WithLease(lease), concurrency.WithTTL(int(n.ttl)), concurrency.WithContext(n.ctx))
		if err != nil {
			_ = revoke(n.cli, lease)
			return nil, fmt.Errorf("node %d: keep lease alive: %w", n.rec.ID, err)
		}
		ok, holder, err := registerNode(ctx, n.cli, n.key, n.rec, lease)
		if err == nil && ok {
			return sess, nil
		}
		n.closeSession(sess)
		if err != nil {
			return nil, fmt.Errorf("node %d: join cluster %q: %w", n.rec.ID, n.cfg.Name, err)
		}
		if holder == nil && attempt < 3 {
			continue // the holder just left
		}
		if holder != nil && old != 0 && clientv3.LeaseID(holder.Lease) == old && attempt < 3 {
			// Our own registration, under the lease we stopped keeping.
			_ = revoke(n.cli, old)
			continue
		}
		return nil, n.liveError(holder)
	}
}

// liveError is the one line for an id held by another live node.
func (n *Node) liveError(holder *mvccpb.KeyValue) error {
	where := "unknown address"
	if holder != nil {
		var other meta.NodeRecord
		if json.Unmarshal(holder.Value, &other) == nil {
			where = nodeAddress(other)
			if other.StartedMs > 0 {
				where += ", started " + time.UnixMilli(other.StartedMs).UTC().Format(time.RFC3339)
			}
		}
	}
	return liveIDError(fmt.Sprintf("node id %d is already live in cluster %q (%s): stop it or choose another ZOMBI_NODE_ID",
		n.rec.ID, n.cfg.Name, where))
}

// liveIDError is the line itself, and errors.Is ErrNodeIDLive.
type liveIDError string

func (e liveIDError) Error() string        { return string(e) }
func (e liveIDError) Is(target error) bool { return target == ErrNodeIDLive }

// nodeAddress is how a node is named in messages: its first Kafka
// listener, else its REST API.
func nodeAddress(r meta.NodeRecord) string {
	if len(r.Listeners) > 0 {
		l := r.Listeners[0]
		return l.Host + ":" + strconv.Itoa(int(l.Port))
	}
	if r.HTTP != "" {
		return r.HTTP
	}
	return "no address"
}

// closeSession stops a session's keep-alive and revokes its lease.
func (n *Node) closeSession(s *concurrency.Session) {
	s.Orphan()
	_ = revoke(n.cli, s.Lease())
}

// keep watches the session: while it lives the node campaigns for
// controller; when it is lost the node stops being controller at once,
// says so, and registers again as soon as it can.
func (n *Node) keep(sess *concurrency.Session) {
	for {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.campaign(sess) }()
		select {
		case <-n.ctx.Done():
			return
		case <-sess.Done():
		}
		if n.ctx.Err() != nil {
			return
		}
		n.isController.Store(false)
		n.state.Store(int32(StateSessionLost))
		old := sess.Lease()
		n.log.Warn("cluster: session lost: not controller, registering again", "cluster", n.cfg.Name, "lease", fmt.Sprintf("%x", old), "session_timeout", n.cfg.SessionTimeout)
		wait := backoff{min: 200 * time.Millisecond, max: 2 * time.Second}
		for {
			s, err := n.register(n.ctx, old)
			if err == nil {
				sess = s
				break
			}
			if n.ctx.Err() != nil {
				return
			}
			n.log.Warn("cluster: cannot register again yet", "err", err)
			wait.sleep(n.ctx)
		}
		n.mu.Lock()
		n.sess = sess
		n.mu.Unlock()
		n.state.Store(int32(StateRegistered))
		n.log.Info("cluster: registered again", "lease", fmt.Sprintf("%x", sess.Lease()))
	}
}

// campaign runs for controller under sess; once elected it runs the
// controller until the session ends, or until its writes are fenced (its
// election key gone while the session lives), and then runs again.
func (n *Node) campaign(sess *concurrency.Session) {
	ctx := sess.Ctx() // canceled when the session is lost or the node closes
	wait := backoff{min: 200 * time.Millisecond, max: 2 * time.Second}
	for ctx.Err() == nil {
		e := concurrency.NewElection(sess, trimSlash(n.cfg.Prefix()+controllerPrefix))
		if err := e.Campaign(ctx, strconv.FormatInt(int64(n.rec.ID), 10)); err != nil {
			if ctx.Err() == nil {
				n.log.Debug("cluster: campaign failed, retrying", "err", err)
				wait.sleep(ctx)
			}
			continue
		}
		wait.reset()
		n.isController.Store(true)
		n.log.Info("cluster: became controller", "cluster", n.cfg.Name)
		n.runController(ctx, fence{key: e.Key(), rev: e.Rev()})
		n.isController.Store(false)
		if n.ctx.Err() == nil {
			n.log.Warn("cluster: no longer controller")
		}
		wait.sleep(ctx)
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// Close leaves the cluster: the controller stops and the lease is revoked,
// so the id is free at once. Safe to call more than once.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.isController.Store(false)
		n.state.Store(int32(StateClosed))
		n.cancel()
		n.wg.Wait() // the keeper has stopped: n.sess is the last session
		n.mu.Lock()
		sess := n.sess
		n.mu.Unlock()
		if sess != nil {
			sess.Orphan()
			if rerr := revoke(n.cli, sess.Lease()); rerr != nil {
				err = fmt.Errorf("node %d: revoke lease: %w", n.rec.ID, rerr)
			}
		}
		n.log.Info("cluster: left", "cluster", n.cfg.Name)
	})
	return err
}

// ID is the node's id.
func (n *Node) ID() int32 { return n.rec.ID }

// State is the registration's state.
func (n *Node) State() State { return State(n.state.Load()) }

// Ready reports whether the node is registered and its view loaded.
func (n *Node) Ready() bool { return n.State() == StateRegistered && n.nodes.isLoaded() }

// IsController reports whether this node is the elected controller now.
func (n *Node) IsController() bool { return n.isController.Load() }

// Nodes is the live nodes, by id.
func (n *Node) Nodes() []meta.NodeRecord {
	kvs, _ := n.nodes.snapshot()
	return decodeNodes(kvs)
}

// NodesChanged is closed at the next change of Nodes (a subscription:
// take it, read Nodes, wait on it, take it again).
func (n *Node) NodesChanged() <-chan struct{} { return n.nodes.Changed() }

// ControllerID is the elected controller's node id, -1 when none is known.
func (n *Node) ControllerID() int32 {
	kvs, loaded := n.ctrl.snapshot()
	if !loaded {
		return -1
	}
	return controllerOf(kvs)
}

// controllerOf is the election's leader: the key created first.
func controllerOf(kvs []*mvccpb.KeyValue) int32 {
	var first *mvccpb.KeyValue
	for _, kv := range kvs {
		if first == nil || kv.CreateRevision < first.CreateRevision {
			first = kv
		}
	}
	if first == nil {
		return -1
	}
	id, err := strconv.ParseInt(string(first.Value), 10, 32)
	if err != nil {
		return -1
	}
	return int32(id)
}

// decodeNodes is the node records of nodes/ keys; a value that is not a
// record, or names another id than its key, is not a live node.
func decodeNodes(kvs []*mvccpb.KeyValue) []meta.NodeRecord {
	out := make([]meta.NodeRecord, 0, len(kvs))
	for _, kv := range kvs {
		var r meta.NodeRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			continue
		}
		key := string(kv.Key)
		if !strings.HasSuffix(key, "/"+strconv.FormatInt(int64(r.ID), 10)) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LeaderElections counts the partition leaders this node elected while it
// was controller (an offline partition is not an election).
func (n *Node) LeaderElections() int64 { return n.elections.Load() }
