package compat

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// killDialer lets a test cut a client off the network at once, as if its
// process died: open connections close, new dials fail. The client can
// neither heartbeat nor leave its group.
type killDialer struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (d *killDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		_ = c.Close()
	}
}

// ledger counts each record value consumed (and committed) by a group.
type ledger struct {
	mu     sync.Mutex
	counts map[string]int
	by     map[string]map[int32]bool // member name -> partitions it consumed
}

func newLedger() *ledger { return &ledger{counts: map[string]int{}, by: map[string]map[int32]bool{}} }

func (l *ledger) add(member string, recs []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by[member] == nil {
		l.by[member] = map[int32]bool{}
	}
	for _, r := range recs {
		l.counts[string(r.Value)]++
		l.by[member][r.Partition] = true
	}
}

func (l *ledger) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.counts)
}

// groupMember is a franz-go group consumer that counts a batch only once
// its commit succeeded. It blocks rebalances while it holds polled records
// (BlockRebalanceOnPoll), so that a graceful rebalance never hands out
// records it has consumed but not committed: exactly once.
type groupMember struct {
	name   string
	cl     *kgo.Client
	dialer *killDialer
	mu     sync.Mutex // held for one poll-commit round
	stop   chan struct{}
	halt   sync.Once // closes stop
	closed sync.Once // closes cl
	done   chan struct{}
}

func startMember(t *testing.T, addr, group, topic, name string, l *ledger, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{name: name, dialer: &killDialer{}, stop: make(chan struct{}), done: make(chan struct{})}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.Dialer(m.dialer.dial), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	// A test that fails half-way leaves no member consuming behind it.
	t.Cleanup(m.leave)
	go func() {
		defer close(m.done)
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			m.mu.Lock()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			fs := cl.PollFetches(ctx)
			cancel()
			if recs := fs.Records(); len(recs) > 0 {
				cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := cl.CommitRecords(cctx, recs...); err == nil {
					l.add(name, recs)
				}
				ccancel()
			}
			cl.AllowRebalance()
			m.mu.Unlock()
		}
	}()
	return m
}

// leave stops consuming between rounds and closes the client, which leaves
// the group.
func (m *groupMember) leave() {
	m.halt.Do(func() { close(m.stop) })
	<-m.done
	m.closed.Do(m.cl.Close)
}

// kill cuts the member off between two rounds, without a LeaveGroup.
func (m *groupMember) kill() {
	m.mu.Lock()
	m.dialer.kill()
	m.halt.Do(func() { close(m.stop) })
	m.mu.Unlock()
	<-m.done
	m.closed.Do(func() { go m.cl.Close() }) // its LeaveGroup cannot get through
}

// uniqueName is topicName made unique per run (go test -count=N reuses the
// shared server).
func uniqueName(t *testing.T, suffix string) string {
	return topicName(t, suffix) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
}

// waitGroup waits until group is Stable with n members.
func waitGroup(t *testing.T, ctx context.Context, adm *kadm.Client, group string, n int) kadm.DescribedGroup {
	t.Helper()
	for {
		g, err := adm.DescribeGroups(ctx, group)
		if err == nil && g[group].State == "Stable" && len(g[group].Members) == n {
			return g[group]
		}
		if ctx.Err() != nil {
			t.Fatalf("group %s never Stable with %d members: %+v %v", group, n, g[group], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func produceN(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 97)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func waitLedger(t *testing.T, ctx context.Context, l *ledger, n int, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for l.size() < n {
		if ctx.Err() != nil {
			t.Fatalf("%s: consumed %d of %d", what, l.size(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func (l *ledger) checkExactlyOnce(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		if c := l.counts[strconv.Itoa(i)]; c != 1 {
			t.Fatalf("record %d consumed %d times", i, c)
		}
	}
	if len(l.counts) != n {
		t.Fatalf("%d distinct records, want %d", len(l.counts), n)
	}
}

// TestGroupThreeConsumersLeaveKillResume: three franz-go members
// (cooperative-sticky, franz-go's default) on 6 partitions consume 60,000
// records in three phases with commits, exactly once: all three; after one
// left gracefully; after another was cut off without leaving (its session
// times out). Then a new member of the same group, after all are gone,
// starts from the commits.
func TestGroupThreeConsumersLeaveKillResume(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 60*time.Second)
		topic, group := uniqueName(t, "t"), uniqueName(t, "g")
		prod := newClient(t, b.addr, kgo.ProducerLinger(5*time.Millisecond))
		adm := kadm.NewClient(prod)
		if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		waitTopics(t, ctx, prod, map[string]int{topic: 6}) // before the members look it up
		l := newLedger()
		a := startMember(t, b.addr, group, topic, "a", l)
		mb := startMember(t, b.addr, group, topic, "b", l)
		c := startMember(t, b.addr, group, topic, "c", l)

		if st := waitGroup(t, ctx, adm, group, 3); st.Protocol != "cooperative-sticky" {
			t.Fatalf("protocol %s", st.Protocol)
		}
		produceN(t, ctx, prod, topic, 0, 20000)
		waitLedger(t, ctx, l, 20000, "phase 1 (three members)")
		l.mu.Lock()
		if len(l.by) != 3 {
			t.Errorf("phase 1 consumed by %d members, want 3", len(l.by))
		}
		l.mu.Unlock()

		a.leave()
		produceN(t, ctx, prod, topic, 20000, 20000)
		el := waitLedger(t, ctx, l, 40000, "phase 2 (after a graceful leave)")
		t.Logf("phase 2 consumed in %v", el)

		mb.kill()
		killedAt := time.Now()
		produceN(t, ctx, prod, topic, 40000, 20000)
		waitLedger(t, ctx, l, 60000, "phase 3 (after a member was killed)")
		t.Logf("phase 3 consumed %v after the kill (session timeout 3 s)", time.Since(killedAt))
		l.checkExactlyOnce(t, 60000)
		l.mu.Lock()
		if len(l.by["c"]) != 6 {
			t.Errorf("the last member consumed from partitions %v, want all 6", l.by["c"])
		}
		l.mu.Unlock()

		// All gone: the group is Empty, its commits cover everything.
		c.leave()
		fetched, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		fetched.Each(func(o kadm.OffsetResponse) { sum += o.At })
		if sum != 60000 {
			t.Fatalf("commits sum to %d, want 60000", sum)
		}
		// A new member resumes from the commits: only the new records.
		l2 := newLedger()
		d := startMember(t, b.addr, group, topic, "d", l2)
		defer d.leave()
		produceN(t, ctx, prod, topic, 60000, 600)
		waitLedger(t, ctx, l2, 600, "resume")
		time.Sleep(300 * time.Millisecond)
		l2.mu.Lock()
		defer l2.mu.Unlock()
		for v := range l2.counts {
			if i, _ := strconv.Atoi(v); i < 60000 {
				t.Fatalf("resumed group re-read record %d", i)
			}
		}
		if len(l2.counts) != 600 {
			t.Fatalf("resumed group read %d records, want 600", len(l2.counts))
		}
	})
}

// TestGroupResumesAfterZombiRestart: commits made through a group survive a
// restart of Zombi; the group's members rejoin and continue from them.
// Zombi only: it restarts a Zombi of its own on the same data directory
// (Zombi's own store of group commits); kafka.sh formats a fresh data
// directory on every start, and the shared Kafka cannot be restarted under
// the other scenarios.
func TestGroupResumesAfterZombiRestart(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dir := filepath.Join(t.TempDir(), "z")
	z, err := startZombi(dir, []string{"ZOMBI_DEFAULT_PARTITIONS=3"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = z.Stop() }()
	topic, group := uniqueName(t, "t"), uniqueName(t, "g")
	prod := newClient(t, z.KafkaAddr)
	produceN(t, ctx, prod, topic, 0, 3000)
	l := newLedger()
	m := startMember(t, z.KafkaAddr, group, topic, "m1", l)
	waitLedger(t, ctx, l, 3000, "before restart")
	m.leave()
	prod.Close()
	if err := z.Stop(); err != nil {
		t.Fatal(err)
	}
	z, err = startZombi(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	prod = newClient(t, z.KafkaAddr)
	produceN(t, ctx, prod, topic, 3000, 3000)
	m = startMember(t, z.KafkaAddr, group, topic, "m2", l)
	defer m.leave()
	waitLedger(t, ctx, l, 6000, "after restart")
	time.Sleep(300 * time.Millisecond)
	l.checkExactlyOnce(t, 6000)
}

// TestGroupKcatAlongsideFranzGo: kcat's balanced consumer (librdkafka,
// range/roundrobin) and a franz-go member (range) share one group and
// together consume the topic.
func TestGroupKcatAlongsideFranzGo(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		path, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat not on PATH")
		}
		ctx := testCtx(t, 45*time.Second)
		topic, group := uniqueName(t, "t"), uniqueName(t, "g")
		prod := newClient(t, b.addr)
		if _, err := kadm.NewClient(prod).CreateTopic(ctx, 4, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		waitTopics(t, ctx, prod, map[string]int{topic: 4}) // before the members look it up
		const n = 4000
		l := newLedger()
		fm := startMember(t, b.addr, group, topic, "franz", l, kgo.Balancers(kgo.RangeBalancer()))
		defer fm.leave()

		cmd := exec.CommandContext(ctx, "timeout", "30", path, "-G", group, "-b", b.addr, "-u",
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
			"-f", "%p %s\n", topic)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kcatDone := make(chan struct{})
		kparts := map[int32]bool{}
		go func() {
			defer close(kcatDone)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				p, v, ok := strings.Cut(sc.Text(), " ")
				if !ok {
					continue
				}
				pi, _ := strconv.Atoi(p)
				l.add("kcat", []*kgo.Record{{Partition: int32(pi), Value: []byte(v)}})
				l.mu.Lock()
				kparts[int32(pi)] = true
				l.mu.Unlock()
			}
		}()
		// Both members in the group at once.
		adm := kadm.NewClient(prod)
		var clients []string
		for deadline := time.Now().Add(20 * time.Second); ; {
			g, err := adm.DescribeGroups(ctx, group)
			if err == nil && g[group].State == "Stable" && len(g[group].Members) == 2 {
				clients = nil
				for _, m := range g[group].Members {
					clients = append(clients, m.ClientID)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kcat and franz-go never formed a group: %+v %v\nkcat: %s", g[group], err, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		produceN(t, ctx, prod, topic, 0, n)
		waitLedger(t, ctx, l, n, "franz-go and kcat together")
		_ = cmd.Process.Signal(syscall.SIGINT) // kcat leaves the group and exits
		<-kcatDone
		_ = cmd.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(kparts) == 0 || len(l.by["franz"]) == 0 {
			t.Fatalf("partitions: kcat %v, franz-go %v (clients %v)", kparts, l.by["franz"], clients)
		}
		t.Logf("group clients %v; kcat partitions %v, franz-go partitions %v", clients, kparts, l.by["franz"])
	})
}

// TestGroupStartsFromCommittedOffset: an offset committed for a group
// without members (OffsetCommit, as kafka-consumer-groups --reset-offsets
// does) is where a franz-go group member starts; the member's commits are
// what OffsetFetch reads afterwards. TestGroupCommitsAcrossDoors is the same
// with the HTTP door.
func TestGroupStartsFromCommittedOffset(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 30*time.Second)
		topic, group := uniqueName(t, "t"), uniqueName(t, "g")
		prod := newClient(t, b.addr)
		produceN(t, ctx, prod, topic, 0, 100) // auto-created, one partition
		adm := kadm.NewClient(prod)
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 60, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
			t.Fatalf("commit 60 for the empty group: %v", err)
		}
		l := newLedger()
		m := startMember(t, b.addr, group, topic, "m", l)
		waitLedger(t, ctx, l, 40, "from the committed offset")
		m.leave()
		l.mu.Lock()
		for v := range l.counts {
			if i, _ := strconv.Atoi(v); i < 60 {
				t.Fatalf("member started before the committed offset: read %d", i)
			}
		}
		l.mu.Unlock()
		got, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := got.Lookup(topic, 0); !ok || o.At != 100 {
			t.Fatalf("OffsetFetch after the member's commits: %+v", got)
		}
	})
}

// TestGroupCommitsAcrossDoors: a commit made over HTTP is where a franz-go
// group member starts; a franz-go member's commits are what HTTP reads.
// Zombi only: the HTTP door is Zombi's (TestGroupStartsFromCommittedOffset
// is the Kafka-only part, on both brokers).
func TestGroupCommitsAcrossDoors(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	topic, group := uniqueName(t, "t"), uniqueName(t, "g")
	prod := newClient(t, srv.KafkaAddr)
	produceN(t, ctx, prod, topic, 0, 100) // auto-created, one partition
	httpPost(t, "/consumers/"+group+"/commit", map[string]any{"topic": topic, "partition": 0, "offset": 60})
	l := newLedger()
	m := startMember(t, srv.KafkaAddr, group, topic, "m", l)
	waitLedger(t, ctx, l, 40, "from the HTTP commit")
	m.leave()
	l.mu.Lock()
	for v := range l.counts {
		if i, _ := strconv.Atoi(v); i < 60 {
			t.Fatalf("member started before the HTTP commit: read %d", i)
		}
	}
	l.mu.Unlock()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("%s/consumers/%s/offset?topic=%s&partition=0", srv.HTTPBase, group, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Offset int64 `json:"offset"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Offset != 100 {
		t.Fatalf("HTTP offset after the member's commits: %+v %v", body, err)
	}
}
