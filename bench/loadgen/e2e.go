package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// E2ETarget is a system measured end to end: records produced by one
// blocking producer and received by one consumer tailing the same topic,
// stream or key, both in this process (one clock).
type E2ETarget interface {
	Name() string
	// Consume receives records from the start of the (fresh) topic and
	// calls got with each value until ctx ends. It returns ctx's error or
	// the first failure.
	Consume(ctx context.Context, got func(value []byte)) error
	// Produce writes one record and returns once it is acknowledged.
	Produce(ctx context.Context, value []byte) error
	Close() error
}

// E2EConfig is an end-to-end run: Rate records/s for Duration, then up to
// Grace for the last records to arrive.
type E2EConfig struct {
	Rate        float64
	Duration    time.Duration
	PayloadSize int
	Grace       time.Duration
}

// e2eMagic marks a stamped value: 8 bytes of send time (Unix ns), then
// this, then filler.
const e2eMagic = "E2E!"

// StampPayload is a value of size bytes (at least 12) that carries its send
// time; a zero time marks the priming record.
func StampPayload(size int, at time.Time) []byte {
	v := Payload(max(size, 12), 0)
	var ns int64
	if !at.IsZero() {
		ns = at.UnixNano()
	}
	binary.BigEndian.PutUint64(v, uint64(ns))
	copy(v[8:], e2eMagic)
	return v
}

// Stamp reads a value's send time; ok is false for values without one;
// priming is true for the priming record.
func Stamp(v []byte) (at time.Time, priming, ok bool) {
	if len(v) < 12 || string(v[8:12]) != e2eMagic {
		return time.Time{}, false, false
	}
	ns := int64(binary.BigEndian.Uint64(v))
	if ns == 0 {
		return time.Time{}, true, true
	}
	return time.Unix(0, ns), false, true
}

// RunE2E measures produce-to-consume latency: the consumer starts on a
// fresh topic; a priming record is produced (every 200 ms until the
// consumer has received one, so the consumer is known to be live); then
// one producer sends a record stamped with the time just before its send
// call, at cfg.Rate (each send waits for its acknowledgement; a send that
// is late starts at once). The latency of a record is the time from that
// stamp to the consumer's receipt. Records/s is what the consumer received
// over the measured period; records not received within Grace after the
// last send are errors.
func RunE2E(ctx context.Context, cfg E2EConfig, t E2ETarget) (Result, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("e2e needs a rate and a duration")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	rec := newRecorder()
	var (
		primed   = make(chan struct{})
		once     sync.Once
		received atomic.Int64
		bytes    atomic.Int64
		consErr  = make(chan error, 1)
	)
	// The first priming record creates the topic (Kafka: auto-creation)
	// before the consumer looks for it.
	if err := t.Produce(ctx, StampPayload(cfg.PayloadSize, time.Time{})); err != nil {
		return Result{}, fmt.Errorf("e2e priming record: %w", err)
	}
	go func() {
		consErr <- t.Consume(cctx, func(v []byte) {
			at, priming, ok := Stamp(v)
			switch {
			case !ok:
			case priming:
				once.Do(func() { close(primed) })
			default:
				rec.record(time.Since(at))
				received.Add(1)
				bytes.Add(int64(len(v)))
			}
		})
	}()
	// Prime: until the consumer has seen a record, it may not be live yet.
	deadline := time.Now().Add(30 * time.Second)
prime:
	for {
		select {
		case <-primed:
			break prime
		case err := <-consErr:
			return Result{}, fmt.Errorf("e2e consumer: %w", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return Result{}, errors.New("e2e: the consumer received nothing in 30 s")
		}
		if err := t.Produce(ctx, StampPayload(cfg.PayloadSize, time.Time{})); err != nil {
			return Result{}, fmt.Errorf("e2e priming record: %w", err)
		}
	}
	var (
		sent     int64
		errs     int64
		firstErr string
		start    = time.Now()
		every    = time.Duration(float64(time.Second) / cfg.Rate)
	)
	for ctx.Err() == nil {
		due := start.Add(time.Duration(sent) * every)
		if due.Sub(start) >= cfg.Duration {
			break
		}
		if !sleepUntil(ctx, due) {
			break
		}
		if err := t.Produce(ctx, StampPayload(cfg.PayloadSize, time.Now())); err != nil {
			errs++
			if firstErr == "" {
				firstErr = err.Error()
			}
		}
		sent++
	}
	// Wait for the stragglers.
	wait := time.Now().Add(cfg.Grace)
	for received.Load() < sent-errs && time.Now().Before(wait) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stopConsumer()
	select {
	case err := <-consErr:
		if err != nil && !errors.Is(err, context.Canceled) && firstErr == "" {
			firstErr = "consumer: " + err.Error()
			errs++
		}
	case <-time.After(10 * time.Second):
	}
	got := received.Load()
	if missing := sent - errs - got; missing > 0 {
		errs += missing
		if firstErr == "" {
			firstErr = fmt.Sprintf("%d records not received within %s", missing, cfg.Grace)
		}
	}
	res := Result{
		Mode: "e2e", Profile: Steady, Target: t.Name(), Concurrency: 1, Batch: 1, PayloadSize: cfg.PayloadSize,
		Records: got, Bytes: bytes.Load(), Ops: sent, Errors: errs, FirstError: firstErr, Elapsed: elapsed,
		Latency: LatencyOf(rec.total),
	}
	res.finish()
	return res, nil
}

// kafkaE2E is the Kafka end-to-end target: a kgo producer (acks=all,
// idempotent, ProduceSync of one record) and a kgo consumer of the topic
// from its start (no group).
type kafkaE2E struct {
	cfg  KafkaConfig
	prod *kgo.Client
}

// NewKafkaE2E returns the end-to-end target of a Kafka broker (Zombi's
// Kafka door or Apache Kafka).
func NewKafkaE2E(ctx context.Context, cfg KafkaConfig) (E2ETarget, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("kafka target needs brokers and a topic")
	}
	cfg.Acks = AcksAll
	cl, err := cfg.pingedProducer(ctx)
	if err != nil {
		return nil, err
	}
	return &kafkaE2E{cfg: cfg, prod: cl}, nil
}

func (t *kafkaE2E) Name() string {
	return fmt.Sprintf("kafka://%s/%s (e2e)", t.cfg.Brokers[0], t.cfg.Topic)
}

func (t *kafkaE2E) Close() error { t.prod.Close(); return nil }

func (t *kafkaE2E) Produce(ctx context.Context, v []byte) error {
	return t.prod.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr()
}

func (t *kafkaE2E) Consume(ctx context.Context, got func([]byte)) error {
	cl, err := kgo.NewClient(append(t.cfg.baseOpts(), kgo.ConsumeTopics(t.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got(r.Value) })
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				ferr = err
			}
		})
		if ferr != nil && ctx.Err() == nil {
			return ferr
		}
	}
	return ctx.Err()
}
