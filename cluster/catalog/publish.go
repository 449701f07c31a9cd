package catalog

import (
	"maps"
	"slices"
	"sync/atomic"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// finish publishes want's touched topics to the view, hands their
// partition changes to OnChange and wakes the waiters.
//
// OnChange is called before the view shows the changes, as ZooKeeper-era
// Kafka's controller sent LeaderAndIsr before UpdateMetadata: the replica
// manager has taken a leadership before Partition announces it.
func (c *Catalog) finish(rev int64, touched map[string]bool, dirty map[string]bool) {
	changes, show := c.publish(touched)
	if len(changes) > 0 && c.cfg.OnChange != nil {
		c.cfg.OnChange(changes)
	}
	show()
	c.roundDone(rev, maps.Clone(dirty))
}

// publish computes the view for the touched topics and the partition
// changes; show puts the view in place.
func (c *Catalog) publish(touched map[string]bool) (changes []Change, show func()) {
	old := *c.view.Load()
	var next topics // a copy of old, made at the first topic-level change
	set := func(name string, tv *topicView) {
		if next == nil {
			next = maps.Clone(old)
		}
		if tv == nil {
			delete(next, name)
		} else {
			next[name] = tv
		}
	}
	type store struct {
		slot *atomic.Pointer[meta.Partition]
		part *meta.Partition
	}
	var inPlace []store
	gone := func(tv *topicView) {
		for p := range tv.parts {
			changes = append(changes, Change{Topic: tv.rec.Name, TopicID: tv.rec.UUID, Partition: int32(p), Deleted: true})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(touched)) {
		t, inWant := c.want[name]
		tv, inView := old[name]
		switch {
		case !inWant && !inView:
		case !inWant:
			gone(tv)
			set(name, nil)
		case !inView || tv.rec.UUID != t.Record.UUID:
			if inView {
				gone(tv)
			}
			set(name, newTopicView(t))
			for p, part := range t.Partitions {
				if part.Version != 0 {
					changes = append(changes, change(t.Record, int32(p), part))
				}
			}
		default:
			if tv.version != t.Version || len(tv.parts) != len(t.Partitions) {
				set(name, newTopicView(t))
			}
			for p, part := range t.Partitions {
				var was int64
				if p < len(tv.parts) {
					if e := tv.parts[p].Load(); e != nil {
						was = e.Version
					}
				}
				if part.Version == was {
					continue
				}
				if next == nil || next[name] == tv { // leader or ISR change: in place
					st := store{slot: &tv.parts[p]}
					if part.Version != 0 {
						part := part
						st.part = &part
					}
					inPlace = append(inPlace, st)
				}
				if part.Version != 0 {
					changes = append(changes, change(t.Record, int32(p), part))
				}
			}
		}
	}
	return changes, func() {
		for _, st := range inPlace {
			st.slot.Store(st.part)
		}
		if next != nil {
			c.view.Store(&next)
		}
	}
}

func change(rec meta.TopicRecord, p int32, part meta.Partition) Change {
	return Change{Topic: rec.Name, TopicID: rec.UUID, Partition: p, State: part.State, Version: part.Version}
}
