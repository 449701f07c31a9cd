package kafka

import (
	"sync/atomic"

	"github.com/zombi-dev/zombi/cluster/coordlog"
)

// Coordinator hooks (cluster mode): the cluster calls onLoad when this node
// becomes the loaded leader of an internal partition (its requests pass the
// coordinator check once onLoad has returned), and onUnload before it
// stops leading one. Groups need nothing loaded (their offsets are the view
// the apply loop writes; members rejoin a new coordinator), so a load only
// marks the partition for ListGroups, and an unload drops the partition's
// groups: their waiting members get NOT_COORDINATOR. The transaction
// coordinator loads and drops its ids (package txn).

// coordLoaded marks the __consumer_offsets partitions this node leads and
// has loaded (ListGroups lists their groups only, as Kafka).
type coordLoaded [coordlog.Partitions]atomic.Bool

func (s *Server) installCoordinatorHooks() {
	c := s.cfg.Cluster
	if c == nil {
		return
	}
	c.SetCoordinatorHooks(s.onCoordinatorLoad, s.onCoordinatorUnload)
}

func (s *Server) onCoordinatorLoad(kind int8, part, epoch int32) {
	switch coordlog.Kind(kind) {
	case coordlog.Group:
		// A group made here by a request that passed the check just before
		// an earlier unload is stale: the partition's requests are refused
		// until this hook returns, so nothing of this term is dropped.
		s.groups.Unload(func(g string) bool { return coordlog.Partition(g) == part })
		if part >= 0 && part < coordlog.Partitions {
			s.groupsLoaded[part].Store(true)
		}
		s.logger.Info("group coordinator loaded", "partition", part, "epoch", epoch)
	case coordlog.Transaction:
		if err := s.txn.Load(part, epoch); err != nil {
			s.logger.Warn("transaction coordinator load", "partition", part, "epoch", epoch, "err", err)
		}
	}
}

func (s *Server) onCoordinatorUnload(kind int8, part int32) {
	switch coordlog.Kind(kind) {
	case coordlog.Group:
		if part >= 0 && part < coordlog.Partitions {
			s.groupsLoaded[part].Store(false)
		}
		s.groups.Unload(func(g string) bool { return coordlog.Partition(g) == part })
		s.logger.Info("group coordinator unloaded", "partition", part)
	case coordlog.Transaction:
		s.txn.Unload(part)
	}
}

// groupListed says whether ListGroups on this node lists the group: always
// on one node; in cluster mode when its partition is led and loaded here.
func (s *Server) groupListed(group string) bool {
	if s.cfg.Cluster == nil {
		return true
	}
	return s.groupsLoaded[coordlog.Partition(group)].Load()
}
