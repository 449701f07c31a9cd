package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStamp(t *testing.T) {
	at := time.Unix(1_700_000_000, 123456789)
	v := StampPayload(100, at)
	if len(v) != 100 {
		t.Fatalf("len %d, want 100", len(v))
	}
	got, priming, ok := Stamp(v)
	if !ok || priming || !got.Equal(at) {
		t.Fatalf("Stamp = %v %v %v, want %v false true", got, priming, ok, at)
	}
	if _, priming, ok := Stamp(StampPayload(10, time.Time{})); !ok || !priming {
		t.Fatalf("priming record: priming %v ok %v", priming, ok)
	}
	if _, _, ok := Stamp(Payload(100, 1)); ok {
		t.Fatal("an unstamped payload was read as stamped")
	}
}

// chanE2E delivers produced values to its consumer after delay, dropping
// the first drop measured values.
type chanE2E struct {
	ch    chan []byte
	delay time.Duration
	drop  int
}

func (c *chanE2E) Name() string { return "chan" }
func (c *chanE2E) Close() error { return nil }

func (c *chanE2E) Produce(_ context.Context, v []byte) error {
	if _, priming, _ := Stamp(v); !priming && c.drop > 0 {
		c.drop--
		return nil
	}
	go func() { time.Sleep(c.delay); c.ch <- v }()
	return nil
}

func (c *chanE2E) Consume(ctx context.Context, got func([]byte)) error {
	for {
		select {
		case v := <-c.ch:
			got(v)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestRunE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	target := &chanE2E{ch: make(chan []byte, 1024), delay: 5 * time.Millisecond, drop: 2}
	res, err := RunE2E(ctx, E2EConfig{Rate: 200, Duration: 500 * time.Millisecond, PayloadSize: 100, Grace: time.Second}, target)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 100 || res.Records != 98 || res.Errors != 2 {
		t.Fatalf("sent %d, received %d, errors %d; want 100, 98, 2 (two records never arrive)", res.Ops, res.Records, res.Errors)
	}
	if p50 := res.Latency.P50US; p50 < 5000 || p50 > 100_000 {
		t.Fatalf("p50 %d µs, want about the 5 ms delay", p50)
	}
	if res.FirstError == "" {
		t.Fatal("no first error for the lost records")
	}
}

func TestRunE2EConsumerFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := RunE2E(ctx, E2EConfig{Rate: 100, Duration: time.Second}, failingE2E{})
	if err == nil {
		t.Fatal("RunE2E succeeded with a consumer that fails")
	}
}

type failingE2E struct{}

func (failingE2E) Name() string                                { return "failing" }
func (failingE2E) Close() error                                { return nil }
func (failingE2E) Produce(context.Context, []byte) error       { return nil }
func (failingE2E) Consume(context.Context, func([]byte)) error { return errors.New("boom") }
