package kafka

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
)

// ListGroups (key 16), v0-v5.
//
// Behavior:
//   - Groups with members (from the coordinator) and groups known only by
//     committed offsets (state Empty, protocol type ""), each once, by name.
//   - All of them with DESCRIBE on the cluster, else those with DESCRIBE on
//     the group.
//   - Cluster mode: the groups of the __consumer_offsets partitions this
//     node leads and has loaded, as Kafka (admin clients ask every broker
//     and merge).
//
// Version notes:
//   - v3 flexible; v4+ states filter (case-insensitive); v5+ types filter:
//     every Zombi group is "classic".
func init() { register(kmsg.ListGroups, 0, 5, (*Server).handleListGroups) }

const groupTypeClassic = "classic"

func (s *Server) handleListGroups(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	// Kafka lists every group to a principal with DESCRIBE on the cluster,
	// else the groups it may DESCRIBE.
	all := s.allowedCluster(ctx, kmsg.ACLOperationDescribe)
	add := func(name, state, protocolType string) {
		if !s.groupListed(name) {
			return // another node's group (cluster mode)
		}
		if !all && !s.allowed(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, name) {
			return
		}
		if req.Version >= 4 && !match(req.StatesFilter, state) || req.Version >= 5 && !match(req.TypesFilter, groupTypeClassic) {
			return
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = name, protocolType, state, groupTypeClassic
		resp.Groups = append(resp.Groups, g)
	}
	seen := map[string]bool{}
	for _, info := range s.groups.List() {
		seen[info.Group] = true
		add(info.Group, info.State.String(), info.ProtocolType)
	}
	names, err := s.log.Groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		resp.Groups = nil
		return resp, nil
	}
	for _, name := range names {
		if !seen[name] {
			add(name, "Empty", "")
		}
	}
	return resp, nil
}

// Groups returns the group coordinator, for views of groups outside the
// Kafka door (the REST API's GET /consumers).
func (s *Server) Groups() *groups.Coordinator { return s.groups }
