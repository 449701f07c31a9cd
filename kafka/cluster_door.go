package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	plog "github.com/zombi-dev/zombi/log"
)

// What the handlers ask of cluster mode (Config.Cluster), in one place, so
// that each handler reads the same with one node or many: with no Cluster
// every answer here is the one-node answer of before.

// nodeID is this node's Kafka id: NodeID alone, the cluster's LocalID in
// cluster mode.
func (s *Server) nodeID() int32 {
	if c := s.cfg.Cluster; c != nil {
		return c.LocalID()
	}
	return NodeID
}

// controllerID is the controller's id (this node alone; -1 when the
// cluster knows none, as Kafka answers).
func (s *Server) controllerID() int32 {
	if c := s.cfg.Cluster; c != nil {
		return c.ControllerID()
	}
	return NodeID
}

// listenerName is the Kafka listener name of the request's connection.
// Zombi serves one listener per security protocol and names each after its
// protocol (Kafka's default listener names: PLAINTEXT, SASL_SSL, ...); a
// request with no connection (in-process) is on the default listener.
func (s *Server) listenerName(ctx context.Context) string {
	li := s.defaultListener.Load()
	if ci := connInfoFrom(ctx); ci != nil && ci.listener != nil {
		li = ci.listener
	}
	if li == nil {
		return string(PlainText)
	}
	return string(li.protocol)
}

// brokers are the nodes a client on this connection is told about: every
// live node at its address on the same listener, or this node alone.
func (s *Server) brokers(ctx context.Context) []ClusterNode {
	if c := s.cfg.Cluster; c != nil {
		return c.Nodes(s.listenerName(ctx))
	}
	host, port := s.advertisedHostPort(ctx)
	return []ClusterNode{{ID: NodeID, Host: host, Port: port}}
}

// partitionView is a partition's leader, epoch, replicas, ISR and offline
// replicas as Metadata and DescribeTopicPartitions answer them, and the
// partition's error code: LEADER_NOT_AVAILABLE when the cluster does not
// know it or it has no leader (Kafka's answer for an offline partition).
// Every topic of one node, the internal ones too, is led by this node
// alone; in cluster mode the internal topics are the cluster's as any.
func (s *Server) partitionView(topic string, p int32) (PartitionView, int16) {
	c := s.cfg.Cluster
	if c == nil {
		id := s.nodeID()
		return PartitionView{Leader: id, LeaderEpoch: plog.LeaderEpoch, Replicas: []int32{id}, ISR: []int32{id}, Offline: []int32{}}, 0
	}
	v, ok := c.Partition(topic, p)
	if !ok {
		return PartitionView{Leader: -1, LeaderEpoch: -1, Replicas: []int32{}, ISR: []int32{}, Offline: []int32{}}, kerr.LeaderNotAvailable.Code
	}
	v.Replicas, v.ISR, v.Offline = nodeList(v.Replicas), nodeList(v.ISR), nodeList(v.Offline)
	if v.Leader < 0 {
		v.Leader = -1
		return v, kerr.LeaderNotAvailable.Code
	}
	return v, 0
}

// nodeList: Kafka sends empty arrays, never null ones; some clients fail on
// null.
func nodeList(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// inCluster says whether the partition's reads and writes are the
// cluster's to allow: cluster mode, and not an internal topic that is not
// created yet (internal_topics.go).
func (s *Server) inCluster(topic string) bool {
	return s.cfg.Cluster != nil && (!plog.IsInternalTopic(topic) || s.internalReal(topic))
}

// leaderEpoch is the partition's leader epoch in answers (ListOffsets,
// Fetch): the cluster's view, or the log's one epoch alone.
func (s *Server) leaderEpoch(topic string, p int32) int32 {
	if !s.inCluster(topic) {
		return plog.LeaderEpoch
	}
	v, ok := s.cfg.Cluster.Partition(topic, p)
	if !ok {
		return -1
	}
	return v.LeaderEpoch
}

// adminTimeout bounds a topic change handed to the cluster: the request's
// timeout, or Kafka's default request.timeout.ms when it gives none.
func adminTimeout(ms int32) time.Duration {
	if ms <= 0 {
		return 30 * time.Second
	}
	return time.Duration(ms) * time.Millisecond
}

// kafkaMessage is an error whose text is Kafka's own message for the case,
// sent to clients as is (capitals and full stop included); it is kind for
// errors.Is, so it maps to kind's code.
type kafkaMessage struct {
	kind error
	msg  string
}

func (m *kafkaMessage) Error() string { return m.msg }
func (m *kafkaMessage) Unwrap() error { return m.kind }

// leaderHint is KIP-951's hint in a NOT_LEADER_OR_FOLLOWER answer (and
// Fetch's FENCED_LEADER_EPOCH): the partition's current leader, its epoch
// and where to reach it on the client's listener, so that the client moves
// there without a metadata round trip. ok false when the cluster knows no
// live leader.
func (s *Server) leaderHint(ctx context.Context, topic string, p int32) (leader, epoch int32, node ClusterNode, ok bool) {
	if !s.inCluster(topic) {
		return -1, -1, ClusterNode{}, false
	}
	v, known := s.cfg.Cluster.Partition(topic, p)
	if !known || v.Leader < 0 {
		return -1, -1, ClusterNode{}, false
	}
	for _, n := range s.brokers(ctx) {
		if n.ID == v.Leader {
			return v.Leader, v.LeaderEpoch, n, true
		}
	}
	return -1, -1, ClusterNode{}, false
}

// topicName is the name of a request's topic given by name or, from the
// versions that use them, by id ("" when the id names none).
func (s *Server) topicName(name string, id [16]byte, byID bool) string {
	if !byID {
		return name
	}
	if info, ok := s.topicByID(id); ok {
		return info.Name
	}
	return ""
}
