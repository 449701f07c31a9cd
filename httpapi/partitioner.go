package httpapi

import (
	"sync"
	"sync/atomic"
)

// murmur2 is Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2),
// the hash of its default partitioner.
func murmur2(b []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		b = b[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// keyPartition is the partition Kafka's default partitioner (and franz-go's,
// librdkafka's murmur2_random) picks for a key: (murmur2(key) & 0x7fffffff) % n.
func keyPartition(key []byte, n int32) int32 {
	return int32((murmur2(key) & 0x7fffffff) % uint32(n))
}

// roundRobin hands out partitions in turn, per table.
type roundRobin struct {
	counters sync.Map // table name -> *atomic.Uint32
}

func (rr *roundRobin) next(table string, n int32) int32 {
	v, ok := rr.counters.Load(table)
	if !ok {
		v, _ = rr.counters.LoadOrStore(table, new(atomic.Uint32))
	}
	return int32((v.(*atomic.Uint32).Add(1) - 1) % uint32(n))
}
