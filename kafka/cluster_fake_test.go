package kafka

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
)

// fakeCluster is a Cluster of three nodes where the server under test is
// node 2. Every node is advertised at the server's own address, so that a
// real client's connections to "node 1" and "node 3" reach this server
// too, under another node id: the door answers them as a node that is not
// the leader would, which is what the tests check.
type fakeCluster struct {
	mu         sync.Mutex
	log        *plog.Log
	host       string
	port       int32
	controller int32
	racks      map[int32]string
	parts      map[string]PartitionView // "topic/p"
	listeners  []string                 // Nodes' listener names, as asked

	moveOnRefusal bool // an ErrNotLeader refusal of Produce makes node 2 the leader
	refusals      int
	notEnough     bool          // CheckProduce with acks=all: ErrNotEnoughReplicas
	awaitErr      error         // AwaitReplicated's answer
	release       chan struct{} // non-nil: AwaitReplicated blocks until closed (or ctx)
	awaiting      int           // AwaitReplicated calls in progress
	maxAwaiting   int
	awaited       []int64 // last offsets AwaitReplicated was asked for
	preferred     int32   // PreferredReadReplica for rack "rack-c", once
	preferredAsks int
	created       []createCall
	deleted       []string
	added         map[string]int32
	configs       map[string]map[string]string
	fetched       []followerFetch
	defaultRF     int16
	ops           fakeOps   // reassignments and elections (cluster_fake_ops_test.go)
	coord         fakeCoord // coordinators (cluster_fake_coord_test.go)
}

type createCall struct {
	name       string
	partitions int32
	rf         int16
}

type followerFetch struct {
	replica int32
	offset  int64
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{
		controller: 3,
		racks:      map[int32]string{1: "rack-a", 2: "rack-b", 3: "rack-c"},
		parts:      map[string]PartitionView{},
		added:      map[string]int32{},
		configs:    map[string]map[string]string{},
		preferred:  -1,
		defaultRF:  3,
	}
}

// startCluster starts a server on a real log with the fake as its Cluster.
func startCluster(t *testing.T) (*testEnv, *fakeCluster) {
	t.Helper()
	fc := newFakeCluster()
	cfg := testConfig()
	cfg.Cluster = fc
	e := startServer(t, cfg)
	host, port, err := net.SplitHostPort(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	fc.mu.Lock()
	fc.log, fc.host, fc.port = e.l, host, int32(p)
	fc.mu.Unlock()
	return e, fc
}

// setPartition sets a partition's view.
func (f *fakeCluster) setPartition(topic string, p int32, v PartitionView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parts[topic+"/"+strconv.Itoa(int(p))] = v
}

func (f *fakeCluster) view(topic string, p int32) (PartitionView, bool) {
	v, ok := f.parts[topic+"/"+strconv.Itoa(int(p))]
	return v, ok
}

func (f *fakeCluster) LocalID() int32 { return 2 }

func (f *fakeCluster) ControllerID() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.controller
}

func (f *fakeCluster) Nodes(listener string) []ClusterNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listeners = append(f.listeners, listener)
	var out []ClusterNode
	for id := int32(1); id <= 3; id++ {
		out = append(out, ClusterNode{ID: id, Host: f.host, Port: f.port, Rack: f.racks[id]})
	}
	return out
}

func (f *fakeCluster) Partition(topic string, p int32) (PartitionView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.view(topic, p)
}

func (f *fakeCluster) CreateTopic(_ context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, createCall{name, partitions, rf})
	if rf == -1 {
		rf = f.defaultRF
	}
	if rf > 3 {
		return fmt.Errorf("%w: %d above the 3 live nodes", ErrInvalidReplicationFactor, rf)
	}
	if _, err := f.log.CreateTopic(name, partitions, configs); err != nil {
		return err
	}
	for p := range partitions {
		replicas := []int32{2, 3, 1}[:rf]
		f.parts[name+"/"+strconv.Itoa(int(p))] = PartitionView{Leader: 2, LeaderEpoch: 1, Replicas: replicas, ISR: replicas}
	}
	return nil
}

func (f *fakeCluster) DeleteTopic(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, name)
	return f.log.DeleteTopic(name)
}

func (f *fakeCluster) AddPartitions(_ context.Context, name string, total int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added[name] = total
	_, err := f.log.AddPartitions(name, total)
	return err
}

func (f *fakeCluster) SetTopicConfigs(_ context.Context, name string, configs map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configs[name] = configs
	info, ok := f.log.Topic(name)
	if !ok {
		return plog.ErrUnknownTopic
	}
	_, err := f.log.SetTopicConfigs(name, info.UUID, configs)
	return err
}

// epochCheck is Kafka's Partition check of a request's current leader
// epoch against the partition's.
func epochCheck(v PartitionView, epoch int32) error {
	switch {
	case epoch < 0 || epoch == v.LeaderEpoch:
		return nil
	case epoch < v.LeaderEpoch:
		return ErrFencedLeaderEpoch
	default:
		return ErrUnknownLeaderEpoch
	}
}

func (f *fakeCluster) CheckProduce(topic string, p int32, epoch int32, acksAll bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.view(topic, p)
	if !ok || v.Leader != 2 {
		f.refusals++
		if ok && f.moveOnRefusal {
			v.Leader, v.LeaderEpoch = 2, v.LeaderEpoch+1
			f.parts[topic+"/"+strconv.Itoa(int(p))] = v
		}
		return ErrNotLeader
	}
	if err := epochCheck(v, epoch); err != nil {
		return err
	}
	if acksAll && f.notEnough {
		return ErrNotEnoughReplicas
	}
	return nil
}

func (f *fakeCluster) AwaitReplicated(ctx context.Context, _ string, _ int32, lastOffset int64) error {
	f.mu.Lock()
	f.awaited = append(f.awaited, lastOffset)
	f.awaiting++
	f.maxAwaiting = max(f.maxAwaiting, f.awaiting)
	release, err := f.release, f.awaitErr
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.awaiting--
		f.mu.Unlock()
	}()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (f *fakeCluster) CheckFetch(topic string, p int32, epoch int32, replica int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.view(topic, p)
	if !ok || v.Leader != 2 {
		return ErrNotLeader
	}
	return epochCheck(v, epoch)
}

func (f *fakeCluster) PreferredReadReplica(_ string, _ int32, clientRack string) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if clientRack != "rack-c" {
		return -1
	}
	f.preferredAsks++
	r := f.preferred
	f.preferred = -1 // once: every node is this server, so node 3 is too
	return r
}

func (f *fakeCluster) FollowerFetched(_ string, _ int32, replica int32, fetchOffset int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched = append(f.fetched, followerFetch{replica, fetchOffset})
}

// get reads the fake's state under its lock.
func get[T any](f *fakeCluster, read func() T) T {
	f.mu.Lock()
	defer f.mu.Unlock()
	return read()
}
