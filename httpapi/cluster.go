package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	plog "github.com/zombi-dev/zombi/log"
)

// Cluster is what the REST API asks of cluster mode (cluster.Runtime
// implements it; nil in Config is one node, exactly as before). Like the
// Kafka door, the API never talks to etcd: it asks who leads a partition
// and where that node's REST API is, and hands topic changes and
// replication waits over.
type Cluster interface {
	// LocalID is this node's id.
	LocalID() int32
	// Leader is the partition's leader and its REST base URL
	// (meta.NodeRecord.HTTP, "" when the leader is not live). leader -1:
	// offline or unknown; ok false: the cluster does not know the
	// partition.
	Leader(topic string, p int32) (leader int32, baseURL string, ok bool)
	// CheckWrite says whether this node may take an acks=all write to the
	// partition now: nil, or an error wrapping plog.ErrNotLeader (another
	// node leads: retriable) or ErrNotEnoughReplicas.
	CheckWrite(topic string, p int32) error
	// AwaitReplicated returns once the partition's high watermark is past
	// lastOffset (acks=all), or an error wrapping ErrNotEnoughReplicas,
	// plog.ErrNotLeader or the ctx error.
	AwaitReplicated(ctx context.Context, topic string, p int32, lastOffset int64) error
	// CreateTopic (rf -1: ZOMBI_DEFAULT_REPLICATION_FACTOR), DeleteTopic,
	// AddPartitions and SetTopicConfigs change a topic cluster-wide and
	// return once this node's log has the change.
	CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error
	DeleteTopic(ctx context.Context, name string) error
	AddPartitions(ctx context.Context, name string, total int32) error
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error
	// Describe is GET /cluster's answer.
	Describe() ClusterInfo
	// GroupCoordinator is where a consumer group's coordinator is: the
	// leader of its __consumer_offsets partition. Errors wrap
	// ErrCoordinatorNotAvailable (no leader, the topic being created).
	GroupCoordinator(group string) (GroupCoord, error)
	// CommitGroupOffsets writes offsets of one group as one OffsetCommit
	// batch to the coordinator's partition at its epoch (acks=all), and
	// returns once this node's view has them. DeleteGroupOffsets writes
	// tombstones for keys; whole also ends the group (Kafka's group
	// metadata tombstone). Errors wrap ErrNotCoordinator (the partition
	// moved) or ErrCoordinatorNotAvailable (too few in-sync replicas).
	CommitGroupOffsets(ctx context.Context, gc GroupCoord, offs []plog.CommittedOffset) error
	DeleteGroupOffsets(ctx context.Context, gc GroupCoord, group string, keys []plog.OffsetKey, whole bool) error
	// LiveNodes are the registered nodes' REST base URLs, by id.
	LiveNodes() map[int32]string
}

// GroupCoord is a consumer group's coordinator as a request sees it.
type GroupCoord struct {
	Node      int32
	URL       string // its REST base URL; "" when not live (or this node)
	Partition int32  // of __consumer_offsets
	Epoch     int32  // the partition's leader epoch: the coordinator epoch
	Local     bool   // this node leads the partition
	Loaded    bool   // ... and has loaded its view
}

// ErrNotCoordinator: this node does not coordinate the group (a forwarded
// request met a moved coordinator, or the partition moved during a
// write): 503, retriable.
var ErrNotCoordinator = errors.New("not coordinator")

// ErrCoordinatorNotAvailable: the group has no coordinator now (no leader,
// loading, too few in-sync replicas): 503, retriable.
var ErrCoordinatorNotAvailable = errors.New("coordinator not available")

// ErrNotEnoughReplicas: fewer in-sync replicas than min.insync.replicas
// (before the append: nothing written), or the write was appended but the
// ISR did not acknowledge it in time. 503.
var ErrNotEnoughReplicas = errors.New("not enough in-sync replicas")

// errLeaderUnavailable: the partition has no live leader now (503 with
// Retry-After).
var errLeaderUnavailable = errors.New("the partition's leader is not available, retry")

// errLeaderMoved: a forwarded write reached a node that does not lead the
// partition (a stale view on either side): nothing was written, 503.
var errLeaderMoved = errors.New("leader moved, retry")

// ClusterInfo is GET /cluster.
type ClusterInfo struct {
	ClusterID  string         `json:"cluster_id"`
	Controller int32          `json:"controller"`
	Nodes      []ClusterNode  `json:"nodes"`
	Topics     []ClusterTopic `json:"topics"`
}

// ClusterNode is a node: live ones with their addresses, dead ones (named
// as replicas but not registered) with their id and alive false.
type ClusterNode struct {
	ID    int32             `json:"id"`
	Kafka []ClusterListener `json:"kafka,omitempty"`
	HTTP  string            `json:"http,omitempty"`
	Rack  string            `json:"rack,omitempty"`
	Alive bool              `json:"alive"`
}

// ClusterListener is a Kafka listener a node advertises.
type ClusterListener struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// ClusterTopic is a topic's partitions.
type ClusterTopic struct {
	Name       string             `json:"name"`
	Partitions []ClusterPartition `json:"partitions"`
}

// ClusterPartition is a partition's leadership.
type ClusterPartition struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Offline     []int32 `json:"offline"`
}

// localNodeID is a node alone's id (Kafka's node id of the one broker).
const localNodeID = 1

// getCluster: GET /cluster. Alone: one node (itself), every partition led
// by it with replication factor 1.
func (s *server) getCluster(c *gin.Context) {
	if s.cfg.Cluster != nil {
		writeValue(c, http.StatusOK, s.cfg.Cluster.Describe())
		return
	}
	self := ClusterNode{ID: localNodeID, Kafka: []ClusterListener{}, Alive: true}
	self.Kafka = append(self.Kafka, s.cfg.LocalListeners...)
	self.HTTP = s.cfg.LocalHTTP
	in := ClusterInfo{ClusterID: s.cfg.ClusterID, Controller: localNodeID, Nodes: []ClusterNode{self}, Topics: []ClusterTopic{}}
	if in.ClusterID == "" {
		in.ClusterID = "zombi"
	}
	for _, name := range s.log.TopicNames() {
		info, ok := s.log.Topic(name)
		if !ok || plog.IsInternalTopic(name) {
			continue
		}
		t := ClusterTopic{Name: name, Partitions: make([]ClusterPartition, 0, info.Partitions)}
		for p := range info.Partitions {
			t.Partitions = append(t.Partitions, ClusterPartition{Partition: p, Leader: localNodeID,
				Replicas: []int32{localNodeID}, ISR: []int32{localNodeID}, Offline: []int32{}})
		}
		in.Topics = append(in.Topics, t)
	}
	writeValue(c, http.StatusOK, in)
}

// ErrClusterUnavailable: the cluster's metadata store (etcd) cannot be
// reached now (503, retriable).
var ErrClusterUnavailable = errors.New("cluster metadata unavailable")

// ErrClusterInvalid: the cluster refuses the request as invalid (a
// replication factor above the live nodes, ...): 400.
var ErrClusterInvalid = errors.New("invalid for this cluster")

// retryLater: a cluster-mode 503 a client should simply retry (Retry-After).
func retryLater(err error) bool {
	for _, e := range []error{errLeaderUnavailable, errLeaderMoved, plog.ErrNotLeader, ErrClusterUnavailable, ErrNotEnoughReplicas, ErrNotCoordinator, ErrCoordinatorNotAvailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
