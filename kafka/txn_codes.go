package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	plog "github.com/zombi-dev/zombi/log"
)

// fencedCode is the code of a transaction coordinator error for a request
// of version v: PRODUCER_FENCED (KIP-588) is INVALID_PRODUCER_EPOCH for
// versions below since, which older clients know, as Kafka answers them.
func fencedCode(ke *kerr.Error, v, since int16) int16 {
	if ke == kerr.ProducerFenced && v < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code(ke)
}

// txnPartitions is a request's topics and partitions as the log names them.
func txnPartitions(topic string, parts []int32) []plog.TopicPartition {
	out := make([]plog.TopicPartition, 0, len(parts))
	for _, p := range parts {
		out = append(out, plog.TopicPartition{Topic: topic, Partition: p})
	}
	return out
}
