package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/iceberg-go/table"
	plog "github.com/zombi-dev/zombi/log"
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
		res, err := src.ReadIsolated(topic, p, at, 4<<20, plog.ReadCommitted)
		if err != nil {
			return sp, fmt.Errorf("read %s/%d at %d: %w", topic, p, at, err)
		}
		if len(res.Batches) == 0 {
			break
		}
		for _, b := range res.Batches {
			lo, hi := max(b.BaseOffset, at), min(b.LastOffset, to-1)
			if res.Keeps(b) && lo <= hi {
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
	Partition int32 `json:"partition"`
	Committed int64 `json:"committed"` // the table's next offset to materialize
	// HighWatermark is the log's: records from Committed on are not in the
	// table yet and are not compared.
	HighWatermark int64    `json:"high_watermark"`
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

// Verify compares a topic's table (with its dead-letter table in json
// mode) with the log, per partition: rows, distinct offsets, least and
// greatest offset against the log's data records below the committed
// offset. Rows below the log start (deleted from the log by retention
// after they were materialized) cannot be compared one by one: then only
// the distinct count's lower bound and the greatest offset are checked.
func (m *Materializer) Verify(ctx context.Context, topic string) (Verification, error) {
	st := m.cfg.Warehouse.Storage(m.cfg.Namespace, topic)
	v := Verification{Topic: topic, Location: st.Location(), OK: true, Partitions: []PartitionCheck{}}
	tbl, err := Load(ctx, st, table.Identifier{m.cfg.Namespace, topic})
	if errors.Is(err, ErrNoTable) {
		return v, ErrNotMaterialized
	}
	if err != nil {
		return v, err
	}
	if s := tbl.Summary(); s.SnapshotID != 0 {
		id := s.SnapshotID
		v.SnapshotID = &id
	}
	committed, err := tbl.CommittedOffsets()
	if err != nil {
		return v, err
	}
	stats, err := tbl.PartitionStats(ctx)
	if err != nil {
		return v, err
	}
	if tbl.Layout().Mode == ModeJSON {
		dst := m.cfg.Warehouse.Storage(m.cfg.Namespace, DLQName(topic))
		dt, err := Load(ctx, dst, table.Identifier{m.cfg.Namespace, DLQName(topic)})
		switch {
		case errors.Is(err, ErrNoTable):
		case err != nil:
			return v, err
		case dt.Layout().Mode == ModeDLQ:
			ds, err := dt.PartitionStats(ctx)
			if err != nil {
				return v, err
			}
			for p, d := range ds {
				stats[p] = mergeStats(stats[p], d)
			}
		}
	}
	ti, ok := m.src.Topic(topic)
	if !ok {
		return v, fmt.Errorf("%w: topic %s does not exist any more: nothing to compare its table with", ErrOtherTopic, topic)
	}
	if inc := tbl.CommittedIncarnation(); inc != "" && inc != Incarnation(ti.UUID) {
		return v, fmt.Errorf("%w: table %s holds topic id %s, but topic %s is now %s (deleted and created again): nothing to compare", ErrOtherTopic, st.Location(), inc, topic, Incarnation(ti.UUID))
	}
	parts := map[int32]bool{}
	for p := int32(0); p < ti.Partitions; p++ {
		parts[p] = true
	}
	for p := range stats {
		parts[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		c, err := m.checkPartition(ctx, topic, p, committed[p], stats[p], p < ti.Partitions)
		if err != nil {
			return v, err
		}
		v.OK = v.OK && c.OK
		v.Partitions = append(v.Partitions, c)
	}
	return v, nil
}

// mergeStats adds two tables' stats of one partition (their offsets are
// disjoint: a record is in the topic's table or its dead letters).
func mergeStats(a, b PartitionStats) PartitionStats {
	if a.Rows == 0 {
		return b
	}
	if b.Rows == 0 {
		return a
	}
	return PartitionStats{Rows: a.Rows + b.Rows, Distinct: a.Distinct + b.Distinct, Min: min(a.Min, b.Min), Max: max(a.Max, b.Max)}
}

func (m *Materializer) checkPartition(ctx context.Context, topic string, p int32, committed int64, s PartitionStats, exists bool) (PartitionCheck, error) {
	c := PartitionCheck{Partition: p, Committed: committed, TableRows: s.Rows, TableDistinct: s.Distinct}
	if s.Rows > 0 {
		c.TableMin, c.TableMax = &s.Min, &s.Max
	}
	bad := func(format string, args ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, args...)) }
	if !exists {
		bad("the table has rows of a partition the topic does not have")
		return c, nil
	}
	logStart, hwm, err := m.src.Offsets(topic, p)
	if err != nil {
		return c, err
	}
	c.LogStart, c.HighWatermark = logStart, hwm
	sp, err := logRange(ctx, m.src, topic, p, logStart, committed)
	if err != nil {
		return c, err
	}
	c.LogRecords = sp.Records
	if sp.Records > 0 {
		c.LogFirst, c.LogLast = &sp.First, &sp.Last
	}
	if s.Rows != s.Distinct {
		bad("%d rows but %d distinct offsets: %d duplicates", s.Rows, s.Distinct, s.Rows-s.Distinct)
	}
	if s.Rows > 0 && s.Max >= committed {
		bad("offset %d is at or past the committed offset %d", s.Max, committed)
	}
	trimmed := s.Rows > 0 && s.Min < logStart // retention removed the log's first rows
	switch {
	case trimmed:
		if s.Distinct < sp.Records {
			bad("%d distinct offsets, fewer than the log's %d records from its start %d", s.Distinct, sp.Records, logStart)
		}
		if sp.Records > 0 && s.Max != sp.Last {
			bad("greatest offset %d, the log's last record below %d is %d", s.Max, committed, sp.Last)
		}
	default:
		if s.Distinct != sp.Records {
			bad("%d distinct offsets, the log has %d records in [%d, %d)", s.Distinct, sp.Records, logStart, committed)
		}
		if sp.Records > 0 && s.Rows > 0 && (s.Min != sp.First || s.Max != sp.Last) {
			bad("offsets %d..%d, the log's records are %d..%d", s.Min, s.Max, sp.First, sp.Last)
		}
	}
	c.OK = len(c.Problems) == 0
	return c, nil
}
