package cluster

// LeaderEpoch reports whether this node leads the partition now, and in
// which leader epoch (the replica manager's role, not only the catalog's
// word): the shared cold tier's tiering.Leadership.
func (r *Runtime) LeaderEpoch(topic string, p int32) (int32, bool) {
	return r.rm.LeaderEpoch(topic, p)
}
