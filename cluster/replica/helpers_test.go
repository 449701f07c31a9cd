package replica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zombi-dev/zombi/cluster/catalog"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/cluster/replica"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/stats"
)

// testCluster is n Zombi nodes in one process: each a real RocksDB log, a
// catalog and a replica Manager over one real etcd, and a real Kafka
// listener whose door asks the Manager.
type testCluster struct {
	t      *testing.T
	etcd   *etcdtest.Etcd
	lag    time.Duration
	minISR int

	mu    sync.Mutex
	addrs map[int32]string
	down  map[int32]bool    // not live (the membership's view)
	cut   map[[2]int32]bool // {from, to}: from cannot reach to
	nodes map[int32]*tnode
	racks map[int32]string // set before the nodes start (KIP-392 tests)
	// configure, if set, changes each node's Manager config (view tests).
	configure func(id int32, cfg *replica.Config)
}

type tnode struct {
	c     *testCluster
	id    int32
	log   *plog.Log
	store meta.Store
	mgr   *replica.Manager
	cat   *catalog.Catalog
	srv   *kafka.Server
	door  *door

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func testLogger(id int32) *slog.Logger {
	if os.Getenv("REPLICA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test_node", id)
	}
	return slog.New(slog.DiscardHandler)
}

// newCluster starts n nodes (ids 1..n), racks by id if given.
func newCluster(t *testing.T, n int, lag time.Duration, minISR int, racks ...map[int32]string) *testCluster {
	t.Helper()
	var r map[int32]string
	if len(racks) > 0 {
		r = racks[0]
	}
	return newClusterWith(t, n, lag, minISR, r, nil)
}

// newClusterWith is newCluster with each Manager's config changed by
// configure (nil: as is).
func newClusterWith(t *testing.T, n int, lag time.Duration, minISR int, racks map[int32]string, configure func(int32, *replica.Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, etcd: etcdtest.Start(t), lag: lag, minISR: minISR, racks: racks, configure: configure,
		addrs: map[int32]string{}, down: map[int32]bool{}, cut: map[[2]int32]bool{}, nodes: map[int32]*tnode{}}
	for id := int32(1); id <= int32(n); id++ {
		l, err := plog.Open(plog.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("open log of node %d: %v", id, err)
		}
		nd := &tnode{c: c, id: id, log: l, store: c.newStore()}
		c.nodes[id] = nd
		t.Cleanup(func() { _ = l.Close() }) // after the node stopped
		nd.start()
		t.Cleanup(nd.stop)
	}
	return c
}

func (c *testCluster) newStore() meta.Store {
	c.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.etcd.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatalf("etcd client: %v", err)
	}
	s := meta.NewEtcdStore(cli, "/zombi-test/")
	c.t.Cleanup(func() { _ = s.Close(); _ = cli.Close() })
	return s
}

func (c *testCluster) node(id int32) *tnode { return c.nodes[id] }

// addr is node to's address as node from sees it.
func (c *testCluster) addr(from, to int32) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.addrs[to]
	if !ok || c.cut[[2]int32{from, to}] {
		return "", false
	}
	return a, true
}

func (c *testCluster) live(id int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.down[id]
}

// setDown marks a node gone from the membership (or back).
func (c *testCluster) setDown(id int32, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down[id] = down
}

// setCut makes from unable (or able again) to reach to.
func (c *testCluster) setCut(from, to int32, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[[2]int32{from, to}] = cut
}

func (c *testCluster) liveNodes() []meta.NodeRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []meta.NodeRecord
	for id := int32(1); id <= int32(len(c.nodes)); id++ {
		if _, ok := c.addrs[id]; ok && !c.down[id] {
			out = append(out, meta.NodeRecord{ID: id})
		}
	}
	return out
}

// start runs the node's listener, Manager and catalog over its log.
func (nd *tnode) start() {
	c, t := nd.c, nd.c.t
	t.Helper()
	logger := testLogger(nd.id)
	cfg := replica.Config{
		Log: nd.log, Store: nd.store, NodeID: nd.id,
		Addr:       func(n int32) (string, bool) { return c.addr(nd.id, n) },
		LagTimeMax: c.lag,
		MinInsync:  func(string) int { return c.minISR },
		Live:       c.live,
		Rack:       func(n int32) string { return c.racks[n] },
		Logger:     logger,
	}
	if c.configure != nil {
		c.configure(nd.id, &cfg)
	}
	nd.mgr = replica.New(cfg)
	nd.cat = catalog.New(catalog.Config{Store: nd.store, Log: nd.log, NodeID: nd.id, LiveNodes: c.liveNodes,
		OnChange: nd.mgr.Apply, Logger: logger})
	nd.door = &door{Manager: nd.mgr, nd: nd}
	nd.srv = kafka.NewServer(nd.log, stats.New(), kafka.Config{Cluster: nd.door}, logger)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nd.cancel = cancel
	srv, mgr, cat := nd.srv, nd.mgr, nd.cat
	nd.wg.Add(3)
	go func() { defer nd.wg.Done(); _ = srv.Serve(ln) }()
	go func() { defer nd.wg.Done(); _ = mgr.Run(ctx) }()
	go func() {
		defer nd.wg.Done()
		if err := cat.Run(ctx); err != nil {
			t.Errorf("node %d: catalog: %v", nd.id, err)
		}
	}()
	c.mu.Lock()
	c.addrs[nd.id] = ln.Addr().String()
	c.mu.Unlock()
	select {
	case <-cat.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("node %d: catalog not ready after 10 s", nd.id)
	}
}

// stop closes the node's listener, Manager and catalog (its log stays).
func (nd *tnode) stop() {
	if nd.cancel == nil {
		return
	}
	nd.c.mu.Lock()
	delete(nd.c.addrs, nd.id)
	nd.c.mu.Unlock()
	nd.cancel()
	nd.mgr.Close()
	_ = nd.srv.Close()
	nd.wg.Wait()
	nd.cancel = nil
}

func (nd *tnode) addr() string {
	nd.c.mu.Lock()
	defer nd.c.mu.Unlock()
	return nd.c.addrs[nd.id]
}

// door is the kafka.Cluster of a test node: the replication half from the
// Manager, topic changes from the catalog.
type door struct {
	*replica.Manager
	nd *tnode

	followerReads atomic.Int64 // consumer fetches allowed while not leading
}

// CheckFetch counts the consumer fetches a follower serves (KIP-392).
func (d *door) CheckFetch(topic string, p int32, epoch int32, replica int32) error {
	err := d.Manager.CheckFetch(topic, p, epoch, replica)
	if v, ok := d.Manager.Partition(topic, p); err == nil && ok && replica < 0 && v.Leader != d.nd.id {
		d.followerReads.Add(1)
	}
	return err
}

func (d *door) LocalID() int32      { return d.nd.id }
func (d *door) ControllerID() int32 { return 1 }
func (d *door) Nodes(string) []kafka.ClusterNode {
	var out []kafka.ClusterNode
	for _, n := range d.nd.c.liveNodes() {
		a, ok := d.nd.c.addr(d.nd.id, n.ID)
		if !ok {
			continue
		}
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		out = append(out, kafka.ClusterNode{ID: n.ID, Host: host, Port: int32(p), Rack: d.nd.c.racks[n.ID]})
	}
	return out
}
func (d *door) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	return d.nd.cat.CreateTopic(ctx, name, partitions, rf, configs)
}
func (d *door) DeleteTopic(ctx context.Context, name string) error {
	return d.nd.cat.DeleteTopic(ctx, name)
}
func (d *door) AddPartitions(ctx context.Context, name string, total int32) error {
	return d.nd.cat.AddPartitions(ctx, name, total)
}
func (d *door) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	return d.nd.cat.SetTopicConfigs(ctx, name, configs)
}

// The operations (reassignment, elections) are cluster.Runtime's, tested
// in package cluster and cmd/zombi; these nodes refuse them.
var errNoOps = errors.New("replica test node: reassignment and elections are not wired here")

func (d *door) AlterReassignment(context.Context, string, int32, []int32) error { return errNoOps }
func (d *door) Reassignments([]string) []kafka.Reassignment                     { return nil }
func (d *door) ElectLeader(context.Context, string, int32, bool) error          { return errNoOps }

// The coordinators are cluster.Runtime's; the view tests call the Manager.
func (d *door) CoordinatorOf(int8, string) (kafka.CoordinatorView, error) {
	return kafka.CoordinatorView{}, kafka.ErrCoordinatorNotAvailable
}
func (d *door) AppendInternal(context.Context, int8, int32, int32, []byte) (int64, error) {
	return 0, errNoOps
}
func (d *door) SetCoordinatorHooks(func(int8, int32, int32), func(int8, int32)) {}

// createTopic writes a one-partition topic led by replicas[0] (epoch 0)
// and waits until every running node plays its role.
func (c *testCluster) createTopic(name string, replicas ...int32) {
	c.t.Helper()
	ctx := testCtx(c.t, 10*time.Second)
	rec := meta.TopicRecord{Name: name, UUID: [16]byte{1, byte(len(name)), name[0]}, Partitions: 1, CreatedMs: time.Now().UnixMilli()}
	st := meta.PartitionState{Replicas: replicas, ISR: replicas, Leader: replicas[0]}
	if err := meta.CreateTopic(ctx, c.nodes[1].store, rec, []meta.PartitionState{st}); err != nil {
		c.t.Fatalf("create topic %s: %v", name, err)
	}
	for _, r := range replicas {
		nd := c.nodes[r]
		eventually(c.t, fmt.Sprintf("node %d sees topic %s led by %d", r, name, replicas[0]), func() string {
			v, ok := nd.mgr.Partition(name, 0)
			if !ok || v.Leader != replicas[0] {
				return fmt.Sprintf("view %+v, %v", v, ok)
			}
			return ""
		})
	}
	// The leader takes writes once it plays its role.
	eventually(c.t, "leader ready", func() string {
		if err := c.nodes[replicas[0]].mgr.CheckProduce(name, 0, -1, false); err != nil {
			return err.Error()
		}
		return ""
	})
}

// state reads the partition's state from etcd.
func (c *testCluster) state(topic string) (meta.PartitionState, int64) {
	c.t.Helper()
	ctx := testCtx(c.t, 5*time.Second)
	ts, _, err := meta.LoadTopics(ctx, c.nodes[1].store)
	if err != nil {
		c.t.Fatalf("load topics: %v", err)
	}
	t, ok := ts[topic]
	if !ok || len(t.Partitions) == 0 {
		c.t.Fatalf("no topic %s in etcd", topic)
	}
	return t.Partitions[0].State, t.Partitions[0].Version
}

func (c *testCluster) producer(seed int32, acks kgo.Acks, extra ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.nodes[seed].addr()),
		kgo.RequiredAcks(acks),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	}, extra...)
	if acks != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.t.Fatalf("client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// produce writes values to partition 0 of topic and returns their offsets.
func produce(t *testing.T, cl *kgo.Client, topic string, values ...string) []int64 {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	var offs []int64
	for _, v := range values {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %q: %v", v, err)
		}
		offs = append(offs, r.Offset)
	}
	return offs
}

// rawLog is the partition's stored batches, byte for byte, up to the log end.
func rawLog(t *testing.T, l *plog.Log, topic string) []byte {
	t.Helper()
	return rawLogFrom(t, l, topic, 0)
}

// rawLogFrom is rawLog from offset from on.
func rawLogFrom(t *testing.T, l *plog.Log, topic string, from int64) []byte {
	t.Helper()
	return rawPart(t, l, topic, 0, from)
}

// rawPart is a partition's stored batches from offset from to the log end.
func rawPart(t *testing.T, l *plog.Log, topic string, part int32, from int64) []byte {
	t.Helper()
	leo, err := l.LogEndOffset(topic, part)
	if err != nil {
		t.Fatalf("log end: %v", err)
	}
	var out bytes.Buffer
	for off := from; off < leo; {
		rr, err := l.ReadReplica(topic, part, off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(rr.Batches) == 0 {
			t.Fatalf("read at %d below the log end %d: no batch", off, leo)
		}
		for _, b := range rr.Batches {
			out.Write(b.Raw)
			off = b.LastOffset + 1
		}
	}
	return out.Bytes()
}

// values is the partition's record values by offset, up to the log end.
func values(t *testing.T, l *plog.Log, topic string) []string {
	t.Helper()
	leo, err := l.LogEndOffset(topic, 0)
	if err != nil {
		t.Fatalf("log end: %v", err)
	}
	var out []string
	for off := int64(0); off < leo; {
		rr, err := l.ReadReplica(topic, 0, off, 1<<20)
		if err != nil || len(rr.Batches) == 0 {
			t.Fatalf("read at %d: %v (%d batches)", off, err, len(rr.Batches))
		}
		for _, b := range rr.Batches {
			_, recs, err := batch.Records(b.Raw, 0)
			if err != nil {
				t.Fatalf("records of the batch at %d: %v", b.BaseOffset, err)
			}
			for _, r := range recs {
				if r.Offset >= off {
					out = append(out, string(r.Value))
				}
			}
			off = b.LastOffset + 1
		}
	}
	return out
}

// converged waits until the nodes' logs are byte-identical and their high
// watermarks equal their log ends.
func (c *testCluster) converged(topic string, ids ...int32) {
	c.t.Helper()
	eventually(c.t, "logs converge", func() string {
		want := rawLog(c.t, c.nodes[ids[0]].log, topic)
		for _, id := range ids {
			l := c.nodes[id].log
			got := rawLog(c.t, l, topic)
			if !bytes.Equal(got, want) {
				return fmt.Sprintf("node %d: %d bytes, node %d: %d bytes", id, len(got), ids[0], len(want))
			}
			leo, _ := l.LogEndOffset(topic, 0)
			if _, hwm, _ := l.Offsets(topic, 0); hwm != leo {
				return fmt.Sprintf("node %d: high watermark %d, log end %d", id, hwm, leo)
			}
		}
		return ""
	})
}

// eventually retries cond until it returns "" or 15 s pass.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 15 s: %s", what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
