package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/internal/chaos"
	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/kafkatest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// Kafka's operations on three real nodes over a real etcd: reassignment
// (KIP-455), preferred leader election, decommission, controlled shutdown.

type trio struct {
	etcd  *etcdtest.Etcd
	nodes map[int32]*zombitest.Proc
	seeds []string
	adm   *kadm.Client
}

func startTrio(t *testing.T, extra ...string) *trio {
	t.Helper()
	if testing.Short() {
		t.Skip("starts etcd and three zombi processes")
	}
	e := etcdtest.Start(t)
	dir := t.TempDir()
	tr := &trio{etcd: e, nodes: map[int32]*zombitest.Proc{}}
	for id := 1; id <= 3; id++ {
		env := clusterEnv(e, id, append([]string{"ZOMBI_NODE_RACK=rack-" + strconv.Itoa(id)}, extra...)...)
		p := startZombi(t, filepath.Join(dir, fmt.Sprintf("n%d", id), "data"), env...)
		tr.nodes[int32(id)] = p
		tr.seeds = append(tr.seeds, p.KafkaAddr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(tr.seeds...), kgo.MetadataMinAge(10*time.Millisecond), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	tr.adm = kadm.NewClient(cl)
	tr.waitFor(t, 20*time.Second, "three brokers in Metadata", func(ctx context.Context) (bool, string) {
		md, err := tr.adm.Metadata(ctx)
		return err == nil && len(md.Brokers) == 3, fmt.Sprintf("%+v %v", md.Brokers, err)
	})
	return tr
}

// waitFor polls cond until it holds, failing with its last word after d.
func (tr *trio) waitFor(t *testing.T, d time.Duration, what string, cond func(context.Context) (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok, last := cond(ctx)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tr *trio) partitions(t *testing.T, topic string) map[int32]kadm.PartitionDetail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := tr.adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	return md.Topics[topic].Partitions
}

// settled: every partition has its replicas all in the ISR, a leader, and
// no reassignment in progress.
func (tr *trio) settled(topic string, replicas func(p int32) []int32) func(context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		md, err := tr.adm.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		ra, err := tr.adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: tpSet(md.Topics[topic].Partitions)})
		if err != nil || len(ra[topic]) > 0 {
			return false, fmt.Sprintf("reassignments %+v %v", ra, err)
		}
		for p, pd := range md.Topics[topic].Partitions {
			want := pd.Replicas
			if replicas != nil {
				want = replicas(p)
			}
			if pd.Err != nil || pd.Leader < 0 || !slices.Equal(pd.Replicas, want) || !sameSet(pd.ISR, want) {
				return false, fmt.Sprintf("partition %d: %+v, want replicas %v all in sync", p, pd, want)
			}
		}
		return true, ""
	}
}

func tpSet(ps kadm.PartitionDetails) map[int32]struct{} {
	out := map[int32]struct{}{}
	for p := range ps {
		out[p] = struct{}{}
	}
	return out
}

func sameSet(a, b []int32) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(x int32) bool { return !slices.Contains(b, x) })
}

// workload runs idempotent acks=all franz-go producers into topic until
// the returned stop, which checks that nothing was lost, duplicated or
// reused and returns the report.
func (tr *trio) workload(t *testing.T, topic string, opts ...kgo.Opt) (*chaos.Ledger, func() chaos.Report) {
	t.Helper()
	l := chaos.NewLedger()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := chaos.RunFranzProducers(ctx, chaos.ProducerConfig{Seeds: tr.seeds, Topic: topic, Producers: 2, Rate: 200, Opts: opts}, l); err != nil {
			t.Errorf("producers: %v", err)
		}
	})
	var once sync.Once
	var rep chaos.Report
	stop := func() chaos.Report {
		once.Do(func() {
			cancel()
			wg.Wait()
			rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer rcancel()
			if err := chaos.ReadAll(rctx, tr.seeds, topic, l); err != nil {
				t.Fatalf("final read: %v", err)
			}
			rep = l.Check()
			t.Logf("%s", rep)
			if err := rep.Err(); err != nil {
				t.Fatal(err)
			}
			if rep.Acked == 0 {
				t.Fatal("nothing was acknowledged")
			}
		})
		return rep
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return l, stop
}

func (tr *trio) reassign(t *testing.T, topic string, moves map[int32][]int32) {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	for p, r := range moves {
		req.Assign(topic, p, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := tr.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("reassign %v: %v", moves, err)
	}
	for p, r := range res[topic] {
		if r.Err != nil {
			t.Fatalf("reassign %s-%d: %v %s", topic, p, r.Err, r.ErrMessage)
		}
	}
}

// TestClusterReassignOnline: RF 1 -> 3 while producers write, then a
// reassignment that moves a leader off its node, then a cancel; nothing
// acknowledged is lost.
func TestClusterReassignOnline(t *testing.T) {
	tr := startTrio(t)
	ctx := context.Background()
	const topic = "grow"
	if err := chaos.EnsureTopic(ctx, tr.seeds, topic, 3, 1, nil); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, 20*time.Second, "RF 1 topic led", tr.settled(topic, nil))
	l, stop := tr.workload(t, topic)
	time.Sleep(time.Second)

	// RF 1 -> 3: each partition keeps its replica first (its leader stays).
	before := tr.partitions(t, topic)
	moves := map[int32][]int32{}
	for p, pd := range before {
		target := []int32{pd.Replicas[0]}
		for id := int32(1); id <= 3; id++ {
			if id != pd.Replicas[0] {
				target = append(target, id)
			}
		}
		moves[p] = target
	}
	start := time.Now()
	healed := l.StartFault("RF 1 -> 3", 0, 1, 2)
	tr.reassign(t, topic, moves)
	tr.waitFor(t, 30*time.Second, "RF 3 in sync", tr.settled(topic, func(p int32) []int32 { return moves[p] }))
	healed()
	t.Logf("RF 1 -> 3 of 3 partitions under load: %s", time.Since(start).Round(time.Millisecond))

	// Move a partition's leader off its node: the target is the other two.
	// A partition not led by the controller, so that the cancel below can
	// stop that node (admin requests go to the controller).
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
	md, err := tr.adm.Metadata(mctx, topic)
	mcancel()
	if err != nil {
		t.Fatal(err)
	}
	mp := int32(-1)
	for p, pd := range md.Topics[topic].Partitions {
		if pd.Leader != md.Controller {
			mp = p
			break
		}
	}
	if mp < 0 {
		t.Fatalf("every partition is led by the controller %d: %+v", md.Controller, md.Topics[topic].Partitions)
	}
	pd := md.Topics[topic].Partitions[mp]
	old := pd.Leader
	var target []int32
	for _, r := range pd.Replicas {
		if r != old {
			target = append(target, r)
		}
	}
	healed = l.StartFault("leader moved off its node by reassignment", mp)
	tr.reassign(t, topic, map[int32][]int32{mp: target})
	tr.waitFor(t, 30*time.Second, fmt.Sprintf("partition %d on %v", mp, target), tr.settled(topic, func(p int32) []int32 {
		if p == mp {
			return target
		}
		return moves[p]
	}))
	healed()
	if pd := tr.partitions(t, topic)[mp]; pd.Leader == old || !slices.Contains(target, pd.Leader) || pd.LeaderEpoch <= before[mp].LeaderEpoch {
		t.Fatalf("partition %d after the move: %+v, want a leader in %v other than %d with a newer epoch", mp, pd, target, old)
	}

	// Cancel: node `old` is stopped (SIGSTOP, still registered for the
	// session timeout) so that the reassignment adding it cannot finish.
	victim := tr.nodes[old]
	if err := victim.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = victim.Cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	grown := append(slices.Clone(target), old)
	tr.reassign(t, topic, map[int32][]int32{mp: grown})
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ra, err := tr.adm.ListPartitionReassignments(lctx, kadm.TopicsSet{topic: {mp: {}}})
	cancel()
	if got := ra[topic][mp]; err != nil || !slices.Equal(got.AddingReplicas, []int32{old}) || !slices.Equal(got.Replicas, grown) {
		t.Fatalf("in progress: %+v, %v; want adding [%d]", ra, err, old)
	}
	var creq kadm.AlterPartitionAssignmentsReq
	creq.CancelAssign(topic, mp)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := tr.adm.AlterPartitionAssignments(cctx, creq)
	cancel()
	if err != nil || res[topic][mp].Err != nil {
		t.Fatalf("cancel: %+v, %v", res, err)
	}
	_ = victim.Cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	tr.waitFor(t, 30*time.Second, "cancelled back to "+fmt.Sprint(target), tr.settled(topic, func(p int32) []int32 {
		if p == mp {
			return target
		}
		return moves[p]
	}))
	rep := stop()
	for _, f := range rep.Faults {
		t.Logf("%s: longest gap between acks %s (partition %d)", f.Name, f.Gap.Round(time.Millisecond), f.Partition)
	}
}

// TestClusterElectPreferredAfterFailover: a killed preferred leader comes
// back as a follower; ElectLeaders (PREFERRED) gives it its partitions
// back. The gap between acks across the election is the controlled leader
// move time.
func TestClusterElectPreferredAfterFailover(t *testing.T) {
	tr := startTrio(t)
	ctx := context.Background()
	const topic = "pref"
	if err := chaos.EnsureTopic(ctx, tr.seeds, topic, 3, 3, nil); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, 20*time.Second, "RF 3 in sync", tr.settled(topic, nil))
	l, stop := tr.workload(t, topic)
	time.Sleep(500 * time.Millisecond)

	p0 := tr.partitions(t, topic)[0]
	pref := p0.Replicas[0]
	if p0.Leader != pref {
		t.Fatalf("partition 0 starts led by %d, not its preferred %d", p0.Leader, pref)
	}
	victim := tr.nodes[pref]
	healed := l.StartFault("kill -9 of the preferred leader", 0)
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	healed()
	tr.waitFor(t, 15*time.Second, "failover", func(ctx context.Context) (bool, string) {
		md, err := tr.adm.Metadata(ctx, topic)
		pd := md.Topics[topic].Partitions[0]
		return err == nil && pd.Leader >= 0 && pd.Leader != pref, fmt.Sprintf("%+v %v", pd, err)
	})
	back, err := victim.Restart()
	if err != nil {
		t.Fatal(err)
	}
	tr.nodes[pref] = back
	t.Cleanup(func() { _ = back.Kill() })
	tr.waitFor(t, 30*time.Second, "the restarted node back in every ISR", tr.settled(topic, nil))
	if pd := tr.partitions(t, topic)[0]; pd.Leader == pref {
		t.Fatalf("partition 0 went back to %d without an election", pref)
	}

	// Writes to partition 0 flow again before the election is measured.
	settledAt := time.Now()
	tr.waitFor(t, 20*time.Second, "acks on partition 0 after the failover", func(context.Context) (bool, string) {
		n := 0
		for _, a := range l.History().Acks {
			if a.Partition == 0 && a.At.After(settledAt) {
				n++
			}
		}
		return n >= 10, fmt.Sprintf("%d acks on partition 0 since %s", n, settledAt.Format(time.StampMilli))
	})
	healed = l.StartFault("preferred election (controlled leader move)", 0)
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := tr.adm.ElectLeaders(ectx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 1: {}, 2: {}}})
	cancel()
	healed()
	if err != nil || res[topic][0].Err != nil {
		t.Fatalf("elect: %+v, %v", res, err)
	}
	tr.waitFor(t, 10*time.Second, "every preferred replica leads", func(ctx context.Context) (bool, string) {
		md, err := tr.adm.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		for _, pd := range md.Topics[topic].Partitions {
			if pd.Leader != pd.Replicas[0] {
				return false, fmt.Sprintf("%+v", pd)
			}
		}
		return true, ""
	})
	// Again: nothing to do.
	ectx, cancel = context.WithTimeout(ctx, 10*time.Second)
	res, err = tr.adm.ElectLeaders(ectx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	cancel()
	if err != nil || res[topic][0].Err == nil {
		t.Fatalf("second election: %+v, %v; want ELECTION_NOT_NEEDED", res, err)
	}
	rep := stop()
	for _, f := range rep.Faults {
		t.Logf("%s: longest gap between acks %s (partition %d)", f.Name, f.Gap.Round(time.Millisecond), f.Partition)
	}
}

// TestClusterRollingRestart: each node in turn gets SIGTERM (a controlled
// shutdown: its leaderships move first) and comes back, under idempotent
// acks=all producers with RF 3 and min.insync.replicas=2: no produce
// fails, nothing is lost, and the writes of the partitions it led pause
// only for the leader move.
func TestClusterRollingRestart(t *testing.T) {
	tr := startTrio(t, "ZOMBI_LOG=info") // the controlled shutdown's line
	ctx := context.Background()
	const topic = "roll"
	two := "2"
	if err := chaos.EnsureTopic(ctx, tr.seeds, topic, 3, 3, map[string]*string{"min.insync.replicas": &two}); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, 20*time.Second, "RF 3 in sync", tr.settled(topic, nil))
	moves := tr.watchLeaders(t, topic)
	// A record not acknowledged within 10 s counts as failed.
	l, stop := tr.workload(t, topic, kgo.RecordDeliveryTimeout(10*time.Second))
	time.Sleep(time.Second)
	for id := int32(1); id <= 3; id++ {
		var led []int32
		for p, pd := range tr.partitions(t, topic) {
			if pd.Leader == id {
				led = append(led, p)
			}
		}
		victim := tr.nodes[id]
		healed := l.StartFault(fmt.Sprintf("rolling restart of node %d (led %v)", id, led), led...)
		start := time.Now()
		if err := victim.Stop(); err != nil {
			t.Fatalf("node %d: SIGTERM: %v\n%s", id, err, victim.Log())
		}
		stopped := time.Since(start)
		if want := fmt.Sprintf(`msg="controlled shutdown" moved=%d kept=0`, len(led)); !strings.Contains(victim.Log(), want) {
			t.Fatalf("node %d's log does not say %s:\n%s", id, want, victim.Log())
		}
		back, err := victim.Restart()
		if err != nil {
			t.Fatalf("restart node %d: %v", id, err)
		}
		tr.nodes[id] = back
		t.Cleanup(func() { _ = back.Kill() })
		healed()
		t.Logf("node %d: stopped in %s (controlled shutdown included), back in %s", id, stopped.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		tr.waitFor(t, 30*time.Second, fmt.Sprintf("node %d back in every ISR", id), tr.settled(topic, nil))
	}
	rep := stop()
	if rep.Failures != 0 {
		t.Fatalf("%d produces failed during the rolling restart: %v", rep.Failures, rep.FailureErrors)
	}
	// The controlled leader move: from the new state in etcd to the first
	// acknowledgement on that partition after it.
	var took []time.Duration
	for _, m := range moves() {
		first := time.Time{}
		for _, a := range l.History().Acks {
			if a.Partition == m.partition && a.At.After(m.at) && (first.IsZero() || a.At.Before(first)) {
				first = a.At
			}
		}
		if first.IsZero() {
			t.Errorf("partition %d: no acknowledgement after its leader moved to %d", m.partition, m.leader)
			continue
		}
		took = append(took, first.Sub(m.at))
	}
	slices.Sort(took)
	if len(took) == 0 {
		t.Fatal("no leader move seen in etcd")
	}
	t.Logf("controlled leader moves: %d, state written -> first ack: median %s, max %s (all %v)",
		len(took), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), took)
	if max := took[len(took)-1]; max > 3*time.Second {
		t.Errorf("a controlled leader move took %s to its first ack", max)
	}
	for _, f := range rep.Faults {
		t.Logf("%s: longest gap between acks %s (partition %d)", f.Name, f.Gap.Round(time.Millisecond), f.Partition)
		if len(f.Partitions) > 0 && f.Gap > 3*time.Second {
			t.Errorf("%s: writes paused %s, want a leader move well under 3 s", f.Name, f.Gap)
		}
	}
}

// zombiCLI runs the zombi binary against the trio and returns its exit
// status, stdout and stderr.
func (tr *trio) zombiCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "ZOMBI_BROKERS="+strings.Join(tr.seeds, ","))
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("zombi %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

func (tr *trio) cliOK(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errs := tr.zombiCLI(t, args...)
	if code != 0 {
		t.Fatalf("zombi %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out, errs
}

// holders is the partitions of topic that list node id as a replica.
func (tr *trio) holders(t *testing.T, topic string, id int32) []int32 {
	t.Helper()
	var out []int32
	for p, pd := range tr.partitions(t, topic) {
		if slices.Contains(pd.Replicas, id) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// TestClusterReassignCLI: zombi topic reassign (--replicas --wait, --plan,
// --status, --cancel) and zombi node decommission (a plan that changes
// nothing, then --execute) while producers write.
func TestClusterReassignCLI(t *testing.T) {
	tr := startTrio(t)
	ctx := context.Background()
	const topic = "dec"
	if err := chaos.EnsureTopic(ctx, tr.seeds, topic, 6, 2, nil); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, 20*time.Second, "RF 2 in sync", tr.settled(topic, nil))
	_, stop := tr.workload(t, topic)

	tr.cliOK(t, "topic", "reassign", topic, "--partition", "0", "--replicas", "3,1", "--wait")
	if pd := tr.partitions(t, topic)[0]; !slices.Equal(pd.Replicas, []int32{3, 1}) || !sameSet(pd.ISR, []int32{1, 3}) {
		t.Fatalf("partition 0 after reassign --wait: %+v, want replicas [3 1] in sync", pd)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(plan, []byte(`{"version":1,"partitions":[{"topic":"dec","partition":1,"replicas":[3,2],"log_dirs":["any","any"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.cliOK(t, "topic", "reassign", "--plan", plan, "--wait")
	// --wait ends when the catalog has the result; the node Metadata asks
	// may learn it a moment later.
	tr.waitFor(t, 10*time.Second, "partition 1 on [3 2] after --plan", func(context.Context) (bool, string) {
		pd := tr.partitions(t, topic)[1]
		return slices.Equal(pd.Replicas, []int32{3, 2}), fmt.Sprintf("%+v", pd)
	})
	if out, _ := tr.cliOK(t, "topic", "reassign", "--status"); !strings.Contains(out, "no reassignment in progress") {
		t.Fatalf("--status: %s", out)
	}
	if code, _, errs := tr.zombiCLI(t, "topic", "reassign", topic, "--partition", "0", "--cancel"); code != 1 || !strings.Contains(errs, "1 of 1 partitions refused") {
		t.Fatalf("cancel with nothing in progress: exit %d, %s", code, errs)
	}
	if code, _, errs := tr.zombiCLI(t, "topic", "reassign", topic, "--partition", "0", "--replicas", "1,1"); code != 1 {
		t.Fatalf("a node twice: exit %d, %s", code, errs)
	}

	held := tr.holders(t, topic, 3)
	if len(held) < 2 {
		t.Fatalf("node 3 holds %v: the test wants several", held)
	}
	out, errs := tr.cliOK(t, "node", "decommission", "3")
	if !strings.Contains(errs, "dry run: nothing changed") || strings.Count(out, "\n"+topic+" ") != len(held) {
		t.Fatalf("decommission plan for %v:\nstdout:\n%s\nstderr:\n%s", held, out, errs)
	}
	if now := tr.holders(t, topic, 3); !slices.Equal(now, held) {
		t.Fatalf("the dry run changed node 3's partitions: %v, was %v", now, held)
	}
	start := time.Now()
	_, errs = tr.cliOK(t, "node", "decommission", "3", "--execute")
	if !strings.Contains(errs, "node 3 holds no replica: it can be stopped") || !strings.Contains(errs, fmt.Sprintf("%d of %d partitions moved", len(held), len(held))) {
		t.Fatalf("decommission --execute said:\n%s", errs)
	}
	t.Logf("decommission of node 3 (%d partitions) under load: %s", len(held), time.Since(start).Round(time.Millisecond))
	if now := tr.holders(t, topic, 3); len(now) != 0 {
		t.Fatalf("node 3 still holds %v", now)
	}
	tr.waitFor(t, 20*time.Second, "every partition in sync", tr.settled(topic, nil))
	stop()
}

// TestClusterKafkaReassignPartitionsTool: Apache Kafka 4.4's
// kafka-reassign-partitions.sh --execute, then --verify until complete.
func TestClusterKafkaReassignPartitionsTool(t *testing.T) {
	if why := kafkatest.Missing(); why != "" {
		t.Skip("Kafka's tools: " + why)
	}
	tr := startTrio(t)
	ctx := context.Background()
	const topic = "kr"
	if err := chaos.EnsureTopic(ctx, tr.seeds, topic, 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, 20*time.Second, "RF 1 led", tr.settled(topic, nil))
	plan := filepath.Join(t.TempDir(), "reassign.json")
	if err := os.WriteFile(plan, []byte(`{"version":1,"partitions":[`+
		`{"topic":"kr","partition":0,"replicas":[1,2,3],"log_dirs":["any","any","any"]},`+
		`{"topic":"kr","partition":1,"replicas":[2,3]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tool := func(args ...string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		out, errOut, err := kafkatest.Tool(tctx, "", "kafka-reassign-partitions",
			append([]string{"--bootstrap-server", tr.seeds[0], "--reassignment-json-file", plan}, args...)...)
		if err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		return out
	}
	out := tool("--execute")
	if !strings.Contains(out, "Successfully started partition reassignments for kr-0,kr-1") {
		t.Fatalf("--execute said:\n%s", out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out = tool("--verify")
		if strings.Contains(out, "Reassignment of partition kr-0 is completed") && strings.Contains(out, "Reassignment of partition kr-1 is completed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("--verify never saw both complete:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	ps := tr.partitions(t, topic)
	if !slices.Equal(ps[0].Replicas, []int32{1, 2, 3}) || !slices.Equal(ps[1].Replicas, []int32{2, 3}) {
		t.Fatalf("after the tool: %+v", ps)
	}
	// kafka-leader-election: a reorder of kr-0's replicas (written at once,
	// the leader stays) leaves it led by a replica that is not the first;
	// the election moves it there.
	reorder := []int32{}
	for _, r := range ps[0].Replicas {
		if r != ps[0].Leader {
			reorder = append(reorder, r)
		}
	}
	reorder = append(reorder, ps[0].Leader) // the leader last: not preferred
	tr.reassign(t, topic, map[int32][]int32{0: reorder})
	tr.waitFor(t, 10*time.Second, "kr-0 reordered", tr.settled(topic, func(p int32) []int32 {
		if p == 0 {
			return reorder
		}
		return ps[1].Replicas
	}))
	tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	out, errOut, err := kafkatest.Tool(tctx, "", "kafka-leader-election", "--bootstrap-server", tr.seeds[0],
		"--election-type", "PREFERRED", "--all-topic-partitions")
	cancel()
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	elected := slices.ContainsFunc(strings.Split(out, "\n"), func(line string) bool {
		return strings.HasPrefix(line, "Successfully completed leader election (PREFERRED) for partitions") && strings.Contains(line, "kr-0")
	})
	if !elected {
		t.Fatalf("kafka-leader-election (kr-0 %v led by %d) said:\nstdout:\n%s\nstderr:\n%s", reorder, ps[0].Leader, out, errOut)
	}
	tr.waitFor(t, 10*time.Second, "preferred leaders", func(ctx context.Context) (bool, string) {
		md, err := tr.adm.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		for _, pd := range md.Topics[topic].Partitions {
			if pd.Leader != pd.Replicas[0] {
				return false, fmt.Sprintf("%+v", pd)
			}
		}
		return true, ""
	})
}

type leaderMove struct {
	at        time.Time
	partition int32
	leader    int32
}

// watchLeaders watches topic's partition states in etcd and returns what
// it saw so far: each leader change with the time the test learnt of it.
func (tr *trio) watchLeaders(t *testing.T, topic string) func() []leaderMove {
	t.Helper()
	cli := etcdClient(t, tr.etcd)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	prefix := "/zombi/" + meta.PartitionsPrefix + topic + "/"
	var mu sync.Mutex
	var moves []leaderMove
	leaders := map[int32]int32{}
	wch := cli.Watch(ctx, prefix, clientv3.WithPrefix())
	go func() {
		for resp := range wch {
			now := time.Now()
			for _, ev := range resp.Events {
				p, err := strconv.Atoi(strings.TrimPrefix(string(ev.Kv.Key), prefix))
				var st meta.PartitionState
				if err != nil || json.Unmarshal(ev.Kv.Value, &st) != nil {
					continue
				}
				mu.Lock()
				if old, seen := leaders[int32(p)]; seen && old != st.Leader && st.Leader >= 0 {
					moves = append(moves, leaderMove{at: now, partition: int32(p), leader: st.Leader})
				}
				leaders[int32(p)] = st.Leader
				mu.Unlock()
			}
		}
	}()
	// The watch starts now: the first state of each partition is learnt
	// from its first event; a read gives them at once.
	gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
	defer gcancel()
	resp, err := cli.Get(gctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, kv := range resp.Kvs {
		p, err := strconv.Atoi(strings.TrimPrefix(string(kv.Key), prefix))
		var st meta.PartitionState
		if err == nil && json.Unmarshal(kv.Value, &st) == nil {
			if _, seen := leaders[int32(p)]; !seen {
				leaders[int32(p)] = st.Leader
			}
		}
	}
	mu.Unlock()
	return func() []leaderMove {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(moves)
	}
}
