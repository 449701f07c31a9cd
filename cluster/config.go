// Package cluster makes several Zombi nodes one Kafka cluster over etcd:
// membership under a lease, the elected controller, replica assignment,
// leader election from the ISR, the follower fetcher and the ISR. The two
// doors ask it "who leads this partition" and never talk to etcd
// themselves; without ZOMBI_ETCD_ENDPOINTS none of it runs (one node, the
// embedded default).
//
// A node calls Connect, then Join: it is registered under a lease, sees the
// live nodes, campaigns for controller and, while elected, moves the
// leaderships of nodes whose registration expired (see README.md). Assign
// places the replicas of new partitions.
package cluster

import (
	"strings"
	"time"
)

// Config is the DESIGN.md "Cluster" settings.
type Config struct {
	// Endpoints are etcd client URLs (ZOMBI_ETCD_ENDPOINTS); none: one
	// node, no cluster.
	Endpoints []string
	// Name is the cluster's etcd key prefix, /{Name}/ (ZOMBI_CLUSTER_NAME).
	Name string
	// NodeID is this node's Kafka node id (ZOMBI_NODE_ID).
	NodeID int32
	// Rack is Kafka's broker.rack (ZOMBI_NODE_RACK).
	Rack string
	// SessionTimeout is the etcd lease of the node's registration
	// (ZOMBI_SESSION_TIMEOUT_MS).
	SessionTimeout time.Duration
	// DefaultReplicationFactor is used when CreateTopics or a first write
	// gives none (ZOMBI_DEFAULT_REPLICATION_FACTOR); 0 means min(3, live
	// nodes).
	DefaultReplicationFactor int16
	// MinInsyncReplicas is the broker default of the topic config
	// min.insync.replicas (ZOMBI_MIN_INSYNC_REPLICAS).
	MinInsyncReplicas int
	// ReplicaLagTimeMax: a follower behind longer than this leaves the ISR
	// (ZOMBI_REPLICA_LAG_TIME_MAX_MS).
	ReplicaLagTimeMax time.Duration
	// TLS and authentication to etcd (ZOMBI_ETCD_CA_FILE,
	// ZOMBI_ETCD_CERT_FILE, ZOMBI_ETCD_KEY_FILE, ZOMBI_ETCD_USERNAME,
	// ZOMBI_ETCD_PASSWORD).
	CAFile, CertFile, KeyFile string
	Username, Password        string
}

// Defaults of the settings.
const (
	DefaultName              = "zombi"
	DefaultNodeID            = 1
	DefaultSessionTimeout    = 6 * time.Second
	DefaultMinInsyncReplicas = 1
	DefaultReplicaLagTimeMax = 10 * time.Second
)

// Enabled reports whether cluster mode is on.
func (c Config) Enabled() bool { return len(c.Endpoints) > 0 }

// Prefix is the etcd key prefix of the cluster: "/{Name}/".
func (c Config) Prefix() string { return "/" + strings.Trim(c.Name, "/") + "/" }
