package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDrainAnswersRequestsInProgress: Drain lets a request already sent (a
// Fetch long poll here, which it ends at once) be answered before its
// connection closes, closes idle connections, and stops accepting.
func TestDrainAnswersRequestsInProgress(t *testing.T) {
	e := startServer(t, testConfig())
	info, err := e.l.CreateTopic("drain", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pingedClient(t, e.addr) // stays idle
	cl := pingedClient(t, e.addr)

	const wait = 3 * time.Second
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(wait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "drain", info.UUID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	type result struct {
		resp kmsg.Response
		err  error
		took time.Duration
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		r, err := cl.Request(ctx, req)
		res <- result{r, err, time.Since(start)}
	}()
	time.Sleep(150 * time.Millisecond) // the long poll is under way

	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	drainStart := time.Now()
	e.s.Drain(dctx)
	drained := time.Since(drainStart)

	r := <-res
	if r.err != nil {
		t.Fatalf("the fetch in progress when Drain began: %v, want its answer", r.err)
	}
	fr := r.resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || fr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("fetch answer %+v, want an empty answer without errors", fr)
	}
	if r.took > wait/2 {
		t.Fatalf("the fetch took %s: Drain should end its long poll (%s) at once", r.took, wait)
	}
	if drained > time.Second {
		t.Fatalf("Drain took %s, want the drain quiet time and a little", drained)
	}
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Fatal("a new connection was accepted after Drain")
	}
	e.s.mu.Lock()
	open := len(e.s.conns)
	e.s.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for open > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		e.s.mu.Lock()
		open = len(e.s.conns)
		e.s.mu.Unlock()
	}
	if open != 0 {
		t.Fatalf("%d connections still open after Drain", open)
	}
}

// TestDrainIdleAtOnce: with only idle connections Drain returns at once.
func TestDrainIdleAtOnce(t *testing.T) {
	e := startServer(t, testConfig())
	pingedClient(t, e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	e.s.Drain(ctx)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("Drain with idle connections took %s", took)
	}
}

// TestDrainConsumerGoesAway: a consumer polling an idle topic keeps a Fetch
// long poll open all the time; Drain answers it at once and closes that
// connection, so the stop does not wait for drainTimeout.
func TestDrainConsumerGoesAway(t *testing.T) {
	e := startServer(t, testConfig())
	if _, err := e.l.CreateTopic("idle", 1, nil); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics("idle"), kgo.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	time.Sleep(500 * time.Millisecond) // its fetch long poll is under way
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	start := time.Now()
	e.s.Drain(dctx)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Drain with a polling consumer took %s, want well under a second", took)
	}
	cancel()
	<-polled
}

// pingedClient is a franz-go client on addr with a connection open (closed
// when the test ends).
func pingedClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cl
}
