package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/pyvenv"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestWorkloadSurvivesKills runs the whole workload against one real zombi
// killed with SIGKILL twice (about 2 s down each time): franz-go and
// librdkafka idempotent acks=all producers and a two-member group run
// throughout; afterwards the group has caught up, the final pass finds every
// acknowledged record exactly once at its offset, and each kill shows as an
// acknowledgement gap longer than the downtime and shorter than 30 s.
func TestWorkloadSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a real zombi: not in -short")
	}
	const (
		topic    = "chaos"
		group    = "chaos-group"
		downtime = 2 * time.Second
	)
	proc := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"))
	t.Cleanup(func() { _ = proc.Kill() }) // the restarted one
	seeds := []string{proc.KafkaAddr}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	if err := EnsureTopic(ctx, seeds, topic, 3, 1, nil); err != nil {
		t.Fatal(err)
	}

	l := NewLedger()
	producing, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	reading, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var producers, readers sync.WaitGroup
	errs := make(chan error, 3)
	producers.Go(func() {
		errs <- RunFranzProducers(producing, ProducerConfig{Seeds: seeds, Topic: topic, Producers: 2, Rate: 150, Grace: 10 * time.Second}, l)
	})
	wantProducers := []string{"franz-0", "franz-1"}
	if venv, err := pyvenv.Ensure("compat-tests/python/requirements.txt"); err != nil {
		t.Logf("SKIPPING the librdkafka producer: its Python environment cannot be made: %v", err)
	} else {
		wantProducers = append(wantProducers, "librdkafka")
		producers.Go(func() {
			errs <- RunLibrdkafkaProducer(producing, LibrdkafkaConfig{Python: venv.Python(), Seeds: seeds, Topic: topic, Rate: 150, Grace: 10 * time.Second}, l)
		})
	}
	readers.Go(func() {
		errs <- RunGroup(reading, GroupConfig{Seeds: seeds, Topic: topic, Group: group, Members: 2}, l)
	})

	// Every producer acknowledged and the group read before the first kill.
	waitFor(t, 20*time.Second, l, "every producer acknowledged and the group read", func() bool {
		r := l.Check()
		for _, p := range wantProducers {
			if r.Producers[p] == 0 {
				return false
			}
		}
		return r.Readers[group].Reads > 0
	})

	var downs []time.Duration
	for i := 1; i <= 2; i++ {
		time.Sleep(2 * time.Second)
		healed := l.StartFault(fmt.Sprintf("kill-9 #%d", i), 0, 1, 2)
		killed := time.Now()
		if err := proc.Kill(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(downtime)
		next, err := proc.Restart()
		if err != nil {
			t.Fatal(err)
		}
		proc = next
		healed()
		downs = append(downs, time.Since(killed))
	}
	// Acks on every partition again after the second restart.
	acked := l.Acked()
	waitFor(t, 20*time.Second, l, "acks on every partition after the last restart", func() bool {
		h := l.History()
		seen := map[int32]bool{}
		for _, a := range h.Acks[acked:] {
			seen[a.Partition] = true
		}
		return len(seen) == 3
	})

	stopProducing()
	producers.Wait()
	if err := WaitCaughtUp(ctx, l, group, 20*time.Second); err != nil {
		t.Errorf("the group did not catch up: %v", err)
	}
	stopReading()
	readers.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("driver: %v", err)
		}
	}
	if err := ReadAll(ctx, seeds, topic, l); err != nil {
		t.Fatal(err)
	}
	checkCommitted(ctx, t, seeds, topic, group)

	r := l.Check()
	t.Logf("report:\n%s", r)
	if err := r.Err(); err != nil {
		t.Fatalf("anomalies: %v", err)
	}
	if !r.FinalPass || r.Acked < 1000 {
		t.Fatalf("final pass %v, acked %d: want a final pass over at least 1000 acks", r.FinalPass, r.Acked)
	}
	for _, p := range wantProducers {
		if r.Producers[p] == 0 {
			t.Errorf("producer %s acknowledged nothing", p)
		}
	}
	if len(r.Faults) != 2 {
		t.Fatalf("faults reported: %d, want 2", len(r.Faults))
	}
	for i, f := range r.Faults {
		if !f.Recovered {
			t.Errorf("%s: acks did not resume on every partition", f.Name)
		}
		if f.Gap <= downtime || f.Gap < f.End.Sub(f.Start) || f.Gap >= 30*time.Second {
			t.Errorf("%s: gap %s, want above the %s the node was down (%s until ready) and below 30s", f.Name, f.Gap, downtime, downs[i])
		}
	}
}

// checkCommitted checks that the group committed every partition's end
// offset: it read everything and said so.
func checkCommitted(ctx context.Context, t *testing.T, seeds []string, topic, group string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.Err != nil || c.At != o.Offset {
			t.Errorf("group %s committed %+v on partition %d, want its end offset %d", group, c, o.Partition, o.Offset)
		}
	})
}

// waitFor polls cond every 50 ms, failing the test after d with the
// report so far.
func waitFor(t *testing.T, d time.Duration, l *Ledger, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: not yet %s; so far:\n%s", d, what, l.Check())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
