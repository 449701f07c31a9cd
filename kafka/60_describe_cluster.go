package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster (key 60), v0-v2.
//
// Behavior:
//   - One broker, node 1 at the advertised address, which is also the
//     controller; the same answer for endpoint type brokers or controllers.
//   - Needs no ACL (as Kafka). The cluster's authorized operations when
//     asked for: 0 without DESCRIBE on the cluster.
func init() { register(kmsg.DescribeCluster, 0, 2, (*Server).handleDescribeCluster) }

func (s *Server) handleDescribeCluster(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	resp.ClusterID = ClusterID
	resp.ControllerID = NodeID
	host, port := s.advertisedHostPort(ctx)
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = NodeID, host, port
	resp.Brokers = append(resp.Brokers, b)
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = s.clusterAuthorizedOps(ctx)
	}
	return resp, nil
}
