package catalog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// The cluster's id, as Kafka's: created once in the store by the first
// node (ZooKeeper's /cluster/id), and stamped in each node's data
// directory (meta.properties). A node whose data directory holds another
// id, or a catalog that has lost its id, is the wrong cluster: following
// it would delete every local topic, so Run refuses.
const (
	// ClusterIDKey is where the store keeps it (under x/, with the other
	// packages' keys).
	ClusterIDKey = meta.OtherPrefix + "cluster/id"
	// localClusterIDKey is the log metadata key of the data directory's.
	localClusterIDKey = "catalog.cluster_id"
)

// ErrWrongCluster: the data directory belongs to another cluster than the
// catalog Run was given (Kafka's InconsistentClusterIdException).
var ErrWrongCluster = errors.New("wrong cluster")

// ClusterID is the cluster's id once Run has checked it ("" before).
func (c *Catalog) ClusterID() string {
	if p := c.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

// checkCluster reads (or, for the first node, creates) the cluster's id
// and checks it against the data directory's, stamping a directory that
// has none.
func (c *Catalog) checkCluster(ctx context.Context) (string, error) {
	local, err := c.cfg.Log.Meta(localClusterIDKey)
	if err != nil {
		return "", fmt.Errorf("read the data directory's cluster id: %w", err)
	}
	kv, err := c.cfg.Store.Get(ctx, ClusterIDKey)
	if err != nil {
		return "", fmt.Errorf("read the cluster id: %w", err)
	}
	switch {
	case kv.Version == 0 && local != nil:
		return "", fmt.Errorf("%w: this data directory belongs to cluster %s, and the catalog has no cluster id (a wrong ZOMBI_CLUSTER_NAME, or an etcd that lost its data); following it would delete every local topic", ErrWrongCluster, local)
	case kv.Version == 0:
		id := newClusterID()
		ok, _, err := c.cfg.Store.Txn(ctx, []meta.Cmp{{Key: ClusterIDKey}}, []meta.Op{{Key: ClusterIDKey, Value: []byte(id)}})
		if err != nil {
			return "", fmt.Errorf("create the cluster id: %w", err)
		}
		if !ok {
			return c.checkCluster(ctx) // another node created it first
		}
		c.logger.Info("new cluster", "cluster_id", id)
		kv.Value = []byte(id)
	case local != nil && string(local) != string(kv.Value):
		return "", fmt.Errorf("%w: the cluster id %s does not match %s stored in the data directory: the node is trying to join the wrong cluster (check ZOMBI_ETCD_ENDPOINTS and ZOMBI_CLUSTER_NAME)", ErrWrongCluster, kv.Value, local)
	}
	if local == nil {
		if err := c.cfg.Log.SetMeta(localClusterIDKey, kv.Value); err != nil {
			return "", fmt.Errorf("stamp the data directory with the cluster id: %w", err)
		}
	}
	return string(kv.Value), nil
}

// newClusterID is a random UUID in Kafka's text form (22 characters of
// URL-safe base64).
func newClusterID() string {
	id := newTopicID()
	return base64.RawURLEncoding.EncodeToString(id[:])
}
