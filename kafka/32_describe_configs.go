package kafka

import (
	"context"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// DescribeConfigs (key 32), v0-v4.
//
// Behavior:
//   - Topics: the configs clients and tools commonly ask for, with Kafka's
//     names, and each one's source: DYNAMIC_TOPIC_CONFIG for the topic's
//     overrides (CreateTopics, AlterConfigs, IncrementalAlterConfigs, REST),
//     STATIC_BROKER_CONFIG where a Zombi setting gives the broker-level value
//     (ZOMBI_HOT_RETENTION_SECS: local.retention.ms; ZOMBI_RETENTION_SECS:
//     retention.ms; ZOMBI_MIN_INSYNC_REPLICAS in cluster mode:
//     min.insync.replicas), DEFAULT_CONFIG otherwise. Topic configs are not
//     read-only. With include_synonyms, each lists the override and then
//     the broker-level name and value, as Kafka does.
//   - Broker "1" (or ""): the broker settings tools look at, as static
//     broker configs. Broker loggers: an empty list.
//   - DESCRIBE_CONFIGS on the topic, else TOPIC_AUTHORIZATION_FAILED; on
//     the cluster for brokers and broker loggers, else
//     CLUSTER_AUTHORIZATION_FAILED.
//   - The internal topics: the overrides Kafka creates them with
//     (cleanup.policy=compact...) over the broker's values.
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

func brokerValue(topicConfig string) func(s *Server) string {
	return func(s *Server) string {
		for _, d := range topicconfig.Describe {
			if d.Name == topicConfig {
				return d.Value(s.log.TopicDefaults())
			}
		}
		return ""
	}
}

var brokerConfigs = []configDef{
	{"advertised.listeners", kmsg.ConfigTypeString, (*Server).advertisedListeners},
	{"auto.create.topics.enable", kmsg.ConfigTypeBoolean, func(s *Server) string { return strconv.FormatBool(s.cfg.AutoCreateTopics) }},
	{"broker.id", kmsg.ConfigTypeInt, func(s *Server) string { return strconv.Itoa(int(s.nodeID())) }},
	{"compression.type", kmsg.ConfigTypeString, constant("producer")},
	{"connections.max.idle.ms", kmsg.ConfigTypeLong, func(s *Server) string { return strconv.FormatInt(s.cfg.IdleTimeout.Milliseconds(), 10) }},
	{"default.replication.factor", kmsg.ConfigTypeInt, constant("1")},
	{"group.initial.rebalance.delay.ms", kmsg.ConfigTypeInt, func(s *Server) string {
		return strconv.FormatInt(s.cfg.GroupInitialRebalanceDelay.Milliseconds(), 10)
	}},
	{"log.cleanup.policy", kmsg.ConfigTypeList, constant("delete")},
	{"log.local.retention.ms", kmsg.ConfigTypeLong, brokerValue("local.retention.ms")},
	{"log.retention.bytes", kmsg.ConfigTypeLong, brokerValue("retention.bytes")},
	{"log.retention.ms", kmsg.ConfigTypeLong, brokerValue("retention.ms")},
	{"log.segment.bytes", kmsg.ConfigTypeInt, constant("1073741824")},
	{"message.max.bytes", kmsg.ConfigTypeInt, brokerValue("max.message.bytes")},
	{"min.insync.replicas", kmsg.ConfigTypeInt, brokerValue("min.insync.replicas")},
	{"num.partitions", kmsg.ConfigTypeInt, func(s *Server) string { return strconv.Itoa(int(s.cfg.DefaultPartitions)) }},
	{"offsets.topic.replication.factor", kmsg.ConfigTypeShort, constant("1")},
	{"socket.request.max.bytes", kmsg.ConfigTypeInt, func(s *Server) string { return strconv.Itoa(int(s.cfg.MaxRequestBytes)) }},
	{"transaction.state.log.replication.factor", kmsg.ConfigTypeShort, constant("1")},
}

// configEntry is one config as DescribeConfigs and CreateTopics report it:
// its value and source, and its synonyms, most specific first (the topic's
// override, then the broker-level value under its broker name).
type configEntry struct {
	name, value string
	typ         kmsg.ConfigType
	src         kmsg.ConfigSource
	synonyms    []configSynonym
}

type configSynonym struct {
	name, value string
	src         kmsg.ConfigSource
}

// configType is Kafka's type of a topic config.
func configType(name string) kmsg.ConfigType {
	switch topicconfig.Type(name) {
	case "INT":
		return kmsg.ConfigTypeInt
	case "LONG":
		return kmsg.ConfigTypeLong
	case "DOUBLE":
		return kmsg.ConfigTypeDouble
	case "BOOLEAN":
		return kmsg.ConfigTypeBoolean
	case "LIST":
		return kmsg.ConfigTypeList
	default:
		return kmsg.ConfigTypeString
	}
}

// eachTopicConfig calls add for every config of a topic with the given
// overrides: the described configs in order (an override as
// DYNAMIC_TOPIC_CONFIG, else the broker-level value: STATIC_BROKER_CONFIG
// when a Zombi setting gives it, else DEFAULT_CONFIG), then the other
// overrides by name.
func (s *Server) eachTopicConfig(overrides map[string]string, add func(e configEntry)) {
	b := s.log.TopicDefaults()
	known := map[string]bool{}
	for _, d := range topicconfig.Describe {
		known[d.Name] = true
		e := configEntry{name: d.Name, typ: configType(d.Name)}
		bsrc := kmsg.ConfigSourceDefaultConfig
		if b.Static[d.Name] != "" {
			bsrc = kmsg.ConfigSourceStaticBrokerConfig
		}
		bval := d.Value(b)
		if v, ok := overrides[d.Name]; ok {
			e.value, e.src = v, kmsg.ConfigSourceDynamicTopicConfig
			e.synonyms = append(e.synonyms, configSynonym{d.Name, v, kmsg.ConfigSourceDynamicTopicConfig})
		} else {
			e.value, e.src = bval, bsrc
		}
		if d.BrokerName != "" { // Zombi's own configs have no broker-level name
			e.synonyms = append(e.synonyms, configSynonym{d.BrokerName, bval, bsrc})
		}
		add(e)
	}
	var extra []string
	for k := range overrides {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		v := overrides[k]
		add(configEntry{name: k, value: v, typ: configType(k), src: kmsg.ConfigSourceDynamicTopicConfig,
			synonyms: []configSynonym{{k, v, kmsg.ConfigSourceDynamicTopicConfig}}})
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
		add := func(e configEntry) {
			if want != nil && !want[e.name] {
				return
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			v := e.value
			c.Name, c.Value, c.ConfigType = e.name, &v, e.typ
			c.Source = e.src
			c.IsDefault = e.src == kmsg.ConfigSourceDefaultConfig
			// Topic configs can be altered (AlterConfigs); broker ones not.
			c.ReadOnly = rr.ResourceType != kmsg.ConfigResourceTypeTopic
			if req.IncludeSynonyms {
				for _, sy := range e.synonyms {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					sv := sy.value
					syn.Name, syn.Value, syn.Source = sy.name, &sv, sy.src
					c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
				}
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
			info, err := s.autoCreate(ctx, rr.ResourceName, false)
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
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(s.nodeID())) {
				res.ErrorCode = errInvalidRequest
				msg := "unknown broker " + rr.ResourceName
				res.ErrorMessage = &msg
				break
			}
			for _, d := range brokerConfigs {
				v := d.val(s)
				add(configEntry{name: d.name, value: v, typ: d.typ, src: kmsg.ConfigSourceStaticBrokerConfig,
					synonyms: []configSynonym{{d.name, v, kmsg.ConfigSourceStaticBrokerConfig}}})
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
