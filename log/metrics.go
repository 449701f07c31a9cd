package log

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zombi-dev/zombi/metrics"
)

// The log's own metrics. Per-topic traffic is not a labelled counter
// updated per append: the writer adds to atomics on the partition (records,
// bytes) once per group commit, and Collector reads them at scrape time, so
// the write path pays no label lookup and a deleted topic's series go with
// the topic.
var (
	appendDuration = metrics.Factory.NewHistogram(prometheus.HistogramOpts{
		Name:    "zombi_log_append_duration_seconds",
		Help:    "Time of one Append call (a Produce request's or an HTTP write's batches), from the call to durable or failed, group-commit wait and fsync included.",
		Buckets: metrics.LatencyBuckets,
	})
	commitRecords = metrics.Factory.NewHistogram(prometheus.HistogramOpts{
		Name:    "zombi_log_commit_records",
		Help:    "Records written per group commit (one RocksDB WriteBatch and one fsync).",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 .. 262144
	})
	writesRefused = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
		Name: "zombi_writes_refused_total",
		Help: "Record batches refused by the log, by reason (hot_tier_full: ZOMBI_HOT_MAX_BYTES reached while S3 lags; unknown_topic; corrupt_batch; out_of_order_sequence and producer_fenced: idempotent producers; storage: RocksDB failed; closed; cancelled; invalid; other; request_too_large: a REST body over ZOMBI_MAX_REQUEST_BYTES; record_too_large: a batch or REST record over max.message.bytes; unauthorized: a Produce without WRITE on the topic).",
	}, []string{"reason"})
)

// refuseReasons are the reasons, each with its counter made once (a refusal
// is rare, but a storm of them must not cost a label lookup each).
var refuseReasons = func() map[string]prometheus.Counter {
	m := map[string]prometheus.Counter{}
	for _, r := range []string{"hot_tier_full", "unknown_topic", "corrupt_batch", "out_of_order_sequence", "producer_fenced", "storage", "closed", "cancelled", "invalid", "other", "request_too_large", "record_too_large", "unauthorized"} {
		m[r] = writesRefused.WithLabelValues(r)
	}
	return m
}()

func refuseReason(err error) string {
	switch {
	case errors.Is(err, ErrHotTierFull):
		return "hot_tier_full"
	case errors.Is(err, ErrUnknownTopic):
		return "unknown_topic"
	case errors.Is(err, ErrCorruptBatch):
		return "corrupt_batch"
	case errors.Is(err, ErrOutOfOrderSequence):
		return "out_of_order_sequence"
	case errors.Is(err, ErrProducerFenced):
		return "producer_fenced"
	case errors.Is(err, ErrStorage):
		return "storage"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	case errors.Is(err, ErrInvalidOffset):
		return "invalid"
	}
	return "other"
}

func countRefused(err error) { refuseReasons[refuseReason(err)].Inc() }

// CountRefused counts a write a front door refused before it reached the
// log (e.g. a body over ZOMBI_MAX_REQUEST_BYTES: reason request_too_large),
// in zombi_writes_refused_total{reason}. reason must come from a small fixed
// set.
func CountRefused(reason string) {
	if c, ok := refuseReasons[reason]; ok {
		c.Inc()
		return
	}
	writesRefused.WithLabelValues(reason).Inc()
}

// served counts what the front doors sent of a topic to consumers.
type served struct {
	records, bytes atomic.Int64
}

// CountServed adds records and bytes sent to consumers of topic (a Fetch
// response's record batches, a GET /tables body) to zombi_records_out_total
// and zombi_bytes_out_total. An unknown topic is ignored.
func (l *Log) CountServed(topic string, records, bytes int) {
	l.mu.RLock()
	t := l.topics[topic]
	l.mu.RUnlock()
	if t != nil {
		t.out.records.Add(int64(records))
		t.out.bytes.Add(int64(bytes))
	}
}

var (
	descTopicPartitions = prometheus.NewDesc("kafka_topic_partitions", "Number of partitions for this Topic", []string{"topic"}, nil)
	descCurrentOffset   = prometheus.NewDesc("kafka_topic_partition_current_offset", "Current Offset of a Broker at Topic/Partition (the high watermark)", []string{"topic", "partition"}, nil)
	descOldestOffset    = prometheus.NewDesc("kafka_topic_partition_oldest_offset", "Oldest Offset of a Broker at Topic/Partition (the log start offset, cold tier included)", []string{"topic", "partition"}, nil)
	descRecordsIn       = prometheus.NewDesc("zombi_records_in_total", "Records appended to the topic since start, both doors.", []string{"topic"}, nil)
	descBytesIn         = prometheus.NewDesc("zombi_bytes_in_total", "Record batch bytes appended to the topic since start, both doors.", []string{"topic"}, nil)
	descRecordsOut      = prometheus.NewDesc("zombi_records_out_total", "Records sent to consumers of the topic since start (Kafka Fetch, GET /tables).", []string{"topic"}, nil)
	descBytesOut        = prometheus.NewDesc("zombi_bytes_out_total", "Bytes sent to consumers of the topic since start: record batches on Fetch, the JSON body on GET /tables.", []string{"topic"}, nil)
)

// Collector reports, at scrape time from in-memory state only, the
// kafka_exporter topic metrics and the per-topic traffic counters.
func (l *Log) Collector() prometheus.Collector { return logCollector{l} }

type logCollector struct{ l *Log }

func (c logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTopicPartitions, descCurrentOffset, descOldestOffset, descRecordsIn, descBytesIn, descRecordsOut, descBytesOut} {
		ch <- d
	}
}

func (c logCollector) Collect(ch chan<- prometheus.Metric) {
	// Copy the topic list and let go of the lock before sending: a scrape
	// must not hold l.mu while a CreateTopic waits, which would stall every
	// append behind it.
	c.l.mu.RLock()
	ts := make([]*topic, 0, len(c.l.topics))
	for _, t := range c.l.topics {
		ts = append(ts, t)
	}
	c.l.mu.RUnlock()
	for _, t := range ts {
		name := t.info.Name
		ch <- prometheus.MustNewConstMetric(descTopicPartitions, prometheus.GaugeValue, float64(len(t.parts)), name)
		var records, bytes int64
		for _, p := range t.parts {
			part := strconv.Itoa(int(p.id))
			ch <- prometheus.MustNewConstMetric(descCurrentOffset, prometheus.GaugeValue, float64(p.hwm.Load()), name, part)
			ch <- prometheus.MustNewConstMetric(descOldestOffset, prometheus.GaugeValue, float64(c.l.earliest(name, p.id, p.logStart.Load())), name, part)
			records += p.records.Load()
			bytes += p.appended.Load()
		}
		ch <- prometheus.MustNewConstMetric(descRecordsIn, prometheus.CounterValue, float64(records), name)
		ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, float64(bytes), name)
		ch <- prometheus.MustNewConstMetric(descRecordsOut, prometheus.CounterValue, float64(t.out.records.Load()), name)
		ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, float64(t.out.bytes.Load()), name)
	}
}
