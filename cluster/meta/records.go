package meta

// The cluster's records, JSON under the store's prefix (etcd keys are
// /{cluster}/ + these):
//
//	nodes/{id}                NodeRecord, under the node's lease (cluster package)
//	controller/               the controller election (etcd concurrency.Election)
//	topics/{name}             TopicRecord
//	partitions/{name}/{p}     PartitionState: one key per partition, so each
//	                          leader or ISR change is a CAS on that key alone
//	pid/next                  next free producer id (blocks of ProducerIDBlock)
//	x/{key}                   the other packages' metadata (auth's users, ACLs
//	                          and tokens, Iceberg materializer ownership)
const (
	NodesPrefix      = "nodes/"
	ControllerPrefix = "controller/"
	TopicsPrefix     = "topics/"
	PartitionsPrefix = "partitions/"
	ProducerIDKey    = "pid/next"
	OtherPrefix      = "x/"
)

// ProducerIDBlock is how many producer ids a node takes at once (Kafka's
// ProducerIdsBlock is 1000).
const ProducerIDBlock = 1000

// NodeRecord is a live node's registration.
type NodeRecord struct {
	ID   int32  `json:"id"`
	Rack string `json:"rack,omitempty"`
	// Listeners are the node's Kafka listeners by name, as advertised.
	Listeners []Listener `json:"listeners"`
	// HTTP is the advertised base URL of the REST API (http://host:port).
	HTTP      string `json:"http"`
	StartedMs int64  `json:"started_ms"`
	Version   string `json:"version"`
}

// Listener is one advertised Kafka listener.
type Listener struct {
	Name             string `json:"name"` // e.g. PLAINTEXT, SASL_SSL
	SecurityProtocol string `json:"security_protocol"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
}

// TopicRecord is a topic.
type TopicRecord struct {
	Name       string            `json:"name"`
	UUID       [16]byte          `json:"uuid"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
}

// PartitionState is Kafka's partition state (ZooKeeper's
// /brokers/topics/T/partitions/P/state, KRaft's PartitionRecord): written
// by the controller (leader, epoch, assignment) and by the leader (ISR),
// every change a CAS on the key's version.
type PartitionState struct {
	// Replicas is the assignment; the first is the preferred leader.
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	// Leader is -1 when the partition is offline (no live ISR member and
	// no unclean election).
	Leader      int32 `json:"leader"`
	LeaderEpoch int32 `json:"leader_epoch"`
	// PartitionEpoch grows with every change (leader, ISR, replicas).
	PartitionEpoch int32 `json:"partition_epoch"`
	// Adding and Removing are the replicas of a reassignment in progress
	// (Kafka's AddingReplicas, RemovingReplicas).
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}
