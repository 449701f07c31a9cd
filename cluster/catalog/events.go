package catalog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// apply takes one batch of watched events into want, then the local log
// and the view.
func (c *Catalog) apply(batch []meta.Event, dirty map[string]bool) error {
	// A revision's topic key before its partitions (a topic made or grown
	// comes with its partition keys at the same revision).
	evs := make([]meta.Event, 0, len(batch))
	for _, ev := range batch {
		if strings.HasPrefix(ev.KV.Key, meta.TopicsPrefix) || strings.HasPrefix(ev.KV.Key, meta.PartitionsPrefix) {
			evs = append(evs, ev)
		}
	}
	var last int64
	for _, ev := range batch {
		last = max(last, ev.KV.Version)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].KV.Version != evs[j].KV.Version {
			return evs[i].KV.Version < evs[j].KV.Version
		}
		return strings.HasPrefix(evs[i].KV.Key, meta.TopicsPrefix) && !strings.HasPrefix(evs[j].KV.Key, meta.TopicsPrefix)
	})
	touched := map[string]bool{}
	for _, ev := range evs {
		if name, ok := strings.CutPrefix(ev.KV.Key, meta.TopicsPrefix); ok {
			c.applyTopic(name, ev, touched)
		} else {
			c.applyPartition(ev, touched)
		}
	}
	for name := range touched {
		if t, ok := c.want[name]; ok {
			for p, part := range t.Partitions {
				if part.Version == 0 {
					return fmt.Errorf("%w: %s partition %d has no state after revision %d", errRelist, name, p, last)
				}
			}
		}
	}
	if len(touched) > 0 {
		c.reconcile(touched, dirty)
	}
	c.finish(last, touched, dirty)
	return nil
}

func (c *Catalog) applyTopic(name string, ev meta.Event, touched map[string]bool) {
	if ev.Deleted {
		if _, ok := c.want[name]; ok {
			delete(c.want, name)
			touched[name] = true
		}
		return
	}
	var rec meta.TopicRecord
	if err := json.Unmarshal(ev.KV.Value, &rec); err != nil || rec.Name != name || rec.Partitions < 0 || rec.Partitions > plog.MaxPartitions {
		// Not written by CreateTopic: keep what we had, say so.
		c.logger.Error("ignoring a corrupt topic record", "key", ev.KV.Key, "version", ev.KV.Version, "err", err)
		return
	}
	old, ok := c.want[name]
	t := meta.Topic{Record: rec, Version: ev.KV.Version, Partitions: make([]meta.Partition, rec.Partitions)}
	if ok && old.Record.UUID == rec.UUID {
		copy(t.Partitions, old.Partitions) // grown or configs changed: the partitions stay
	}
	c.want[name] = t
	touched[name] = true
}

func (c *Catalog) applyPartition(ev meta.Event, touched map[string]bool) {
	name, num, ok := strings.Cut(strings.TrimPrefix(ev.KV.Key, meta.PartitionsPrefix), "/")
	p, err := strconv.ParseInt(num, 10, 32)
	t, known := c.want[name]
	if !ok || err != nil || !known || p < 0 || p >= int64(len(t.Partitions)) {
		return // a partition of no topic we know (a deleted one's keys going)
	}
	if ev.Deleted {
		c.logger.Warn("the state of a partition of a live topic was deleted", "key", ev.KV.Key)
		t.Partitions[p] = meta.Partition{}
		touched[name] = true
		return
	}
	var st meta.PartitionState
	if err := json.Unmarshal(ev.KV.Value, &st); err != nil {
		c.logger.Error("ignoring a corrupt partition state", "key", ev.KV.Key, "version", ev.KV.Version, "err", err)
		return
	}
	t.Partitions[p] = meta.Partition{State: st, Version: ev.KV.Version}
	touched[name] = true
}
