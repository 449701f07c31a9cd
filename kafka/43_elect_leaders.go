package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// ElectLeaders (key 43), v0-v2.
//
// Behavior:
//   - PREFERRED (type 0): each partition whose first replica is live, in
//     the ISR and not the leader gets it as leader, epoch + 1 (KIP-460);
//     ELECTION_NOT_NEEDED when it leads already,
//     PREFERRED_LEADER_NOT_AVAILABLE when it is not live or not in sync.
//   - UNCLEAN (type 1), allowed whatever unclean.leader.election.enable
//     says (an operator asks for it, as in Kafka): a partition without a
//     live leader gets its first live in-sync replica, else its first live
//     replica alone in the ISR (records only the dead replicas had are
//     lost); ELECTION_NOT_NEEDED when a live leader exists,
//     ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live. Not on the
//     internal topics (cluster mode): a leaderless one gets
//     INVALID_TOPIC_EXCEPTION, as no commit acknowledged by its coordinator
//     may be lost.
//   - Null topics: every partition of every topic, and only the partitions
//     whose election ran or failed are answered (ELECTION_NOT_NEEDED is
//     left out, as Kafka's controller does); named partitions are all
//     answered, an unknown one UNKNOWN_TOPIC_OR_PARTITION.
//   - One node (no cluster): node 1 leads every partition: ELECTION_NOT_NEEDED.
//   - ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED (top level
//     from v1, and for every partition named).
//
// Version notes:
//   - v0 has no election type (preferred) and no top-level error code.
//   - v2 is the flexible version.
func init() { register(kmsg.ElectLeaders, 0, 2, (*Server).handleElectLeaders) }

func (s *Server) handleElectLeaders(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	unclean := req.Version >= 1 && req.ElectionType == 1
	if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = errInvalidRequest
		return resp, nil
	}
	authorized := s.allowedCluster(ctx, kmsg.ACLOperationAlter)
	if !authorized {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		if req.Topics == nil {
			return resp, nil
		}
	}
	all := req.Topics == nil
	topics := req.Topics
	if all {
		for _, info := range s.log.Topics() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic = info.Name
			for p := range info.Partitions {
				rt.Partitions = append(rt.Partitions, p)
			}
			topics = append(topics, rt)
		}
	}
	deadline := time.Now().Add(adminTimeout(req.TimeoutMillis))
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, rt := range topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			var err error
			if !authorized {
				sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			} else {
				err = s.electLeader(cctx, rt.Topic, p, unclean)
			}
			if all && errors.Is(err, ErrElectionNotNeeded) {
				continue
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.ErrorMessage = errorMessage(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if !all || len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp, nil
}

// electLeader runs one partition's election.
func (s *Server) electLeader(ctx context.Context, topic string, p int32, unclean bool) error {
	if s.cfg.Cluster == nil {
		info, ok := s.lookupTopic(topic)
		if !ok || p < 0 || p >= info.Partitions {
			return fmt.Errorf("%w: %s-%d", plog.ErrUnknownTopic, topic, p)
		}
		return fmt.Errorf("%w: node %d leads %s-%d (one node)", ErrElectionNotNeeded, NodeID, topic, p)
	}
	if unclean && plog.IsInternalTopic(topic) {
		// The coordinators acknowledged what the ISR holds: an out-of-sync
		// leader would lose commits and transaction states.
		if v, ok := s.cfg.Cluster.Partition(topic, p); !ok || v.Leader < 0 {
			return internalTopicRefusal{fmt.Sprintf("Cannot run an unclean election of internal topic %s: its acknowledged commits would be lost", topic)}
		}
	}
	return s.cfg.Cluster.ElectLeader(ctx, topic, p, unclean)
}
