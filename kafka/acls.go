package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// Shared by the ACL APIs (DescribeAcls 29, CreateAcls 30, DeleteAcls 31).

// aclErrorCode maps an error of the auth service to a Kafka code.
func aclErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, auth.ErrInvalid):
		return errInvalidRequest
	default:
		return kerr.UnknownServerError.Code
	}
}

// aclAdminRefusal returns the error every result of an ACL request gets
// before anything is looked at: SECURITY_DISABLED without an authorizer,
// CLUSTER_AUTHORIZATION_FAILED without op on the cluster; 0 to go on.
// Kafka's SECURITY_DISABLED message differs between DescribeAcls and
// Create/DeleteAcls: disabledMsg is the API's.
func (s *Server) aclAdminRefusal(ctx context.Context, op kmsg.ACLOperation, disabledMsg string) (int16, *string) {
	if s.securityDisabled() {
		return kerr.SecurityDisabled.Code, &disabledMsg
	}
	if !s.allowedCluster(ctx, op) {
		msg := msgClusterAuthz
		return errClusterAuthz, &msg
	}
	return 0, nil
}
