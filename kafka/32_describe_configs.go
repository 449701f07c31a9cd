package kafka

import (
	"context"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs (key 32), v0-v4.
//
// Behavior:
//   - Topics: the configs clients and tools commonly ask for, with Kafka's
//     names, Zombi's effective values as defaults, and a topic's own configs
//     (from CreateTopics) as DYNAMIC_TOPIC_CONFIG overrides.
//   - Broker "1" (or ""): the broker settings tools look at, as static
//     broker configs. Broker loggers: an empty list.
//   - DESCRIBE_CONFIGS on the topic, else TOPIC_AUTHORIZATION_FAILED; on
//     the cluster for brokers and broker loggers, else
//     CLUSTER_AUTHORIZATION_FAILED.
//   - Unknown topics get UNKNOWN_TOPIC_OR_PARTITION, other brokers or
//     resource types INVALID_REQUEST.
//
// Version notes:
//   - v1+: source and synonyms (the entry itself) when asked for.
//   - v3+: config types; no documentation.
func init() { register(kmsg.DescribeConfigs, 0, 4, (*Server).handleDescribeConfigs) }

type configDef struct {
	name string
	typ  kmsg.ConfigType
	val  func(s *Server) string
}

func constant(v string) func(*Server) string { return func(*Server) string { return v } }

// topicConfigs are the topic configs Zombi reports, with its effective
// defaults: data is never deleted by time or size (the cold tier keeps it).
var topicConfigs = []configDef{
	{"cleanup.policy", kmsg.ConfigTypeList, constant("delete")},
	{"compression.type", kmsg.ConfigTypeString, constant("producer")},
	{"delete.retention.ms", kmsg.ConfigTypeLong, constant("86400000")},
	{"max.message.bytes", kmsg.ConfigTypeInt, constant(strconv.Itoa(defaultMaxMessageBytes))},
	{"message.timestamp.type", kmsg.ConfigTypeString, constant("CreateTime")},
	{"min.insync.replicas", kmsg.ConfigTypeInt, constant("1")},
	{"retention.bytes", kmsg.ConfigTypeLong, constant("-1")},
	{"retention.ms", kmsg.ConfigTypeLong, constant("-1")},
	{"segment.bytes", kmsg.ConfigTypeInt, constant("1073741824")},
	{"segment.ms", kmsg.ConfigTypeLong, constant("604800000")},
	{"unclean.leader.election.enable", kmsg.ConfigTypeBoolean, constant("false")},
}

var brokerConfigs = []configDef{
	{"advertised.listeners", kmsg.ConfigTypeString, (*Server).advertisedListeners},
	{"auto.create.topics.enable", kmsg.ConfigTypeBoolean, func(s *Server) string { return strconv.FormatBool(s.cfg.AutoCreateTopics) }},
	{"broker.id", kmsg.ConfigTypeInt, constant(strconv.Itoa(NodeID))},
	{"compression.type", kmsg.ConfigTypeString, constant("producer")},
	{"connections.max.idle.ms", kmsg.ConfigTypeLong, func(s *Server) string { return strconv.FormatInt(s.cfg.IdleTimeout.Milliseconds(), 10) }},
	{"default.replication.factor", kmsg.ConfigTypeInt, constant("1")},
	{"group.initial.rebalance.delay.ms", kmsg.ConfigTypeInt, func(s *Server) string {
		return strconv.FormatInt(s.cfg.GroupInitialRebalanceDelay.Milliseconds(), 10)
	}},
	{"log.cleanup.policy", kmsg.ConfigTypeList, constant("delete")},
	{"log.retention.bytes", kmsg.ConfigTypeLong, constant("-1")},
	{"log.retention.ms", kmsg.ConfigTypeLong, constant("-1")},
	{"log.segment.bytes", kmsg.ConfigTypeInt, constant("1073741824")},
	{"message.max.bytes", kmsg.ConfigTypeInt, constant(strconv.Itoa(defaultMaxMessageBytes))},
	{"min.insync.replicas", kmsg.ConfigTypeInt, constant("1")},
	{"num.partitions", kmsg.ConfigTypeInt, func(s *Server) string { return strconv.Itoa(int(s.cfg.DefaultPartitions)) }},
	{"offsets.topic.replication.factor", kmsg.ConfigTypeShort, constant("1")},
	{"socket.request.max.bytes", kmsg.ConfigTypeInt, func(s *Server) string { return strconv.Itoa(int(s.cfg.MaxRequestBytes)) }},
	{"transaction.state.log.replication.factor", kmsg.ConfigTypeShort, constant("1")},
}

// eachTopicConfig calls add for every config of a topic with the given
// overrides: the known configs in order (an override as
// DYNAMIC_TOPIC_CONFIG, else the default), then unknown overrides by name.
func (s *Server) eachTopicConfig(overrides map[string]string, add func(name, value string, typ kmsg.ConfigType, src kmsg.ConfigSource)) {
	known := map[string]bool{}
	for _, d := range topicConfigs {
		known[d.name] = true
		if v, ok := overrides[d.name]; ok {
			add(d.name, v, d.typ, kmsg.ConfigSourceDynamicTopicConfig)
		} else {
			add(d.name, d.val(s), d.typ, kmsg.ConfigSourceDefaultConfig)
		}
	}
	var extra []string
	for k := range overrides {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		add(k, overrides[k], kafkaConfigType(k), kmsg.ConfigSourceDynamicTopicConfig)
	}
}

func (s *Server) handleDescribeConfigs(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var want map[string]bool
		if rr.ConfigNames != nil {
			want = map[string]bool{}
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		add := func(name, value string, typ kmsg.ConfigType, src kmsg.ConfigSource) {
			if want != nil && !want[name] {
				return
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			v := value
			c.Name, c.Value, c.ConfigType = name, &v, typ
			c.Source = src
			c.IsDefault = src == kmsg.ConfigSourceDefaultConfig
			c.ReadOnly = src != kmsg.ConfigSourceDynamicTopicConfig
			if req.IncludeSynonyms {
				syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				syn.Name, syn.Value, syn.Source = name, &v, src
				c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
			}
			res.Configs = append(res.Configs, c)
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if !s.allowed(ctx, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, rr.ResourceName) {
				msg := msgTopicAuthz
				res.ErrorCode, res.ErrorMessage = errTopicAuthz, &msg
				break
			}
			info, err := s.autoCreate(rr.ResourceName, false)
			if err != nil {
				res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			s.eachTopicConfig(info.Configs, add)
		case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
			if !s.allowedCluster(ctx, kmsg.ACLOperationDescribeConfigs) {
				msg := msgClusterAuthz
				res.ErrorCode, res.ErrorMessage = errClusterAuthz, &msg
				break
			}
			if rr.ResourceType == kmsg.ConfigResourceTypeBrokerLogger {
				break // no loggers to describe
			}
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(NodeID) {
				res.ErrorCode = errInvalidRequest
				msg := "unknown broker " + rr.ResourceName
				res.ErrorMessage = &msg
				break
			}
			for _, d := range brokerConfigs {
				add(d.name, d.val(s), d.typ, kmsg.ConfigSourceStaticBrokerConfig)
			}
		default:
			res.ErrorCode = errInvalidRequest
			msg := "unsupported resource type " + rr.ResourceType.String()
			res.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}
