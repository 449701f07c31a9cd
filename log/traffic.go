package log

import "strconv"

// TopicTraffic is one topic's running traffic counters since the log was
// opened (zombi_records_in_total and the like), for samplers that compute
// rates from their differences.
type TopicTraffic struct {
	Name       string
	UUID       [16]byte // tells a re-created topic from the one before it
	Partitions int32
	RecordsIn  int64 // records appended, both doors
	BytesIn    int64 // record batch bytes appended
	RecordsOut int64 // records sent to consumers (Kafka Fetch, GET /tables)
	BytesOut   int64
}

// Traffic appends every topic's counters to dst and returns it, in no
// particular order. It reads the atomics the writer already keeps, so it
// costs the write path nothing; the topic list is copied under the read
// lock and the counters read after it is released.
func (l *Log) Traffic(dst []TopicTraffic) []TopicTraffic {
	l.mu.RLock()
	ts := make([]*topic, 0, len(l.topics))
	for _, t := range l.topics {
		ts = append(ts, t)
	}
	l.mu.RUnlock()
	for _, t := range ts {
		tt := TopicTraffic{Name: t.info.Name, UUID: t.info.UUID, Partitions: int32(len(t.parts)),
			RecordsOut: t.out.records.Load(), BytesOut: t.out.bytes.Load()}
		for _, p := range t.parts {
			tt.RecordsIn += p.records.Load()
			tt.BytesIn += p.appended.Load()
		}
		dst = append(dst, tt)
	}
	return dst
}

// DiskBytes is RocksDB's own estimate of what the hot tier holds: the SST
// files' total size plus the memtables, read from in-memory properties (no
// I/O). It covers every key the log keeps (records, indexes, offsets), which
// the records dominate.
func (l *Log) DiskBytes() int64 {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed.Load() {
		return 0
	}
	var n int64
	for _, prop := range []string{"rocksdb.total-sst-files-size", "rocksdb.cur-size-all-mem-tables"} {
		if v, err := strconv.ParseInt(l.db.GetProperty(prop), 10, 64); err == nil {
			n += v
		}
	}
	return n
}
