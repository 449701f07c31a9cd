package history

import (
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
)

// Traffic is the log's per-topic running counters (*log.Log).
type Traffic interface {
	Traffic(dst []plog.TopicTraffic) []plog.TopicTraffic
}

// Latency reads the cumulative request-duration histograms: produce-like
// requests (Kafka Produce, REST writes) and fetch-like ones (Kafka Fetch,
// REST reads). DoorLatency builds one from the doors' histograms.
type Latency interface {
	Latency() (produce, fetch Hist)
}

// Offsets is what the lag history reads from the log (*log.Log): every
// committed offset, sorted by group then topic, and a partition's bounds.
type Offsets interface {
	AllOffsets() ([]plog.CommittedOffset, error)
	Offsets(topic string, part int32) (logStart, hwm int64, err error)
}

// Groups is the group coordinator (*groups.Coordinator): its members'
// assignments count partitions that have no committed offset yet.
type Groups interface {
	List() []groups.GroupInfo
}

// Live is what the sampler reads from status functions at each sample, and
// what GET /overview shows.
type Live struct {
	KafkaConnections int
	HTTPConnections  int
	HotBytes         int64 // see Config.HotBytes
	ColdPendingBytes int64
	S3Reachable      bool
}
