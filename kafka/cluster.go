package kafka

import (
	"context"
	"errors"
)

// Cluster is what the Kafka door asks of cluster mode (package cluster
// implements it; nil in Config is one node, exactly as before). The door
// never talks to etcd: it asks who leads a partition, where the nodes are,
// and hands topic changes and replication waits over.
type Cluster interface {
	// LocalID is this node's id.
	LocalID() int32
	// ControllerID is the controller's node id, -1 when none is known.
	ControllerID() int32
	// Nodes are the live nodes, sorted by id, each at its address on the
	// named listener (the one the client is on; a node without that
	// listener is left out).
	Nodes(listener string) []ClusterNode
	// Partition is the partition's state as this node knows it; ok false
	// when the topic or partition is unknown to the cluster.
	Partition(topic string, p int32) (PartitionView, bool)

	// CreateTopic creates a topic cluster-wide (replicas assigned over the
	// live nodes; rf -1: the default replication factor) and returns once
	// this node's log has it. Errors: plog.ErrTopicExists,
	// ErrInvalidReplicationFactor, plog.ErrInvalidTopic, ... (wrapped).
	CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error
	// DeleteTopic, AddPartitions and SetTopicConfigs change a topic
	// cluster-wide and return once this node's log has the change.
	DeleteTopic(ctx context.Context, name string) error
	AddPartitions(ctx context.Context, name string, total int32) error
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error

	// CheckProduce says whether this node may take a write to the
	// partition now: nil, or ErrNotLeader, ErrFencedLeaderEpoch,
	// ErrUnknownLeaderEpoch (for a request naming epoch; -1: none), or
	// ErrNotEnoughReplicas (acks=all with fewer in-sync replicas than
	// min.insync.replicas).
	CheckProduce(topic string, p int32, epoch int32, acksAll bool) error
	// AwaitReplicated returns once the partition's high watermark is past
	// lastOffset (acks=all), or ErrNotEnoughReplicasAfterAppend,
	// ErrNotLeader, or the ctx error.
	AwaitReplicated(ctx context.Context, topic string, p int32, lastOffset int64) error
	// CheckFetch says whether this node may serve a consumer's (replica
	// -1) or a follower's (replica >= 0) fetch of the partition: nil, or
	// the errors of CheckProduce (a follower serves consumers only as a
	// preferred read replica, KIP-392).
	CheckFetch(topic string, p int32, epoch int32, replica int32) error
	// PreferredReadReplica is the replica in the client's rack a consumer
	// should fetch from (KIP-392), -1 for the leader itself.
	PreferredReadReplica(topic string, p int32, clientRack string) int32
	// FollowerFetched records a follower's fetch offset (its log end) so
	// the leader can move the ISR and the high watermark.
	FollowerFetched(topic string, p int32, replica int32, fetchOffset int64)

	// AlterReassignment starts a reassignment of the partition to the
	// target replicas (KIP-455), or cancels the one in progress when
	// replicas is nil; it returns once the new state is written (the
	// controller completes it). Errors: ErrInvalidReplicaAssignment,
	// ErrNoReassignmentInProgress, plog.ErrUnknownTopic (wrapped).
	AlterReassignment(ctx context.Context, topic string, p int32, replicas []int32) error
	// Reassignments are the partitions with a reassignment in progress,
	// of the named topics (nil: every topic), sorted by topic and
	// partition.
	Reassignments(topics []string) []Reassignment
	// ElectLeader runs a preferred (unclean false) or unclean election of
	// the partition's leader (KIP-460) and returns once it is written.
	// Errors: ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable,
	// ErrEligibleLeadersNotAvailable, plog.ErrUnknownTopic (wrapped).
	ElectLeader(ctx context.Context, topic string, p int32, unclean bool) error

	// CoordinatorOf is the coordinator of a group (kind 0) or
	// transactional id (kind 1): the leader of the key's partition of
	// __consumer_offsets or __transaction_state. It creates the internal
	// topic when absent (ErrCoordinatorNotAvailable meanwhile); no leader
	// is ErrCoordinatorNotAvailable too.
	CoordinatorOf(kind int8, key string) (CoordinatorView, error)
	// AppendInternal appends one batch to internal partition part as its
	// leader at epoch, waits until it is replicated (acks=all,
	// min.insync.replicas) and applied to the view, and returns its last
	// offset. Errors: ErrNotLeader, ErrFencedLeaderEpoch (the coordinator
	// moved), ErrNotEnoughReplicas(AfterAppend), the ctx error.
	AppendInternal(ctx context.Context, kind int8, part int32, epoch int32, raw []byte) (last int64, err error)
	// SetCoordinatorHooks installs what runs when this node becomes the
	// loaded leader of an internal partition (onLoad, its view complete up
	// to the log end it had when it became leader) and before it stops
	// leading one (onUnload). Called once, before traffic.
	SetCoordinatorHooks(onLoad func(kind int8, part, epoch int32), onUnload func(kind int8, part int32))
}

// CoordinatorView is where a coordinator is.
type CoordinatorView struct {
	Partition int32
	Leader    int32
	Epoch     int32 // the partition's leader epoch: the coordinator epoch
	Local     bool  // this node leads the partition
	Loaded    bool  // ... and its view is loaded (else COORDINATOR_LOAD_IN_PROGRESS)
}

// Reassignment is a partition's reassignment in progress
// (ListPartitionReassignments).
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
	Adding    []int32
	Removing  []int32
}

// ClusterNode is a live node as clients see it.
type ClusterNode struct {
	ID   int32
	Host string
	Port int32
	Rack string
}

// PartitionView is a partition's state: what Metadata answers.
type PartitionView struct {
	Leader      int32 // -1 offline
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Offline     []int32 // replicas whose node is not live
}

// Errors of the Cluster interface, mapped to Kafka's codes in errors.go.
var (
	ErrNotLeader                    = errors.New("not the leader of this partition")
	ErrFencedLeaderEpoch            = errors.New("leader epoch is older than the current one")
	ErrUnknownLeaderEpoch           = errors.New("leader epoch is newer than the current one")
	ErrNotEnoughReplicas            = errors.New("fewer in-sync replicas than min.insync.replicas")
	ErrNotEnoughReplicasAfterAppend = errors.New("written, but fewer in-sync replicas than min.insync.replicas acknowledged it")
	ErrInvalidReplicationFactor     = errors.New("invalid replication factor")
	ErrReplicaNotAvailable          = errors.New("replica not available")
	ErrInvalidReplicaAssignment     = errors.New("invalid replica assignment")
	ErrNoReassignmentInProgress     = errors.New("no reassignment in progress")
	ErrElectionNotNeeded            = errors.New("leader election not needed")
	ErrPreferredLeaderNotAvailable  = errors.New("preferred leader not available")
	ErrEligibleLeadersNotAvailable  = errors.New("eligible leaders not available")
	ErrCoordinatorNotAvailable      = errors.New("coordinator not available")
)
