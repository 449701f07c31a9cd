package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/zombi-dev/zombi/bench/loadgen"
)

// natsTarget publishes to a JetStream stream (file storage) of its own;
// every worker has its own connection and waits for the PubAcks.
// natsConns are the connections a target's workers opened, closed together.
type natsConns struct {
	mu    sync.Mutex
	conns []*nats.Conn
}

func (c *natsConns) connect(addr string) (*nats.Conn, error) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.conns = append(c.conns, nc)
	c.mu.Unlock()
	return nc, nil
}

func (c *natsConns) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns = nil
	return nil
}

type natsTarget struct {
	natsConns
	addr, subject string
	w             workload
}

func newNATS(ctx context.Context, addr, name string, w workload) (loadgen.Target, error) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return nil, err
	}
	_ = js.DeleteStream(name)
	if _, err := js.AddStream(&nats.StreamConfig{Name: name, Subjects: []string{name}, Storage: nats.FileStorage}, nats.Context(ctx)); err != nil {
		return nil, fmt.Errorf("create stream %s: %w", name, err)
	}
	return &natsTarget{addr: addr, subject: name, w: w}, nil
}

func (t *natsTarget) Name() string { return "nats://" + t.addr + "/" + t.subject }

func (t *natsTarget) Worker(_ context.Context, i int) (loadgen.Op, error) {
	nc, err := t.connect(t.addr)
	if err != nil {
		return nil, err
	}
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}
	pool := payloads(t.w.PayloadSize, i)
	payload := pool[0]
	next := 0
	return func(ctx context.Context, n int) (int, int64, error) {
		if n == 1 {
			if _, err := js.Publish(t.subject, payload, nats.Context(ctx)); err != nil {
				return 0, 0, err
			}
			return 1, int64(len(payload)), nil
		}
		futures := make([]nats.PubAckFuture, 0, n)
		for range n {
			next++
			f, err := js.PublishAsync(t.subject, pool[next%len(pool)])
			if err != nil {
				return 0, 0, err
			}
			futures = append(futures, f)
		}
		ok := 0
		var first error
		for _, f := range futures {
			select {
			case <-f.Ok():
				ok++
			case err := <-f.Err():
				if first == nil {
					first = err
				}
			case <-ctx.Done():
				return ok, int64(ok * len(payload)), ctx.Err()
			case <-time.After(30 * time.Second):
				return ok, int64(ok * len(payload)), errors.New("no PubAck in 30 s")
			}
		}
		return ok, int64(ok * len(payload)), first
	}, nil
}

// redisTarget appends with XADD to a stream key of its own; every worker
// has its own connection; a batch is one pipeline of XADDs.
// redisClients are the clients a target's workers opened, closed together.
type redisClients struct {
	mu      sync.Mutex
	clients []*redis.Client
}

func (r *redisClients) add(c *redis.Client) {
	r.mu.Lock()
	r.clients = append(r.clients, c)
	r.mu.Unlock()
}

func (r *redisClients) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clients {
		c.Close()
	}
	r.clients = nil
	return nil
}

type redisTarget struct {
	redisClients
	addr, key string
	w         workload
}

func newRedis(addr, name string, w workload) loadgen.Target {
	return &redisTarget{addr: addr, key: name, w: w}
}

func (t *redisTarget) Name() string { return "redis://" + t.addr + "/" + t.key }

func (t *redisTarget) Worker(ctx context.Context, i int) (loadgen.Op, error) {
	c := redis.NewClient(&redis.Options{Addr: t.addr, PoolSize: 1, MinIdleConns: 1, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	t.add(c)
	var args []*redis.XAddArgs
	for _, p := range payloads(t.w.PayloadSize, i) {
		args = append(args, &redis.XAddArgs{Stream: t.key, Values: []string{"d", string(p)}})
	}
	size := t.w.PayloadSize
	return func(ctx context.Context, n int) (int, int64, error) {
		if n == 1 {
			if err := c.XAdd(ctx, args[0]).Err(); err != nil {
				return 0, 0, err
			}
			return 1, int64(size), nil
		}
		pipe := c.Pipeline()
		for j := range n {
			pipe.XAdd(ctx, args[j%len(args)])
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, 0, err
		}
		return n, int64(n * size), nil
	}, nil
}

// payloads is 16 distinct payloads for one worker, as loadgen's own.
func payloads(size, worker int) [][]byte {
	pool := make([][]byte, 16)
	for i := range pool {
		pool[i] = loadgen.Payload(size, worker*len(pool)+i)
	}
	return pool
}

// natsConsume reads a stream from its start to the message count it has
// when the consumer starts: an ephemeral pull consumer without acks
// (AckNone, as a Kafka consumer that commits nothing), 1,000 messages per
// Fetch.
type natsConsume struct {
	natsConns
	addr, stream string
	want         uint64
	got          uint64
}

func newNATSConsume(ctx context.Context, addr, stream string) (loadgen.Target, error) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return nil, err
	}
	si, err := js.StreamInfo(stream, nats.Context(ctx))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	if si.State.Msgs == 0 {
		return nil, fmt.Errorf("stream %s is empty", stream)
	}
	return &natsConsume{addr: addr, stream: stream, want: si.State.Msgs}, nil
}

func (t *natsConsume) Name() string { return "nats://" + t.addr + "/" + t.stream + " (pull consumer)" }

func (t *natsConsume) Worker(_ context.Context, _ int) (loadgen.Op, error) {
	nc, err := t.connect(t.addr)
	if err != nil {
		return nil, err
	}
	js, err := nc.JetStream()
	if err != nil {
		return nil, err
	}
	sub, err := js.PullSubscribe(t.stream, "", nats.BindStream(t.stream), nats.AckNone(), nats.DeliverAll())
	if err != nil {
		return nil, fmt.Errorf("pull consumer on %s: %w", t.stream, err)
	}
	return func(ctx context.Context, _ int) (int, int64, error) {
		if t.got >= t.want {
			return 0, 0, loadgen.ErrDone
		}
		msgs, err := sub.Fetch(1000, nats.Context(ctx))
		if err != nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
			return 0, 0, nil
		}
		var b int64
		for _, m := range msgs {
			b += int64(len(m.Data))
		}
		t.got += uint64(len(msgs))
		return len(msgs), b, err
	}, nil
}

// natsE2E: js.Publish (waits for the PubAck) and an ephemeral push
// consumer of the stream from its start, without acks.
type natsE2E struct {
	addr, subject string
	nc            *nats.Conn
	js            nats.JetStreamContext
}

func newNATSE2E(ctx context.Context, addr, name string) (loadgen.E2ETarget, error) {
	if _, err := newNATS(ctx, addr, name, workload{}); err != nil { // creates the stream
		return nil, err
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return nil, err
	}
	js, err := nc.JetStream()
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &natsE2E{addr: addr, subject: name, nc: nc, js: js}, nil
}

func (t *natsE2E) Name() string { return "nats://" + t.addr + "/" + t.subject + " (e2e)" }
func (t *natsE2E) Close() error { t.nc.Close(); return nil }

func (t *natsE2E) Produce(ctx context.Context, v []byte) error {
	_, err := t.js.Publish(t.subject, v, nats.Context(ctx))
	return err
}

func (t *natsE2E) Consume(ctx context.Context, got func([]byte)) error {
	nc, err := nats.Connect("nats://" + t.addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	sub, err := js.Subscribe(t.subject, func(m *nats.Msg) { got(m.Data) }, nats.DeliverAll(), nats.AckNone())
	if err != nil {
		return err
	}
	<-ctx.Done()
	_ = sub.Unsubscribe()
	return ctx.Err()
}

// redisConsume reads a stream key from its start to the length it has when
// the consumer starts: XRANGE of 1,000 entries after the last ID seen.
type redisConsume struct {
	redisClients
	addr, key string
	want      int64
	got       int64
}

func newRedisConsume(ctx context.Context, addr, key string) (loadgen.Target, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	n, err := c.XLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("XLEN %s: %w", key, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("stream %s is empty", key)
	}
	return &redisConsume{addr: addr, key: key, want: n}, nil
}

func (t *redisConsume) Name() string { return "redis://" + t.addr + "/" + t.key + " (XRANGE)" }

func (t *redisConsume) Worker(ctx context.Context, _ int) (loadgen.Op, error) {
	c := redis.NewClient(&redis.Options{Addr: t.addr, PoolSize: 1, ReadTimeout: 30 * time.Second})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	t.add(c)
	start := "-"
	return func(ctx context.Context, _ int) (int, int64, error) {
		if t.got >= t.want {
			return 0, 0, loadgen.ErrDone
		}
		msgs, err := c.XRangeN(ctx, t.key, start, "+", 1000).Result()
		if err != nil {
			return 0, 0, err
		}
		var b int64
		for _, m := range msgs {
			if d, ok := m.Values["d"].(string); ok {
				b += int64(len(d))
			}
		}
		if len(msgs) > 0 {
			start = "(" + msgs[len(msgs)-1].ID
		}
		t.got += int64(len(msgs))
		return len(msgs), b, nil
	}, nil
}

// redisE2E: XADD (AOF as configured) and XREAD BLOCK from the key's start
// on a connection of its own.
type redisE2E struct {
	addr, key string
	c         *redis.Client
}

func newRedisE2E(addr, key string) loadgen.E2ETarget {
	return &redisE2E{addr: addr, key: key, c: redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})}
}

func (t *redisE2E) Name() string { return "redis://" + t.addr + "/" + t.key + " (e2e)" }
func (t *redisE2E) Close() error { return t.c.Close() }

func (t *redisE2E) Produce(ctx context.Context, v []byte) error {
	return t.c.XAdd(ctx, &redis.XAddArgs{Stream: t.key, Values: []string{"d", string(v)}}).Err()
}

func (t *redisE2E) Consume(ctx context.Context, got func([]byte)) error {
	c := redis.NewClient(&redis.Options{Addr: t.addr, PoolSize: 1, ReadTimeout: 5 * time.Second})
	defer c.Close()
	last := "0"
	for ctx.Err() == nil {
		res, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{t.key, last}, Count: 1000, Block: time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		for _, s := range res {
			for _, m := range s.Messages {
				if d, ok := m.Values["d"].(string); ok {
					got([]byte(d))
				}
				last = m.ID
			}
		}
	}
	return ctx.Err()
}
