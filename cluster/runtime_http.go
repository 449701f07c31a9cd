package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// HTTP is what the REST API asks of cluster mode (httpapi.Config.Cluster):
// the runtime with its errors in the REST API's terms.
func (r *Runtime) HTTP() httpapi.Cluster { return httpDoor{r} }

type httpDoor struct{ r *Runtime }

var _ httpapi.Cluster = httpDoor{}

func (d httpDoor) LocalID() int32 { return d.r.cfg.NodeID }

// Leader is the catalog's leader of the partition and its REST base URL
// ("" when that node is not registered now).
func (d httpDoor) Leader(topic string, p int32) (int32, string, bool) {
	st, _, ok := d.r.cat.Partition(topic, p)
	if !ok {
		return -1, "", false
	}
	if st.Leader < 0 {
		return -1, "", true
	}
	n, live := d.r.nodeRecord(st.Leader)
	if !live {
		return st.Leader, "", true
	}
	return st.Leader, n.HTTP, true
}

// CheckWrite is an acks=all produce check.
func (d httpDoor) CheckWrite(topic string, p int32) error {
	return httpError(d.r.rm.CheckProduce(topic, p, -1, true))
}

func (d httpDoor) AwaitReplicated(ctx context.Context, topic string, p int32, lastOffset int64) error {
	return httpError(d.r.rm.AwaitReplicated(ctx, topic, p, lastOffset))
}

func (d httpDoor) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	return httpError(d.r.cat.CreateTopic(ctx, name, partitions, rf, configs))
}

func (d httpDoor) DeleteTopic(ctx context.Context, name string) error {
	return httpError(d.r.cat.DeleteTopic(ctx, name))
}

func (d httpDoor) AddPartitions(ctx context.Context, name string, total int32) error {
	return httpError(d.r.cat.AddPartitions(ctx, name, total))
}

func (d httpDoor) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	return httpError(d.r.cat.SetTopicConfigs(ctx, name, configs))
}

// httpError maps the replica manager's and the catalog's errors onto the
// REST API's (its one table turns them into statuses); the text stays.
func httpError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafka.ErrNotLeader), errors.Is(err, kafka.ErrFencedLeaderEpoch),
		errors.Is(err, kafka.ErrUnknownLeaderEpoch), errors.Is(err, kafka.ErrReplicaNotAvailable):
		return fmt.Errorf("%v: %w", err, plog.ErrNotLeader)
	case errors.Is(err, kafka.ErrNotEnoughReplicas), errors.Is(err, kafka.ErrNotEnoughReplicasAfterAppend):
		return fmt.Errorf("%v: %w", err, httpapi.ErrNotEnoughReplicas)
	case errors.Is(err, kafka.ErrInvalidReplicationFactor):
		return fmt.Errorf("%v: %w", err, httpapi.ErrClusterInvalid)
	case errors.Is(err, meta.ErrUnavailable), errors.Is(err, meta.ErrConflict):
		return fmt.Errorf("%v: %w", err, httpapi.ErrClusterUnavailable)
	}
	return err
}

// Describe is GET /cluster: the live nodes, then the dead ones that
// partitions still name as replicas (id only, alive false), and every
// topic's partitions as the catalog has them.
func (d httpDoor) Describe() httpapi.ClusterInfo {
	r := d.r
	in := httpapi.ClusterInfo{ClusterID: kafka.ClusterID, Controller: r.node.ControllerID(), Nodes: []httpapi.ClusterNode{}, Topics: []httpapi.ClusterTopic{}}
	live := map[int32]bool{}
	for _, n := range r.node.Nodes() {
		cn := httpapi.ClusterNode{ID: n.ID, Kafka: []httpapi.ClusterListener{}, HTTP: n.HTTP, Rack: n.Rack, Alive: true}
		for _, l := range n.Listeners {
			cn.Kafka = append(cn.Kafka, httpapi.ClusterListener{Name: l.Name, Host: l.Host, Port: l.Port})
		}
		in.Nodes = append(in.Nodes, cn)
		live[n.ID] = true
	}
	dead := map[int32]bool{}
	names := r.cat.TopicNames()
	slices.Sort(names)
	for _, name := range names {
		rec, _, ok := r.cat.Topic(name)
		if !ok {
			continue
		}
		t := httpapi.ClusterTopic{Name: name, Partitions: make([]httpapi.ClusterPartition, 0, rec.Partitions)}
		for p := range rec.Partitions {
			st, _, ok := r.cat.Partition(name, p)
			if !ok {
				continue
			}
			cp := httpapi.ClusterPartition{Partition: p, Leader: st.Leader, LeaderEpoch: st.LeaderEpoch,
				Replicas: slices.Clone(st.Replicas), ISR: slices.Clone(st.ISR), Offline: []int32{}}
			if cp.Replicas == nil {
				cp.Replicas = []int32{}
			}
			if cp.ISR == nil {
				cp.ISR = []int32{}
			}
			for _, id := range st.Replicas {
				if !live[id] {
					cp.Offline = append(cp.Offline, id)
					dead[id] = true
				}
			}
			t.Partitions = append(t.Partitions, cp)
		}
		in.Topics = append(in.Topics, t)
	}
	for _, id := range slices.Sorted(maps.Keys(dead)) {
		in.Nodes = append(in.Nodes, httpapi.ClusterNode{ID: id, Alive: false})
	}
	slices.SortFunc(in.Nodes, func(a, b httpapi.ClusterNode) int { return int(a.ID - b.ID) })
	return in
}

// GroupCoordinator is the leader of the group's __consumer_offsets
// partition, as CoordinatorOf (the Kafka door's FindCoordinator) sees it.
func (d httpDoor) GroupCoordinator(group string) (httpapi.GroupCoord, error) {
	v, err := d.r.CoordinatorOf(int8(coordlog.Group), group)
	if err != nil {
		return httpapi.GroupCoord{}, fmt.Errorf("%v: %w", err, httpapi.ErrCoordinatorNotAvailable)
	}
	gc := httpapi.GroupCoord{Node: v.Leader, Partition: v.Partition, Epoch: v.Epoch, Local: v.Local, Loaded: v.Loaded}
	if !v.Local {
		if n, live := d.r.nodeRecord(v.Leader); live {
			gc.URL = n.HTTP
		}
	}
	return gc, nil
}

// CommitGroupOffsets appends one OffsetCommit batch at the coordinator
// epoch, as the Kafka door's OffsetCommit.
func (d httpDoor) CommitGroupOffsets(ctx context.Context, gc httpapi.GroupCoord, offs []plog.CommittedOffset) error {
	if len(offs) == 0 {
		return nil
	}
	raw := coordlog.OffsetBatch(offs, nil, time.Now().UnixMilli())
	_, err := d.r.AppendInternal(ctx, int8(coordlog.Group), gc.Partition, gc.Epoch, raw)
	return coordHTTPError(err)
}

// DeleteGroupOffsets appends tombstones (and, whole, the group's
// GroupMetadataKey tombstone, as Kafka's DeleteGroups).
func (d httpDoor) DeleteGroupOffsets(ctx context.Context, gc httpapi.GroupCoord, group string, keys []plog.OffsetKey, whole bool) error {
	now := time.Now().UnixMilli()
	var raw []byte
	switch {
	case whole:
		raw = coordlog.GroupTombstones([]string{group}, keys, now)
	case len(keys) == 0:
		return nil
	default:
		raw = coordlog.OffsetBatch(nil, keys, now)
	}
	_, err := d.r.AppendInternal(ctx, int8(coordlog.Group), gc.Partition, gc.Epoch, raw)
	return coordHTTPError(err)
}

// coordHTTPError maps AppendInternal's errors onto the REST API's: the
// partition moved is "not coordinator", too few in-sync replicas or no
// leader "coordinator not available"; both retriable.
func coordHTTPError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafka.ErrNotLeader), errors.Is(err, plog.ErrNotLeader), errors.Is(err, kafka.ErrFencedLeaderEpoch),
		errors.Is(err, kafka.ErrUnknownLeaderEpoch):
		return fmt.Errorf("%v: %w", err, httpapi.ErrNotCoordinator)
	case errors.Is(err, kafka.ErrNotEnoughReplicas), errors.Is(err, kafka.ErrNotEnoughReplicasAfterAppend),
		errors.Is(err, kafka.ErrCoordinatorNotAvailable), errors.Is(err, meta.ErrUnavailable):
		return fmt.Errorf("%v: %w", err, httpapi.ErrCoordinatorNotAvailable)
	}
	return err
}

// LiveNodes are the registered nodes' REST base URLs.
func (d httpDoor) LiveNodes() map[int32]string {
	out := map[int32]string{}
	for _, n := range d.r.node.Nodes() {
		out[n.ID] = n.HTTP
	}
	return out
}
