package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// The transaction coordinator's marker sender (cluster mode; Kafka's
// TransactionMarkerChannelManager): a transaction's markers go to each
// partition's leader in WriteTxnMarkers requests, one per leader node per
// round, and are retried until every partition acknowledged its marker.

// Marker sender backoff between rounds.
const (
	markerRetryMin = 100 * time.Millisecond
	markerRetryMax = 2 * time.Second
	// markerRequestTimeout bounds one round trip (the leader waits up to
	// markerTimeout for replication).
	markerRequestTimeout = markerTimeout + 5*time.Second
)

// errMarkersFenced ends a marker send: a newer coordinator, or a newer
// producer epoch, owns the transaction (Kafka stops sending then too).
var errMarkersFenced = errors.New("transaction markers fenced")

// sendMarkers writes the markers of one transaction into parts and returns
// once every partition acknowledged it, a partition unknown to the cluster
// (a deleted topic) counting as done, also when its leader answers
// UNKNOWN_TOPIC_OR_PARTITION and the cluster has dropped it. It retries, with a backoff of 100 ms
// to 2 s and the cluster's current leaders, on NOT_LEADER_OR_FOLLOWER,
// NOT_ENOUGH_REPLICAS(_AFTER_APPEND), REQUEST_TIMED_OUT, a partition
// without a leader and network errors; TRANSACTION_COORDINATOR_FENCED or
// INVALID_PRODUCER_EPOCH (errMarkersFenced) or the ctx's end stop it.
func (s *Server) sendMarkers(ctx context.Context, coordEpoch int32, pid int64, epoch int16, commit bool, parts []plog.TopicPartition) error {
	pending := slices.Clone(parts)
	wait := markerRetryMin
	for {
		byLeader := map[int32][]plog.TopicPartition{}
		var next []plog.TopicPartition
		for _, tp := range pending {
			v, ok := s.cfg.Cluster.Partition(tp.Topic, tp.Partition)
			switch {
			case !ok:
				s.logger.Info("transaction marker skipped: partition unknown (topic deleted)", "topic", tp.Topic,
					"partition", tp.Partition, "producer_id", pid)
			case v.Leader < 0:
				next = append(next, tp)
			default:
				byLeader[v.Leader] = append(byLeader[v.Leader], tp)
			}
		}
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
		var (
			mu     sync.Mutex
			fenced error
			wg     sync.WaitGroup
		)
		for leader, tps := range byLeader {
			wg.Go(func() {
				retry, err := s.markersTo(ctx, leader, m, tps)
				mu.Lock()
				defer mu.Unlock()
				next = append(next, retry...)
				if err != nil {
					fenced = err
				}
			})
		}
		wg.Wait()
		if fenced != nil {
			return fenced
		}
		if len(next) == 0 {
			return nil
		}
		if len(next) < len(pending) {
			wait = markerRetryMin // progress: the next round soon
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("transaction markers of producer %d: %d partitions left: %w", pid, len(next), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, markerRetryMax)
		pending = next
	}
}

// markersTo writes m's marker into tps, all led by node leader: the
// partitions to retry, or errMarkersFenced.
func (s *Server) markersTo(ctx context.Context, leader int32, m kmsg.WriteTxnMarkersRequestMarker, tps []plog.TopicPartition) ([]plog.TopicPartition, error) {
	m.Topics = nil
	for _, tp := range tps {
		i := slices.IndexFunc(m.Topics, func(t kmsg.WriteTxnMarkersRequestMarkerTopic) bool { return t.Topic == tp.Topic })
		if i < 0 {
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			m.Topics = append(m.Topics, t)
			i = len(m.Topics) - 1
		}
		m.Topics[i].Partitions = append(m.Topics[i].Partitions, tp.Partition)
	}
	var codes [][]int16
	if leader == s.cfg.Cluster.LocalID() {
		codes = s.writeMarkers(ctx, m)
	} else {
		var err error
		if codes, err = s.remoteMarkers(ctx, leader, m); err != nil {
			s.logger.Debug("transaction markers: node unreachable, retrying", "node", leader, "err", err)
			return tps, nil
		}
	}
	var retry []plog.TopicPartition
	for i, t := range m.Topics {
		for j, p := range t.Partitions {
			switch c := codes[i][j]; c {
			case 0:
			case kerr.UnknownTopicOrPartition.Code:
				// A deleted topic is done; a leader whose log does not
				// have it yet (or any more) while the cluster still
				// does is asked again, as Kafka: a marker skipped there
				// would leave the transaction open in it for good.
				if _, ok := s.cfg.Cluster.Partition(t.Topic, p); ok {
					retry = append(retry, plog.TopicPartition{Topic: t.Topic, Partition: p})
				}
			case kerr.TransactionCoordinatorFenced.Code, kerr.InvalidProducerEpoch.Code, kerr.ProducerFenced.Code:
				s.logger.Info("transaction markers fenced", "topic", t.Topic, "partition", p, "producer_id", m.ProducerID,
					"coordinator_epoch", m.CoordinatorEpoch, "code", kerr.ErrorForCode(c))
				return nil, fmt.Errorf("%w: %s-%d: %w", errMarkersFenced, t.Topic, p, kerr.ErrorForCode(c))
			default:
				if c != kerr.NotLeaderForPartition.Code && c != kerr.NotEnoughReplicas.Code &&
					c != kerr.NotEnoughReplicasAfterAppend.Code && c != kerr.RequestTimedOut.Code {
					s.logger.Warn("transaction marker refused, retrying", "node", leader, "topic", t.Topic, "partition", p,
						"producer_id", m.ProducerID, "code", kerr.ErrorForCode(c))
				}
				retry = append(retry, plog.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	return retry, nil
}

// remoteMarkers sends m to node id: the codes per topic, per partition, in
// m's order.
func (s *Server) remoteMarkers(ctx context.Context, id int32, m kmsg.WriteTxnMarkersRequestMarker) ([][]int16, error) {
	b, err := s.tc.nodes.broker(id)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
	rctx, cancel := context.WithTimeout(ctx, markerRequestTimeout)
	defer cancel()
	kresp, err := b.Request(rctx, req)
	if err != nil {
		return nil, fmt.Errorf("WriteTxnMarkers to node %d: %w", id, err)
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	codes := markerCodes(m, kerr.UnknownServerError.Code)
	for _, rm := range resp.Markers {
		if rm.ProducerID != m.ProducerID {
			continue
		}
		for _, rt := range rm.Topics {
			i := slices.IndexFunc(m.Topics, func(t kmsg.WriteTxnMarkersRequestMarkerTopic) bool { return t.Topic == rt.Topic })
			if i < 0 {
				continue
			}
			for _, rp := range rt.Partitions {
				if j := slices.Index(m.Topics[i].Partitions, rp.Partition); j >= 0 {
					codes[i][j] = rp.ErrorCode
				}
			}
		}
	}
	return codes, nil
}

// nodeClients are this node's clients to the other nodes (the marker
// sender, the produce verification), one per node, made again when the
// node's address changes. They connect to each node's PLAINTEXT listener,
// as the replica fetchers do (cluster.Runtime's addr).
type nodeClients struct {
	cluster Cluster
	opts    []kgo.Opt
	mu      sync.Mutex
	closed  bool
	byID    map[int32]*nodeClient
}

type nodeClient struct {
	addr string
	cl   *kgo.Client
}

func newNodeClients(c Cluster, opts []kgo.Opt) *nodeClients {
	return &nodeClients{cluster: c, opts: opts, byID: map[int32]*nodeClient{}}
}

// broker is node id's connection.
func (n *nodeClients) broker(id int32) (*kgo.Broker, error) {
	addr := ""
	for _, node := range n.cluster.Nodes(string(PlainText)) {
		if node.ID == id {
			addr = net.JoinHostPort(node.Host, strconv.Itoa(int(node.Port)))
			break
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("node %d is not live or has no PLAINTEXT listener", id)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errors.New("node clients closed")
	}
	c := n.byID[id]
	if c == nil || c.addr != addr {
		if c != nil {
			c.cl.Close()
		}
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(addr),
			kgo.ClientID(fmt.Sprintf("zombi-txn-%d", n.cluster.LocalID())),
			kgo.DialTimeout(5 * time.Second),
		}, n.opts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("client for node %d at %s: %w", id, addr, err)
		}
		c = &nodeClient{addr: addr, cl: cl}
		n.byID[id] = c
	}
	bs := c.cl.SeedBrokers()
	if len(bs) == 0 {
		return nil, errors.New("no seed broker")
	}
	return bs[0], nil
}

// close closes every client.
func (n *nodeClients) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for id, c := range n.byID {
		c.cl.Close()
		delete(n.byID, id)
	}
}
