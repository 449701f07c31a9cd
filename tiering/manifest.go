package tiering

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Manifest is what the cold tier holds for one partition, stored as JSON
// under manifests/{table}/{partition}.json. It is the only source of truth
// for cold reads: a segment object that no manifest lists is an orphan and
// never read. End is the flush watermark.
type Manifest struct {
	Version    int    `json:"version"`
	Topic      string `json:"topic"`
	TopicUUID  string `json:"topic_uuid"`
	Partition  int32  `json:"partition"`
	Partitions int32  `json:"partitions"` // the topic's partition count when written
	// LogStart is the first cold offset; End the next offset after the cold
	// range. LogStart == End when no segment is held (all expired).
	LogStart   int64         `json:"log_start"`
	End        int64         `json:"end"`
	Generation int64         `json:"generation"`
	UpdatedMs  int64         `json:"updated_ms"`
	Segments   []SegmentMeta `json:"segments"`
}

// SegmentMeta describes one segment object.
type SegmentMeta struct {
	Key          string `json:"key"`
	Start        int64  `json:"start"`       // first offset served from this segment
	End          int64  `json:"end"`         // last offset + 1
	BaseOffset   int64  `json:"base_offset"` // base offset of the first batch (<= Start)
	MinTimestamp int64  `json:"min_ts"`      // smallest batch first-timestamp (a hint)
	MaxTimestamp int64  `json:"max_ts"`
	Batches      int    `json:"batches"`
	Bytes        int64  `json:"bytes"` // record batch bytes
	Size         int64  `json:"size"`  // object size
	IndexPos     int64  `json:"index_pos"`
	DataCRC      uint32 `json:"data_crc32c"`
	FlushedMs    int64  `json:"flushed_ms"`
}

const manifestVersion = 1

func manifestKey(topic string, part int32) string {
	return "manifests/" + topic + "/" + strconv.Itoa(int(part)) + ".json"
}

// find returns the index of the segment holding offset, or -1.
func (m *Manifest) find(offset int64) int {
	if m == nil || offset < m.LogStart || offset >= m.End {
		return -1
	}
	i := sort.Search(len(m.Segments), func(i int) bool { return m.Segments[i].End > offset })
	if i == len(m.Segments) || m.Segments[i].Start > offset {
		return -1
	}
	return i
}

// clone returns a copy that can be changed without touching m.
func (m *Manifest) clone() *Manifest {
	c := *m
	c.Segments = append([]SegmentMeta(nil), m.Segments...)
	return &c
}

// check verifies the invariants of a loaded manifest: segments contiguous,
// in order, inside [LogStart, End).
func (m *Manifest) check() error {
	next := m.LogStart
	for _, s := range m.Segments {
		if s.Start != next || s.End <= s.Start || s.BaseOffset > s.Start {
			return fmt.Errorf("segment %s does not continue at %d", s.Key, next)
		}
		next = s.End
	}
	if next != m.End {
		return fmt.Errorf("segments end at %d, manifest at %d", next, m.End)
	}
	return nil
}

func saveManifest(ctx context.Context, st ObjectStore, m *Manifest) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return st.Put(ctx, manifestKey(m.Topic, m.Partition), body)
}

// loadManifests reads every partition manifest in the bucket.
func loadManifests(ctx context.Context, st ObjectStore) ([]*Manifest, error) {
	var keys []string
	if err := st.List(ctx, "manifests/", "", func(k string, _ int64) bool {
		if strings.HasSuffix(k, ".json") {
			keys = append(keys, k)
		}
		return true
	}); err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, k := range keys {
		body, err := st.Get(ctx, k, 0, -1)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m := &Manifest{}
		if err := json.Unmarshal(body, m); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", k, err)
		}
		if m.Version != manifestVersion || manifestKey(m.Topic, m.Partition) != k {
			return nil, fmt.Errorf("manifest %s: version %d for %s/%d not understood", k, m.Version, m.Topic, m.Partition)
		}
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", k, err)
		}
		out = append(out, m)
	}
	return out, nil
}
