package log

import (
	"errors"
	"fmt"
)

// ErrNotLeader refuses a local write (Append, EndTxn) to a partition another
// node leads: in a cluster only the leader's writes enter a partition; a
// follower's log takes the leader's batches (AppendReplica) and nothing else,
// so no offset ever holds two values.
var ErrNotLeader = errors.New("not the leader of this partition")

// SetClusterMode fences local writes to every partition, existing and
// created from now on, until BecomeLeader opens one (a node joining a
// cluster: the replica manager decides which partitions it leads). A node
// alone never calls it: nothing is fenced.
func (l *Log) SetClusterMode() {
	l.clusterMode.Store(true)
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, t := range l.topics {
		for _, p := range t.parts {
			p.follower.Store(true)
		}
	}
}

// BecomeFollower fences local writes to the partition: another node leads
// it. BecomeLeader lifts the fence.
func (l *Log) BecomeFollower(topic string, part int32) error {
	p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	p.follower.Store(true)
	return nil
}

// fenceNew fences a partition created in cluster mode; l.mu held.
func (l *Log) fenceNew(p *partition) *partition {
	if l.clusterMode.Load() {
		p.follower.Store(true)
	}
	return p
}

func errNotLeader(p *partition) error {
	return fmt.Errorf("%w: partition %d", ErrNotLeader, p.id)
}
