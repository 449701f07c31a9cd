package icebergread

import (
	"context"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/iceberg"
)

// TestReadersAfterMaintenance: after Compact (a replace snapshot whose
// manifests list the small files as DELETED) and ExpireSnapshots on
// versitygw, each reader still returns every record exactly once.
func TestReadersAfterMaintenance(t *testing.T) {
	skipShort(t)
	t.Parallel()
	ctx := context.Background()
	st, s3c := s3Store(t)
	want := writeTable(t, st)
	tb, err := iceberg.Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	// Both day buckets closed, every file small.
	if n, err := tb.Compact(ctx, time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC), 1<<20); err != nil || n == 0 {
		t.Fatalf("compact: %d files, %v", n, err)
	}
	if _, err := tb.ExpireSnapshots(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for name, rows := range readAll(t, st.Location(), s3c) {
		checkRows(t, name, rows, want)
	}
}
