package kafka

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// WriteTxnMarkers (key 27), v0-v2: cluster mode only.
//
// Behavior:
//   - Sent by a transaction coordinator to the leader of each partition of
//     a transaction (marker_sender.go), grouped by leader. Per partition:
//     this node must be its leader with enough in-sync replicas
//     (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS), then the control
//     batch is written (log.WriteMarker: the open transaction closed, an
//     abort indexed for read_committed) and the answer waits until it is
//     replicated (acks=all: NOT_ENOUGH_REPLICAS_AFTER_APPEND, or
//     REQUEST_TIMED_OUT after 30 s). A marker whose coordinator epoch is
//     older than the last one the producer's state holds gets
//     TRANSACTION_COORDINATOR_FENCED and writes nothing; a topic or
//     partition this node does not have gets UNKNOWN_TOPIC_OR_PARTITION.
//   - CLUSTER_ACTION on the cluster, else CLUSTER_AUTHORIZATION_FAILED on
//     every partition (as Kafka).
//   - The producer's cached produce verifications of the partition end
//     with its marker (txn_verify_cluster.go).
//
// Version notes:
//   - One node does not advertise it and answers UNSUPPORTED_VERSION: its
//     coordinator writes markers itself, in one write with its state, and
//     a client has no business sending one (kafka-transactions.sh abort
//     and Admin.abortTransaction get UnsupportedVersionException at once,
//     as before). Cluster mode advertises it on every listener, as Kafka
//     brokers do.
//   - v1 is flexible; v2 (KIP-890 part 2) adds the transaction version,
//     which is ignored: Zombi does not offer transaction version 2.
func init() { registerClusterOnly(kmsg.WriteTxnMarkers, 0, 2, (*Server).handleWriteTxnMarkers) }

const (
	// markerTimeout bounds the replication wait of a WriteTxnMarkers.
	markerTimeout = 30 * time.Second
	// maxMarkerWaits bounds the replication waits of one marker in
	// flight at once (a request may name many partitions).
	maxMarkerWaits = 64
)

func (s *Server) handleWriteTxnMarkers(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.WriteTxnMarkersRequest)
	if s.cfg.Cluster == nil {
		return unsupportedResponse(req, false, 0, 0), nil
	}
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	denied := !s.allowedCluster(ctx, kmsg.ACLOperationClusterAction)
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		var codes [][]int16
		if denied {
			codes = markerCodes(m, errClusterAuthz)
		} else {
			codes = s.writeMarkers(ctx, m)
		}
		for i, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

// markerCodes is code for every partition of m.
func markerCodes(m kmsg.WriteTxnMarkersRequestMarker, code int16) [][]int16 {
	out := make([][]int16, len(m.Topics))
	for i, t := range m.Topics {
		out[i] = make([]int16, len(t.Partitions))
		for j := range out[i] {
			out[i][j] = code
		}
	}
	return out
}

// writeMarkers writes m's marker into each of its partitions this node
// leads and waits for their replication; the codes are per topic, per
// partition. The marker sender calls it directly for the partitions this
// node leads itself.
func (s *Server) writeMarkers(ctx context.Context, m kmsg.WriteTxnMarkersRequestMarker) [][]int16 {
	codes := markerCodes(m, 0)
	mr := plog.MarkerRequest{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed,
		CoordinatorEpoch: m.CoordinatorEpoch}
	ctx, cancel := context.WithTimeout(ctx, markerTimeout)
	defer cancel()
	var wg sync.WaitGroup
	waits := make(chan struct{}, maxMarkerWaits)
	for i, t := range m.Topics {
		for j, p := range t.Partitions {
			off, code := s.writeMarker(ctx, t.Topic, p, mr)
			if code != 0 {
				codes[i][j] = code
				continue
			}
			waits <- struct{}{}
			wg.Go(func() {
				defer func() { <-waits }()
				if err := s.cfg.Cluster.AwaitReplicated(ctx, t.Topic, p, off); err != nil {
					codes[i][j] = errorCode(err)
				}
			})
		}
	}
	wg.Wait()
	return codes
}

// writeMarker writes one partition's marker as its leader: the marker's
// offset, or an error code.
func (s *Server) writeMarker(ctx context.Context, topic string, p int32, mr plog.MarkerRequest) (int64, int16) {
	if info, ok := s.log.Topic(topic); !ok || p < 0 || p >= info.Partitions {
		return 0, errUnknownTopic
	}
	if err := s.cfg.Cluster.CheckProduce(topic, p, -1, true); err != nil {
		return 0, errorCode(err)
	}
	off, err := s.log.WriteMarker(ctx, topic, p, mr)
	switch {
	case errors.Is(err, plog.ErrCoordinatorFenced):
		return 0, kerr.TransactionCoordinatorFenced.Code
	case err != nil:
		s.logger.Warn("write transaction marker", "topic", topic, "partition", p, "producer_id", mr.ProducerID, "err", err)
		return 0, errorCode(err)
	}
	s.txnVerified().forget(mr.ProducerID, topic, p)
	return off, 0
}
