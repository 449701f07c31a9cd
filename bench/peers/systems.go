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
type natsTarget struct {
	addr, subject string
	w             workload
	mu            sync.Mutex
	conns         []*nats.Conn
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

func (t *natsTarget) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = nil
	return nil
}

func (t *natsTarget) Worker(_ context.Context, i int) (loadgen.Op, error) {
	nc, err := nats.Connect("nats://" + t.addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.conns = append(t.conns, nc)
	t.mu.Unlock()
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
type redisTarget struct {
	addr, key string
	w         workload
	mu        sync.Mutex
	clients   []*redis.Client
}

func newRedis(addr, name string, w workload) loadgen.Target {
	return &redisTarget{addr: addr, key: name, w: w}
}

func (t *redisTarget) Name() string { return "redis://" + t.addr + "/" + t.key }

func (t *redisTarget) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.clients {
		c.Close()
	}
	t.clients = nil
	return nil
}

func (t *redisTarget) Worker(ctx context.Context, i int) (loadgen.Op, error) {
	c := redis.NewClient(&redis.Options{Addr: t.addr, PoolSize: 1, MinIdleConns: 1, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	t.mu.Lock()
	t.clients = append(t.clients, c)
	t.mu.Unlock()
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
