package catalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// Internal topics in cluster mode (the coordinators' design, section 1):
// __consumer_offsets and __transaction_state are real catalog topics,
// replicated as any other, created lazily (as Kafka does) by the first
// node that needs one. Their names stay refused to CreateTopic,
// DeleteTopic, AddPartitions and SetTopicConfigs (checkName): only
// EnsureInternal makes them, and nothing changes them but the controller
// (leaders, ISRs, the replication factor raise).

// Forced on both internal topics: min.insync.replicas 2 (Kafka's
// transaction.state.log.min.isr; the replica manager clamps it to the
// replica count) and no unclean election (a view never loses a record).
const (
	internalMinInsync = "2"
	maxInternalRF     = 3
)

// InternalConfigs are an internal topic's configs in cluster mode: the
// log's (Kafka's overrides) with min.insync.replicas and
// unclean.leader.election.enable forced.
func InternalConfigs(name string) map[string]string {
	it, _ := plog.LookupInternalTopic(name)
	out := maps.Clone(it.Configs)
	if out == nil {
		out = map[string]string{}
	}
	out["min.insync.replicas"] = internalMinInsync
	out["unclean.leader.election.enable"] = "false"
	return out
}

// EnsureInternal creates the kind's internal topic if the catalog does not
// have it: its 50 partitions on min(3, live nodes) replicas with the
// usual rack-aware placement, the derived topic id, its configs. It is
// idempotent and safe from every node at once (a CAS create; one that
// finds the topic made counts as done). It does not wait for the local
// log: callers answer COORDINATOR_NOT_AVAILABLE until Partition shows it.
func (c *Catalog) EnsureInternal(ctx context.Context, kind coordlog.Kind) error {
	name := coordlog.TopicOf(kind)
	it, ok := plog.LookupInternalTopic(name)
	if !ok {
		return fmt.Errorf("%w: %s is not an internal topic", plog.ErrInvalidTopic, name)
	}
	if _, _, ok := c.Topic(name); ok {
		return nil
	}
	live := c.liveNodes()
	if len(live) == 0 {
		return fmt.Errorf("create %s: no live node", name)
	}
	rf := int16(min(maxInternalRF, len(live)))
	assignment, err := c.assign(live, it.Partitions, rf, -1)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	rec := meta.TopicRecord{Name: name, UUID: it.UUID, Partitions: it.Partitions, Configs: InternalConfigs(name), CreatedMs: time.Now().UnixMilli()}
	err = meta.CreateTopic(ctx, c.cfg.Store, rec, newStates(assignment))
	if errors.Is(err, meta.ErrExists) {
		return nil // another node made it first
	}
	if err != nil {
		return err // names the topic
	}
	c.logger.Info("internal topic created in the catalog", "topic", name, "partitions", it.Partitions, "replication_factor", rf)
	return nil
}

// syncInternal makes an internal topic of the catalog a real log topic
// (the log presents it as virtual until then), before syncLocal creates
// its partitions like any topic's. A record with another id than the
// derived one is not ours: refused, left out.
func (c *Catalog) syncInternal(rec meta.TopicRecord) error {
	it, _ := plog.LookupInternalTopic(rec.Name)
	if rec.UUID != it.UUID {
		return fmt.Errorf("%w: %s in the catalog has id %x, not the internal topic's %x", plog.ErrInternalTopic, rec.Name, rec.UUID, it.UUID)
	}
	if err := c.cfg.Log.MakeInternalReal(rec.Name); err != nil {
		return fmt.Errorf("make internal topic real: %w", err)
	}
	return nil
}
