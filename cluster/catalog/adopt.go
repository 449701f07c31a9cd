package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// ErrClusterStarted: Adopt found a cluster that a node already follows
// (it has its id) and adopted nothing.
var ErrClusterStarted = errors.New("the cluster has started: a node joining it follows its catalog")

// Adopt writes the local log's topics into the catalog of a cluster no node
// follows yet, each with its id, partition count and configs, on this
// node alone (replication factor 1, this node leading, epochs 0): a node
// alone with data, restarted on an empty cluster prefix, becomes the first
// node of a cluster with every topic it had (issue 19, point 7). Call it
// before Run, which deletes the local topics the catalog does not have
// (and gives the cluster its id: from then on Adopt refuses with
// ErrClusterStarted, and a node with data joins the cluster as it is). It
// can be run again after a crash half-way: a topic adopted before is
// skipped. A data directory that followed a cluster before is refused
// (ErrWrongCluster). So a node may call Adopt at every start, before Run,
// and go on when it returns ErrClusterStarted. A topic of the same name
// and another id in the catalog stops it
// with meta.ErrExists (two nodes' data meeting: the operator decides);
// what was adopted stays. It returns how many topics it wrote.
func (c *Catalog) Adopt(ctx context.Context) (int, error) {
	kv, err := c.cfg.Store.Get(ctx, ClusterIDKey)
	if err != nil {
		return 0, fmt.Errorf("adopt local topics: %w", err)
	}
	if kv.Version != 0 {
		return 0, fmt.Errorf("adopt local topics: %w (cluster %s)", ErrClusterStarted, kv.Value)
	}
	// A data directory that followed a cluster is that cluster's, not a
	// node alone's: its topics are not brought into another.
	if local, err := c.cfg.Log.Meta(localClusterIDKey); err != nil || local != nil {
		if err != nil {
			return 0, fmt.Errorf("adopt local topics: %w", err)
		}
		return 0, fmt.Errorf("adopt local topics: %w: this data directory belongs to cluster %s, and the catalog has none", ErrWrongCluster, local)
	}
	n := 0
	for _, info := range c.cfg.Log.Topics() {
		if plog.IsInternalTopic(info.Name) {
			continue
		}
		rec := meta.TopicRecord{Name: info.Name, UUID: info.UUID, Partitions: info.Partitions, Configs: info.Configs, CreatedMs: info.CreatedMs}
		states := make([]meta.PartitionState, info.Partitions)
		for p := range states {
			states[p] = meta.PartitionState{Replicas: []int32{c.cfg.NodeID}, ISR: []int32{c.cfg.NodeID}, Leader: c.cfg.NodeID}
		}
		err := meta.CreateTopic(ctx, c.cfg.Store, rec, states)
		if errors.Is(err, meta.ErrExists) {
			had, _, rerr := c.readTopic(ctx, info.Name)
			if rerr == nil && had.UUID == info.UUID {
				continue // adopted before
			}
		}
		if err != nil {
			return n, fmt.Errorf("adopt local topics: %d adopted, then: %w", n, err)
		}
		n++
		c.logger.Info("local topic adopted into the catalog", "topic", info.Name, "partitions", info.Partitions, "node", c.cfg.NodeID)
	}
	// The coordinators' offsets and transactions, after the user topics
	// their offsets name.
	coord, err := c.adoptInternal(ctx)
	if err != nil {
		return n, fmt.Errorf("adopt local topics: %d adopted, then: %w", n, err)
	}
	if coord > 0 {
		c.logger.Info("local committed offsets and transactions adopted into the internal topics", "entries", coord, "node", c.cfg.NodeID)
	}
	keys, err := c.adoptAuth(ctx)
	if err != nil {
		return n, err
	}
	if keys > 0 {
		c.logger.Info("local users, ACLs and tokens adopted into the cluster", "keys", keys, "node", c.cfg.NodeID)
	}
	return n, nil
}
