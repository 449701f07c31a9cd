package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// IncrementalAlterConfigs (key 44), v0-v1.
//
// Behavior:
//   - The internal topics' configs are fixed: INVALID_TOPIC_EXCEPTION (as
//     AlterConfigs).
//   - Topic: SET and DELETE change one override each (deleting one that is
//     not set is no error); APPEND and SUBTRACT work on list configs
//     (cleanup.policy) from the override or else the default, as Kafka, and
//     get INVALID_CONFIG ("Can't APPEND to key K because its type is not
//     LIST.", Kafka 4.4's words) on any other. Values are checked as Kafka 4.4 checks them;
//     a cleanup.policy with compact is refused (Zombi does not compact).
//     All of a resource's changes land in one durable write, or none.
//   - A config named twice in one resource: INVALID_REQUEST, as Kafka.
//   - Broker: a DELETE of a replication throttle (leader. and
//     follower.replication.throttled.rate,
//     replica.alter.log.dirs.io.max.bytes.per.second) succeeds and changes
//     nothing: Zombi has no throttles, so none is ever set (Kafka 4.4's
//     kafka-reassign-partitions --verify clears them on every broker).
//   - validate_only, authorization, brokers and cluster mode as
//     AlterConfigs (33_alter_configs.go): ALTER_CONFIGS on the topic or
//     the cluster; in cluster mode the new overrides go to the cluster.
//
// Version notes:
//   - v1: flexible versions; nothing else changes.
func init() {
	register(kmsg.IncrementalAlterConfigs, 0, 1, (*Server).handleIncrementalAlterConfigs)
}

// replicationThrottles are Kafka's broker-level replication throttles.
var replicationThrottles = map[string]bool{
	"leader.replication.throttled.rate":              true,
	"follower.replication.throttled.rate":            true,
	"replica.alter.log.dirs.io.max.bytes.per.second": true,
}

func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	seen := map[configResource]int{}
	for _, rr := range req.Resources {
		seen[configResource{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		names := make([]string, 0, len(rr.Configs))
		changes := make([]topicconfig.Change, 0, len(rr.Configs))
		dup := ""
		count := map[string]int{}
		for _, c := range rr.Configs {
			if rr.ResourceType == kmsg.ConfigResourceTypeBroker && c.Op == kmsg.IncrementalAlterConfigOpDelete && replicationThrottles[c.Name] {
				continue // never set: deleting it is a no-op (kafka-reassign-partitions --verify does)
			}
			names = append(names, c.Name)
			if count[c.Name]++; count[c.Name] == 2 && dup == "" {
				dup = c.Name
			}
			ch := topicconfig.Change{Name: c.Name, Op: topicconfig.Op(c.Op)}
			if c.Value != nil {
				ch.Value = *c.Value
			}
			changes = append(changes, ch)
		}
		switch {
		case seen[configResource{rr.ResourceType, rr.ResourceName}] > 1:
			res.ErrorCode, res.ErrorMessage = errInvalidRequest, strp("Duplicate resource "+rr.ResourceName)
		case dup != "":
			res.ErrorCode, res.ErrorMessage = errInvalidRequest, strp("Error due to duplicate config keys") // Kafka's words
		default:
			res.ErrorCode, res.ErrorMessage = s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, names, req.ValidateOnly,
				func(cur map[string]string) (map[string]string, error) {
					for _, c := range rr.Configs {
						if c.Value == nil && c.Op != kmsg.IncrementalAlterConfigOpDelete {
							return nil, &topicconfig.InvalidError{Msg: "Null value not supported for topic configs: " + c.Name}
						}
					}
					return topicconfig.Apply(cur, changes, s.log.TopicDefaults())
				})
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}
