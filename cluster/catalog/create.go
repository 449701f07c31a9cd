package catalog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// CreateTopic creates a topic cluster-wide: replicas assigned over the live
// nodes (rf -1: the default replication factor), leader the first replica,
// every replica in sync, epochs 0 (Kafka's new partition); it returns once
// this node's log has the topic, or ctx's error (the topic is then made,
// and appears here when the log takes it). Nothing is written when a
// check fails. Errors (wrapped): plog.ErrInvalidTopic, ErrInternalTopic,
// ErrInvalidPartitions, topicconfig.ErrInvalid,
// kafka.ErrInvalidReplicationFactor (Kafka's message), plog.ErrTopicExists,
// meta.ErrUnavailable (etcd down: retriable; a create whose answer was
// lost may have been made, and a retry then finds it exists, as in Kafka).
func (c *Catalog) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if partitions <= 0 || partitions > plog.MaxPartitions {
		return fmt.Errorf("%w: %d (1..%d)", plog.ErrInvalidPartitions, partitions, plog.MaxPartitions)
	}
	if err := checkConfigs(configs); err != nil {
		return err
	}
	live := c.liveNodes()
	if rf == -1 {
		rf = c.defaultRF(len(live))
	}
	if rf <= 0 {
		return errRFNotPositive
	}
	if int(rf) > len(live) {
		return rfLargerThanBrokers(rf, len(live))
	}
	// start -1: a random start and shift, as Kafka's, so that topics do
	// not all lead on the same node.
	assignment, err := c.assign(live, partitions, rf, -1)
	if err != nil {
		return err
	}
	rec := meta.TopicRecord{Name: name, UUID: newTopicID(), Partitions: partitions, CreatedMs: time.Now().UnixMilli()}
	if len(configs) > 0 {
		rec.Configs = maps.Clone(configs)
	}
	if err := meta.CreateTopic(ctx, c.cfg.Store, rec, newStates(assignment)); err != nil {
		if errors.Is(err, meta.ErrExists) {
			return kafkaErrorf(plog.ErrTopicExists, "Topic '%s' already exists.", name)
		}
		return err // names the topic
	}
	c.logger.Info("topic created in the catalog", "topic", name, "partitions", partitions, "replication_factor", rf)
	err = c.waitFor(ctx, func(a applied) bool {
		// All its partitions: a large topic comes in steps (meta.CreateTopic).
		tv, ok := a.topics[name]
		return ok && tv.rec.UUID == rec.UUID && len(tv.parts) >= int(partitions) && !a.dirty[name]
	})
	if err != nil {
		return fmt.Errorf("topic %s created in the catalog, not yet in this node's log: %w", name, err)
	}
	return nil
}

func checkName(name string) error {
	if !plog.ValidTopicName(name) {
		return fmt.Errorf("%w: %q", plog.ErrInvalidTopic, name)
	}
	if plog.IsInternalTopic(name) {
		return fmt.Errorf("%w: %s", plog.ErrInternalTopic, name)
	}
	return nil
}

// checkConfigs is Kafka's check of each config (CreateTopics' and the
// stored set's: the doors refuse compact on changes before they call).
func checkConfigs(configs map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if err := topicconfig.ValidateKafka(k, configs[k]); err != nil {
			return err
		}
	}
	return nil
}

// liveNodes are the live nodes sorted by id (Kafka assigns over the
// sorted broker list).
func (c *Catalog) liveNodes() []meta.NodeRecord {
	var live []meta.NodeRecord
	if c.cfg.LiveNodes != nil {
		live = slices.Clone(c.cfg.LiveNodes())
	}
	slices.SortFunc(live, func(a, b meta.NodeRecord) int { return int(a.ID) - int(b.ID) })
	return live
}

// defaultRF is ZOMBI_DEFAULT_REPLICATION_FACTOR, else min(3, live nodes)
// and at least 1.
func (c *Catalog) defaultRF(live int) int16 {
	if c.cfg.DefaultRF > 0 {
		return c.cfg.DefaultRF
	}
	return int16(max(1, min(3, live)))
}

// assign calls Config.Assign (start -1: random) and checks its answer: a
// wrong assignment is an error, and nothing is written.
func (c *Catalog) assign(live []meta.NodeRecord, partitions int32, rf int16, start int) ([][]int32, error) {
	if c.cfg.Assign == nil {
		return nil, errors.New("no replica assignment configured")
	}
	a, err := c.cfg.Assign(live, partitions, rf, start)
	if err != nil {
		// As it is: cluster.AssignError carries Kafka's code and message.
		return nil, err
	}
	ids := make(map[int32]bool, len(live))
	for _, n := range live {
		ids[n.ID] = true
	}
	if len(a) != int(partitions) {
		return nil, fmt.Errorf("assign replicas: %d partitions assigned, %d asked", len(a), partitions)
	}
	for p, rs := range a {
		seen := map[int32]bool{}
		for _, r := range rs {
			if !ids[r] || seen[r] {
				return nil, fmt.Errorf("assign replicas: partition %d on %v: not %d distinct live nodes", p, rs, rf)
			}
			seen[r] = true
		}
		if len(rs) != int(rf) {
			return nil, fmt.Errorf("assign replicas: partition %d on %v: not %d replicas", p, rs, rf)
		}
	}
	return a, nil
}

// newStates are new partitions' states: leader the first replica, every
// replica in sync, epochs 0.
func newStates(assignment [][]int32) []meta.PartitionState {
	out := make([]meta.PartitionState, len(assignment))
	for i, rs := range assignment {
		out[i] = meta.PartitionState{Replicas: slices.Clone(rs), ISR: slices.Clone(rs), Leader: rs[0]}
	}
	return out
}

// newTopicID is a random (version 4) UUID, never zero, as Kafka's.
func newTopicID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// jitter is d to 2d, at random.
func jitter(d time.Duration) time.Duration { return d + mrand.N(d) }
