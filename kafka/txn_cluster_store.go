package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/txn"
)

// txnCluster is the transaction coordinator's cluster-mode part of the
// server: the clients to the other nodes (markers, verification) and the
// produce verification cache. Nil on one node.
type txnCluster struct {
	nodes    *nodeClients
	verified *txnVerifyCache
}

// txnClusterStore is the coordinator's txn.ClusterStore: its state goes to
// __transaction_state through the cluster, its markers through the marker
// sender.
type txnClusterStore struct{ s *Server }

var _ txn.ClusterStore = txnClusterStore{}

// Append appends one state batch as the partition's leader at epoch,
// acks=all. Its errors carry the coordinator's Kafka code (the design's
// mapping, as Kafka's for the transaction log): NOT_COORDINATOR when this
// node no longer leads the partition at that epoch,
// COORDINATOR_NOT_AVAILABLE with too few in-sync replicas,
// REQUEST_TIMED_OUT on the ctx's deadline.
func (st txnClusterStore) Append(ctx context.Context, part int32, epoch int32, raw []byte) error {
	_, err := st.s.cfg.Cluster.AppendInternal(ctx, int8(coordlog.Transaction), part, epoch, raw)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotLeader), errors.Is(err, plog.ErrNotLeader), errors.Is(err, ErrFencedLeaderEpoch):
		return fmt.Errorf("%w: %w", kerr.NotCoordinator, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
	default: // not enough replicas, storage, ...: retriable
		return fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
	}
}

// SendMarkers is the marker sender (marker_sender.go).
func (st txnClusterStore) SendMarkers(ctx context.Context, coordEpoch int32, pid int64, epoch int16, commit bool, parts []plog.TopicPartition) error {
	return st.s.sendMarkers(ctx, coordEpoch, pid, epoch, commit, parts)
}

// newTransactions makes the transaction coordinator (NewServer) and
// installs the log's transaction verifier: the coordinator itself on one
// node, the verification cache in cluster mode.
func (s *Server) newTransactions(l *plog.Log, cfg Config, logger *slog.Logger) {
	tcfg := txn.Config{MaxTimeout: cfg.TransactionMaxTimeout, NewProducerID: s.newProducerID, Logger: logger}
	if cfg.Cluster != nil {
		maxAge := cfg.TransactionMaxTimeout
		if maxAge <= 0 {
			maxAge = txn.DefaultMaxTimeout
		}
		s.tc = &txnCluster{nodes: newNodeClients(cfg.Cluster, cfg.InterBrokerOpts), verified: newTxnVerifyCache(maxAge)}
		tcfg.Cluster = txnClusterStore{s}
	}
	s.txn = txn.New(l, tcfg)
	if cfg.Cluster != nil {
		l.SetTxnVerifier(s.verifyClusterTxn)
		return
	}
	// Until the coordinator has loaded its state it knows no transaction:
	// the verifier refuses every batch that would open one.
	l.SetTxnVerifier(s.txn.Verify)
}

// closeTransactions stops the coordinator, then the node clients.
func (s *Server) closeTransactions() {
	s.txn.Close()
	if s.tc != nil {
		s.tc.nodes.close()
	}
}
