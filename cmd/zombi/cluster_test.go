package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// etcdClient is a plain client on e for the test to look inside.
func etcdClient(t *testing.T, e *etcdtest.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// registration is nodes/{id} of cluster "zombi" (nil when absent).
func registration(t *testing.T, cli *clientv3.Client, id int) *meta.NodeRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/zombi/"+meta.NodesPrefix+strconv.Itoa(id))
	if err != nil {
		t.Fatalf("read nodes/%d: %v", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	var r meta.NodeRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		t.Fatalf("nodes/%d: %v", id, err)
	}
	return &r
}

func clusterEnv(e *etcdtest.Etcd, id int, extra ...string) []string {
	return append(append(e.Env("zombi"), "ZOMBI_NODE_ID="+strconv.Itoa(id), "ZOMBI_SESSION_TIMEOUT_MS=2000"), extra...)
}

func healthReady(t *testing.T, p *zombitest.Proc) int {
	t.Helper()
	resp, err := http.Get(p.HTTPBase + "/health/ready")
	if err != nil {
		t.Fatalf("GET /health/ready: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestClusterJoin: two nodes with distinct ids both register with their
// advertised addresses and are ready; a third with a live id exits within
// 10 s with the one line; a clean shutdown frees the id at once.
func TestClusterJoin(t *testing.T) {
	e := etcdtest.Start(t)
	cli := etcdClient(t, e)
	dir := t.TempDir()
	p1 := startZombi(t, filepath.Join(dir, "n1", "data"), clusterEnv(e, 1)...)
	p2 := startZombi(t, filepath.Join(dir, "n2", "data"), clusterEnv(e, 2)...)
	for id, p := range map[int]*zombitest.Proc{1: p1, 2: p2} {
		r := registration(t, cli, id)
		if r == nil {
			t.Fatalf("node %d not registered", id)
		}
		if len(r.Listeners) != 1 || r.Listeners[0].Host+":"+strconv.Itoa(int(r.Listeners[0].Port)) != p.KafkaAddr ||
			r.Listeners[0].SecurityProtocol != "PLAINTEXT" || r.HTTP != p.HTTPBase || r.ID != int32(id) || r.StartedMs == 0 || r.Version == "" {
			t.Fatalf("node %d registered as %+v; want Kafka %s, HTTP %s", id, r, p.KafkaAddr, p.HTTPBase)
		}
		if code := healthReady(t, p); code != http.StatusOK {
			t.Fatalf("node %d: /health/ready %d, want 200", id, code)
		}
	}

	start := time.Now()
	p3, err := zombitest.Start(filepath.Join(dir, "n3", "data"), clusterEnv(e, 2)...)
	if err == nil {
		p3.Kill()
		t.Fatal("a third node with live id 2 started")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the duplicate took %s to exit, want < 10 s", took)
	}
	want := `node id 2 is already live in cluster \"zombi\" (` + p2.KafkaAddr + `, started 20`
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `stop it or choose another ZOMBI_NODE_ID"`) {
		t.Fatalf("the duplicate's exit does not say %q:\n%v", want, err)
	}

	if err := p2.Stop(); err != nil {
		t.Fatalf("stop node 2: %v", err)
	}
	if r := registration(t, cli, 2); r != nil {
		t.Fatalf("node 2 still registered right after a clean stop: %+v", r)
	}
}

// TestClusterEtcdUnreachable: an endpoint nobody answers on is one clear
// error and a non-zero exit within 15 s, not a hang.
func TestClusterEtcdUnreachable(t *testing.T) {
	ep := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	start := time.Now()
	p, err := zombitest.Start(filepath.Join(t.TempDir(), "data"), "ZOMBI_ETCD_ENDPOINTS="+ep, "ZOMBI_NODE_ID=1")
	if err == nil {
		p.Kill()
		t.Fatal("zombi started with etcd unreachable")
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("exit after %s, want < 15 s", took)
	}
	if want := "etcd unreachable at " + ep + " (ZOMBI_ETCD_ENDPOINTS)"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("the exit does not say %q with status 1:\n%v", want, err)
	}
}

// TestClusterKillFreesID: a node killed with SIGKILL keeps its id until
// its session times out (2 s here); then a restart with that id joins.
func TestClusterKillFreesID(t *testing.T) {
	e := etcdtest.Start(t)
	cli := etcdClient(t, e)
	p := startZombi(t, filepath.Join(t.TempDir(), "n1", "data"), clusterEnv(e, 1)...)
	if registration(t, cli, 1) == nil {
		t.Fatal("node 1 not registered")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if registration(t, cli, 1) == nil {
		t.Fatal("the id was freed at once by a kill -9: want it held until the session times out")
	}
	for registration(t, cli, 1) != nil {
		if time.Since(killed) > 5*time.Second {
			t.Fatal("node 1 still registered 5 s after kill -9 with a 2 s session timeout")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("id freed %s after kill -9 (session timeout 2 s)", time.Since(killed).Round(10*time.Millisecond))
	q, err := p.Restart()
	if err != nil {
		t.Fatalf("restart with the freed id: %v", err)
	}
	t.Cleanup(func() { q.Kill() })
	if r := registration(t, cli, 1); r == nil || r.HTTP != q.HTTPBase {
		t.Fatalf("after restart nodes/1 = %+v", r)
	}
	if code := healthReady(t, q); code != http.StatusOK {
		t.Fatalf("/health/ready %d after restart, want 200", code)
	}
}

// TestClusterReadyFollowsSession: etcd paused past the session timeout
// ends the node's registration: /health/ready turns 503 naming why, and
// 200 again once etcd is back and the node registered again.
func TestClusterReadyFollowsSession(t *testing.T) {
	e := etcdtest.Start(t)
	cli := etcdClient(t, e)
	p := startZombi(t, filepath.Join(t.TempDir(), "n1", "data"), clusterEnv(e, 1)...)
	if code := healthReady(t, p); code != http.StatusOK {
		t.Fatalf("/health/ready %d after start, want 200", code)
	}
	if err := e.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = e.Resume()
		}
	}()
	waitReady := func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for healthReady(t, p) != want {
			if time.Now().After(deadline) {
				t.Fatalf("/health/ready not %d within %s", want, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitReady(http.StatusServiceUnavailable, 8*time.Second)
	resp, err := http.Get(p.HTTPBase + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Reason string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if !strings.Contains(body.Reason, "not joined to the cluster (node 1: session lost)") {
		t.Fatalf("not-ready reason %q", body.Reason)
	}
	if err := e.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	waitReady(http.StatusOK, 10*time.Second)
	if registration(t, cli, 1) == nil {
		t.Fatal("ready again but not registered")
	}
}

// TestClusterPausedNodeRejoins: a node stopped (SIGSTOP) past its session
// timeout loses its registration; continued (SIGCONT), it notices, says so
// and registers again under a new lease.
func TestClusterPausedNodeRejoins(t *testing.T) {
	e := etcdtest.Start(t)
	cli := etcdClient(t, e)
	p := startZombi(t, filepath.Join(t.TempDir(), "n1", "data"), clusterEnv(e, 1, "ZOMBI_LOG=info")...)
	lease := func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, "/zombi/"+meta.NodesPrefix+"1")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 0 {
			return 0
		}
		return resp.Kvs[0].Lease
	}
	first := lease()
	if first == 0 {
		t.Fatal("node 1 not registered")
	}
	if err := p.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	continued := false
	defer func() {
		if !continued {
			_ = p.Cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	stopped := time.Now()
	for lease() != 0 {
		if time.Since(stopped) > 5*time.Second {
			t.Fatal("a stopped node still registered 5 s later (session timeout 2 s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	continued = true
	deadline := time.Now().Add(10 * time.Second)
	for l := lease(); l == 0 || l == first; l = lease() {
		if time.Now().After(deadline) {
			t.Fatal("the continued node did not register again within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The new registration is in etcd a moment before its log line is
	// written: wait for the line.
	for logDeadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		log := p.Log()
		if strings.Contains(log, "cluster: session lost") && strings.Contains(log, "cluster: registered again") {
			break
		}
		if time.Now().After(logDeadline) {
			t.Fatalf("the loss and the return are not in the log:\n%s", log)
		}
	}
	if code := healthReady(t, p); code != http.StatusOK {
		t.Fatalf("/health/ready %d after rejoining, want 200", code)
	}
}

// TestClusterWrongClusterRefused: a node whose data directory belongs to one
// cluster, started on another cluster prefix (a wrong ZOMBI_CLUSTER_NAME, an
// etcd that lost its data), exits with a clear error before its catalog
// deletes anything local; back on its own cluster its topic is still there.
func TestClusterWrongClusterRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and etcd")
	}
	e := etcdtest.Start(t)
	dir := filepath.Join(t.TempDir(), "data")
	p := zombitest.StartT(t, dir, clusterEnv(e, 1, "ZOMBI_CLUSTER_NAME=blue")...)
	resp, err := http.Post(p.HTTPBase+"/tables/kept", "application/json", strings.NewReader(`{"payload":{"v":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("write: %s", resp.Status)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	_, err = zombitest.Start(dir, clusterEnv(e, 1, "ZOMBI_CLUSTER_NAME=green")...)
	if err == nil {
		t.Fatal("a data directory of cluster blue started on cluster green")
	}
	if !strings.Contains(err.Error(), "wrong cluster") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("the exit does not name the wrong cluster with status 1:\n%v", err)
	}

	p = zombitest.StartT(t, dir, clusterEnv(e, 1, "ZOMBI_CLUSTER_NAME=blue")...)
	info, err := http.Get(p.HTTPBase + "/tables/kept/info")
	if err != nil {
		t.Fatal(err)
	}
	info.Body.Close()
	if info.StatusCode != http.StatusOK {
		t.Fatalf("topic kept after the refused start: GET info %s", info.Status)
	}
}
