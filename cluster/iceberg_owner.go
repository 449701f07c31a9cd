package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Iceberg materializer ownership (issue 19 point 2): in a cluster at most
// one node materializes a topic at a time. Each topic with
// zombi.iceberg.enable has an owner elected through etcd, as Gazette's
// allocator gives an item to one member and Kafka Connect a task to one
// worker: every node that can materialize the topic campaigns in
// iceberg/owners/{topic}/ (etcd's election recipe) under a lease of its own
// with the session timeout's TTL; the first in line owns it, and when its
// lease ends (the node died, was paused, lost etcd) or it steps down, the
// next in line owns it.
//
// A node can materialize a topic when it holds a replica of every
// partition: the materializer reads the local log, below its high
// watermark (on a follower the leader's, so nothing a leader change can
// truncate). A lease-held owner, not "the leader of partition 0", because
// leadership moves for reasons that have nothing to do with the
// materializer (preferred-leader elections, controlled shutdowns), and each
// move would stop a commit half-way; the lease moves only when the owner
// is gone.
//
// Ownership is a matter of efficiency, not of correctness: a paused owner
// that wakes after its lease expired may finish one commit, and Iceberg's
// commit is a create-if-absent of the next metadata version, with the
// table's own zombi.offsets as the position: of two writers one loses and
// resumes from the table, so no record is written twice.

// icebergOwnersPrefix is the election prefix of a topic's owner.
const icebergOwnersPrefix = "iceberg/owners/"

// IcebergOwners elects this node owner of the topics it can materialize.
type IcebergOwners struct {
	cli       *clientv3.Client
	prefix    string // /{cluster}/iceberg/owners/
	id        int32
	ttl       int
	topics    func() []string // the topics to materialize
	candidate func(topic string) bool
	// nobody (optional): no node holds every partition of topic, so
	// nobody can materialize it (warned once per topic).
	nobody func(topic string) bool
	warned map[string]bool // reconcile's
	logger *slog.Logger

	mu      sync.Mutex
	running map[string]context.CancelFunc
	owned   map[string]bool

	// sessMu guards sess apart from mu: making a session waits on etcd,
	// and Owns (asked by the materializer) must not.
	sessMu sync.Mutex
	sess   *concurrency.Session

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// icebergReconcile is how often the topics and this node's candidacy are
// looked at.
const icebergReconcile = 500 * time.Millisecond

// NewIcebergOwners starts campaigning for every topic of topics() for
// which candidate holds, and steps down from the others; Close stops.
func NewIcebergOwners(cli *clientv3.Client, cfg Config, topics func() []string, candidate func(topic string) bool, logger *slog.Logger) *IcebergOwners {
	o := newIcebergOwners(cli, cfg, topics, candidate, logger)
	o.start()
	return o
}

func newIcebergOwners(cli *clientv3.Client, cfg Config, topics func() []string, candidate func(topic string) bool, logger *slog.Logger) *IcebergOwners {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &IcebergOwners{
		cli: cli, prefix: cfg.Prefix() + icebergOwnersPrefix, id: cfg.NodeID, ttl: int(SessionTTL(cfg.SessionTimeout)),
		topics: topics, candidate: candidate, logger: logger.With("component", "iceberg-owner"),
		running: map[string]context.CancelFunc{}, owned: map[string]bool{}, warned: map[string]bool{},
	}
}

func (o *IcebergOwners) start() {
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.reconcile(ctx)
	}()
}

// IcebergOwners elects this node owner of the topics of topics() of which
// it holds a replica of every partition.
func (r *Runtime) IcebergOwners(topics func() []string) *IcebergOwners {
	o := newIcebergOwners(r.node.cli, r.cfg, topics, r.hostsEveryPartition, r.logger)
	o.nobody = r.nobodyHostsEveryPartition
	o.start()
	return o
}

// nobodyHostsEveryPartition: no node is a replica of every partition of
// topic (its replicas are spread: replication factor below the node count).
func (r *Runtime) nobodyHostsEveryPartition(topic string) bool {
	ti, ok := r.log.Topic(topic)
	if !ok || ti.Partitions == 0 {
		return false
	}
	var common []int32
	for p := range ti.Partitions {
		pv, ok := r.Partition(topic, p)
		if !ok {
			return false // not known yet: say nothing
		}
		if p == 0 {
			common = slices.Clone(pv.Replicas)
		} else {
			common = slices.DeleteFunc(common, func(id int32) bool { return !slices.Contains(pv.Replicas, id) })
		}
	}
	return len(common) == 0
}

// hostsEveryPartition: this node is a replica of every partition of topic.
func (r *Runtime) hostsEveryPartition(topic string) bool {
	ti, ok := r.log.Topic(topic)
	if !ok || ti.Partitions == 0 {
		return false
	}
	for p := range ti.Partitions {
		pv, ok := r.Partition(topic, p)
		if !ok || !slices.Contains(pv.Replicas, r.cfg.NodeID) {
			return false
		}
	}
	return true
}

// Owns reports whether this node owns topic now.
func (o *IcebergOwners) Owns(topic string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.owned[topic]
}

// Owner is topic's owner as etcd says (false when none).
func (o *IcebergOwners) Owner(ctx context.Context, topic string) (int32, bool, error) {
	return IcebergOwner(ctx, o.cli, o.prefix[:len(o.prefix)-len(icebergOwnersPrefix)], topic)
}

// IcebergOwner reads topic's owner in the cluster of prefix (/{cluster}/).
func IcebergOwner(ctx context.Context, cli *clientv3.Client, prefix, topic string) (int32, bool, error) {
	resp, err := cli.Get(ctx, prefix+icebergOwnersPrefix+topic+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return 0, false, fmt.Errorf("iceberg owner of %s: %w", topic, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	id, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("iceberg owner of %s: %q: %w", topic, resp.Kvs[0].Value, err)
	}
	return int32(id), true, nil
}

// Close steps down from every topic (resigning, so the next owner need
// not wait for the lease) and stops.
func (o *IcebergOwners) Close() {
	o.cancel()
	o.wg.Wait()
	o.sessMu.Lock()
	sess := o.sess
	o.sess = nil
	o.sessMu.Unlock()
	if sess != nil {
		_ = sess.Close() // revokes the lease
	}
}

func (o *IcebergOwners) reconcile(ctx context.Context) {
	t := time.NewTicker(icebergReconcile)
	defer t.Stop()
	for {
		want := map[string]bool{}
		for _, topic := range o.topics() {
			if o.candidate(topic) {
				want[topic] = true
			} else if o.nobody != nil && !o.warned[topic] && o.nobody(topic) {
				o.warned[topic] = true
				o.logger.Warn("topic not materialized to Iceberg: no node holds a replica of every partition; raise its replication factor (zombi topic reassign)", "topic", topic)
			}
		}
		o.mu.Lock()
		for topic := range want {
			if o.running[topic] == nil {
				cctx, cancel := context.WithCancel(ctx)
				o.running[topic] = cancel
				o.wg.Add(1)
				go func() {
					defer o.wg.Done()
					o.campaign(cctx, topic)
				}()
			}
		}
		for topic, cancel := range o.running {
			if !want[topic] {
				cancel() // steps down, or leaves the line
				delete(o.running, topic)
			}
		}
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// session is this node's ownership session, a new one when the last ended.
func (o *IcebergOwners) session(ctx context.Context) (*concurrency.Session, error) {
	o.sessMu.Lock()
	defer o.sessMu.Unlock()
	if o.sess != nil {
		select {
		case <-o.sess.Done():
			o.sess = nil
		default:
			return o.sess, nil
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lease, err := o.cli.Grant(sctx, int64(o.ttl))
	if err != nil {
		return nil, fmt.Errorf("iceberg ownership lease: %w", err)
	}
	s, err := concurrency.NewSession(o.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("iceberg ownership session: %w", err)
	}
	o.sess = s
	return s, nil
}

func (o *IcebergOwners) setOwned(topic string, owned bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if owned {
		o.owned[topic] = true
	} else {
		delete(o.owned, topic)
	}
}

// campaign waits in topic's line, owns it while its session lives and ctx
// has not ended, and goes back in line after a lost session.
func (o *IcebergOwners) campaign(ctx context.Context, topic string) {
	wait := backoff{min: 200 * time.Millisecond, max: 2 * time.Second}
	for ctx.Err() == nil {
		sess, err := o.session(ctx)
		if err != nil {
			o.logger.Warn("cannot campaign for an Iceberg table; retrying", "topic", topic, "err", err)
			wait.sleep(ctx)
			continue
		}
		// The session's end ends the campaign and the ownership: a key
		// gone with its lease is nobody's.
		cctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(sess.Ctx(), cancel)
		e := concurrency.NewElection(sess, o.prefix+topic)
		if err := e.Campaign(cctx, strconv.FormatInt(int64(o.id), 10)); err != nil {
			stop()
			cancel()
			if ctx.Err() == nil {
				wait.sleep(ctx)
			}
			continue
		}
		wait.reset()
		o.setOwned(topic, true)
		o.logger.Info("owning the topic's Iceberg table", "topic", topic, "node", o.id)
		<-cctx.Done()
		o.setOwned(topic, false)
		if ctx.Err() != nil {
			// Stepping down (no longer a candidate, or closing): resign, so
			// the next in line owns it at once.
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = e.Resign(rctx)
			rcancel()
			o.logger.Info("stepped down from the topic's Iceberg table", "topic", topic, "node", o.id)
		} else {
			o.logger.Warn("lost the topic's Iceberg table with the ownership session", "topic", topic, "node", o.id)
		}
		stop()
		cancel()
	}
}
