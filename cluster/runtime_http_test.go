package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// TestCoordHTTPError: a coordinator append's errors reach the REST API as
// its retriable coordinator errors (the partition moved: not coordinator;
// too few in-sync replicas, no leader, etcd away: not available), the
// others unchanged.
func TestCoordHTTPError(t *testing.T) {
	other := errors.New("disk on fire")
	for _, c := range []struct {
		in   error
		want error
	}{
		{kafka.ErrNotLeader, httpapi.ErrNotCoordinator},
		{fmt.Errorf("x: %w", plog.ErrNotLeader), httpapi.ErrNotCoordinator},
		{kafka.ErrFencedLeaderEpoch, httpapi.ErrNotCoordinator},
		{kafka.ErrUnknownLeaderEpoch, httpapi.ErrNotCoordinator},
		{kafka.ErrNotEnoughReplicas, httpapi.ErrCoordinatorNotAvailable},
		{kafka.ErrNotEnoughReplicasAfterAppend, httpapi.ErrCoordinatorNotAvailable},
		{kafka.ErrCoordinatorNotAvailable, httpapi.ErrCoordinatorNotAvailable},
		{meta.ErrUnavailable, httpapi.ErrCoordinatorNotAvailable},
		{context.DeadlineExceeded, context.DeadlineExceeded},
		{other, other},
	} {
		if got := coordHTTPError(c.in); !errors.Is(got, c.want) {
			t.Errorf("coordHTTPError(%v) = %v, want it to wrap %v", c.in, got, c.want)
		}
	}
	if coordHTTPError(nil) != nil {
		t.Error("coordHTTPError(nil) is not nil")
	}
}
