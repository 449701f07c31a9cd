package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/zombi-dev/zombi/cluster/coordlog"
)

// txnCoordinatorCode is the error code of a transactional request for id
// on this node (handlers 22, 24, 25, 26): 0 when it is the loaded
// coordinator of id, or on one node; NOT_COORDINATOR when another node
// leads id's __transaction_state partition; COORDINATOR_LOAD_IN_PROGRESS
// while this node loads it; COORDINATOR_NOT_AVAILABLE when the partition
// has no leader yet (the topic being created). Kafka's answers, which
// clients retry (re-finding the coordinator on NOT_COORDINATOR). An empty
// id is left to the coordinator (INVALID_REQUEST).
func (s *Server) txnCoordinatorCode(id string) int16 {
	c := s.cfg.Cluster
	if c == nil || id == "" {
		return 0
	}
	v, err := c.CoordinatorOf(int8(coordlog.Transaction), id)
	switch {
	case errors.Is(err, ErrCoordinatorNotAvailable):
		return kerr.CoordinatorNotAvailable.Code
	case err != nil:
		s.logger.Warn("find the transaction coordinator", "transactional_id", id, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	case !v.Local:
		return kerr.NotCoordinator.Code
	case !v.Loaded:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}
