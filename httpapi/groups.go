package httpapi

import (
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
)

// GroupLister is the group coordinator as the REST API sees it:
// *groups.Coordinator (kafka.Server.Groups()) satisfies it. Nil in Config
// means no Kafka door: groups are then known by their committed offsets
// only.
type GroupLister interface {
	List() []groups.GroupInfo
	Describe(group string) (groups.GroupInfo, bool)
}

type groupMemberJSON struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	ClientHost string             `json:"client_host"`
	Assignment map[string][]int32 `json:"assignment,omitempty"`
}

type groupJSON struct {
	Group        string            `json:"group"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol,omitempty"`
	Generation   int32             `json:"generation"`
	Members      []groupMemberJSON `json:"members"`
}

type groupPartitionJSON struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset *int64 `json:"committed_offset"`
	HighWatermark   *int64 `json:"high_watermark"`
	Lag             *int64 `json:"lag"`
	MemberID        string `json:"member_id,omitempty"`
}

func groupView(info groups.GroupInfo) groupJSON {
	g := groupJSON{
		Group: info.Group, State: info.State.String(), ProtocolType: info.ProtocolType,
		Protocol: info.Protocol, Generation: info.Generation, Members: []groupMemberJSON{},
	}
	for _, m := range info.Members {
		gm := groupMemberJSON{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		if info.ProtocolType == "consumer" {
			gm.Assignment, _ = groups.ConsumerAssignment(m.Assignment)
		}
		g.Members = append(g.Members, gm)
	}
	return g
}

// emptyGroup is a group known only by committed offsets.
func emptyGroup(name string) groupJSON {
	return groupJSON{Group: name, State: groups.Empty.String(), Members: []groupMemberJSON{}}
}

// getGroups: GET /consumers: every group, with members or with committed
// offsets only.
func (s *server) getGroups(c *gin.Context) {
	out := []groupListJSON{}
	seen := map[string]bool{}
	// As Kafka's ListGroups: DESCRIBE on the cluster sees every group,
	// otherwise those the caller may DESCRIBE.
	all := s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResource)
	visible := func(g string) bool {
		return all || s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g)
	}
	if s.cfg.Groups != nil {
		for _, info := range s.cfg.Groups.List() {
			seen[info.Group] = true
			if visible(info.Group) {
				out = append(out, groupListJSON{groupJSON: groupView(info)})
			}
		}
	}
	names, err := s.log.Groups()
	if err != nil {
		s.fail(c, err)
		return
	}
	for _, name := range names {
		if !seen[name] && visible(name) {
			out = append(out, groupListJSON{groupJSON: emptyGroup(name)})
		}
	}
	if err := s.totalLags(c, out); err != nil {
		s.fail(c, err)
		return
	}
	// Cluster mode: every node knows the groups it coordinates.
	out = s.mergeGroups(out, s.remoteGroups(c))
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	writeValue(c, http.StatusOK, map[string]any{"groups": out, "count": len(out)})
}

// getGroup: GET /consumers/{g}: the group and, per partition it has
// committed or is assigned, the committed offset, high watermark and lag.
func (s *server) getGroup(c *gin.Context) {
	group, err := groupParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var (
		view   groupJSON
		active bool
	)
	if s.cfg.Groups != nil {
		var info groups.GroupInfo
		if info, active = s.cfg.Groups.Describe(group); active {
			view = groupView(info)
		}
	}
	offs, err := s.log.GroupOffsets(group)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !active && len(offs) == 0 {
		s.fail(c, notFound("no consumer group %s (no members, no committed offsets)", group))
		return
	}
	if !active {
		view = emptyGroup(group)
	}
	parts, total := s.groupPartitions(c, view, offs)
	writeValue(c, http.StatusOK, struct {
		groupJSON
		Partitions []groupPartitionJSON `json:"partitions"`
		TotalLag   int64                `json:"total_lag"`
	}{view, parts, total})
}

// groupPartitions is a group's partitions (committed or assigned) the
// caller may DESCRIBE, with committed offset, high watermark and lag, sorted
// by topic and partition, and the sum of their lags.
func (s *server) groupPartitions(c *gin.Context, view groupJSON, offs []plog.CommittedOffset) ([]groupPartitionJSON, int64) {
	type tp struct {
		topic string
		part  int32
	}
	rows := map[tp]*groupPartitionJSON{}
	for _, o := range offs {
		off := o.Offset
		rows[tp{o.Topic, o.Partition}] = &groupPartitionJSON{Topic: o.Topic, Partition: o.Partition, CommittedOffset: &off}
	}
	for _, m := range view.Members {
		for topic, parts := range m.Assignment {
			for _, p := range parts {
				r := rows[tp{topic, p}]
				if r == nil {
					r = &groupPartitionJSON{Topic: topic, Partition: p}
					rows[tp{topic, p}] = r
				}
				r.MemberID = m.MemberID
			}
		}
	}
	parts := make([]groupPartitionJSON, 0, len(rows))
	var total int64
	for _, r := range rows {
		if !s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, r.Topic) {
			continue // as Kafka's OffsetFetch: not shown at all
		}
		if start, hwm, err := s.log.Offsets(r.Topic, r.Partition); err == nil {
			h := hwm
			r.HighWatermark = &h
			from := start // nothing committed: everything retained is behind
			if r.CommittedOffset != nil {
				from = *r.CommittedOffset
			}
			lag := max(0, hwm-from)
			r.Lag = &lag
			total += lag
		}
		parts = append(parts, *r)
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Topic != parts[j].Topic {
			return parts[i].Topic < parts[j].Topic
		}
		return parts[i].Partition < parts[j].Partition
	})
	return parts, total
}

var _ GroupLister = (*groups.Coordinator)(nil)
