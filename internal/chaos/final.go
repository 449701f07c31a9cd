package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// endsSettle bounds how long ReadAll lists the ends again while they are
// below acknowledged offsets.
const endsSettle = 10 * time.Second

// ReadAll is the final pass: a plain read_committed consumer of every
// partition of topic from its log start to its last stable offset (the high
// watermark when no transaction is open), listed once it covers every
// acknowledged offset or after endsSettle, recording every
// record as a Read by FinalReader and the ends read to, so that Check decides
// "lost" by this pass. Call it after the producers stopped. It fails when a
// partition cannot be listed or is not read to its end before ctx is done
// (the error names the partitions). A partition ending with a transaction
// marker is reached only when a later record shows it: fine for this
// package's non-transactional workload.
func ReadAll(ctx context.Context, seeds []string, topic string, l *Ledger, opts ...kgo.Opt) error {
	if err := checkTarget("final read", seeds, topic); err != nil {
		return err
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("chaos: final read: %w", err)
	}
	adm := kadm.NewClient(admCl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		admCl.Close()
		return fmt.Errorf("chaos: final read: list start offsets of %s: %w", topic, err)
	}
	// A leader elected a moment ago may list a high watermark below what
	// its predecessor acknowledged until its followers fetch again (as in
	// Kafka): list again, for a while, until every acknowledged offset is
	// below its partition's end; what never gets there is reported lost.
	acked := map[int32]int64{}
	for _, a := range l.History().Acks {
		acked[a.Partition] = max(acked[a.Partition], a.Offset+1)
	}
	var end map[int32]int64
	for settle := time.Now().Add(endsSettle); ; time.Sleep(200 * time.Millisecond) {
		ends, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			admCl.Close()
			return fmt.Errorf("chaos: final read: list end offsets of %s: %w", topic, err)
		}
		end = map[int32]int64{}
		var listErrs []error
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				listErrs = append(listErrs, fmt.Errorf("partition %d: %w", o.Partition, o.Err))
				return
			}
			end[o.Partition] = o.Offset
		})
		if len(listErrs) > 0 {
			admCl.Close()
			return fmt.Errorf("chaos: final read: list end offsets of %s: %w", topic, errors.Join(listErrs...))
		}
		covered := true
		for p, a := range acked {
			covered = covered && end[p] >= a
		}
		if covered || time.Now().After(settle) || ctx.Err() != nil {
			break
		}
	}
	admCl.Close()
	if len(end) == 0 {
		return fmt.Errorf("chaos: final read: topic %s has no partitions: %w", topic, kerr.UnknownTopicOrPartition)
	}

	start := map[int32]kgo.Offset{}
	for p := range end {
		start[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, opts...)...)
	if err != nil {
		return fmt.Errorf("chaos: final read: %w", err)
	}
	defer cl.Close()

	// next is one past the last offset read; records below the log start
	// are gone (retention) and Check reports them lost.
	next := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			next[o.Partition] = o.Offset
		}
	})
	left := func() []int32 {
		var ps []int32
		for p, e := range end {
			if next[p] < e {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		return ps
	}
	for len(left()) > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("chaos: final read of %s: partitions %v not read to their ends %v (read up to %v): %w", topic, left(), end, next, ctx.Err())
		}
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end[r.Partition] {
				return // written after the ends were listed: not this pass's
			}
			l.AddRead(Read{Reader: FinalReader, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value), At: now})
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
	l.setFinalEnds(end)
	return nil
}

// EnsureTopic creates topic with the given partitions, replication factor
// and configs (nil: the broker's), and is content when it already exists.
func EnsureTopic(ctx context.Context, seeds []string, topic string, partitions int32, rf int16, configs map[string]*string, opts ...kgo.Opt) error {
	if err := checkTarget("create topic", seeds, topic); err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("chaos: create topic %s: %w", topic, err)
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, rf, configs, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("chaos: create topic %s: %w", topic, err)
	}
	return nil
}
