package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/s3test"
	"github.com/zombi-dev/zombi/internal/syncbuf"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestMakeClusterScript runs scripts/cluster.sh (what `make cluster` runs) on
// free ports: three brokers in Metadata, an RF 3 topic takes acks=all
// records, and SIGINT to the script's process group (Ctrl-C) leaves no
// process and no listening port behind, and the data dirs in place.
func TestMakeClusterScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and three zombi processes")
	}
	etcdBin := etcdtest.Binary()
	if etcdBin == "" {
		t.Skip("no etcd (scripts/ensure-deps.sh cluster installs Debian's etcd-server)")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatalf("zombi binary: %v", err)
	}
	ports := make([]int, 9)
	for i := range ports {
		if ports[i], err = zombitest.FreePort(); err != nil {
			t.Fatalf("free port: %v", err)
		}
	}
	join := func(ps []int) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = strconv.Itoa(p)
		}
		return strings.Join(s, ",")
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	cmd := exec.Command("bash", repoPath("scripts/cluster.sh"))
	cmd.Dir = repoPath(".")
	cmd.Env = append(os.Environ(),
		"ZOMBI_BIN="+bin, "ZOMBI_ETCD_BIN="+etcdBin, "CLUSTER_DIR="+dir,
		"CLUSTER_ETCD_PORT="+strconv.Itoa(ports[0]), "CLUSTER_ETCD_PEER_PORT="+strconv.Itoa(ports[1]),
		"CLUSTER_KAFKA_PORTS="+join(ports[2:5]), "CLUSTER_HTTP_PORTS="+join(ports[5:8]),
		"CLUSTER_SESSION_TIMEOUT_MS=2000", "ZOMBI_LOG=warn", "CLUSTER_S3_PORT="+strconv.Itoa(ports[8]))
	if vgw := s3test.Binary(); vgw != "" {
		cmd.Env = append(cmd.Env, "ZOMBI_VERSITYGW="+vgw) // the shared bucket
	} else {
		t.Log("no versitygw: the cluster runs without S3 (CLUSTER_S3=off)")
		cmd.Env = append(cmd.Env, "CLUSTER_S3=off")
	}
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, as a terminal's foreground job: Ctrl-C is a
	// SIGINT to the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start scripts/cluster.sh: %v", err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
	})
	logs := func() string {
		s := "script output:\n" + out.String()
		for _, f := range []string{"etcd.log", "s3.log", "node-1.log", "node-2.log", "node-3.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			if len(b) > 2000 {
				b = b[len(b)-2000:]
			}
			s += "\n--- " + f + ":\n" + string(b)
		}
		return s
	}

	// Ready once the script says so (every node's /health/ready).
	deadline := time.Now().Add(45 * time.Second)
	for !strings.Contains(out.String(), "three Zombi nodes are up") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("scripts/cluster.sh exited before the cluster was up: %v\n%s", err, logs())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not up after 45 s\n%s", logs())
		}
	}
	if want := "S3           http://127.0.0.1:" + strconv.Itoa(ports[8]) + " bucket zombi-cluster"; s3test.Binary() != "" && !strings.Contains(out.String(), want) {
		t.Errorf("the script's banner does not say %q:\n%s", want, out.String())
	}
	if want := "cluster info --api http://localhost:" + strconv.Itoa(ports[5]); !strings.Contains(out.String(), want) {
		t.Errorf("the script's banner does not say %q:\n%s", want, out.String())
	}

	seeds := []string{}
	for _, p := range ports[2:5] {
		seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(p))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("deploy-cluster"), kgo.RecordRetries(20))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var brokers kadm.BrokerDetails
	for {
		md, err := adm.Metadata(ctx)
		if err == nil && len(md.Brokers) == 3 {
			brokers = md.Brokers
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Metadata never listed 3 brokers (last %v, %v)\n%s", md.Brokers, err, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, b := range brokers {
		if b.NodeID < 1 || b.NodeID > 3 || b.Port < 1 {
			t.Errorf("broker %+v: want node ids 1..3 with their Kafka ports", b)
		}
	}
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "deploy-cluster"); err != nil {
		t.Fatalf("CreateTopic RF 3: %v\n%s", err, logs())
	}
	for i := 0; i < 30; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d: %v\n%s", i, err, logs())
		}
	}
	cl.Close()

	// Ctrl-C.
	if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	select {
	case err := <-done:
		stopped = true
		// 130: the INT trap stopped everything (not a node that died first).
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("scripts/cluster.sh after SIGINT: %v, want exit status 130\n%s", err, logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("scripts/cluster.sh still running 30 s after SIGINT\n%s", logs())
	}
	// No process of the group is left (the script waited for its children),
	// nor any that names the cluster's dir (etcd runs in a session of its own).
	if left := leftovers(pgid, dir); len(left) > 0 {
		t.Errorf("processes left in the group after Ctrl-C: %v\n%s", left, logs())
	}
	for _, p := range ports {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("port %d still listening after Ctrl-C", p)
		}
	}
	dirs := []string{"etcd", "node-1", "node-2", "node-3"}
	if s3test.Binary() != "" {
		dirs = append(dirs, "s3")
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(dir, d)); err != nil {
			t.Errorf("data dir %s not kept for the next run: %v", d, err)
		}
	}
}

// leftovers lists the live processes of process group pgid, or whose command
// line holds dir (from /proc).
func leftovers(pgid int, dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if g, _ := strconv.Atoi(f[2]); g == pgid || bytes.Contains(cmdline, []byte(dir)) {
			left = append(left, fmt.Sprintf("%d %s", pid, s[strings.IndexByte(s, '(')+1:i]))
		}
	}
	return left
}

// TestMakeClusterScriptRefuses: a taken port or a wrong port list stops the
// script before it starts anything, with a line that names the problem.
func TestMakeClusterScriptRefuses(t *testing.T) {
	etcdBin := etcdtest.Binary()
	if etcdBin == "" {
		t.Skip("no etcd")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	free := func() string {
		p, err := zombitest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(p)
	}
	// Any executable stands for zombi: nothing may be started.
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"taken port", []string{"CLUSTER_KAFKA_PORTS=" + free() + "," + taken + "," + free()}, "port " + taken + " on 127.0.0.1 is in use"},
		{"two ports", []string{"CLUSTER_HTTP_PORTS=" + free() + "," + free()}, "need three comma-separated ports"},
	} {
		dir := filepath.Join(t.TempDir(), "cluster")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, "bash", repoPath("scripts/cluster.sh"))
		cmd.Dir = repoPath(".")
		cmd.Env = append(os.Environ(), append([]string{"ZOMBI_BIN=/bin/true", "ZOMBI_ETCD_BIN=" + etcdBin, "CLUSTER_DIR=" + dir,
			"CLUSTER_ETCD_PORT=" + free(), "CLUSTER_ETCD_PEER_PORT=" + free(),
			"CLUSTER_KAFKA_PORTS=" + free() + "," + free() + "," + free(), "CLUSTER_HTTP_PORTS=" + free() + "," + free() + "," + free()}, tc.env...)...)
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: %v, want exit status 1 and %q:\n%s", tc.name, err, tc.want, out)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: %s created: the script started before refusing", tc.name, dir)
		}
	}
}
