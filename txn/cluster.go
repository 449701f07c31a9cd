package txn

// Load takes over the transactional ids of __transaction_state partition
// part at leader epoch epoch (cluster mode) from the materialized view:
// Prepare* ones get their markers again, Ongoing ones keep their deadline.
func (c *Coordinator) Load(part, epoch int32) error {
	return nil // T4
}

// Unload drops the ids of partition part: this node no longer coordinates
// them.
func (c *Coordinator) Unload(part int32) {
	// T4
}
