package chaos

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/pyvenv"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestDriversEdges checks the drivers' edges against one real zombi: topic
// creation is idempotent, "as fast as possible" produces a clean ledger,
// the final read of a topic that does not exist and a librdkafka producer
// that cannot start fail with clear errors instead of hanging.
func TestDriversEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real zombi: not in -short")
	}
	proc := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"))
	seeds := []string{proc.KafkaAddr}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for range 2 {
		if err := EnsureTopic(ctx, seeds, "fast", 2, 1, nil); err != nil {
			t.Fatalf("EnsureTopic (twice): %v", err)
		}
	}

	l := NewLedger()
	run, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	if err := RunFranzProducers(run, ProducerConfig{Seeds: seeds, Topic: "fast", Name: "fast"}, l); err != nil {
		t.Fatal(err)
	}
	if err := ReadAll(ctx, seeds, "fast", l); err != nil {
		t.Fatal(err)
	}
	r := l.Check()
	if err := r.Err(); err != nil || r.Acked < 500 || r.Failures != 0 || r.Readers[FinalReader].Unseen != 0 {
		t.Fatalf("as fast as possible for 0.5 s: %v\n%s", err, r)
	}
	t.Logf("as fast as possible, one producer, 0.5 s: %d acks", r.Acked)

	// The negative control: records deleted from the log are reported lost
	// by a new final pass over the same acks.
	deleteBelow(ctx, t, seeds, "fast", 0, 10)
	l2 := NewLedger()
	for _, a := range l.History().Acks {
		l2.AddAck(a)
	}
	if err := ReadAll(ctx, seeds, "fast", l2); err != nil {
		t.Fatal(err)
	}
	r = l2.Check()
	if len(r.Lost) != 10 || r.Lost[0].Partition != 0 || r.Lost[0].Offset != 0 || r.Lost[9].Offset != 9 || r.Err() == nil {
		t.Fatalf("after deleting offsets 0..9 of partition 0: lost %d (first %+v), Err %v; want exactly those 10", len(r.Lost), r.Lost[0], r.Err())
	}

	start := time.Now()
	err := ReadAll(ctx, seeds, "no-such-topic", NewLedger())
	if err == nil || !strings.Contains(err.Error(), "no-such-topic") || time.Since(start) > 15*time.Second {
		t.Fatalf("final read of a missing topic: %v after %s, want an error naming it, quickly", err, time.Since(start))
	}
	t.Logf("missing topic: %v", err)

	// With the node down, what the clients give up on is recorded as
	// failures from the promise (kgo retries forever unless told otherwise).
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	down := NewLedger()
	run, stop = context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	err = RunFranzProducers(run, ProducerConfig{Seeds: seeds, Topic: "fast", Name: "down", Rate: 20, Grace: 3 * time.Second,
		Opts: []kgo.Opt{kgo.RecordDeliveryTimeout(time.Second)}}, down)
	if r := down.Check(); err != nil || r.Acked != 0 || r.Failures == 0 || r.Failures != r.FailedWith("") {
		t.Fatalf("franz-go with the node down: %v\n%s", err, r)
	} else {
		t.Logf("franz-go, node down: %s", topErrors(r.FailureErrors, 3))
	}

	err = RunLibrdkafkaProducer(ctx, LibrdkafkaConfig{Python: filepath.Join(t.TempDir(), "no-python"), Seeds: seeds, Topic: "fast"}, NewLedger())
	if err == nil || !strings.Contains(err.Error(), "no-python") {
		t.Fatalf("missing interpreter: %v, want an error naming it", err)
	}
	venv, verr := pyvenv.Ensure("compat-tests/python/requirements.txt")
	if verr != nil {
		t.Skipf("SKIPPING the librdkafka edge: its Python environment cannot be made: %v", verr)
	}
	start = time.Now()
	err = RunLibrdkafkaProducer(ctx, LibrdkafkaConfig{Python: venv.Python(), Seeds: seeds, Topic: "fast", Config: map[string]string{"acks": "bogus"}}, NewLedger())
	if err == nil || !strings.Contains(err.Error(), "acks") || time.Since(start) > 15*time.Second {
		t.Fatalf("bad librdkafka setting: %v after %s, want an error naming it, quickly", err, time.Since(start))
	}
	t.Logf("bad librdkafka setting: %v", err)

	down = NewLedger()
	// Long enough for Python and librdkafka to start and send a few
	// records even on a loaded machine (300 ms once sent none in CI).
	run, stop = context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	err = RunLibrdkafkaProducer(run, LibrdkafkaConfig{Python: venv.Python(), Seeds: seeds, Topic: "fast", Name: "down", Rate: 20, Grace: 3 * time.Second,
		Config: map[string]string{"message.timeout.ms": "500"}}, down)
	if r := down.Check(); err != nil || r.Acked != 0 || r.Failures == 0 {
		t.Fatalf("librdkafka with the node down: %v\n%s", err, r)
	} else {
		t.Logf("librdkafka, node down: %s", topErrors(r.FailureErrors, 3))
	}
}

// deleteBelow deletes the records of topic's partition p below offset.
func deleteBelow(ctx context.Context, t *testing.T, seeds []string, topic string, p int32, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var offs kadm.Offsets
	offs.AddOffset(topic, p, offset, -1)
	resp, err := kadm.NewClient(cl).DeleteRecords(ctx, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("DeleteRecords %s[%d] below %d: %v", topic, p, offset, err)
	}
}
