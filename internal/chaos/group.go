package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupConfig is the consumer group reading throughout.
type GroupConfig struct {
	Seeds   []string
	Topic   string
	Group   string // the group id, also the Reader of its reads
	Members int    // 1 when 0
	Opts    []kgo.Opt
}

// RunGroup runs cfg.Members franz-go members of one consumer group, reading
// the topic from the start (read_committed) and recording every record as a
// Read by cfg.Group, with kgo's autocommit; when ctx is done each member
// commits what it read and leaves (bounded by 10 s). It returns an error
// only when a client cannot be made.
func RunGroup(ctx context.Context, cfg GroupConfig, l *Ledger) error {
	if err := checkTarget("consumer group", cfg.Seeds, cfg.Topic); err != nil {
		return err
	}
	if cfg.Group == "" {
		return fmt.Errorf("%w: consumer group: no group id", errConfig)
	}
	n := max(cfg.Members, 1)
	clients := make([]*kgo.Client, n)
	for i := range clients {
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(cfg.Seeds...),
			kgo.ConsumerGroup(cfg.Group),
			kgo.ConsumeTopics(cfg.Topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.AutoCommitInterval(time.Second),
		}, cfg.Opts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return fmt.Errorf("chaos: group %s member %d: %w", cfg.Group, i, err)
		}
		clients[i] = cl
	}
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() { consume(ctx, cl, cfg.Group, i, l) })
	}
	wg.Wait()
	return nil
}

// consume is one member's loop, its last commit and its leaving.
func consume(ctx context.Context, cl *kgo.Client, group string, member int, l *Ledger) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				slog.Debug("chaos: group fetch error", "group", group, "member", member, "topic", topic, "partition", p, "err", err)
			}
		})
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			l.AddRead(Read{Reader: group, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value), At: now})
		})
	}
	closeBounded(cl, 10*time.Second, func(cctx context.Context) {
		if err := cl.CommitUncommittedOffsets(cctx); err != nil {
			slog.Debug("chaos: group last commit", "group", group, "member", member, "err", err)
		}
	})
}

// closeBounded runs last(ctx) and closes cl, giving up waiting after d (a
// cluster with no coordinator would otherwise hold the test).
func closeBounded(cl *kgo.Client, d time.Duration, last func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		last(ctx)
		cl.CloseAllowingRebalance()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		slog.Warn("chaos: a client did not close in time; left closing in the background", "after", d)
	}
}

// WaitCaughtUp waits until reader has read every record acknowledged so far
// (the group went on and caught up), up to timeout.
func WaitCaughtUp(ctx context.Context, l *Ledger, reader string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		n := l.Unseen(reader)
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: %s has not read %d acknowledged records after %s", reader, n, timeout)
		case <-t.C:
		}
	}
}
