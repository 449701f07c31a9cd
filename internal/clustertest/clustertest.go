// Package clustertest runs a real Zombi cluster for the end-to-end tests of
// issue 19: one real etcd (internal/etcdtest) and N real zombi processes
// (internal/zombitest, one prebuilt binary) on loopback, each with its own
// data directory, all joined and ready. Nodes can be killed (SIGKILL),
// stopped (SIGTERM), paused (SIGSTOP), resumed and restarted on the same
// ports and data; everything is cleaned up when the test ends, and the
// nodes' logs are printed when it failed.
package clustertest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/s3test"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// Options shape a cluster; the zero value is three nodes with a 2 s
// session timeout.
type Options struct {
	Nodes          int           // 3 when 0
	SessionTimeout time.Duration // 2 s when 0
	// LagTimeMax is ZOMBI_REPLICA_LAG_TIME_MAX_MS; 1 s when 0 (small, so
	// that a stopped follower leaves the ISR quickly in tests).
	LagTimeMax time.Duration
	Env        []string // extra environment for every node; it wins
	Racks      []string // Racks[i] is node i+1's ZOMBI_NODE_RACK
	// S3 runs the nodes on one shared bucket (the cluster's cold tier) of
	// an internal/s3test server (versitygw; the test skips without it),
	// flushing every second (ZOMBI_FLUSH_INTERVAL_SECS=1; Env wins).
	S3 bool
	// S3Server, when set, is the server S3 runs the nodes on (one the test
	// started before, e.g. for a single node to upgrade); it implies S3.
	S3Server *s3test.Server
	// Name is ZOMBI_CLUSTER_NAME; unique per test when empty.
	Name string
	// DataDirs gives a node a data directory of the caller's (e.g. that of
	// a single node to upgrade); the others get one in the cluster's temp
	// directory.
	DataDirs map[int32]string
	// EnvFor is node id's own extra environment (e.g. its
	// ZOMBI_KAFKA_LISTENERS ports), after Env.
	EnvFor func(id int32) []string
}

// Cluster is a running cluster of real processes.
type Cluster struct {
	t    testing.TB
	etcd *etcdtest.Etcd
	s3   *s3test.Server // nil without Options.S3
	dir  string
	name string
	opts Options

	mu     sync.Mutex
	procs  map[int32]*zombitest.Proc
	paused map[int32]bool
}

var nameSeq struct {
	sync.Mutex
	n int
}

// uniqueName is a cluster name no other cluster of this test process uses
// (they may share one etcd; here each has its own, but the logs say which).
func uniqueName(t testing.TB) string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, t.Name())
	if len(n) > 40 {
		n = n[:40]
	}
	return fmt.Sprintf("%s-%d-%d", n, os.Getpid()%100000, nameSeq.n)
}

// Start starts etcd and opts.Nodes zombi nodes (ids 1..N) and returns once
// every node is ready (/health/ready 200: joined and its catalog synced)
// and every node's Metadata lists them all.
// It fails the test when it cannot.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 2 * time.Second
	}
	if opts.LagTimeMax <= 0 {
		opts.LagTimeMax = time.Second
	}
	if opts.Name == "" {
		opts.Name = uniqueName(t)
	}
	if _, err := zombitest.Binary(); err != nil {
		t.Fatalf("clustertest: zombi binary: %v", err)
	}
	s3 := opts.S3Server
	if s3 == nil && opts.S3 {
		s3 = s3test.Start(t)
	}
	c := &Cluster{t: t, etcd: etcdtest.Start(t), s3: s3, dir: t.TempDir(), name: opts.Name, opts: opts, procs: map[int32]*zombitest.Proc{}, paused: map[int32]bool{}}
	t.Cleanup(c.cleanup)
	var wg sync.WaitGroup
	errs := make([]error, opts.Nodes)
	for i := range opts.Nodes {
		wg.Go(func() { errs[i] = c.startNode(int32(i + 1)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("clustertest: %v", err)
		}
	}
	for _, id := range c.IDs() {
		c.WaitReady(id, 30*time.Second)
	}
	c.WaitBrokers(t)
	return c
}

// NodeEnv is the environment node id runs with (without the data dir and
// ports zombitest chooses).
func (c *Cluster) NodeEnv(id int32) []string {
	env := append(c.etcd.Env(c.name),
		"ZOMBI_NODE_ID="+strconv.Itoa(int(id)),
		"ZOMBI_SESSION_TIMEOUT_MS="+strconv.FormatInt(c.opts.SessionTimeout.Milliseconds(), 10),
		"ZOMBI_REPLICA_LAG_TIME_MAX_MS="+strconv.FormatInt(c.opts.LagTimeMax.Milliseconds(), 10),
	)
	if c.s3 != nil {
		env = append(env, S3Env(c.s3, S3Bucket)...)
	}
	if i := int(id) - 1; i < len(c.opts.Racks) && c.opts.Racks[i] != "" {
		env = append(env, "ZOMBI_NODE_RACK="+c.opts.Racks[i])
	}
	env = append(env, c.opts.Env...)
	if c.opts.EnvFor != nil {
		env = append(env, c.opts.EnvFor(id)...)
	}
	return env
}

// DataDir is node id's data directory.
func (c *Cluster) DataDir(id int32) string {
	if d, ok := c.opts.DataDirs[id]; ok {
		return d
	}
	return filepath.Join(c.dir, "n"+strconv.Itoa(int(id)), "data")
}

func (c *Cluster) startNode(id int32) error {
	p, err := zombitest.Start(c.DataDir(id), c.NodeEnv(id)...)
	if err != nil {
		return fmt.Errorf("node %d: %w", id, err)
	}
	c.mu.Lock()
	c.procs[id] = p
	c.mu.Unlock()
	return nil
}

// AddNode starts one more node with the given id (its own data directory)
// and waits until it is ready.
func (c *Cluster) AddNode(id int32) *zombitest.Proc {
	c.t.Helper()
	if err := c.startNode(id); err != nil {
		c.t.Fatalf("clustertest: %v", err)
	}
	c.WaitReady(id, 30*time.Second)
	c.WaitBrokers(c.t)
	return c.Node(id)
}

// S3 is the cluster's S3 server (nil without Options.S3): Stop and
// Restart it for an S3 outage.
func (c *Cluster) S3() *s3test.Server { return c.s3 }

// S3Bucket is the cluster's bucket (each cluster has its own server).
const S3Bucket = "zombi-cluster"

// S3Env points a node (or `zombi segments`) at bucket on s, flushing every
// second.
func S3Env(s *s3test.Server, bucket string) []string {
	return []string{
		"ZOMBI_S3_BUCKET=" + bucket,
		"ZOMBI_S3_ENDPOINT=" + s.Endpoint(),
		"ZOMBI_S3_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + s3test.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s3test.SecretKey,
		"ZOMBI_FLUSH_INTERVAL_SECS=1",
	}
}

// Name is the cluster's name (its etcd prefix /{name}/).
func (c *Cluster) Name() string { return c.name }

// Etcd is the cluster's etcd.
func (c *Cluster) Etcd() *etcdtest.Etcd { return c.etcd }

// IDs are the node ids, ascending.
func (c *Cluster) IDs() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]int32, 0, len(c.procs))
	for id := int32(1); len(ids) < len(c.procs); id++ {
		if _, ok := c.procs[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// Node is node id's current process (nil when there is none).
func (c *Cluster) Node(id int32) *zombitest.Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[id]
}

// Seeds are every node's Kafka address, including nodes that are down:
// clients skip those.
func (c *Cluster) Seeds() []string {
	var s []string
	for _, id := range c.IDs() {
		s = append(s, c.Node(id).KafkaAddr)
	}
	return s
}

// LiveSeeds are the Kafka addresses of the nodes running and not paused:
// the test's own questions go there (a paused node accepts connections
// and answers nothing).
func (c *Cluster) LiveSeeds() []string {
	var s []string
	for _, id := range c.IDs() {
		c.mu.Lock()
		paused := c.paused[id]
		c.mu.Unlock()
		if !paused && c.alive(id) {
			s = append(s, c.Node(id).KafkaAddr)
		}
	}
	return s
}

func (c *Cluster) setPaused(id int32, paused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused[id] = paused
}

func (c *Cluster) must(id int32) *zombitest.Proc {
	c.t.Helper()
	p := c.Node(id)
	if p == nil {
		c.t.Fatalf("clustertest: no node %d", id)
	}
	return p
}

// Kill kills node id with SIGKILL (a crash) and waits for its exit.
func (c *Cluster) Kill(id int32) {
	c.t.Helper()
	p := c.must(id)
	_ = p.Cmd.Process.Signal(syscall.SIGCONT) // a paused node dies too, but waits are shorter
	c.setPaused(id, false)
	if err := p.Kill(); err != nil {
		c.t.Fatalf("clustertest: kill node %d: %v", id, err)
	}
}

// Stop stops node id with SIGTERM (a controlled shutdown) and waits for it;
// a node that does not exit cleanly within 15 s fails the test.
func (c *Cluster) Stop(id int32) {
	c.t.Helper()
	p := c.must(id)
	_ = p.Cmd.Process.Signal(syscall.SIGCONT)
	c.setPaused(id, false)
	if err := p.Stop(); err != nil {
		c.t.Errorf("clustertest: stop node %d: %v", id, err)
	}
}

// Pause stops node id with SIGSTOP: it keeps its ports and its lease
// expires; Resume continues it.
func (c *Cluster) Pause(id int32) {
	c.t.Helper()
	if err := c.must(id).Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("clustertest: pause node %d: %v", id, err)
	}
	c.setPaused(id, true)
}

// Resume continues a paused node (SIGCONT).
func (c *Cluster) Resume(id int32) {
	c.t.Helper()
	if err := c.must(id).Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatalf("clustertest: resume node %d: %v", id, err)
	}
	c.setPaused(id, false)
}

// Restart starts node id again once it has exited (Kill or Stop): same
// data, ports and settings; it returns once the node is ready. Right after
// a kill the node's registration lives on until its session times out, and
// a node whose id is live refuses to start (the contract): Restart starts
// it again until that registration expired, as a supervisor would.
func (c *Cluster) Restart(id int32) *zombitest.Proc {
	c.t.Helper()
	p := c.must(id)
	deadline := time.Now().Add(c.opts.SessionTimeout + 5*time.Second)
	q, err := p.Restart()
	for err != nil && strings.Contains(err.Error(), "is already live") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		q, err = p.Restart()
	}
	if err != nil {
		c.t.Fatalf("clustertest: restart node %d: %v", id, err)
	}
	c.mu.Lock()
	c.procs[id] = q
	c.mu.Unlock()
	c.WaitReady(id, 30*time.Second)
	return q
}

// Ready reports whether node id answers /health/ready with 200.
func (c *Cluster) Ready(id int32) bool {
	p := c.Node(id)
	if p == nil {
		return false
	}
	resp, err := readyClient.Get(p.HTTPBase + "/health/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var readyClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// WaitReady waits until node id is ready, failing the test after d.
func (c *Cluster) WaitReady(id int32, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !c.Ready(id) {
		select {
		case <-c.must(id).Done():
			c.t.Fatalf("clustertest: node %d exited before it was ready:\n%s", id, c.must(id).Log())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("clustertest: node %d not ready (/health/ready) after %s", id, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logs is the end of every node's output, one section per node.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, id := range c.IDs() {
		p := c.Node(id)
		fmt.Fprintf(&b, "===== node %d (%s, %s) =====\n%s\n", id, p.KafkaAddr, p.LogPath, p.Log())
	}
	return b.String()
}

// cleanup kills every node (continuing paused ones) and prints the logs of
// a failed test; t.TempDir removes the directories, etcdtest stops etcd.
func (c *Cluster) cleanup() {
	for _, id := range c.IDs() {
		p := c.Node(id)
		_ = p.Cmd.Process.Signal(syscall.SIGCONT)
		_ = p.Kill()
	}
	if c.t.Failed() {
		c.t.Logf("cluster %s logs:\n%s", c.name, c.Logs())
	}
}
