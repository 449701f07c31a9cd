package kafka

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// Authorization of requests, Kafka's model (KIP-11, the "Operations and
// Resources on Protocols" table of Kafka's documentation; README.md has
// Zombi's table). Handlers ask allowed() once per resource per request; the
// decision is auth.Service.Authorize's (lock-free, allocation-free, tens of
// nanoseconds: BenchmarkAllowed), which a per-connection cache could not
// beat by much (it would be a map lookup too), so none is kept. With
// Config.Auth nil or authorization off every check is true and costs two
// loads.

// Error codes of refused requests.
var (
	errTopicAuthz   = kerr.TopicAuthorizationFailed.Code
	errGroupAuthz   = kerr.GroupAuthorizationFailed.Code
	errClusterAuthz = kerr.ClusterAuthorizationFailed.Code
	errTxnIDAuthz   = kerr.TransactionalIDAuthorizationFailed.Code
)

// Kafka's Errors.message() of the refusals, where a response carries one.
const (
	msgTopicAuthz   = "Topic authorization failed."
	msgClusterAuthz = "Cluster authorization failed."
)

// errAuthorizationFailed is the message of refusals in responses that carry
// one for each resource (Kafka's "Authorization failed.").
//
//lint:ignore ST1005 Kafka's exact message
var errAuthorizationFailed = errors.New("Authorization failed.")

// authorizedOpsOmitted is the "not requested" value of authorized
// operations fields (INT32_MIN).
const authorizedOpsOmitted = math.MinInt32

// authz returns the service when ACLs are enforced, nil when every request
// is allowed.
func (s *Server) authz() *auth.Service {
	if a := s.cfg.Auth; a != nil && a.Enabled() {
		return a
	}
	return nil
}

// allowed reports whether the request's principal may do op on the
// resource.
func (s *Server) allowed(ctx context.Context, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	a := s.authz()
	if a == nil {
		return true
	}
	p, host := s.requester(ctx)
	return a.Authorize(p, host, op, rt, name)
}

// allowedCluster is allowed on the one Cluster resource.
func (s *Server) allowedCluster(ctx context.Context, op kmsg.ACLOperation) bool {
	return s.allowed(ctx, op, kmsg.ACLResourceTypeCluster, auth.ClusterName)
}

// principalByClientID is set by tests only: a request's principal is then
// User:<client id>, so that one server sees several principals without SASL
// while every request still takes the real path.
var principalByClientID atomic.Bool

// requester returns the principal of the request and the client's bare IP
// address (connInfo keeps Kafka's "/IP" form for DescribeGroups).
func (s *Server) requester(ctx context.Context) (auth.Principal, string) {
	ci := connInfoFrom(ctx)
	if ci == nil {
		return auth.Anonymous, ""
	}
	host := strings.TrimPrefix(ci.host, "/")
	if principalByClientID.Load() && ci.clientID != "" {
		return auth.User(ci.clientID), host
	}
	if ci.principal.Name == "" {
		return auth.Anonymous, host
	}
	return ci.principal, host
}

// mayCreateTopic reports whether the principal may create the topic:
// CREATE on the cluster or on the topic, as Kafka's CreateTopics and
// Metadata auto-creation check.
func (s *Server) mayCreateTopic(ctx context.Context, name string) bool {
	return s.allowedCluster(ctx, kmsg.ACLOperationCreate) || s.allowed(ctx, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, name)
}

// mayProduceIdempotently is InitProducerId's check without a transactional
// id: IDEMPOTENT_WRITE on the cluster, or WRITE on at least one topic.
func (s *Server) mayProduceIdempotently(ctx context.Context) bool {
	a := s.authz()
	if a == nil || s.allowedCluster(ctx, kmsg.ACLOperationIdempotentWrite) {
		return true
	}
	p, host := s.requester(ctx)
	return a.AuthorizeByResourceType(p, host, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic)
}

// supportedOps are the operations of each resource type that authorized
// operations fields report (Kafka's AclEntry.supportedOperations).
var supportedOps = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete},
	kmsg.ACLResourceTypeCluster: {kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
		kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe},
}

// authorizedOps is the bit field (1 << operation code) of the supported
// operations the principal may do on the resource, as Kafka computes it:
// every supported operation when nothing is enforced.
func (s *Server) authorizedOps(ctx context.Context, rt kmsg.ACLResourceType, name string) int32 {
	var bits int32
	for _, op := range supportedOps[rt] {
		if s.allowed(ctx, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// clusterAuthorizedOps answers include_cluster_authorized_operations
// (Metadata v8-v10, DescribeCluster): 0 without DESCRIBE on the cluster.
func (s *Server) clusterAuthorizedOps(ctx context.Context) int32 {
	if !s.allowedCluster(ctx, kmsg.ACLOperationDescribe) {
		return 0
	}
	return s.authorizedOps(ctx, kmsg.ACLResourceTypeCluster, auth.ClusterName)
}

// securityDisabled reports whether the ACL APIs answer SECURITY_DISABLED:
// no authorizer, as a Kafka broker without authorizer.class.name.
func (s *Server) securityDisabled() bool { return s.authz() == nil }

// Kafka's messages for SECURITY_DISABLED: DescribeAcls (also used by the
// SCRAM APIs when Zombi runs without the auth service), CreateAcls and
// DeleteAcls.
const (
	msgSecurityDisabled = "No Authorizer is configured on the broker"
	msgNoAuthorizer     = "No Authorizer is configured."
)
