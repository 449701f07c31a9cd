package kafka

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/metrics"
	"github.com/zombi-dev/zombi/txn"
)

// The Kafka door's metrics. Each API's histogram and counter children are
// made once, when the API registers (versions.go), so a request pays two
// clock reads and the observation, never a label lookup.
var (
	requestDuration = metrics.Factory.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "zombi_kafka_request_duration_seconds",
		Help:    "Time to handle one Kafka request, from decoded to response ready (a Produce includes its fsync, a Fetch its long poll), by API.",
		Buckets: metrics.LatencyBuckets,
	}, []string{"api"})
	requestsTotal = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
		Name: "zombi_kafka_requests_total",
		Help: "Kafka requests handled, by API.",
	}, []string{"api"})
)

// RequestDurations is zombi_kafka_request_duration_seconds{api} (the
// process-wide histogram vector), for the console's latency history.
func RequestDurations() prometheus.Collector { return requestDuration }

// apiMetrics are one API's children.
type apiMetrics struct {
	dur   prometheus.Observer
	count prometheus.Counter
}

func newAPIMetrics(key int16) *apiMetrics {
	name := kmsg.NameForKey(key)
	return &apiMetrics{dur: requestDuration.WithLabelValues(name), count: requestsTotal.WithLabelValues(name)}
}

func (m *apiMetrics) observe(start metrics.Tick) {
	m.dur.Observe(start.Seconds())
	m.count.Inc()
}

var (
	descBrokers        = prometheus.NewDesc("kafka_brokers", "Number of Brokers in the Kafka Cluster.", nil, nil)
	descGroupOffset    = prometheus.NewDesc("kafka_consumergroup_current_offset", "Current Offset of a ConsumerGroup at Topic/Partition (the committed offset; -1 for a partition of a consumed topic without one)", []string{"consumergroup", "topic", "partition"}, nil)
	descGroupOffsetSum = prometheus.NewDesc("kafka_consumergroup_current_offset_sum", "Current Offset of a ConsumerGroup at Topic for all partitions", []string{"consumergroup", "topic"}, nil)
	descGroupLag       = prometheus.NewDesc("kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition (high watermark - committed offset; -1 when the partition has no committed offset)", []string{"consumergroup", "topic", "partition"}, nil)
	descGroupLagSum    = prometheus.NewDesc("kafka_consumergroup_lag_sum", "Current Approximate Lag of a ConsumerGroup at Topic for all partitions", []string{"consumergroup", "topic"}, nil)
	descGroupMembers   = prometheus.NewDesc("kafka_consumergroup_members", "Amount of members in a consumer group", []string{"consumergroup"}, nil)
	descGroups         = prometheus.NewDesc("zombi_groups", "Consumer groups by state (Kafka's names; a group known only by committed offsets is Empty).", []string{"state"}, nil)
	descTransactions   = prometheus.NewDesc("zombi_transactions", "Transactional ids by the state of their transaction (Kafka's names: Ongoing is open; Empty, CompleteCommit and CompleteAbort have none open).", []string{"state"}, nil)
)

// Collector reports at scrape time what the coordinator and the log know,
// under kafka_exporter's names and semantics (with its default
// --offset.show-all): kafka_brokers, and per group its members and, for
// every topic it has committed offsets in, each partition's committed
// offset and lag (-1 for a partition without a committed offset, left out of
// the sums), plus zombi_groups{state}. The topic metrics come from the log's own collector.
func (s *Server) Collector() prometheus.Collector { return serverCollector{s} }

type serverCollector struct{ s *Server }

func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGroupOffset, descGroupOffsetSum, descGroupLag, descGroupLagSum, descGroupMembers, descGroups, descTransactions} {
		ch <- d
	}
	if c.s.cfg.Cluster == nil { // cluster mode: the cluster's collector counts the live nodes
		ch <- descBrokers
	}
}

func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if s.cfg.Cluster == nil {
		ch <- prometheus.MustNewConstMetric(descBrokers, prometheus.GaugeValue, 1)
	}

	states := map[string]int{}
	for _, n := range groups.StateNames() {
		if n != groups.Dead.String() {
			states[n] = 0
		}
	}
	live := map[string]bool{}
	for _, g := range s.groups.List() {
		live[g.Group] = true
		states[g.State.String()]++
		ch <- prometheus.MustNewConstMetric(descGroupMembers, prometheus.GaugeValue, float64(len(g.Members)), g.Group)
	}
	offs, err := s.log.AllOffsets()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descGroupOffset, err)
		offs = nil
	}
	// Offsets come sorted by group, then topic: one run per (group, topic).
	for i := 0; i < len(offs); {
		j := i
		for j < len(offs) && offs[j].Group == offs[i].Group && offs[j].Topic == offs[i].Topic {
			j++
		}
		g, topic := offs[i].Group, offs[i].Topic
		if !live[g] {
			live[g] = true
			states[groups.Empty.String()]++
			ch <- prometheus.MustNewConstMetric(descGroupMembers, prometheus.GaugeValue, 0, g)
		}
		c.groupTopic(ch, g, topic, offs[i:j])
		i = j
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(descGroups, prometheus.GaugeValue, float64(n), st)
	}
	var txns map[txn.State]int
	if s.txn.Started() {
		txns = s.txn.StateCounts()
	}
	for _, st := range txn.States() {
		ch <- prometheus.MustNewConstMetric(descTransactions, prometheus.GaugeValue, float64(txns[st]), string(st))
	}
}

// groupTopic reports one group's offsets and lag in one topic: every
// partition of the topic, as kafka_exporter's OffsetFetch of all partitions
// does (committed offsets of a deleted topic are not reported).
func (c serverCollector) groupTopic(ch chan<- prometheus.Metric, group, topic string, offs []plog.CommittedOffset) {
	info, ok := c.s.log.Topic(topic)
	if !ok {
		return
	}
	committed := make(map[int32]int64, len(offs))
	for _, o := range offs {
		committed[o.Partition] = o.Offset
	}
	var offSum, lagSum int64
	for p := int32(0); p < info.Partitions; p++ {
		part := strconv.Itoa(int(p))
		cur, ok := committed[p]
		if !ok {
			cur = -1
		}
		offSum += cur
		ch <- prometheus.MustNewConstMetric(descGroupOffset, prometheus.GaugeValue, float64(cur), group, topic, part)
		_, hwm, err := c.s.log.Offsets(topic, p)
		if err != nil {
			continue
		}
		lag := int64(-1)
		if ok {
			lag = hwm - cur
			lagSum += lag
		}
		ch <- prometheus.MustNewConstMetric(descGroupLag, prometheus.GaugeValue, float64(lag), group, topic, part)
	}
	ch <- prometheus.MustNewConstMetric(descGroupOffsetSum, prometheus.GaugeValue, float64(offSum), group, topic)
	ch <- prometheus.MustNewConstMetric(descGroupLagSum, prometheus.GaugeValue, float64(lagSum), group, topic)
}

// Connections is the open connections of each Kafka listener
// (protocol://address; 0 for a listener without any), for
// zombi_connections.
func (s *Server) Connections() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := make(map[string]int, len(s.listeners)+1)
	for _, li := range s.listeners {
		n[li.name] = 0 // listed even without connections
	}
	for _, li := range s.conns {
		n[li.name]++
	}
	return n
}
