package httpapi

import (
	"encoding/base64"
	"errors"

	plog "github.com/zombi-dev/zombi/log"
)

// tableJSON is a table's description (the TABLE of GET /tables, GET
// /tables/{t}/info, PUT /tables/{t} and PATCH /tables/{t}/configs).
type tableJSON struct {
	Name       string            `json:"name"`
	TopicID    string            `json:"topic_id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs"`
	Records    int64             `json:"records"`
	Bytes      int64             `json:"bytes"`
	Offsets    []partitionJSON   `json:"partition_offsets"`
	// Rates: GET /tables?with=rates only (tables_rates.go).
	Rates []float64 `json:"rates,omitempty"`
}

// partitionJSON is one partition's offsets: the readable range [log_start,
// high_watermark), the hot tier from hot_start, and the cold range
// [cold_start, cold_end) when the cold tier holds any of it.
type partitionJSON struct {
	Partition     int32  `json:"partition"`
	LogStart      int64  `json:"log_start"`
	HighWatermark int64  `json:"high_watermark"`
	HotStart      int64  `json:"hot_start"`
	ColdStart     *int64 `json:"cold_start,omitempty"`
	ColdEnd       *int64 `json:"cold_end,omitempty"`
	Bytes         int64  `json:"bytes"`
}

// topicID renders a Kafka topic id as Kafka's tools print it (Uuid.toString:
// URL-safe base64 without padding).
func topicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// tableView describes a table from what the log and the cold tier know in
// memory (nothing is read from disk or S3). bytes is the record-batch bytes
// appended to each partition since this server started: a running count the
// log keeps, not the size on disk (0 after a restart until new writes).
func (s *server) tableView(info plog.TopicInfo) (tableJSON, error) {
	t := tableJSON{
		Name: info.Name, TopicID: topicID(info.UUID), Partitions: info.Partitions,
		Configs: map[string]string{}, Offsets: make([]partitionJSON, 0, info.Partitions),
	}
	for k, v := range info.Configs {
		t.Configs[k] = v
	}
	for p := int32(0); p < info.Partitions; p++ {
		start, hwm, err := s.log.Offsets(info.Name, p)
		if err != nil {
			return tableJSON{}, err
		}
		hot, err := s.log.HotStart(info.Name, p)
		if err != nil {
			return tableJSON{}, err
		}
		n, err := s.log.AppendedBytes(info.Name, p)
		if err != nil {
			return tableJSON{}, err
		}
		pj := partitionJSON{Partition: p, LogStart: start, HighWatermark: hwm, HotStart: hot, Bytes: n}
		if cs, ce, ok := s.log.ColdBounds(info.Name, p); ok && ce > cs {
			pj.ColdStart, pj.ColdEnd = &cs, &ce
		}
		t.Records += max(0, hwm-start)
		t.Bytes += n
		t.Offsets = append(t.Offsets, pj)
	}
	return t, nil
}

// tableInfo describes the table called name; 404 when there is none.
func (s *server) tableInfo(name string) (tableJSON, error) {
	info, ok := s.log.Topic(name)
	if !ok {
		return tableJSON{}, notFound("table %s does not exist", name)
	}
	t, err := s.tableView(info)
	if errors.Is(err, plog.ErrUnknownTopic) {
		return tableJSON{}, notFound("table %s does not exist", name) // deleted meanwhile
	}
	return t, err
}
