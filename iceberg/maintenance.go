package iceberg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"golang.org/x/sync/errgroup"
)

// DefaultSnapshotKeep is zombi.iceberg.snapshot.keep.ms' default (7 days).
const DefaultSnapshotKeep = 7 * 24 * time.Hour

// ExpireSnapshots removes the snapshots taken before olderThan from the
// table, always keeping the current one, and deletes the manifest lists,
// manifests and data files only they referenced (iceberg-go does that
// after the commit). It then deletes the metadata/v{K}.metadata.json files
// older than the oldest one the metadata log still lists (iceberg-go keeps
// write.metadata.previous-versions-max, 100, entries in the log but deletes
// no file itself in our CommitTable path). It returns the number of
// snapshots expired. The commit holds t.mu and goes through the
// conditional create: a lost race is ErrConflict. Expiring changes no
// current snapshot, so zombi.offsets and zombi.incarnation stay as they are.
func (t *Table) ExpireSnapshots(ctx context.Context, olderThan time.Time) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Never act on a stale view: another process may have committed.
	if err := t.load(ctx); err != nil {
		return 0, err
	}
	pre := t.tbl
	age := max(time.Since(olderThan), 0)
	txn := pre.NewTransaction()
	// The files are deleted below rather than by iceberg-go's post-commit,
	// which reads every kept snapshot's manifest list one at a time.
	if err := txn.ExpireSnapshots(table.WithOlderThan(age), table.WithRetainLast(1), table.WithPostCommit(false)); err != nil {
		return 0, fmt.Errorf("expire snapshots %s: %w", t.st.Location(), err)
	}
	t.exact = true
	tbl, err := txn.Commit(ctx)
	t.exact = false
	if err != nil {
		t.stale = true
		return 0, fmt.Errorf("expire snapshots %s: %w", t.st.Location(), err)
	}
	t.tbl = tbl
	var expired []table.Snapshot
	for _, s := range pre.Metadata().Snapshots() {
		if tbl.Metadata().SnapshotByID(s.SnapshotID) == nil {
			expired = append(expired, s)
		}
	}
	files, err := t.deleteExpired(ctx, expired, tbl)
	if err != nil {
		return len(expired), fmt.Errorf("expire snapshots %s: files of the expired snapshots (left to the orphan clean-up): %w", t.st.Location(), err)
	}
	gone, err := t.deleteOldMetadata(ctx)
	if err != nil {
		return len(expired), err
	}
	if len(expired) > 0 || gone > 0 {
		slog.Info("iceberg snapshots expired", "component", "iceberg", "table", t.st.Location(), "snapshots", len(expired), "files", files, "metadata_files", gone, "version", t.version)
	}
	return len(expired), nil
}

// deleteExpired deletes the manifest lists, manifests and data files that
// the expired snapshots reached and kept (the table after the expiry) does
// not, and returns how many.
func (t *Table) deleteExpired(ctx context.Context, expired []table.Snapshot, kept *table.Table) (int, error) {
	if len(expired) == 0 {
		return 0, nil
	}
	live, err := t.referenced(ctx, kept)
	if err != nil {
		return 0, err
	}
	fsys, err := kept.FS(ctx)
	if err != nil {
		return 0, err
	}
	var cands []string
	add := func(p string) {
		if name, ok := strings.CutPrefix(p, t.st.Location()+"/"); ok && !live[name] {
			live[name] = true // once
			cands = append(cands, name)
		}
	}
	for _, s := range expired {
		add(s.ManifestList)
	}
	lists, err := manifestLists(ctx, fsys, expired)
	if err != nil {
		return 0, err
	}
	// Manifests no kept snapshot lists: they and their files go (a file
	// a kept manifest still lists is in live and stays).
	var gone []iceberg.ManifestFile
	for _, l := range lists {
		for _, m := range l {
			if name, ok := strings.CutPrefix(m.FilePath(), t.st.Location()+"/"); ok && !live[name] {
				add(m.FilePath())
				gone = append(gone, m)
			}
		}
	}
	files, err := manifestDataFiles(ctx, fsys, gone, false)
	if err != nil {
		return 0, err
	}
	for _, fs := range files {
		for _, f := range fs {
			add(f)
		}
	}
	if err := t.st.Delete(ctx, cands...); err != nil {
		return 0, err
	}
	return len(cands), nil
}

var metadataVersionRE = regexp.MustCompile(`(?:^|/)v([0-9]+)\.metadata\.json$`)

// metadataVersion is K of ".../v{K}.metadata.json" (0 when it is not one).
func metadataVersion(name string) int {
	m := metadataVersionRE.FindStringSubmatch(name)
	if m == nil {
		return 0
	}
	k, _ := strconv.Atoi(m[1])
	return k
}

// deleteOldMetadata deletes metadata/v{K}.metadata.json for K below the
// oldest version the loaded metadata's log lists (never the current one,
// never the hint), with t.mu held.
func (t *Table) deleteOldMetadata(ctx context.Context) (int, error) {
	oldest := t.version
	for e := range t.tbl.Metadata().PreviousFiles() {
		if k := metadataVersion(e.MetadataFile); k > 0 && k < oldest {
			oldest = k
		}
	}
	names, err := t.st.List(ctx, "metadata")
	if err != nil {
		return 0, err
	}
	var old []string
	for _, n := range names {
		if k := metadataVersion(n); k > 0 && k < oldest {
			old = append(old, "metadata/"+n)
		}
	}
	if err := t.st.Delete(ctx, old...); err != nil {
		return 0, fmt.Errorf("delete old metadata of %s: %w", t.st.Location(), err)
	}
	return len(old), nil
}

// OrphanGrace is the least age of a file DeleteOrphans may delete, whatever
// the caller passes: an append uploads its files before it commits, and
// those must never be taken for orphans.
const OrphanGrace = time.Hour

// orphanGrace is OrphanGrace; tests lower it.
var orphanGrace = OrphanGrace

// DeleteOrphans deletes the files under data/ and metadata/ that the newest
// metadata version does not reference (through its metadata log, its
// snapshots' manifest lists, their manifests and the data files those list,
// or the hint) and whose modification time is before olderThan (the caller
// passes now - max(2 × commit interval, OrphanGrace) so that the uploaded,
// not yet committed files of an append in flight are never deleted). A
// metadata version newer than the one loaded (a commit landing meanwhile)
// is always kept. It returns the number of files deleted. It takes t.mu
// only to load the newest version: references only grow in versions
// committed after that, and their new files are younger than olderThan.
func (t *Table) DeleteOrphans(ctx context.Context, olderThan time.Time) (int, error) {
	if limit := time.Now().Add(-orphanGrace); olderThan.After(limit) {
		olderThan = limit
	}
	t.mu.Lock()
	if err := t.load(ctx); err != nil {
		t.mu.Unlock()
		return 0, err
	}
	tbl, version := t.tbl, t.version
	t.mu.Unlock()

	refs, err := t.referenced(ctx, tbl)
	if err != nil {
		return 0, fmt.Errorf("orphans of %s: %w", t.st.Location(), err)
	}
	var orphans []string
	for _, dir := range []string{"data", "metadata"} {
		err := t.st.Walk(ctx, dir, func(name string, _ int64, mod time.Time) error {
			if refs[name] || !mod.Before(olderThan) {
				return nil
			}
			if k := metadataVersion(name); k >= version {
				return nil // current, or a commit landing now
			}
			orphans = append(orphans, name)
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("orphans of %s: %w", t.st.Location(), err)
		}
	}
	if err := t.st.Delete(ctx, orphans...); err != nil {
		return 0, fmt.Errorf("delete orphans of %s: %w", t.st.Location(), err)
	}
	if len(orphans) > 0 {
		slog.Info("iceberg orphan files deleted", "component", "iceberg", "table", t.st.Location(), "files", len(orphans), "version", version)
	}
	return len(orphans), nil
}

// referenceReaders is how many manifest (list) reads run at once.
const referenceReaders = 8

// manifestLists reads each snapshot's manifest list, referenceReaders at a
// time (a week of minute commits is 10,000 snapshots).
func manifestLists(ctx context.Context, fsys icebergio.IO, snaps []table.Snapshot) ([][]iceberg.ManifestFile, error) {
	lists := make([][]iceberg.ManifestFile, len(snaps))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(referenceReaders)
	for i, s := range snaps {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			mans, err := s.Manifests(fsys)
			if err != nil {
				return fmt.Errorf("snapshot %d: %w", s.SnapshotID, err)
			}
			lists[i] = mans
			return nil
		})
	}
	return lists, g.Wait()
}

// manifestDataFiles reads the data file paths each manifest lists,
// referenceReaders at a time; discardDeleted leaves out DELETED entries.
func manifestDataFiles(ctx context.Context, fsys icebergio.IO, mans []iceberg.ManifestFile, discardDeleted bool) ([][]string, error) {
	files := make([][]string, len(mans))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(referenceReaders)
	for i, m := range mans {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			for e, err := range m.Entries(fsys, discardDeleted) {
				if err != nil {
					return fmt.Errorf("manifest %s: %w", m.FilePath(), err)
				}
				files[i] = append(files[i], e.DataFile().FilePath())
			}
			return nil
		})
	}
	return files, g.Wait()
}

// referenced is every file tbl references, by name relative to the
// table's location (paths elsewhere are not ours to delete and are left out).
func (t *Table) referenced(ctx context.Context, tbl *table.Table) (map[string]bool, error) {
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	refs := map[string]bool{hintName: true}
	// Paths elsewhere than under the location are not ours to delete.
	add := func(p string) {
		if name, ok := strings.CutPrefix(p, t.st.Location()+"/"); ok {
			refs[name] = true
		}
	}
	md := tbl.Metadata()
	add(tbl.MetadataLocation())
	for e := range md.PreviousFiles() {
		add(e.MetadataFile)
	}
	for sf := range md.Statistics() {
		add(sf.StatisticsPath)
	}
	for psf := range md.PartitionStatistics() {
		add(psf.StatisticsPath)
	}
	// Manifest lists, then the manifests they name (each once), read
	// concurrently: a week of minute commits is 10,000 snapshots.
	snaps := md.Snapshots()
	for _, s := range snaps {
		add(s.ManifestList)
	}
	lists, err := manifestLists(ctx, fsys, snaps)
	if err != nil {
		return nil, err
	}
	var mans []iceberg.ManifestFile
	seen := map[string]bool{}
	for _, l := range lists {
		for _, m := range l {
			if !seen[m.FilePath()] {
				seen[m.FilePath()] = true
				add(m.FilePath())
				mans = append(mans, m)
			}
		}
	}
	// Not the DELETED entries (tombstones of a replace): a file they name
	// is live only where an older kept snapshot's manifest lists it as
	// added or existing.
	files, err := manifestDataFiles(ctx, fsys, mans, true)
	if err != nil {
		return nil, err
	}
	for _, fs := range files {
		for _, f := range fs {
			add(f)
		}
	}
	return refs, nil
}

// currentSummaryProps are the zombi.* properties of the current snapshot,
// which every snapshot a maintenance commit makes carries on: the
// materializer resumes from the current snapshot's summary.
func currentSummaryProps(tbl *table.Table) iceberg.Properties {
	props := iceberg.Properties{}
	if s := tbl.CurrentSnapshot(); s != nil && s.Summary != nil {
		for _, k := range []string{SummaryOffsets, SummaryIncarnation} {
			if v, ok := s.Summary.Properties[k]; ok {
				props[k] = v
			}
		}
	}
	return props
}

// DefaultSmallFileBytes: data files under this are compacted by Maintain
// when the caller gives no threshold.
const DefaultSmallFileBytes = 16 << 20

// MaintainOptions are the per-topic settings Maintain follows.
type MaintainOptions struct {
	// SnapshotKeep is zombi.iceberg.snapshot.keep.ms (DefaultSnapshotKeep
	// when 0).
	SnapshotKeep time.Duration
	// CommitInterval is zombi.iceberg.commit.interval.ms: a bucket is
	// closed once it ended an interval ago, and a file is an orphan only
	// when older than max(2 × interval, OrphanGrace).
	CommitInterval time.Duration
	// SmallFileBytes: files under it are compacted (DefaultSmallFileBytes
	// when 0; negative turns compaction off).
	SmallFileBytes int64
}

// MaintainResult counts what one Maintain did.
type MaintainResult struct {
	Compacted, Expired, Orphans int
}

// Maintain runs the table's upkeep at time now, in this order: compaction
// of closed buckets, expiry of snapshots older than SnapshotKeep (which
// deletes the files only they reached, among them the files compacted
// SnapshotKeep ago), then the orphan clean-up. Call it from the
// materializer's goroutine between two appends (no append in flight). A
// step that fails does not stop the next; the errors are joined.
func (t *Table) Maintain(ctx context.Context, now time.Time, o MaintainOptions) (MaintainResult, error) {
	keep := cmp.Or(o.SnapshotKeep, DefaultSnapshotKeep)
	small := cmp.Or(o.SmallFileBytes, DefaultSmallFileBytes)
	var res MaintainResult
	var errs []error
	var err error
	if small > 0 {
		res.Compacted, err = t.Compact(ctx, now.Add(-o.CommitInterval), small)
		errs = append(errs, err)
	}
	res.Expired, err = t.ExpireSnapshots(ctx, now.Add(-keep))
	errs = append(errs, err)
	res.Orphans, err = t.DeleteOrphans(ctx, now.Add(-max(2*o.CommitInterval, OrphanGrace)))
	errs = append(errs, err)
	return res, errors.Join(errs...)
}
