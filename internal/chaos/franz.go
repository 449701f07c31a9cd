package chaos

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProducerConfig is the franz-go producers' workload.
type ProducerConfig struct {
	Seeds     []string
	Topic     string
	Name      string  // key prefix and Ack.Producer prefix; "franz" when empty
	Producers int     // independent clients, each its own producer id; 1 when 0
	Rate      float64 // records per second per producer; 0: as fast as the buffer allows
	// Grace bounds how long, once the context is done, records in flight
	// may take to settle (acked or failed); 15 s when 0.
	Grace time.Duration
	// Opts are extra client options (TLS, SASL, ...); they win. kgo retries
	// a record until it is acknowledged: a test that expects refused writes
	// (NOT_ENOUGH_REPLICAS) passes kgo.RecordDeliveryTimeout (1 s at least)
	// so that the promises report them.
	Opts []kgo.Opt
}

// defaultGrace is how long in-flight records may take to settle at the end.
const defaultGrace = 15 * time.Second

// maxBuffered keeps "as fast as possible" from buffering a whole outage.
const maxBuffered = 2000

// Key is the key of a workload record: unique across a run as long as each
// driver has its own name.
func Key(name string, producer int, seq int64) string {
	return fmt.Sprintf("%s-%d-%d", name, producer, seq)
}

// Value is the value of the record with key k: derived from the key, so any
// reader can tell a position that changed its record.
func Value(k string) string { return "v:" + k }

// RunFranzProducers runs cfg.Producers idempotent acks=all franz-go
// producers (kgo's defaults otherwise: idempotence on, retries without end)
// until ctx is done, then lets what is in flight settle within cfg.Grace.
// Every promise is recorded: an ack with the offset it names, or a failure
// with its error. It returns when every producer has closed; the error is
// about starting a client, never about records.
func RunFranzProducers(ctx context.Context, cfg ProducerConfig, l *Ledger) error {
	if err := checkTarget("franz-go producers", cfg.Seeds, cfg.Topic); err != nil {
		return err
	}
	if cfg.Name == "" {
		cfg.Name = "franz"
	}
	n := max(cfg.Producers, 1)
	clients := make([]*kgo.Client, n)
	for i := range clients {
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(cfg.Seeds...),
			kgo.DefaultProduceTopic(cfg.Topic),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.MaxBufferedRecords(maxBuffered),
			kgo.ProducerLinger(2 * time.Millisecond),
		}, cfg.Opts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return fmt.Errorf("chaos: franz-go producer %d: %w", i, err)
		}
		clients[i] = cl
	}
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() { produceUntil(ctx, cl, fmt.Sprintf("%s-%d", cfg.Name, i), cfg, i, l) })
	}
	wg.Wait()
	return nil
}

// produceUntil is one producer's loop and its settling.
func produceUntil(ctx context.Context, cl *kgo.Client, producer string, cfg ProducerConfig, i int, l *Ledger) {
	defer cl.Close()
	grace := cfg.Grace
	if grace <= 0 {
		grace = defaultGrace
	}
	// The records' own context outlives ctx by the grace period, so that a
	// stop does not fail what was already handed to the client.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	defer stop()

	var tick <-chan time.Time
	if cfg.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
		defer t.Stop()
		tick = t.C
	}
	for seq := int64(0); ; seq++ {
		if tick != nil {
			select {
			case <-ctx.Done():
			case <-tick:
			}
		}
		if ctx.Err() != nil {
			break
		}
		k := Key(cfg.Name, i, seq)
		rec := &kgo.Record{Key: []byte(k), Value: []byte(Value(k))}
		cl.Produce(rctx, rec, func(r *kgo.Record, err error) {
			if err != nil {
				l.AddFailure(Failure{Key: k, Partition: -1, Producer: producer, Err: err.Error(), At: time.Now()})
				return
			}
			l.AddAck(Ack{Key: k, Partition: r.Partition, Offset: r.Offset, At: time.Now(), Producer: producer})
		})
	}
	// Flush ends when everything settled or, at the latest, when rctx is
	// cancelled (which fails what is left: recorded as failures).
	_ = cl.Flush(rctx)
}
