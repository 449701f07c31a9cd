package httpapi

import (
	"encoding/base64"
	"encoding/json"

	plog "github.com/zombi-dev/zombi/log"
)

// TABLE is the shape the admin routes answer with (PUT /tables/{t}, PATCH
// /tables/{t}/configs, GET /tables/{t}/info): the topic, its config
// overrides and its offsets per partition. This is the minimal form the
// topic-config routes need; the admin routes own it.
type tableInfo struct {
	Name             string            `json:"name"`
	TopicID          string            `json:"topic_id"` // base64url, as Kafka's tools print it
	Partitions       int32             `json:"partitions"`
	Configs          map[string]string `json:"configs"` // overrides only
	Records          int64             `json:"records"`
	Bytes            int64             `json:"bytes"`
	PartitionOffsets []partitionInfo   `json:"partition_offsets"`
}

type partitionInfo struct {
	Partition     int32  `json:"partition"`
	LogStart      int64  `json:"log_start"`
	HighWatermark int64  `json:"high_watermark"`
	HotStart      int64  `json:"hot_start"`
	ColdStart     *int64 `json:"cold_start,omitempty"`
	ColdEnd       *int64 `json:"cold_end,omitempty"`
	Bytes         int64  `json:"bytes"`
}

// tableJSON describes a table as TABLE. Bytes are not counted here (0):
// the log keeps no per-partition size yet.
func (s *server) tableJSON(info plog.TopicInfo) ([]byte, error) {
	t := tableInfo{
		Name:             info.Name,
		TopicID:          base64.RawURLEncoding.EncodeToString(info.UUID[:]),
		Partitions:       info.Partitions,
		Configs:          info.Configs,
		PartitionOffsets: make([]partitionInfo, 0, info.Partitions),
	}
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	cold := s.log.ColdTier()
	for p := int32(0); p < info.Partitions; p++ {
		start, hwm, err := s.log.Offsets(info.Name, p)
		if err != nil {
			return nil, err
		}
		hot, err := s.log.HotStart(info.Name, p)
		if err != nil {
			return nil, err
		}
		pi := partitionInfo{Partition: p, LogStart: start, HighWatermark: hwm, HotStart: hot}
		if cold != nil {
			if cs, ce, ok := cold.Bounds(info.Name, p); ok && ce > cs {
				pi.ColdStart, pi.ColdEnd = &cs, &ce
			}
		}
		t.Records += pi.HighWatermark - pi.LogStart
		t.PartitionOffsets = append(t.PartitionOffsets, pi)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
