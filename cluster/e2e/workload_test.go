package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/chaos"
	"github.com/zombi-dev/zombi/internal/clustertest"
	"github.com/zombi-dev/zombi/internal/pyvenv"
)

// workload is internal/chaos's workload on a cluster: two franz-go
// producers, the librdkafka producer (when its Python environment can be
// made), and a two-member consumer group, all idempotent acks=all, reading
// and writing through every seed.
type workload struct {
	t       *testing.T
	c       *clustertest.Cluster
	topic   string
	group   string
	l       *chaos.Ledger
	ctx     context.Context
	names   []string // the producers that must acknowledge
	stopP   context.CancelFunc
	stopR   context.CancelFunc
	prod    sync.WaitGroup
	read    sync.WaitGroup
	errs    chan error
	stopped bool
}

// workloadOptions tune startWorkload.
type workloadOptions struct {
	Rate       float64   // per producer; 150 when 0
	FranzOpts  []kgo.Opt // e.g. kgo.RecordDeliveryTimeout for refused writes
	RdkConfig  map[string]string
	NoLibrdkfa bool
	// FastFranz adds a franz-go producer ("franz-fast-0") that refreshes
	// metadata at most every 250 ms instead of kgo's 5 s MetadataMinAge,
	// as docs/CLUSTER.md recommends for quick failover.
	FastFranz bool
}

// startWorkload creates topic (partitions, RF 3, min.insync.replicas=2)
// and starts the drivers; it returns once every producer acknowledged and
// the group read something.
func startWorkload(t *testing.T, ctx context.Context, c *clustertest.Cluster, topic string, partitions int32, o workloadOptions) *workload {
	t.Helper()
	if o.Rate == 0 {
		o.Rate = 150
	}
	two := "2"
	if err := chaos.EnsureTopic(ctx, c.Seeds(), topic, partitions, 3, map[string]*string{"min.insync.replicas": &two}); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	for p := range partitions {
		c.WaitISR(t, topic, p, 3)
	}
	w := &workload{t: t, c: c, topic: topic, group: topic + "-group", l: chaos.NewLedger(), ctx: ctx, errs: make(chan error, 4)}
	producing, stopP := context.WithCancel(ctx)
	reading, stopR := context.WithCancel(ctx)
	w.stopP, w.stopR = stopP, stopR
	t.Cleanup(w.stop)
	seeds := c.Seeds()
	w.prod.Go(func() {
		w.errs <- chaos.RunFranzProducers(producing, chaos.ProducerConfig{Seeds: seeds, Topic: topic, Producers: 2, Rate: o.Rate, Grace: 10 * time.Second, Opts: o.FranzOpts}, w.l)
	})
	w.names = []string{"franz-0", "franz-1"}
	if o.FastFranz {
		opts := append([]kgo.Opt{kgo.MetadataMinAge(250 * time.Millisecond)}, o.FranzOpts...)
		w.prod.Go(func() {
			w.errs <- chaos.RunFranzProducers(producing, chaos.ProducerConfig{Name: "franz-fast", Seeds: seeds, Topic: topic, Producers: 1, Rate: o.Rate, Grace: 10 * time.Second, Opts: opts}, w.l)
		})
		w.names = append(w.names, "franz-fast-0")
	}
	if !o.NoLibrdkfa {
		if venv, err := pyvenv.Ensure("compat-tests/python/requirements.txt"); err != nil {
			t.Logf("SKIPPING the librdkafka producer: its Python environment cannot be made: %v", err)
		} else {
			w.names = append(w.names, "librdkafka")
			w.prod.Go(func() {
				w.errs <- chaos.RunLibrdkafkaProducer(producing, chaos.LibrdkafkaConfig{Python: venv.Python(), Seeds: seeds, Topic: topic, Rate: o.Rate, Grace: 10 * time.Second, Config: o.RdkConfig}, w.l)
			})
		}
	}
	w.read.Go(func() {
		w.errs <- chaos.RunGroup(reading, chaos.GroupConfig{Seeds: seeds, Topic: topic, Group: w.group, Members: 2}, w.l)
	})
	w.waitFor(30*time.Second, "every producer acknowledged and the group read", func() bool {
		r := w.l.Check()
		for _, p := range w.names {
			if r.Producers[p] == 0 {
				return false
			}
		}
		return r.Readers[w.group].Reads > 0
	})
	return w
}

// waitFor polls cond every 50 ms, failing the test after d with the report
// so far.
func (w *workload) waitFor(d time.Duration, what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("after %s: not yet %s; so far:\n%s", d, what, w.l.Check())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// everyProducerAcked waits until each producer has an acknowledgement on
// partition p after the first `from` acks: all of them have found p's
// leader (a failover measured per client starts from there).
func (w *workload) everyProducerAcked(from int, p int32, d time.Duration, what string) {
	w.t.Helper()
	w.waitFor(d, what, func() bool {
		h := w.l.History()
		seen := map[string]bool{}
		for _, a := range h.Acks[from:] {
			if a.Partition == p {
				seen[a.Producer] = true
			}
		}
		for _, name := range w.names {
			if !seen[name] {
				return false
			}
		}
		return true
	})
}

// ackedOnAll waits until every partition has acknowledgements after the
// first `from` acks (writes go on everywhere).
func (w *workload) ackedOnAll(from int, partitions int32, d time.Duration, what string) {
	w.t.Helper()
	w.waitFor(d, what, func() bool {
		h := w.l.History()
		seen := map[int32]bool{}
		for _, a := range h.Acks[from:] {
			seen[a.Partition] = true
		}
		return len(seen) == int(partitions)
	})
}

// stop stops the drivers (idempotent; also a cleanup).
func (w *workload) stop() {
	if w.stopped {
		return
	}
	w.stopped = true
	w.stopP()
	w.prod.Wait()
	w.stopR()
	w.read.Wait()
}

// finish stops the producers, waits for the group to catch up, stops it,
// runs the final pass and returns the checked report; anomalies fail the
// test.
func (w *workload) finish() chaos.Report {
	w.t.Helper()
	w.stopP()
	w.prod.Wait()
	if err := chaos.WaitCaughtUp(w.ctx, w.l, w.group, 30*time.Second); err != nil {
		w.t.Errorf("the group did not catch up: %v", err)
	}
	w.stopR()
	w.read.Wait()
	w.stopped = true
	close(w.errs)
	for err := range w.errs {
		if err != nil {
			w.t.Errorf("driver: %v", err)
		}
	}
	if err := chaos.ReadAll(w.ctx, w.c.Seeds(), w.topic, w.l); err != nil {
		w.t.Fatalf("final pass: %v", err)
	}
	r := w.l.Check()
	w.t.Logf("report:\n%s", r)
	if err := r.Err(); err != nil {
		w.t.Errorf("anomalies: %v", err)
	}
	if !r.FinalPass {
		w.t.Errorf("no final pass")
	}
	for _, p := range w.names {
		if r.Producers[p] == 0 {
			w.t.Errorf("producer %s acknowledged nothing", p)
		}
	}
	return r
}
