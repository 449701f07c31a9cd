package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// CreateTopics (key 19), v0-v7.
//
// Behavior:
//   - num_partitions -1 means the default partition count; an explicit
//     replica assignment gives the count by its length.
//   - The internal topics (__consumer_offsets, __transaction_state) get
//     TOPIC_ALREADY_EXISTS, as from Kafka (internal_topics.go).
//   - One node: replication factor -1 or 1; anything larger gets
//     INVALID_REPLICATION_FACTOR, as a one-broker Kafka cluster answers.
//   - Cluster mode: the cluster creates the topic (replicas assigned over
//     the live nodes; replication factor -1: the default) and the answer
//     comes once this node's log has it; the response gives the
//     replication factor used. A factor of 0 or below -1, or one above the
//     live nodes, gets INVALID_REPLICATION_FACTOR with Kafka's message. A
//     manual replica assignment gets INVALID_REQUEST (not supported yet).
//     validate_only checks here, against the live nodes, and asks the
//     cluster nothing. Past the request's timeout: REQUEST_TIMED_OUT (the
//     topic may still appear, as in Kafka).
//   - Configs are checked as Kafka 4.4 checks them (an unknown name, a value
//     of the wrong type or out of range: INVALID_CONFIG with Kafka's
//     message), then stored with the topic and shown by DescribeConfigs.
//   - cleanup.policy=compact is accepted and stored, not honoured (nothing
//     is compacted): Kafka Connect and Kafka Streams create their internal
//     topics compacted and stop when refused; the server logs a warning.
//     AlterConfigs, IncrementalAlterConfigs and the REST API refuse it.
//   - The response lists every config of the new topic, defaults included,
//     as Kafka's does (the Java AdminClient fails on a null list).
//   - validate_only checks everything and creates nothing.
//   - A topic named twice in one request gets INVALID_REQUEST.
//   - CREATE on the cluster or on the topic, else TOPIC_AUTHORIZATION_FAILED
//     (checked before the topic's name and configs, as Kafka). Without
//     DESCRIBE_CONFIGS on the topic the configs are left out and
//     topic_config_error_code (a v5+ tag) is TOPIC_AUTHORIZATION_FAILED.
//
// Version notes:
//   - v5+: the response repeats partitions, replication factor and configs.
//   - v7: the topic id.
func init() { register(kmsg.CreateTopics, 0, 7, (*Server).handleCreateTopics) }

func (s *Server) handleCreateTopics(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	createAny := s.allowedCluster(ctx, kmsg.ACLOperationCreate)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		parts := rt.NumPartitions
		if len(rt.ReplicaAssignment) > 0 {
			parts = int32(len(rt.ReplicaAssignment))
		} else if parts == -1 {
			parts = s.cfg.DefaultPartitions
		}
		configs := map[string]string{}
		var cfgErr error
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
				if cfgErr == nil {
					cfgErr = topicconfig.ValidateKafka(c.Name, *c.Value)
				}
			}
		}
		var err error
		code := int16(0)
		rf := int16(1)
		switch {
		case seen[rt.Topic] > 1:
			code, err = errInvalidRequest, fmt.Errorf("topic %q named more than once", rt.Topic)
		case !createAny && !s.allowed(ctx, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, rt.Topic):
			code, err = errTopicAuthz, errAuthorizationFailed
		case !plog.ValidTopicName(rt.Topic):
			err = fmt.Errorf("%w: %q", plog.ErrInvalidTopic, rt.Topic)
		case plog.IsInternalTopic(rt.Topic):
			// They always exist (Kafka's answer once they do).
			err = fmt.Errorf("%w: Topic '%s' already exists", plog.ErrTopicExists, rt.Topic)
		case parts <= 0 || parts > plog.MaxPartitions:
			err = fmt.Errorf("%w: %d (1..%d)", plog.ErrInvalidPartitions, parts, plog.MaxPartitions)
		case s.cfg.Cluster != nil && len(rt.ReplicaAssignment) > 0:
			code, err = errInvalidRequest, errors.New("manual replica assignment is not supported in cluster mode yet: give num_partitions and replication_factor")
		case s.cfg.Cluster != nil && rt.ReplicationFactor != -1 && rt.ReplicationFactor <= 0:
			err = &kafkaMessage{ErrInvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."}
		case s.cfg.Cluster == nil && (rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 || len(rt.ReplicaAssignment) > 0 && !singleReplica(rt.ReplicaAssignment)):
			code, err = kerr.InvalidReplicationFactor.Code, fmt.Errorf("replication factor %d: this cluster has one broker (node %d)", rt.ReplicationFactor, NodeID)
		case cfgErr != nil:
			err = cfgErr
		case req.ValidateOnly && s.cfg.Cluster != nil && int(rt.ReplicationFactor) > len(s.brokers(ctx)):
			err = &kafkaMessage{ErrInvalidReplicationFactor, fmt.Sprintf("Replication factor: %d larger than available brokers: %d.", rt.ReplicationFactor, len(s.brokers(ctx)))}
		case req.ValidateOnly:
			if _, ok := s.log.Topic(rt.Topic); ok {
				err = fmt.Errorf("%w: %s", plog.ErrTopicExists, rt.Topic)
			}
		default:
			var info plog.TopicInfo
			if len(configs) == 0 {
				configs = nil
			}
			if s.cfg.Cluster != nil {
				info, rf, err = s.createInCluster(ctx, rt.Topic, parts, rt.ReplicationFactor, configs, req.TimeoutMillis)
			} else {
				info, err = s.log.CreateTopic(rt.Topic, parts, configs)
			}
			st.TopicID = info.UUID
			if err == nil && strings.Contains(configs["cleanup.policy"], "compact") {
				s.logger.Warn("topic created with cleanup.policy=compact: stored, but Zombi does not compact (old records go by retention only)",
					"topic", rt.Topic, "cleanup.policy", configs["cleanup.policy"])
			}
		}
		if code == 0 {
			code = errorCode(err)
		}
		st.ErrorCode = code
		if err != nil {
			st.ErrorMessage = errorMessage(err)
			st.NumPartitions, st.ReplicationFactor = -1, -1
		} else {
			st.NumPartitions, st.ReplicationFactor = parts, rf
			// Kafka answers with every config of the new topic (defaults
			// included); the Java AdminClient reads the list, never null.
			st.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
			if !s.allowed(ctx, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, rt.Topic) {
				st.ConfigErrorCode = errTopicAuthz // created, configs not shown
				resp.Topics = append(resp.Topics, st)
				continue
			}
			s.eachTopicConfig(configs, func(e configEntry) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				v := e.value
				c.Name, c.Value, c.Source = e.name, &v, int8(e.src)
				st.Configs = append(st.Configs, c)
			})
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func singleReplica(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) bool {
	for _, a := range as {
		if len(a.Replicas) != 1 || a.Replicas[0] != NodeID {
			return false
		}
	}
	return true
}

// createInCluster hands a new topic to the cluster and returns it as this
// node's log has it, with the replication factor it got.
func (s *Server) createInCluster(ctx context.Context, name string, parts int32, rf int16, configs map[string]string, timeoutMs int32) (plog.TopicInfo, int16, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout(timeoutMs))
	defer cancel()
	if err := s.cfg.Cluster.CreateTopic(ctx, name, parts, rf, configs); err != nil {
		if errors.Is(err, ErrInvalidReplicationFactor) && rf > 0 {
			// Kafka's words; the cluster's error goes to the log.
			s.logger.Info("create topic: invalid replication factor", "topic", name, "err", err)
			return plog.TopicInfo{}, -1, &kafkaMessage{ErrInvalidReplicationFactor,
				fmt.Sprintf("Replication factor: %d larger than available brokers: %d.", rf, len(s.brokers(ctx)))}
		}
		return plog.TopicInfo{}, -1, err
	}
	info, ok := s.log.Topic(name)
	if !ok {
		return plog.TopicInfo{}, -1, fmt.Errorf("%w: %s created, not yet on this node", plog.ErrUnknownTopic, name)
	}
	if v, ok := s.cfg.Cluster.Partition(name, 0); ok && len(v.Replicas) > 0 {
		rf = int16(len(v.Replicas))
	}
	return info, rf, nil
}
