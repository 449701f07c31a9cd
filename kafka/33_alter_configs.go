package kafka

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// AlterConfigs (key 33), v0-v2.
//
// Behavior:
//   - The internal topics' configs are fixed: INVALID_TOPIC_EXCEPTION with a
//     message, validate_only too (Kafka 4.4 would store them; here, and for
//     IncrementalAlterConfigs: internal_topics.go).
//   - Topic: the request's configs replace the topic's whole set of
//     overrides, as Kafka's legacy AlterConfigs does (a config left out goes
//     back to its default). Every value is checked as Kafka 4.4 checks it
//     (INVALID_CONFIG with Kafka's message; a cleanup.policy with compact
//     too); a null value is INVALID_CONFIG. The change is one durable write
//     of the topic's metadata; appends see it at once.
//   - validate_only checks everything and changes nothing.
//   - Cluster mode: a topic's new overrides go to the cluster, which
//     stores them for every node; the answer comes once this node's log
//     has them. Broker configs are this node's (its id).
//   - ALTER_CONFIGS on the topic, else TOPIC_AUTHORIZATION_FAILED (before
//     its existence is looked at); an unknown topic gets
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - Broker "1" (or "", the cluster default): Zombi has no dynamic broker
//     configs (its settings are ZOMBI_* variables read at start). An empty
//     set succeeds; any config gets INVALID_REQUEST, as Kafka answers for a
//     config that cannot be updated dynamically. ALTER_CONFIGS on the
//     cluster, else CLUSTER_AUTHORIZATION_FAILED.
//   - A resource named twice in one request gets INVALID_REQUEST; other
//     resource types INVALID_REQUEST.
//
// Version notes:
//   - v2: flexible versions; nothing else changes.
func init() { register(kmsg.AlterConfigs, 0, 2, (*Server).handleAlterConfigs) }

func (s *Server) handleAlterConfigs(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	seen := map[configResource]int{}
	for _, rr := range req.Resources {
		seen[configResource{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		names := make([]string, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			names = append(names, c.Name)
		}
		if seen[configResource{rr.ResourceType, rr.ResourceName}] > 1 {
			res.ErrorCode, res.ErrorMessage = errInvalidRequest, strp("Duplicate resource "+rr.ResourceName)
		} else {
			res.ErrorCode, res.ErrorMessage = s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, names, req.ValidateOnly,
				func(cur map[string]string) (map[string]string, error) {
					next := make(map[string]string, len(rr.Configs))
					var nulls []string
					for _, c := range rr.Configs {
						if c.Value == nil {
							nulls = append(nulls, c.Name)
							continue
						}
						next[c.Name] = *c.Value
					}
					if len(nulls) > 0 {
						return nil, &topicconfig.InvalidError{Msg: "Null value not supported for topic configs: " + strings.Join(nulls, ",")}
					}
					if err := topicconfig.ValidateAll(next); err != nil {
						return nil, err
					}
					return next, topicconfig.CheckChange(cur, next)
				})
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// configResource names a resource of AlterConfigs and IncrementalAlterConfigs.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

func strp(s string) *string { return &s }

// alterConfigs checks and applies a change of one resource's configs:
// next computes a topic's new overrides from its current ones (and
// validates them). names are the configs the request touches (for the
// broker's answer). It returns the resource's error code and message.
func (s *Server) alterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, names []string, validateOnly bool,
	next func(cur map[string]string) (map[string]string, error)) (int16, *string) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !s.allowed(ctx, kmsg.ACLOperationAlterConfigs, kmsg.ACLResourceTypeTopic, name) {
			return errTopicAuthz, strp(msgTopicAuthz)
		}
		if err := s.refuseInternal("alter the configs of", name); err != nil {
			return errorCode(err), errorMessage(err)
		}
		info, ok := s.log.Topic(name)
		if !ok {
			err := fmt.Errorf("%w: %s", plog.ErrUnknownTopic, name)
			return errorCode(err), errorMessage(err)
		}
		cfgs, err := next(info.Configs)
		switch {
		case err != nil || validateOnly:
		case s.cfg.Cluster != nil:
			cctx, cancel := context.WithTimeout(ctx, adminTimeout(0))
			err = s.cfg.Cluster.SetTopicConfigs(cctx, name, cfgs)
			cancel()
		default:
			_, err = s.log.SetTopicConfigs(name, info.UUID, cfgs)
		}
		if err != nil {
			return errorCode(err), errorMessage(err)
		}
		return 0, nil
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !s.allowedCluster(ctx, kmsg.ACLOperationAlterConfigs) {
			return errClusterAuthz, strp(msgClusterAuthz)
		}
		if name != "" && name != strconv.Itoa(int(s.nodeID())) {
			return errInvalidRequest, strp("unknown broker " + name)
		}
		if typ == kmsg.ConfigResourceTypeBrokerLogger {
			return errInvalidRequest, strp("Zombi has no broker loggers to alter: set ZOMBI_LOG_LEVEL at start")
		}
		if len(names) == 0 {
			return 0, nil
		}
		sort.Strings(names)
		// Kafka 4.4's words, and why.
		return errInvalidRequest, strp(fmt.Sprintf("Cannot update these configs dynamically: [%s] (Zombi's broker settings are ZOMBI_* variables read at start)",
			strings.Join(names, ", ")))
	default:
		return errInvalidRequest, strp("unsupported resource type " + typ.String())
	}
}
