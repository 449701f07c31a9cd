package iceberg

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/apache/iceberg-go/table"
)

// PartitionStatus is one partition of Status.
type PartitionStatus struct {
	Partition     int32 `json:"partition"`
	Committed     int64 `json:"committed"` // next offset to materialize
	HighWatermark int64 `json:"high_watermark"`
	LagRecords    int64 `json:"lag_records"`
}

// Status is GET /tables/{t}/iceberg.
type Status struct {
	Topic            string            `json:"topic"`
	Enabled          bool              `json:"enabled"`
	Table            string            `json:"table"` // namespace.topic
	Location         string            `json:"location"`
	MetadataLocation string            `json:"metadata_location,omitempty"`
	Mode             string            `json:"mode,omitempty"`
	Partitioning     string            `json:"partitioning,omitempty"`
	SnapshotID       *int64            `json:"snapshot_id"` // null before the first commit
	SnapshotTime     *time.Time        `json:"snapshot_time,omitempty"`
	Incarnation      string            `json:"incarnation,omitempty"`
	CommittedOffsets map[string]int64  `json:"committed_offsets"`
	Partitions       []PartitionStatus `json:"partitions"`
	LagRecords       int64             `json:"lag_records"`
	// LagSeconds is the age of the oldest record not yet in the table (0
	// when there is none).
	LagSeconds float64    `json:"lag_seconds"`
	Records    int64      `json:"records"` // rows in the current snapshot
	Files      int64      `json:"files"`   // data files in the current snapshot
	Bytes      int64      `json:"bytes"`   // their size
	Commits    int64      `json:"commits"` // by this process since it started
	LastCommit *time.Time `json:"last_commit,omitempty"`
	Error      string     `json:"error,omitempty"` // the last cycle's error
	ErrorAt    *time.Time `json:"error_at,omitempty"`
}

// ErrOtherTopic: the table belongs to an earlier topic of the same name
// (deleted and created again), or its topic is gone.
var ErrOtherTopic = errors.New("iceberg: the table is not the topic's")

// ErrNotMaterialized: the topic has no table and is not being materialized.
var ErrNotMaterialized = errors.New("iceberg: topic is not materialized")

// Status reports a topic's table: the one being materialized, or a table
// left in the warehouse (a disabled or deleted topic).
func (m *Materializer) Status(ctx context.Context, topic string) (Status, error) {
	st := Status{Topic: topic, Table: m.cfg.Namespace + "." + topic, CommittedOffsets: map[string]int64{}, Partitions: []PartitionStatus{}}
	m.mu.Lock()
	ts := m.topics[topic]
	var tracked topicState // the status fields only: tbl and dlq are the worker's
	if ts != nil {
		tracked = topicState{enabled: ts.enabled, layout: ts.layout, snap: ts.snap, commits: ts.commits,
			lastCommit: ts.lastCommit, lastErr: ts.lastErr, errAt: ts.errAt}
	}
	m.mu.Unlock()
	stor := m.cfg.Warehouse.Storage(m.cfg.Namespace, topic)
	st.Location = stor.Location()
	if ts != nil {
		st.Enabled = tracked.enabled
		st.Mode, st.Partitioning = tracked.layout.Mode, tracked.layout.Partition
		st.Commits = tracked.commits
		if !tracked.lastCommit.IsZero() {
			st.LastCommit = &tracked.lastCommit
		}
		if tracked.lastErr != nil {
			st.Error = tracked.lastErr.Error()
			st.ErrorAt = &tracked.errAt
		}
	}
	snap := tracked.snap
	if !snap.loaded {
		// Not materialized by this process (disabled, deleted, or not
		// opened yet): read the table itself.
		tbl, err := Load(ctx, stor, table.Identifier{m.cfg.Namespace, topic})
		switch {
		case errors.Is(err, ErrNoTable) && ts == nil:
			return st, ErrNotMaterialized
		case errors.Is(err, ErrNoTable):
		case err != nil && ts == nil:
			return st, err
		case err != nil:
			st.Error = err.Error()
		default:
			if snap, err = snapshotInfo(tbl); err != nil {
				return st, err
			}
		}
	}
	if snap.loaded {
		st.MetadataLocation, st.Partitioning, st.Incarnation = snap.metadataLocation, snap.partitioning, snap.incarnation
		st.Mode = snap.mode // the table's, whatever the topic config says now
		st.SnapshotID, st.SnapshotTime = snap.id, snap.at
		st.Records, st.Files, st.Bytes = snap.records, snap.files, snap.bytes
	}
	committed := snap.committed
	for p, o := range committed {
		st.CommittedOffsets[strconv.Itoa(int(p))] = o
	}
	if ti, ok := m.src.Topic(topic); ok {
		if st.Incarnation != "" && st.Incarnation != Incarnation(ti.UUID) {
			// The table is an earlier topic's: all of this one is lag.
			committed = nil
		}
		oldest := time.Time{}
		for p := int32(0); p < ti.Partitions; p++ {
			logStart, hwm, err := m.src.Offsets(topic, p)
			if err != nil {
				continue
			}
			c, ok := committed[p]
			if !ok || c < logStart {
				c = logStart
			}
			ps := PartitionStatus{Partition: p, Committed: committed[p], HighWatermark: hwm, LagRecords: max(0, hwm-c)}
			st.Partitions = append(st.Partitions, ps)
			st.LagRecords += ps.LagRecords
			if ps.LagRecords > 0 {
				if res, err := m.src.Read(topic, p, c, 1); err == nil && len(res.Batches) > 0 {
					ts := time.UnixMilli(res.Batches[0].MaxTimestamp)
					if oldest.IsZero() || ts.Before(oldest) {
						oldest = ts
					}
				}
			}
		}
		if !oldest.IsZero() {
			st.LagSeconds = max(0, m.cfg.Now().Sub(oldest).Seconds())
		}
	}
	slices.SortFunc(st.Partitions, func(a, b PartitionStatus) int { return int(a.Partition - b.Partition) })
	return st, nil
}

// lag is hwm minus committed over a topic's partitions.
func (m *Materializer) lag(topic string, snap snapInfo) (int64, error) {
	ti, ok := m.src.Topic(topic)
	if !ok {
		return 0, ErrNotMaterialized
	}
	committed := snap.committed
	if snap.incarnation != "" && snap.incarnation != Incarnation(ti.UUID) {
		committed = nil // an earlier topic's table: all of this one is lag
	}
	var lag int64
	for p := int32(0); p < ti.Partitions; p++ {
		logStart, hwm, err := m.src.Offsets(topic, p)
		if err != nil {
			return lag, err
		}
		c, ok := committed[p]
		if !ok || c < logStart {
			c = logStart
		}
		lag += max(0, hwm-c)
	}
	return lag, nil
}

// Topics lists the topics being materialized, sorted.
func (m *Materializer) Topics() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name, ts := range m.topics {
		if ts.enabled {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Warehouse is where the tables are; Namespace their namespace.
func (m *Materializer) Warehouse() *Warehouse { return m.cfg.Warehouse }

// Namespace is ZOMBI_ICEBERG_NAMESPACE.
func (m *Materializer) Namespace() string { return m.cfg.Namespace }

// snapInfo is what Status shows of a table's current snapshot, kept by the
// worker after each load and commit so that a status request reads no
// object store.
type snapInfo struct {
	loaded                bool
	metadataLocation      string
	partitioning          string
	mode                  string
	incarnation           string
	id                    *int64
	at                    *time.Time
	records, files, bytes int64
	committed             map[int32]int64
}

func snapshotInfo(tbl *Table) (snapInfo, error) {
	committed, err := tbl.CommittedOffsets()
	if err != nil {
		return snapInfo{}, err
	}
	it := tbl.Iceberg()
	si := snapInfo{loaded: true, metadataLocation: it.MetadataLocation(), partitioning: string(tbl.partitioning()), mode: string(tbl.Layout().Mode),
		incarnation: tbl.CommittedIncarnation(), committed: committed}
	if s := it.CurrentSnapshot(); s != nil {
		id := s.SnapshotID
		at := time.UnixMilli(s.TimestampMs).UTC()
		si.id, si.at = &id, &at
		if s.Summary != nil {
			num := func(k string) int64 { n, _ := strconv.ParseInt(s.Summary.Properties[k], 10, 64); return n }
			si.records, si.files, si.bytes = num("total-records"), num("total-data-files"), num("total-files-size")
		}
	}
	return si, nil
}
