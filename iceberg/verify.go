package iceberg

import (
	"context"
	"fmt"

	"github.com/zombi-dev/zombi/log/batch"
)

// logSpan is what the log holds of a partition in [from, to): its data
// records (control records excluded) and the first and last of them.
type logSpan struct {
	Records     int64
	First, Last int64 // -1 when Records is 0
}

// logRange reads [from, to) of a partition's log (hot and cold tiers, as
// the materializer does) and counts its data records. Only batch headers
// are decoded: offsets in a batch are contiguous (Zombi never compacts).
func logRange(ctx context.Context, src Source, topic string, p int32, from, to int64) (logSpan, error) {
	sp := logSpan{First: -1, Last: -1}
	for at := from; at < to; {
		if err := ctx.Err(); err != nil {
			return sp, err
		}
		res, err := src.Read(topic, p, at, 4<<20)
		if err != nil {
			return sp, fmt.Errorf("read %s/%d at %d: %w", topic, p, at, err)
		}
		if len(res.Batches) == 0 {
			break
		}
		for _, b := range res.Batches {
			h, err := batch.ReadHeader(b.Raw)
			if err != nil {
				return sp, fmt.Errorf("%s/%d: batch at %d: %w", topic, p, b.BaseOffset, err)
			}
			lo, hi := max(b.BaseOffset, at), min(b.LastOffset, to-1)
			if !h.IsControl() && lo <= hi {
				sp.Records += hi - lo + 1
				if sp.First < 0 {
					sp.First = lo
				}
				sp.Last = hi
			}
			at = max(at, b.LastOffset+1)
			if at >= to {
				break
			}
		}
	}
	return sp, nil
}

// PartitionCheck is one partition of a Verification: the table's rows
// against the log's records below the committed offset.
type PartitionCheck struct {
	Partition     int32    `json:"partition"`
	Committed     int64    `json:"committed"` // the table's next offset to materialize
	LogStart      int64    `json:"log_start"`
	TableRows     int64    `json:"table_rows"`
	TableDistinct int64    `json:"table_distinct"` // distinct offsets
	TableMin      *int64   `json:"table_min"`
	TableMax      *int64   `json:"table_max"`
	LogRecords    int64    `json:"log_records"` // data records in [log_start, committed)
	LogFirst      *int64   `json:"log_first"`
	LogLast       *int64   `json:"log_last"`
	OK            bool     `json:"ok"`
	Problems      []string `json:"problems,omitempty"`
}

// Verification is `zombi iceberg verify`: per partition, the table's row
// count, distinct offsets, min and max against the log.
type Verification struct {
	Topic      string           `json:"topic"`
	Location   string           `json:"location"`
	SnapshotID *int64           `json:"snapshot_id"`
	OK         bool             `json:"ok"`
	Partitions []PartitionCheck `json:"partitions"`
}
