package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/cluster/replica"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// Runtime is a joined node's cluster mode at work: the metadata store on
// etcd, the catalog that makes the local log follow it, the replica
// manager, and the view the Kafka door asks (it implements kafka.Cluster).
type Runtime struct {
	cfg   Config
	node  *Node
	store meta.Store
	cat   *catalog.Catalog
	rm    *replica.Manager
	log   *plog.Log

	logger *slog.Logger
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ensure ensuring // internal topics being created (runtime_coord.go)

	// view is the live nodes by id, decoded once per change of the
	// registrations: the door asks liveness per replica of every partition
	// it describes.
	view atomic.Pointer[nodeView]
}

type nodeView struct {
	byID    map[int32]meta.NodeRecord
	changed <-chan struct{} // closed when the registrations change
}

var _ kafka.Cluster = (*Runtime)(nil)

// RuntimeOptions are what Start needs beside the node.
type RuntimeOptions struct {
	Log *plog.Log
	// KgoOpts are added to the follower fetchers' clients (TLS, SASL of
	// the inter-broker listener).
	KgoOpts []kgo.Opt
	// Adopt: a node whose catalog is empty writes its local topics into it
	// (a single node with data becoming node 1 of a cluster).
	Adopt bool
	// SyncTimeout bounds the first catalog sync (default 30 s).
	SyncTimeout time.Duration
	Logger      *slog.Logger
}

// Start runs the catalog and the replica manager on a joined node and
// returns once the local log follows the catalog.
func Start(ctx context.Context, cli *clientv3.Client, node *Node, cfg Config, o RuntimeOptions) (*Runtime, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 30 * time.Second
	}
	r := &Runtime{cfg: cfg, node: node, store: meta.NewEtcdStore(cli, cfg.Prefix()), log: o.Log, logger: o.Logger}
	// No local write enters a partition until the replica manager makes
	// this node its leader.
	o.Log.SetClusterMode()
	r.rm = replica.New(replica.Config{
		Log:        o.Log,
		Store:      r.store,
		NodeID:     cfg.NodeID,
		Addr:       r.addr,
		LagTimeMax: cfg.ReplicaLagTimeMax,
		MinInsync:  r.minInsync,
		Live:       r.live,
		Rack:       r.rack,
		KgoOpts:    o.KgoOpts,
		Logger:     o.Logger,
	})
	r.cat = catalog.New(catalog.Config{
		Store:     r.store,
		Log:       o.Log,
		NodeID:    cfg.NodeID,
		LiveNodes: node.Nodes,
		Assign:    Assign,
		DefaultRF: cfg.DefaultReplicationFactor,
		OnChange:  r.rm.Apply,
		Logger:    o.Logger,
	})
	if o.Adopt {
		n, err := r.cat.Adopt(ctx)
		switch {
		case errors.Is(err, catalog.ErrClusterStarted):
		case err != nil:
			r.store.Close()
			return nil, err
		case n > 0:
			o.Logger.Info("adopted the local topics into the empty cluster catalog", "topics", n, "node", cfg.NodeID)
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	r.ctx, r.cancel = rctx, cancel
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		if err := r.rm.Run(rctx); err != nil && rctx.Err() == nil {
			o.Logger.Error("replica manager stopped", "err", err)
		}
	}()
	catErr := make(chan error, 1)
	go func() {
		defer r.wg.Done()
		err := r.cat.Run(rctx)
		if err != nil && rctx.Err() == nil {
			o.Logger.Error("catalog stopped", "err", err)
		}
		catErr <- err
	}()
	select {
	case <-r.cat.Ready():
		return r, nil
	case err := <-catErr:
		// A data directory of another cluster: refused before anything
		// local is deleted.
		r.Close()
		if err == nil {
			err = errors.New("the catalog stopped before it loaded")
		}
		return nil, err
	case <-time.After(o.SyncTimeout):
		r.Close()
		return nil, fmt.Errorf("the topic catalog did not load from etcd within %s", o.SyncTimeout)
	case <-ctx.Done():
		r.Close()
		return nil, ctx.Err()
	}
}

// Close stops the replica manager and the catalog.
func (r *Runtime) Close() {
	r.ensure.close()
	r.cancel()
	r.rm.Close()
	r.wg.Wait()
	r.store.Close()
}

// Ready: the catalog is loaded.
func (r *Runtime) Ready() bool { return r.cat.IsReady() }

func (r *Runtime) nodeRecord(id int32) (meta.NodeRecord, bool) {
	n, ok := r.liveNodes()[id]
	return n, ok
}

// liveNodes is the live nodes by id, decoded again only after the
// registrations changed.
func (r *Runtime) liveNodes() map[int32]meta.NodeRecord {
	if v := r.view.Load(); v != nil {
		select {
		case <-v.changed:
		default:
			return v.byID
		}
	}
	changed := r.node.NodesChanged() // taken before reading: a change meanwhile closes it
	nodes := r.node.Nodes()
	byID := make(map[int32]meta.NodeRecord, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	r.view.Store(&nodeView{byID: byID, changed: changed})
	return byID
}

// addr is a live node's inter-broker address: its first PLAINTEXT
// listener, else its first listener.
func (r *Runtime) addr(id int32) (string, bool) {
	n, ok := r.nodeRecord(id)
	if !ok || len(n.Listeners) == 0 {
		return "", false
	}
	ln := n.Listeners[0]
	for _, l := range n.Listeners {
		if l.SecurityProtocol == "PLAINTEXT" {
			ln = l
			break
		}
	}
	return net.JoinHostPort(ln.Host, strconv.Itoa(int(ln.Port))), true
}

func (r *Runtime) live(id int32) bool {
	_, ok := r.nodeRecord(id)
	return ok
}

func (r *Runtime) rack(id int32) string {
	n, _ := r.nodeRecord(id)
	return n.Rack
}

func (r *Runtime) minInsync(topic string) int {
	if info, ok := r.log.Topic(topic); ok {
		return info.Effective().MinInsyncReplicas
	}
	return 1
}

// LocalID is this node's id.
func (r *Runtime) LocalID() int32 { return r.cfg.NodeID }

// ControllerID is the elected controller's id, -1 when none is known.
func (r *Runtime) ControllerID() int32 { return r.node.ControllerID() }

// Nodes are the live nodes at their address on the named listener.
func (r *Runtime) Nodes(listener string) []kafka.ClusterNode {
	var out []kafka.ClusterNode
	for _, n := range r.node.Nodes() {
		for _, l := range n.Listeners {
			if l.Name == listener {
				out = append(out, kafka.ClusterNode{ID: n.ID, Host: l.Host, Port: l.Port, Rack: n.Rack})
				break
			}
		}
	}
	return out
}

// Partition is the catalog's state of a partition, with the replicas whose
// node is not live as Offline.
func (r *Runtime) Partition(topic string, p int32) (kafka.PartitionView, bool) {
	st, _, ok := r.cat.Partition(topic, p)
	if !ok {
		return kafka.PartitionView{}, false
	}
	return replica.View(st, r.live), true
}

// CreateTopic creates a topic cluster-wide.
func (r *Runtime) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	return r.cat.CreateTopic(ctx, name, partitions, rf, configs)
}

// DeleteTopic deletes a topic cluster-wide.
func (r *Runtime) DeleteTopic(ctx context.Context, name string) error {
	return r.cat.DeleteTopic(ctx, name)
}

// AddPartitions grows a topic cluster-wide.
func (r *Runtime) AddPartitions(ctx context.Context, name string, total int32) error {
	return r.cat.AddPartitions(ctx, name, total)
}

// SetTopicConfigs sets a topic's configs cluster-wide.
func (r *Runtime) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	return r.cat.SetTopicConfigs(ctx, name, configs)
}

// CheckProduce says whether this node may take a write now.
func (r *Runtime) CheckProduce(topic string, p int32, epoch int32, acksAll bool) error {
	return r.rm.CheckProduce(topic, p, epoch, acksAll)
}

// AwaitReplicated waits for the high watermark (acks=all).
func (r *Runtime) AwaitReplicated(ctx context.Context, topic string, p int32, lastOffset int64) error {
	return r.rm.AwaitReplicated(ctx, topic, p, lastOffset)
}

// CheckFetch says whether this node may serve a fetch of the partition.
func (r *Runtime) CheckFetch(topic string, p int32, epoch int32, replica int32) error {
	return r.rm.CheckFetch(topic, p, epoch, replica)
}

// PreferredReadReplica is KIP-392's replica for a client's rack.
func (r *Runtime) PreferredReadReplica(topic string, p int32, clientRack string) int32 {
	return r.rm.PreferredReadReplica(topic, p, clientRack)
}

// FollowerFetched records a follower's fetch offset.
func (r *Runtime) FollowerFetched(topic string, p int32, replica int32, fetchOffset int64) {
	r.rm.FollowerFetched(topic, p, replica, fetchOffset)
}

// ProducerIDBlock takes a block of producer ids from etcd (pid/next), unique
// over every node (kafka.Config.ProducerIDBlock).
func (r *Runtime) ProducerIDBlock(ctx context.Context) (first, last int64, err error) {
	return meta.AllocProducerIDs(ctx, r.store)
}
