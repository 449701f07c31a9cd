package iceberg

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Drop deletes every file of the table at st and returns how many. The
// hint and the metadata/v{N}.metadata.json files go first, so a table
// dropped half-way (a crash, an S3 outage) is no table any more (Load says
// ErrNoTable) rather than a table whose data files are missing; the
// manifests and data files that remain are then plain garbage, and running
// Drop again deletes them. A location without any file is ErrNoTable. The
// caller stops the table's materializer first.
func Drop(ctx context.Context, st Storage) (int, error) {
	var meta, rest []string
	err := st.Walk(ctx, "", func(name string, _ int64, _ time.Time) error {
		if name == hintName || (strings.HasPrefix(name, "metadata/") && metadataVersion(name) > 0) {
			meta = append(meta, name)
		} else {
			rest = append(rest, name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("drop %s: %w", st.Location(), err)
	}
	if len(meta)+len(rest) == 0 {
		return 0, fmt.Errorf("drop %s: %w", st.Location(), ErrNoTable)
	}
	// The hint before the versions: Load reads it first.
	if err := st.Delete(ctx, hintName); err != nil {
		return 0, fmt.Errorf("drop %s: %w", st.Location(), err)
	}
	if err := st.Delete(ctx, meta...); err != nil {
		return 0, fmt.Errorf("drop %s: metadata: %w", st.Location(), err)
	}
	if err := st.Delete(ctx, rest...); err != nil {
		return len(meta), fmt.Errorf("drop %s: data: %w", st.Location(), err)
	}
	if d, ok := st.(dirStorage); ok {
		removeEmptyDirs(d.root)
	}
	slog.Info("iceberg table dropped", "component", "iceberg", "table", st.Location(), "files", len(meta)+len(rest))
	return len(meta) + len(rest), nil
}

// removeEmptyDirs removes root and the directories under it that are empty
// (deepest first); a directory that still holds a file stays.
func removeEmptyDirs(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails on a non-empty one: fine
	}
}
