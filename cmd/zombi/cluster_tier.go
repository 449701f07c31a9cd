package main

import (
	"sync/atomic"

	"github.com/zombi-dev/zombi/cluster"
	"github.com/zombi-dev/zombi/tiering"
)

// tierLeadership is the shared cold tier's view of this node's leaderships
// (tiering.Leadership): none until the cluster runtime runs (the tier starts
// first, so that reads span the tiers from the first request), then the
// replica manager's. Nil alone.
type tierLeadership struct {
	rt atomic.Pointer[cluster.Runtime]
}

func newTierLeadership(cc cluster.Config) *tierLeadership {
	if !cc.Enabled() {
		return nil
	}
	return &tierLeadership{}
}

// tiering is the tier's Config.Leadership: a nil interface alone.
func (t *tierLeadership) tiering() tiering.Leadership {
	if t == nil {
		return nil
	}
	return t
}

func (t *tierLeadership) set(r *runtime) {
	if t != nil && r != nil {
		t.rt.Store(r.rt)
	}
}

func (t *tierLeadership) LeaderEpoch(topic string, p int32) (int32, bool) {
	if rt := t.rt.Load(); rt != nil {
		return rt.LeaderEpoch(topic, p)
	}
	return 0, false
}
