package cluster

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Cluster metrics, collected at scrape time from the runtime (nothing on
// the write path). Kafka's meanings: under-replicated partitions are counted
// by their leaders, offline partitions by the controller (0 elsewhere), so
// a sum over the nodes counts each partition once.
var (
	descController      = prometheus.NewDesc("zombi_cluster_controller", "1 on the node that is the cluster's controller, else 0 (Kafka's ActiveControllerCount).", nil, nil)
	descUnderReplicated = prometheus.NewDesc("zombi_under_replicated_partitions", "Partitions this node leads whose ISR is smaller than their replica set.", nil, nil)
	descOffline         = prometheus.NewDesc("zombi_offline_partitions", "Partitions without a live leader, counted by the controller (0 on other nodes).", nil, nil)
	descISRShrinks      = prometheus.NewDesc("zombi_isr_shrinks_total", "ISR shrinks this node wrote as a partition's leader.", nil, nil)
	descISRExpands      = prometheus.NewDesc("zombi_isr_expands_total", "ISR expands this node wrote as a partition's leader.", nil, nil)
	descElections       = prometheus.NewDesc("zombi_leader_elections_total", "Partition leaders this node elected as controller.", nil, nil)
	descReplicaLag      = prometheus.NewDesc("zombi_replica_lag_records", "A follower's distance from the leader's log end offset in records, as the leader sees it.", []string{"topic", "partition", "replica"}, nil)
	descBrokers         = prometheus.NewDesc("kafka_brokers", "Number of Brokers in the Kafka Cluster.", nil, nil)
)

// Collector is the cluster's metrics (httpapi.Config.Metrics). It reports
// kafka_brokers as the live nodes: the Kafka door's collector leaves it out
// in cluster mode.
func (r *Runtime) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Runtime }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descController, descUnderReplicated, descOffline, descISRShrinks, descISRExpands, descElections, descReplicaLag, descBrokers} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ctrl := r.node.IsController()
	gauge(descController, b2f(ctrl))
	gauge(descBrokers, float64(len(r.node.Nodes())))
	under := 0
	for _, st := range r.rm.LeaderStats() {
		if st.ISR < st.Replicas {
			under++
		}
		p := strconv.Itoa(int(st.Partition))
		for id, lag := range st.Lag {
			gauge(descReplicaLag, float64(lag), st.Topic, p, strconv.Itoa(int(id)))
		}
	}
	gauge(descUnderReplicated, float64(under))
	offline := 0
	if ctrl {
		for _, name := range r.cat.TopicNames() {
			rec, _, ok := r.cat.Topic(name)
			if !ok {
				continue
			}
			for p := range rec.Partitions {
				if st, _, ok := r.cat.Partition(name, p); ok && st.Leader < 0 {
					offline++
				}
			}
		}
	}
	gauge(descOffline, float64(offline))
	shrinks, expands := r.rm.ISRChanges()
	counter(descISRShrinks, shrinks)
	counter(descISRExpands, expands)
	counter(descElections, r.node.LeaderElections())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
