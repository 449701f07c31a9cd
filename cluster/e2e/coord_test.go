package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterGroupCoordinatorFailover: a group of three franz-go consumers
// reads an RF 3 topic, committing after each poll; the node leading the
// group's __consumer_offsets partition (its coordinator) is killed with
// SIGKILL. The members get NOT_COORDINATOR, find the new coordinator (the
// partition's new leader), rejoin and resume from their commits: every
// record is read, and none is delivered again below an offset whose commit
// was acknowledged (acks=all: a failover loses no commit).
func TestClusterGroupCoordinatorFailover(t *testing.T) {
	const (
		topic      = "coord-failover"
		group      = "coord-failover-group"
		partitions = 6
		before     = 600 // records produced before the kill
		after      = 300 // and after
	)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	adm := c.Admin(t)
	if r, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	for p := range int32(partitions) {
		c.WaitISR(t, topic, p, 3)
	}
	prod := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			r := &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "%d", i)}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce record %d: %v", i, err)
			}
		}
	}
	produce(0, before)

	// The group's coordinator: the leader of its partition, once created
	// (the first FindCoordinator creates __consumer_offsets).
	cp := coordlog.Partition(group)
	coordinator := findCoordinator(ctx, t, c, group, -1)
	pi := c.WaitISR(t, coordlog.OffsetsTopic, cp, 3)
	if pi.Leader != coordinator {
		t.Fatalf("FindCoordinator names node %d, the leader of %s-%d is %d", coordinator, coordlog.OffsetsTopic, cp, pi.Leader)
	}
	t.Logf("group %s: partition %d, coordinator node %d (epoch %d)", group, cp, coordinator, pi.LeaderEpoch)

	led := newDeliveryLedger(partitions)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	for m := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runMember(runCtx, c, topic, group, m, led); err != nil {
				errs <- fmt.Errorf("member %d: %w", m, err)
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	waitLedger(ctx, t, "a commit on every partition and a third of the records committed before the kill", func() bool {
		return led.committedTotal() >= before/3 && slices.Min(led.committedSnapshot()) > 0
	})
	atKill := led.committedSnapshot()
	killed := time.Now()
	c.Kill(coordinator)
	t.Logf("killed node %d with commits %v", coordinator, atKill)

	// Kafka's rule: the partition's new leader (an ISR member) is the new
	// coordinator.
	newCoord := findCoordinator(ctx, t, c, group, coordinator)
	t.Logf("new coordinator node %d, found %s after the kill", newCoord, time.Since(killed).Round(time.Millisecond))
	waitLedger(ctx, t, "a commit acknowledged by the new coordinator", func() bool { return led.commitsSince(killed) > 0 })
	t.Logf("first commit after the kill acknowledged %s after it", led.firstCommitAfter(killed).Sub(killed).Round(time.Millisecond))

	produce(before, after)
	waitLedger(ctx, t, "every record read and committed", func() bool { return led.committedTotal() == before+after })
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	if missing := led.missing(before + after); len(missing) > 0 {
		t.Errorf("records never delivered: %v", missing)
	}
	if v := led.violations(); len(v) > 0 {
		t.Errorf("records delivered again below an acknowledged commit (a lost commit):\n%v", v)
	}
	// The commits are in the new coordinator's view: a fresh OffsetFetch
	// names the end of every partition.
	live := kadm.NewClient(c.Client(t, kgo.SeedBrokers(c.LiveSeeds()...)))
	var offs kadm.OffsetResponses
	for {
		var err error
		if offs, err = live.FetchOffsets(ctx, group); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("OffsetFetch from the new coordinator: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for p := range int32(partitions) {
		want := int64((before + after) / partitions)
		if o, ok := offs.Lookup(topic, p); !ok || o.Err != nil || o.At != want {
			t.Errorf("committed offset of %s/%d: %+v, want %d", topic, p, o, want)
		}
	}
	t.Logf("deliveries %d for %d records, %d re-deliveries at or above the last commit", led.deliveries(), before+after, led.deliveries()-(before+after))
}

// runMember is one group member: poll, record each delivery, commit what
// it consumed of the partitions it owns, allow the rebalance
// (BlockRebalanceOnPoll: no partition changes owner between the poll and
// the commit, so an acknowledged commit is the group's last word).
func runMember(ctx context.Context, c *clustertest.Cluster, topic, group string, m int, led *deliveryLedger) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond), kgo.RebalanceTimeout(10*time.Second),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.ClientID(fmt.Sprintf("member-%d", m)))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 20)
		fs.EachRecord(func(r *kgo.Record) { led.delivered(r.Partition, r.Offset, string(r.Value)) })
		// Uncommitted: what this member consumed of the partitions it owns
		// (a commit that failed is tried again with the next one).
		if unc := cl.UncommittedOffsets()[topic]; len(unc) > 0 {
			if err := cl.CommitUncommittedOffsets(ctx); err == nil {
				led.committed(unc)
			} else if ctx.Err() == nil && !retriableCommitErr(err) {
				cl.AllowRebalance()
				return fmt.Errorf("commit: %w", err)
			}
			time.Sleep(20 * time.Millisecond) // spread the reading over the kill
		}
		cl.AllowRebalance()
	}
	return nil
}

// retriableCommitErr: a commit that failed because the group moved or is
// rebalancing; the member rejoins and the records are delivered again from
// the last acknowledged commit.
func retriableCommitErr(err error) bool {
	for _, e := range []error{kerr.UnknownMemberID, kerr.IllegalGeneration, kerr.RebalanceInProgress,
		kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.RequestTimedOut} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || kerr.IsRetriable(err)
}

// findCoordinator asks FindCoordinator for group until a live node other
// than not answers.
func findCoordinator(ctx context.Context, t *testing.T, c *clustertest.Cluster, group string, not int32) int32 {
	t.Helper()
	return findCoordinatorOf(ctx, t, c, 0, group, not)
}

// findCoordinatorOf is findCoordinator for a key type (0 group, 1
// transactional id).
func findCoordinatorOf(ctx context.Context, t *testing.T, c *clustertest.Cluster, kind int8, key string, not int32) int32 {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.LiveSeeds()...))
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorType = key, kind
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := req.RequestWith(rctx, cl)
		cancel()
		cl.Close()
		switch {
		case err != nil:
			last = err.Error()
		case resp.ErrorCode != 0:
			last = kerr.ErrorForCode(resp.ErrorCode).Error()
		case resp.NodeID != not:
			return resp.NodeID
		default:
			last = fmt.Sprintf("still node %d", resp.NodeID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("FindCoordinator %s: no coordinator (other than %d): %s", key, not, last)
	return -1
}

func waitLedger(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deliveryLedger records what the group delivered and committed.
type deliveryLedger struct {
	mu        sync.Mutex
	hw        []int64 // per partition: the highest acknowledged commit
	seen      map[string]bool
	n         int
	bad       []string
	commitsAt []time.Time
}

func newDeliveryLedger(partitions int) *deliveryLedger {
	return &deliveryLedger{hw: make([]int64, partitions), seen: map[string]bool{}}
}

// delivered checks a delivery against the acknowledged commits: a record
// below one was committed as read already, and the group must not deliver
// it again.
func (l *deliveryLedger) delivered(p int32, off int64, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.seen[value] = true
	if off < l.hw[p] {
		l.bad = append(l.bad, fmt.Sprintf("partition %d offset %d delivered after a commit of %d was acknowledged", p, off, l.hw[p]))
	}
}

func (l *deliveryLedger) committed(offs map[int32]kgo.EpochOffset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, o := range offs {
		if o.Offset > l.hw[p] {
			l.hw[p] = o.Offset
		}
	}
	l.commitsAt = append(l.commitsAt, time.Now())
}

func (l *deliveryLedger) committedTotal() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(0)
	for _, h := range l.hw {
		n += h
	}
	return int(n)
}

func (l *deliveryLedger) committedSnapshot() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int64(nil), l.hw...)
}

func (l *deliveryLedger) commitsSince(t0 time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, at := range l.commitsAt {
		if at.After(t0) {
			n++
		}
	}
	return n
}

func (l *deliveryLedger) firstCommitAfter(t0 time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.commitsAt {
		if at.After(t0) {
			return at
		}
	}
	return time.Time{}
}

func (l *deliveryLedger) missing(n int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for i := range n {
		if !l.seen[fmt.Sprint(i)] {
			out = append(out, i)
		}
	}
	return out
}

func (l *deliveryLedger) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.bad...)
}

func (l *deliveryLedger) deliveries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}
