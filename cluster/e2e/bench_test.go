package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/bench/loadgen"
	"github.com/zombi-dev/zombi/internal/chaos"
	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestClusterBench is the cluster's throughput benchmark (issue 19, point
// 10), with ZOMBI_BENCH_CLUSTER=1 only (make bench-cluster): three nodes on
// this machine, one partition per topic, 100-byte records, the load
// generator of `zombi bench` in this process.
//
//   - "rf3 acks=all": replication factor 3, min.insync.replicas=2, acks=all:
//     answered once the ISR holds the batch;
//   - "rf1 acks=1": replication factor 1, acks=1 (the leader's own fsync).
//
// Each against 64 blocking producers (the wire client: one connection and
// one single-record request in flight per producer, to the leader) and 4
// batching producers (franz-go, 100 records awaited together), for
// ZOMBI_BENCH_DURATION (5 s) each, ZOMBI_BENCH_ROUNDS (3) rounds
// alternating the topics; the table gives medians over the rounds.
// Then the controlled leader move: ZOMBI_BENCH_MOVES (5) SIGTERMs of the
// rf3 leader under an acks=all producer, the longest time without an acknowledgement around
// each.
func TestClusterBench(t *testing.T) {
	if os.Getenv("ZOMBI_BENCH_CLUSTER") != "1" {
		t.Skip("a benchmark: ZOMBI_BENCH_CLUSTER=1 runs it (make bench-cluster)")
	}
	dur := envDuration(t, "ZOMBI_BENCH_DURATION", 5*time.Second)
	rounds := envCount(t, "ZOMBI_BENCH_ROUNDS", 3)
	nMoves := envCount(t, "ZOMBI_BENCH_MOVES", 5)
	c := clustertest.Start(t, clustertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	two := "2"
	type topicCase struct {
		name string
		rf   int16
		acks loadgen.Acks
	}
	topics := []topicCase{{"rf3 acks=all", 3, loadgen.AcksAll}, {"rf1 acks=1", 1, loadgen.AcksLeader}}
	names := map[string]string{}
	for _, tc := range topics {
		name := fmt.Sprintf("bench-rf%d", tc.rf)
		names[tc.name] = name
		if err := chaos.EnsureTopic(ctx, c.Seeds(), name, 1, tc.rf, map[string]*string{"min.insync.replicas": &two}); err != nil && tc.rf == 3 {
			t.Fatalf("create %s: %v", name, err)
		} else if err != nil {
			// min.insync.replicas=2 on RF 1 is refused by design: make it plain.
			if err := chaos.EnsureTopic(ctx, c.Seeds(), name, 1, tc.rf, nil); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
		}
		c.WaitISR(t, name, 0, int(tc.rf))
	}

	type workload struct {
		name        string
		concurrency int
		batch       int
		wire        bool
	}
	workloads := []workload{{"64 blocking producers (wire)", 64, 1, true}, {"4 batching producers (kgo, batch 100)", 4, 100, false}}
	results := map[string][]loadgen.Result{}
	key := func(w workload, tc topicCase) string { return w.name + " | " + tc.name }
	for r := 1; r <= rounds; r++ {
		for _, w := range workloads {
			for _, tc := range topics {
				topic := names[tc.name]
				leader := c.Leader(t, topic, 0)
				cfg := loadgen.KafkaConfig{Brokers: c.Seeds(), Topic: topic, PayloadSize: 100, Acks: tc.acks}
				var (
					target loadgen.Target
					err    error
				)
				if w.wire {
					cfg.Brokers = []string{c.Node(leader).KafkaAddr}
					target, err = loadgen.NewKafkaWire(ctx, cfg)
				} else {
					target, err = loadgen.NewKafkaProduce(cfg)
				}
				if err != nil {
					t.Fatalf("%s: %v", key(w, tc), err)
				}
				res, err := loadgen.Run(ctx, loadgen.Config{Mode: "kafka-produce", Duration: dur, Concurrency: w.concurrency, Batch: w.batch, PayloadSize: 100}, target)
				target.Close()
				if err != nil {
					t.Fatalf("%s: %v", key(w, tc), err)
				}
				if res.Errors > 0 {
					t.Errorf("%s: %d errors, first: %s", key(w, tc), res.Errors, res.FirstError)
				}
				t.Logf("round %d %s: %.0f records/s, p50 %.2f ms, p99 %.2f ms", r, key(w, tc), res.RecordsPerSec,
					float64(res.Latency.P50US)/1000, float64(res.Latency.P99US)/1000)
				results[key(w, tc)] = append(results[key(w, tc)], res)
			}
		}
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "| workload | %s | %s | ratio |\n|---|---:|---:|---:|\n", topics[0].name, topics[1].name)
	for _, w := range workloads {
		a, b := median(results[key(w, topics[0])]), median(results[key(w, topics[1])])
		fmt.Fprintf(&tab, "| %s | %s | %s | %.2f |\n", w.name, cell(a), cell(b), a.RecordsPerSec/b.RecordsPerSec)
	}
	t.Logf("medians of %d rounds of %s, records/s (p50 / p99 ms per operation):\n%s", rounds, dur, tab.String())

	moves := controlledMoves(ctx, t, c, names[topics[0].name], nMoves)
	slices.Sort(moves)
	t.Logf("controlled leader move (SIGTERM of the leader, acks=all producer): %d moves, median %s, max %s, all %v",
		len(moves), moves[len(moves)/2].Round(time.Millisecond), moves[len(moves)-1].Round(time.Millisecond), moves)
}

// controlledMoves sends SIGTERM to topic's partition 0 leader n times under
// one acks=all producer writing records one after another, and returns for
// each the longest time between two acknowledgements from a second before
// the signal to the first acknowledgement after Metadata names the new
// leader.
func controlledMoves(ctx context.Context, t *testing.T, c *clustertest.Cluster, topic string, n int) []time.Duration {
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	var (
		mu   sync.Mutex
		acks []time.Time
	)
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for pctx.Err() == nil {
			if err := cl.ProduceSync(pctx, kgo.StringRecord("move")).FirstErr(); err == nil {
				mu.Lock()
				acks = append(acks, time.Now())
				mu.Unlock()
			}
		}
	})
	defer func() { stop(); wg.Wait() }()
	var gaps []time.Duration
	for i := 0; i < n; i++ {
		time.Sleep(time.Second)
		victim := c.Leader(t, topic, 0)
		signalled := time.Now()
		stopped := make(chan struct{})
		go func() { defer close(stopped); c.Stop(victim) }() // SIGTERM: a controlled shutdown
		c.WaitPartition(t, topic, 0, 20*time.Second, "led by another node", func(pi clustertest.PartitionInfo) bool {
			return pi.Leader >= 0 && pi.Leader != victim
		})
		moved := time.Now()
		gap, ok := time.Duration(0), false
		for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); {
			mu.Lock()
			gap, ok = longestGap(acks, signalled.Add(-time.Second), moved)
			mu.Unlock()
			if !ok {
				time.Sleep(50 * time.Millisecond)
			}
		}
		<-stopped
		if !ok {
			t.Fatalf("move %d: no acknowledgement within 10 s after SIGTERM of node %d", i+1, victim)
		}
		gaps = append(gaps, gap)
		t.Logf("move %d: node %d stopped, longest gap %s", i+1, victim, gaps[i].Round(time.Millisecond))
		c.Restart(victim)
		c.WaitISR(t, topic, 0, 3)
	}
	return gaps
}

// longestGap is the longest time between consecutive acknowledgements from
// from on, and whether one came after after.
func longestGap(acks []time.Time, from, after time.Time) (time.Duration, bool) {
	var (
		prev time.Time
		gap  time.Duration
		seen bool
	)
	for _, a := range acks {
		if a.Before(from) {
			prev = a
			continue
		}
		if !prev.IsZero() && a.Sub(prev) > gap {
			gap = a.Sub(prev)
		}
		prev = a
		seen = seen || a.After(after)
	}
	return gap, seen
}

func median(rs []loadgen.Result) loadgen.Result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b loadgen.Result) int {
		switch {
		case a.RecordsPerSec < b.RecordsPerSec:
			return -1
		case a.RecordsPerSec > b.RecordsPerSec:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func cell(r loadgen.Result) string {
	return fmt.Sprintf("%.0f (%.2f / %.2f)", r.RecordsPerSec, float64(r.Latency.P50US)/1000, float64(r.Latency.P99US)/1000)
}

// envCount is the positive number in the environment variable name, else
// def.
func envCount(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n := 0
	if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
		t.Fatalf("%s=%s: want a positive number", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%s: want a positive duration", name, v)
	}
	return d
}
