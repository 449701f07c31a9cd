package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// Snapshot summary keys (DESIGN.md): zombi.offsets is a JSON object,
// partition number (string) -> next offset to materialize.
const (
	SummaryOffsets     = "zombi.offsets"
	SummaryIncarnation = "zombi.incarnation"
)

// ErrConflict: another writer committed the next metadata version first
// and the table (now reloaded) does not hold this append's offsets. Nothing
// of the append is visible; the caller resumes from CommittedOffsets.
var ErrConflict = errors.New("iceberg: concurrent commit by another writer")

// ErrNoTable: the location holds no metadata/v1.metadata.json.
var ErrNoTable = errors.New("iceberg: no table at this location")

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one log record as it goes into the table.
type Record struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte // nil is a null key
	Headers   []Header
	Value     []byte // nil is a null value
	Error     string // {topic}_dlq tables only: why the record is there
}

// Table is one Iceberg table (format v2) at a Storage, committed without a
// catalog: metadata/v{N}.metadata.json created with Storage.Create (never
// overwritten), then metadata/version-hint.text. It is safe for use by one
// goroutine at a time per process; concurrent writers (other processes)
// are resolved by the conditional create.
type Table struct {
	st    Storage
	ident table.Identifier

	mu      sync.Mutex
	tbl     *table.Table
	version int  // N of tbl's metadata file
	stale   bool // the last commit failed: reload before the next
	// exact: a maintenance commit (expire, compaction) is in progress; its
	// v{N+1} keeps the current offsets, so only v{N+1} holding exactly its
	// bytes proves it ours (see CommitTable).
	exact bool
}

func metadataName(n int) string { return fmt.Sprintf("metadata/v%d.metadata.json", n) }

const hintName = "metadata/version-hint.text"

// Create writes v1 (l's schema with the fixed ids, its partition spec, no
// snapshot) and the hint. An existing table is ErrExists.
func Create(ctx context.Context, st Storage, ident table.Identifier, l Layout) (*Table, error) {
	sc, err := l.Schema()
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", st.Location(), err)
	}
	spec := l.Partitioning.Spec()
	b, err := table.NewMetadataBuilder(2)
	if err != nil {
		return nil, err
	}
	// NewMetadata/CreateTable would renumber the field ids: build by hand.
	steps := []func() error{
		func() error { return b.SetUUID(uuid.New()) },
		func() error { return b.AddSchema(sc) },
		func() error { return b.SetCurrentSchemaID(-1) },
		func() error { return b.AddSortOrder(&table.UnsortedSortOrder) },
		func() error { return b.SetDefaultSortOrderID(-1) },
		func() error { return b.AddPartitionSpec(&spec, true) },
		func() error { return b.SetDefaultSpecID(-1) },
		func() error { return b.SetLoc(st.Location()) },
		func() error {
			return b.SetProperties(iceberg.Properties{
				// Never let iceberg-go refresh and replay a commit: a
				// replay would append the same records twice.
				table.CommitNumRetriesKey:          "0",
				table.ParquetCompressionKey:        "zstd",
				"write.metadata.compression-codec": "none",
				// Old metadata versions: iceberg-go keeps this many in
				// the log; ExpireSnapshots deletes the older files.
				table.MetadataDeleteAfterCommitEnabledKey: "true",
				table.MetadataPreviousVersionsMaxKey:      "100",
				// Merge small manifests on append (one per commit
				// otherwise: 10,000 a week at one commit a minute, all
				// read by every scan plan).
				table.ManifestMergeEnabledKey: "true",
			})
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("create table %s: %w", st.Location(), err)
		}
	}
	md, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", st.Location(), err)
	}
	data, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	if err := st.Create(ctx, metadataName(1), data); err != nil {
		return nil, fmt.Errorf("create table %s: %w", st.Location(), err)
	}
	t := &Table{st: st, ident: ident}
	t.writeHint(ctx, 1)
	return t, t.load(ctx)
}

// Load opens the table at st: the version in version-hint.text, or a later
// one when the hint is stale (a crash between the metadata and the hint).
func Load(ctx context.Context, st Storage, ident table.Identifier) (*Table, error) {
	t := &Table{st: st, ident: ident}
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// currentVersion finds the newest metadata version: trust the hint when
// the next version does not exist, otherwise list metadata/.
func (t *Table) currentVersion(ctx context.Context) (int, error) {
	n := 0
	if b, err := t.st.Read(ctx, hintName); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read %s: %w", hintName, err)
	}
	if n > 0 {
		_, err := t.st.Read(ctx, metadataName(n+1))
		if errors.Is(err, fs.ErrNotExist) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
	names, err := t.st.List(ctx, "metadata")
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		s, ok := strings.CutPrefix(name, "v")
		if !ok {
			continue
		}
		s, ok = strings.CutSuffix(s, ".metadata.json")
		if v, err := strconv.Atoi(s); ok && err == nil && v > n {
			n = v
		}
	}
	if n == 0 {
		return 0, ErrNoTable
	}
	return n, nil
}

func (t *Table) fsF(context.Context) (icebergio.IO, error) { return t.st.FS(), nil }

func (t *Table) path(name string) string { return t.st.Location() + "/" + name }

func (t *Table) load(ctx context.Context) error {
	n, err := t.currentVersion(ctx)
	if err != nil {
		return fmt.Errorf("load %s: %w", t.st.Location(), err)
	}
	data, err := t.st.Read(ctx, metadataName(n))
	if err != nil {
		return fmt.Errorf("load %s: %w", t.st.Location(), err)
	}
	md, err := table.ParseMetadataBytes(data)
	if err != nil {
		return fmt.Errorf("load %s v%d: %w", t.st.Location(), n, err)
	}
	t.tbl = table.New(t.ident, md, t.path(metadataName(n)), t.fsF, t)
	t.version, t.stale = n, false
	return nil
}

// writeHint rewrites version-hint.text. It is only a hint (Load probes past
// it), so a failure is logged, not returned.
func (t *Table) writeHint(ctx context.Context, n int) {
	if err := t.st.Write(ctx, hintName, []byte(strconv.Itoa(n))); err != nil {
		slog.Warn("iceberg version hint not written", "component", "iceberg", "table", t.st.Location(), "version", n, "err", err)
	}
}

// Reload reads the newest version from the storage.
func (t *Table) Reload(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.load(ctx)
}

// Iceberg is the loaded iceberg-go table (for scans).
func (t *Table) Iceberg() *table.Table {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tbl
}

// Version is N of the loaded metadata/v{N}.metadata.json.
func (t *Table) Version() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.version
}

// CommittedOffsets is zombi.offsets of the current snapshot: per partition,
// the next offset to materialize. Empty before the first append.
func (t *Table) CommittedOffsets() (map[int32]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snapshotOffsets(t.tbl.CurrentSnapshot())
}

// CommittedIncarnation is zombi.incarnation of the current snapshot ("" before the first append).
func (t *Table) CommittedIncarnation() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.tbl.CurrentSnapshot()
	if s == nil || s.Summary == nil {
		return ""
	}
	return s.Summary.Properties[SummaryIncarnation]
}

func snapshotOffsets(s *table.Snapshot) (map[int32]int64, error) {
	out := map[int32]int64{}
	if s == nil || s.Summary == nil || s.Summary.Properties[SummaryOffsets] == "" {
		return out, nil
	}
	var m map[string]int64
	if err := json.Unmarshal([]byte(s.Summary.Properties[SummaryOffsets]), &m); err != nil {
		return nil, fmt.Errorf("snapshot %d: %s: %w", s.SnapshotID, SummaryOffsets, err)
	}
	for k, v := range m {
		p, err := strconv.ParseInt(k, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("snapshot %d: %s: partition %q", s.SnapshotID, SummaryOffsets, k)
		}
		out[int32(p)] = v
	}
	return out, nil
}

func encodeOffsets(m map[int32]int64) string {
	s := make(map[string]int64, len(m))
	for p, o := range m {
		s[strconv.Itoa(int(p))] = o
	}
	b, _ := json.Marshal(s) // keys sorted
	return string(b)
}

func (t *Table) partitioning() Partitioning {
	spec := t.tbl.Spec()
	if spec.NumFields() == 0 {
		return PartitionNone
	}
	if _, ok := spec.Field(0).Transform.(iceberg.HourTransform); ok {
		return PartitionHour
	}
	return PartitionDay
}

// Append commits recs (in any order) as one snapshot through an Append
// with the default options; see Append.Commit for the rules.
func (t *Table) Append(ctx context.Context, incarnation string, recs []Record, next map[int32]int64) error {
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b Record) int {
		if a.Partition != b.Partition {
			return cmp.Compare(a.Partition, b.Partition)
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
	a := t.NewAppend(WriteOptions{})
	for _, r := range sorted {
		if err := a.Add(ctx, r); err != nil {
			a.Abort(ctx)
			return fmt.Errorf("append: %w", err)
		}
	}
	return a.Commit(ctx, incarnation, next)
}

// LoadTable is table.CatalogIO's: the newest version.
func (t *Table) LoadTable(ctx context.Context, _ table.Identifier) (*table.Table, error) {
	nt := &Table{st: t.st, ident: t.ident}
	if err := nt.load(ctx); err != nil {
		return nil, err
	}
	return nt.tbl, nil
}

// CommitTable is table.CatalogIO's, called by Transaction.Commit with t.mu
// held (from Append): apply the updates to the loaded version N and create
// v{N+1}. When v{N+1} already exists, or the create failed in a way that
// may have succeeded, reload and look for this commit's snapshot (our own
// earlier PUT) or its exact zombi.offsets; otherwise ErrConflict.
func (t *Table) CommitTable(ctx context.Context, _ table.Identifier, reqs []table.Requirement, ups []table.Update) (table.Metadata, string, error) {
	base := t.tbl.Metadata()
	for _, r := range reqs {
		if err := r.Validate(base); err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrConflict, err)
		}
	}
	md, err := table.UpdateTableMetadata(base, ups, t.tbl.MetadataLocation())
	if err != nil {
		return nil, "", err
	}
	data, err := json.Marshal(md)
	if err != nil {
		return nil, "", err
	}
	n := t.version + 1
	cerr := t.st.Create(ctx, metadataName(n), data)
	if cerr == nil {
		t.writeHint(ctx, n)
		t.version = n
		return md, t.path(metadataName(n)), nil
	}
	// Unknown or lost: the table on the storage decides.
	if err := t.load(ctx); err != nil {
		t.stale = true
		return nil, "", errors.Join(cerr, err)
	}
	// A maintenance commit keeps the offsets: only its exact bytes make
	// v{N} ours. Otherwise only a commit that adds a snapshot can be
	// recognised (a schema change is checked by its caller, EnsureColumns).
	if t.exact {
		if b, err := t.st.Read(ctx, metadataName(n)); err == nil && bytes.Equal(b, data) {
			// Ours (others may have committed on top since: the
			// reloaded newest version is what the caller continues from).
			slog.Info("iceberg commit found already applied", "component", "iceberg", "table", t.st.Location(), "version", n, "now", t.version, "err", cerr)
			return t.tbl.Metadata(), t.tbl.MetadataLocation(), nil
		}
	} else if cs := md.CurrentSnapshot(); cs != nil && base.SnapshotByID(cs.SnapshotID) == nil && ours(t.tbl.Metadata(), cs) {
		slog.Info("iceberg commit found already applied", "component", "iceberg", "table", t.st.Location(), "version", t.version, "err", cerr)
		return t.tbl.Metadata(), t.tbl.MetadataLocation(), nil
	}
	if errors.Is(cerr, ErrExists) {
		return nil, "", fmt.Errorf("%w: v%d: now at v%d", ErrConflict, n, t.version)
	}
	return nil, "", cerr
}

// ours: cur holds snap (our own earlier PUT), or its current snapshot
// records exactly snap's zombi.offsets.
func ours(cur table.Metadata, snap *table.Snapshot) bool {
	if snap == nil {
		return false
	}
	if cur.SnapshotByID(snap.SnapshotID) != nil {
		return true
	}
	want, err1 := snapshotOffsets(snap)
	have, err2 := snapshotOffsets(cur.CurrentSnapshot())
	return err1 == nil && err2 == nil && len(want) > 0 && maps.Equal(want, have)
}
