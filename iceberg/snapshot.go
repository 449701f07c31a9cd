package iceberg

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// carriedSummary are the parent's snapshot totals an offsets-only snapshot
// repeats unchanged (it adds and removes nothing).
var carriedSummary = []string{
	"total-records", "total-files-size", "total-data-files", "total-delete-files",
	"total-position-deletes", "total-equality-deletes",
}

// commitOffsets commits a snapshot without files that only moves
// zombi.offsets (control records, aborted transactions, intervals without
// data): operation "append", a new manifest list holding the parent's
// manifests (none on a fresh table). iceberg-go's AddDataFiles makes no
// snapshot without files, so it is built here. Called with t.mu held.
func (t *Table) commitOffsets(ctx context.Context, incarnation string, offsets map[int32]int64) error {
	cur := t.tbl.Metadata()
	parent := cur.CurrentSnapshot()
	var (
		parentID  *int64
		manifests []iceberg.ManifestFile
		props     = iceberg.Properties{}
	)
	if parent != nil {
		id := parent.SnapshotID
		parentID = &id
		var err error
		if manifests, err = parent.Manifests(t.st.FS()); err != nil {
			return fmt.Errorf("append %s: manifests of snapshot %d: %w", t.st.Location(), id, err)
		}
		if parent.Summary != nil {
			for _, k := range carriedSummary {
				if v, ok := parent.Summary.Properties[k]; ok {
					props[k] = v
				}
			}
		}
	}
	props[SummaryOffsets] = encodeOffsets(offsets)
	props[SummaryIncarnation] = incarnation

	snapID := int64(rand.Uint64() >> 1)
	for snapID == 0 || cur.SnapshotByID(snapID) != nil {
		snapID = int64(rand.Uint64() >> 1)
	}
	seq := cur.LastSequenceNumber() + 1
	var buf bytes.Buffer
	if err := iceberg.WriteManifestList(2, &buf, snapID, parentID, &seq, 0, manifests); err != nil {
		return fmt.Errorf("append %s: manifest list: %w", t.st.Location(), err)
	}
	list := fmt.Sprintf("metadata/snap-%d-0-%s.avro", snapID, uuid.NewString())
	if err := t.st.Write(ctx, list, buf.Bytes()); err != nil {
		return fmt.Errorf("append %s: %w", t.st.Location(), err)
	}
	schemaID := cur.CurrentSchema().ID
	snap := table.Snapshot{
		SnapshotID: snapID, ParentSnapshotID: parentID, SequenceNumber: seq,
		TimestampMs: time.Now().UnixMilli(), ManifestList: t.path(list),
		Summary:  &table.Summary{Operation: table.OpAppend, Properties: props},
		SchemaID: &schemaID,
	}
	ups := []table.Update{
		table.NewAddSnapshotUpdate(&snap),
		table.NewSetSnapshotRefUpdate(table.MainBranch, snapID, table.BranchRef, -1, -1, -1),
	}
	reqs := []table.Requirement{table.AssertRefSnapshotID(table.MainBranch, parentID)}
	md, loc, err := t.CommitTable(ctx, t.ident, reqs, ups)
	if err != nil {
		t.stale = true
		return fmt.Errorf("append %s: %w", t.st.Location(), err)
	}
	t.tbl = table.New(t.ident, md, loc, t.fsF, t)
	return nil
}
