package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster (key 60), v0-v2.
//
// Behavior:
//   - One node: one broker, node 1 at the advertised address, which is
//     also the controller. Cluster mode: every live node (with its rack)
//     at its address on the client's listener, and the controller id (-1
//     when none is known), as Metadata. The same answer for endpoint type
//     brokers or controllers (Zombi nodes are both).
//   - Needs no ACL (as Kafka). The cluster's authorized operations when
//     asked for: 0 without DESCRIBE on the cluster.
func init() { register(kmsg.DescribeCluster, 0, 2, (*Server).handleDescribeCluster) }

func (s *Server) handleDescribeCluster(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	resp.ClusterID = ClusterID
	resp.ControllerID = s.controllerID()
	for _, n := range s.brokers(ctx) {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = n.ID, n.Host, n.Port, rackPtr(n.Rack)
		resp.Brokers = append(resp.Brokers, b)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = s.clusterAuthorizedOps(ctx)
	}
	return resp, nil
}
