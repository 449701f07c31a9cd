package cluster

import (
	"slices"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// maxInternalRF is the replication factor the internal topics grow to
// (Kafka's offsets.topic.replication.factor and
// transaction.state.log.replication.factor, 3).
const maxInternalRF = 3

// growInternal raises an internal topic's partition to min(3, live nodes)
// replicas (the coordinators' design, section 1): a cluster grown from one
// node, or whose first consumer came while one node was up, ends at RF 3
// without an operator. It starts a KIP-455 reassignment that adds replicas
// (the controller completes it once they are in sync); the current ones
// stay first, so the preferred leader does not move. Only a settled
// partition grows: a live leader, no reassignment in progress.
func growInternal(topic string, p int32, st meta.PartitionState, nodes []meta.NodeRecord, live func(int32) bool) (meta.PartitionState, bool) {
	if !plog.IsInternalTopic(topic) || inReassignment(st) || st.Leader < 0 || !live(st.Leader) {
		return st, false
	}
	var liveNodes []meta.NodeRecord
	for _, n := range nodes {
		if live(n.ID) {
			liveNodes = append(liveNodes, n)
		}
	}
	want := min(maxInternalRF, len(liveNodes))
	if len(st.Replicas) >= want {
		return st, false
	}
	add := pickReplicas(st.Replicas, liveNodes, want-len(st.Replicas), p)
	if len(add) == 0 {
		return st, false
	}
	return startReassignment(st, append(slices.Clone(st.Replicas), add...)), true
}

// pickReplicas chooses n live nodes that are not replicas yet: first in
// racks the replicas do not use (rack-aware, as the catalog's placement),
// and rotated by the partition number so that the added replicas, and so
// the load, spread over the new nodes.
func pickReplicas(replicas []int32, liveNodes []meta.NodeRecord, n int, p int32) []int32 {
	var cands []meta.NodeRecord
	racks := map[string]bool{}
	for _, nd := range liveNodes {
		if slices.Contains(replicas, nd.ID) {
			racks[nd.Rack] = true
		} else {
			cands = append(cands, nd)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b meta.NodeRecord) int { return int(a.ID) - int(b.ID) })
	start := int(p) % len(cands)
	cands = append(cands[start:], cands[:start]...)
	var out []int32
	// Two passes: new racks first, then any.
	for pass := 0; pass < 2 && len(out) < n; pass++ {
		for _, nd := range cands {
			if len(out) == n {
				break
			}
			if slices.Contains(out, nd.ID) || (pass == 0 && racks[nd.Rack]) {
				continue
			}
			out = append(out, nd.ID)
			if pass == 0 {
				racks[nd.Rack] = true
			}
		}
	}
	return out
}
