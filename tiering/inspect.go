package tiering

import (
	"context"
	"sort"
	"strings"

	plog "github.com/zombi-dev/zombi/log"
)

// SegmentInfo is one segment as a manifest lists it (zombi segments ls).
type SegmentInfo struct {
	Table     string `json:"table"`
	Partition int32  `json:"partition"`
	SegmentMeta
}

// ListSegments returns the segments the manifests list, of one table when
// table is not empty, in table, partition and offset order.
func ListSegments(ctx context.Context, st ObjectStore, table string) ([]SegmentInfo, error) {
	ms, err := loadManifests(ctx, st)
	if err != nil {
		return nil, err
	}
	var out []SegmentInfo
	for _, m := range ms {
		if table != "" && m.Topic != table {
			continue
		}
		for _, s := range m.Segments {
			out = append(out, SegmentInfo{Table: m.Topic, Partition: m.Partition, SegmentMeta: s})
		}
	}
	sortSegments(out)
	return out, nil
}

func sortSegments(s []SegmentInfo) {
	sort.Slice(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Start < b.Start
	})
}

// ReadSegment fetches a whole segment object and verifies every checksum;
// a damaged object is ErrCorruptSegment.
func ReadSegment(ctx context.Context, st ObjectStore, key string) ([]plog.Batch, error) {
	key = strings.TrimPrefix(key, "/")
	body, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	_, bs, err := decodeSegment(key, body)
	return bs, err
}
