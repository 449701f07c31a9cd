package cluster

import (
	"context"
	"errors"

	"github.com/zombi-dev/zombi/kafka"
)

var errCoordNotImplemented = errors.New("cluster: coordinators on internal partitions not implemented yet")

// CoordinatorOf: kafka.Cluster.
func (r *Runtime) CoordinatorOf(kind int8, key string) (kafka.CoordinatorView, error) {
	return kafka.CoordinatorView{}, kafka.ErrCoordinatorNotAvailable // T2
}

// AppendInternal: kafka.Cluster.
func (r *Runtime) AppendInternal(ctx context.Context, kind int8, part int32, epoch int32, raw []byte) (int64, error) {
	return 0, errCoordNotImplemented // T2
}

// SetCoordinatorHooks: kafka.Cluster.
func (r *Runtime) SetCoordinatorHooks(onLoad func(kind int8, part, epoch int32), onUnload func(kind int8, part int32)) {
	// T2
}
