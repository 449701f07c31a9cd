package catalog

import (
	"sync/atomic"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// topics is the cluster's topics as this node last applied them. Partition
// reads it on every Kafka request, so reads take no lock: the map is
// immutable and swapped whole when a topic comes, goes, grows or changes
// its configs (rare), and a partition's state is a pointer swapped in
// place when its leader or ISR changes (the common change copies nothing).
// Only the Run goroutine writes.
type topics map[string]*topicView

type topicView struct {
	rec     meta.TopicRecord
	version int64
	parts   []atomic.Pointer[meta.Partition] // nil: the key is missing
}

func newTopicView(t meta.Topic) *topicView {
	tv := &topicView{rec: t.Record, version: t.Version, parts: make([]atomic.Pointer[meta.Partition], len(t.Partitions))}
	for i, p := range t.Partitions {
		if p.Version != 0 {
			p := p
			tv.parts[i].Store(&p)
		}
	}
	return tv
}

// Partition is a partition's state and version as this node last applied
// it (no etcd round trip); ok false when the topic or partition is unknown.
// The state's slices are shared: the caller must not modify them.
func (c *Catalog) Partition(topic string, p int32) (meta.PartitionState, int64, bool) {
	tv, ok := (*c.view.Load())[topic]
	if !ok || p < 0 || int(p) >= len(tv.parts) {
		return meta.PartitionState{}, 0, false
	}
	e := tv.parts[p].Load()
	if e == nil {
		return meta.PartitionState{}, 0, false
	}
	return e.State, e.Version, true
}

// Topic is a topic's record and version as this node last applied it. The
// record's Configs map is shared: the caller must not modify it.
func (c *Catalog) Topic(name string) (meta.TopicRecord, int64, bool) {
	tv, ok := (*c.view.Load())[name]
	if !ok {
		return meta.TopicRecord{}, 0, false
	}
	return tv.rec, tv.version, true
}

// TopicNames lists the cluster's topics (unsorted).
func (c *Catalog) TopicNames() []string {
	v := *c.view.Load()
	out := make([]string, 0, len(v))
	for name := range v {
		out = append(out, name)
	}
	return out
}
