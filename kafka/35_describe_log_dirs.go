package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logDirName is the one log directory Zombi reports: every partition lives
// in the node's RocksDB (hot) and the bucket (cold), not in a directory of
// its own.
const logDirName = "zombi"

// DescribeLogDirs (key 35), v0-v5.
//
// Behavior:
//   - One log directory, "zombi", holding every partition this node is a
//     replica of (one node: every partition; cluster mode: those whose
//     replicas list this node), of the topics asked (null: all; unknown
//     topics and partitions are left out, as Kafka does).
//   - Size and offset lag are 0: the hot tier is one RocksDB, not sized
//     per partition. Kafka's kafka-reassign-partitions.sh asks it to print
//     the current assignment; "log_dirs" other than "any" are not supported.
//   - DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED (v3+ at the
//     top level; older versions get no directories, as Kafka).
//
// Version notes:
//   - v3 adds the top-level error code; v4 total and usable bytes (-1:
//     unknown, Kafka's UNKNOWN_VOLUME_BYTES); v5 is_cordoned (false).
func init() { register(kmsg.DescribeLogDirs, 0, 5, (*Server).handleDescribeLogDirs) }

func (s *Server) handleDescribeLogDirs(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !s.allowedCluster(ctx, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = logDirName
	dir.TotalBytes, dir.UsableBytes = -1, -1
	asked := map[string][]int32{}
	for _, rt := range req.Topics {
		asked[rt.Topic] = append(asked[rt.Topic], rt.Partitions...)
	}
	for _, info := range s.log.Topics() {
		want, named := asked[info.Name]
		if req.Topics != nil && !named {
			continue
		}
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = info.Name
		for p := range info.Partitions {
			if req.Topics != nil && !slices.Contains(want, p) || !s.holdsReplica(info.Name, p) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

// holdsReplica: this node holds a replica of the partition.
func (s *Server) holdsReplica(topic string, p int32) bool {
	if s.cfg.Cluster == nil {
		return true
	}
	v, ok := s.cfg.Cluster.Partition(topic, p)
	return ok && slices.Contains(v.Replicas, s.cfg.Cluster.LocalID())
}
