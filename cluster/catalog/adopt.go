package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// ErrCatalogNotEmpty: Adopt found topics in the catalog and adopted
// nothing.
var ErrCatalogNotEmpty = errors.New("the topic catalog already has topics")

// Adopt writes the local log's topics into an empty catalog, each with
// its id, partition count and configs, on this node alone (replication
// factor 1, this node leading, epochs 0): a node alone with data,
// restarted on an empty cluster prefix, becomes the first node of a
// cluster with every topic it had (issue 19, point 7). Call it before Run,
// which deletes the local topics the catalog does not have. A catalog
// that has a topic already adopts nothing (ErrCatalogNotEmpty): the node
// joins that cluster and follows it. A topic of the same name written by
// another node meanwhile stops it with meta.ErrExists (two clusters'
// data meeting: the operator decides); what was adopted stays.
func (c *Catalog) Adopt(ctx context.Context) (int, error) {
	kvs, _, err := c.cfg.Store.List(ctx, meta.TopicsPrefix)
	if err != nil {
		return 0, fmt.Errorf("adopt local topics: %w", err)
	}
	if len(kvs) > 0 {
		return 0, fmt.Errorf("adopt local topics: %w (%d)", ErrCatalogNotEmpty, len(kvs))
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
		if err := meta.CreateTopic(ctx, c.cfg.Store, rec, states); err != nil {
			return n, fmt.Errorf("adopt local topics: %d adopted, then: %w", n, err)
		}
		n++
		c.logger.Info("local topic adopted into the catalog", "topic", info.Name, "partitions", info.Partitions, "node", c.cfg.NodeID)
	}
	return n, nil
}
