package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// casAttempts is how often a change that lost its compare-and-swap to
// another is read and tried again before ErrConflict is returned.
const casAttempts = 5

// DeleteTopic deletes a topic cluster-wide and returns once this node's
// log no longer has it. Errors (wrapped): plog.ErrUnknownTopic,
// ErrInvalidTopic, ErrInternalTopic, meta.ErrUnavailable,
// meta.ErrConflict (changed by others at every attempt), ctx's error.
func (c *Catalog) DeleteTopic(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	var id [16]byte
	err := c.casLoop(ctx, func() error {
		rec, version, err := c.readTopic(ctx, name)
		if err != nil {
			return err
		}
		id = rec.UUID
		return meta.DeleteTopic(ctx, c.cfg.Store, name, version)
	})
	if err != nil {
		return wrapf(err, "delete topic %s", name)
	}
	c.logger.Info("topic deleted from the catalog", "topic", name)
	err = c.waitFor(ctx, func(a applied) bool {
		tv, ok := a.topics[name]
		return (!ok || tv.rec.UUID != id) && !a.dirty[name]
	})
	if err != nil {
		return fmt.Errorf("topic %s deleted from the catalog, still in this node's log: %w", name, err)
	}
	return nil
}

// AddPartitions raises a topic's partition count to total cluster-wide
// and returns once this node's log has them. The new partitions get the
// replication factor of partition 0 and continue its rotation (Kafka's
// CreatePartitions). Errors (wrapped): plog.ErrUnknownTopic,
// ErrPartitionsNotRaised, ErrTooManyPartitions,
// kafka.ErrInvalidReplicationFactor, meta.ErrUnavailable,
// meta.ErrConflict, ctx's error.
func (c *Catalog) AddPartitions(ctx context.Context, name string, total int32) error {
	if err := checkName(name); err != nil {
		return err
	}
	if total > plog.MaxPartitions {
		return fmt.Errorf("%w: %d > %d", plog.ErrTooManyPartitions, total, plog.MaxPartitions)
	}
	var version int64
	err := c.casLoop(ctx, func() error {
		rec, v, err := c.readTopic(ctx, name)
		if err != nil {
			return err
		}
		switch {
		case total == rec.Partitions:
			return kafkaErrorf(plog.ErrPartitionsNotRaised, "Topic already has %d partitions.", rec.Partitions)
		case total < rec.Partitions:
			return kafkaErrorf(plog.ErrPartitionsNotRaised, "Topic currently has %d partitions, which is higher than the requested %d.", rec.Partitions, total)
		}
		states, err := c.growth(ctx, rec, total)
		if err != nil {
			return err
		}
		version, err = meta.AddPartitions(ctx, c.cfg.Store, name, v, states)
		return err
	})
	if err != nil {
		return wrapf(err, "add partitions to %s", name)
	}
	c.logger.Info("partitions added in the catalog", "topic", name, "partitions", total)
	return c.awaitVersion(ctx, name, version)
}

// growth assigns partitions rec.Partitions..total-1 as Kafka's
// AdminZkClient.addPartitions does: partition 0's replication factor, the
// rotation starting at partition 0's leader and going on from the
// existing count.
func (c *Catalog) growth(ctx context.Context, rec meta.TopicRecord, total int32) ([]meta.PartitionState, error) {
	live := c.liveNodes()
	rf, first := c.defaultRF(len(live)), int32(-1)
	kv, err := c.cfg.Store.Get(ctx, meta.PartitionKey(rec.Name, 0))
	if err != nil {
		return nil, err
	}
	if kv.Version != 0 {
		var st meta.PartitionState
		if err := json.Unmarshal(kv.Value, &st); err == nil && len(st.Replicas) > 0 {
			rf, first = int16(len(st.Replicas)), st.Replicas[0]
		}
	}
	if int(rf) > len(live) {
		return nil, rfLargerThanBrokers(rf, len(live))
	}
	// Kafka: the first live node from partition 0's leader on, and the
	// partition ids continue (first replica of partition p at start+p).
	start := max(0, slices.IndexFunc(live, func(n meta.NodeRecord) bool { return n.ID >= first }))
	a, err := c.assign(live, total-rec.Partitions, rf, start+int(rec.Partitions))
	if err != nil {
		return nil, err
	}
	return newStates(a), nil
}

// SetTopicConfigs replaces a topic's config overrides cluster-wide (the
// whole set: nil or empty removes them all) and returns once this node's
// log has them. Each config is checked as Kafka's CreateTopics checks it;
// the doors apply their stricter rules to the changes before. Errors
// (wrapped): plog.ErrUnknownTopic, topicconfig.ErrInvalid,
// meta.ErrUnavailable, meta.ErrConflict, ctx's error.
func (c *Catalog) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkConfigs(configs); err != nil {
		return err
	}
	if len(configs) == 0 {
		configs = nil
	}
	var version int64
	err := c.casLoop(ctx, func() error {
		_, v, err := c.readTopic(ctx, name)
		if err != nil {
			return err
		}
		version, err = meta.SetTopicConfigs(ctx, c.cfg.Store, name, v, configs)
		return err
	})
	if err != nil {
		return wrapf(err, "set configs of %s", name)
	}
	c.logger.Info("topic configs changed in the catalog", "topic", name, "configs", configs)
	return c.awaitVersion(ctx, name, version)
}

// awaitVersion waits until this node applied the store up to version and
// the topic is not waiting for a retry in the local log.
func (c *Catalog) awaitVersion(ctx context.Context, name string, version int64) error {
	err := c.waitFor(ctx, func(a applied) bool {
		return a.rev >= version && !a.dirty[name]
	})
	if err != nil {
		return fmt.Errorf("topic %s changed in the catalog, not yet in this node's log: %w", name, err)
	}
	return nil
}

// casLoop runs try again while it loses its compare-and-swap, a few times,
// with a short randomised pause (another node's change just landed).
func (c *Catalog) casLoop(ctx context.Context, try func() error) error {
	for attempt := 1; ; attempt++ {
		err := try()
		if !errors.Is(err, meta.ErrConflict) || attempt == casAttempts {
			return err
		}
		sleep(ctx, time.Duration(attempt)*jitter(10*time.Millisecond))
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after %d attempts: %w)", ctx.Err(), attempt, err)
		}
	}
}

// readTopic reads a topic's record and version from the store.
func (c *Catalog) readTopic(ctx context.Context, name string) (meta.TopicRecord, int64, error) {
	kv, err := c.cfg.Store.Get(ctx, meta.TopicKey(name))
	if err != nil {
		return meta.TopicRecord{}, 0, err
	}
	if kv.Version == 0 {
		return meta.TopicRecord{}, 0, fmt.Errorf("%w: %s", plog.ErrUnknownTopic, name)
	}
	var rec meta.TopicRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return meta.TopicRecord{}, 0, fmt.Errorf("topic record %s: %w", kv.Key, err)
	}
	return rec, kv.Version, nil
}
