package iceberg

import (
	"context"
	"errors"
	"testing"
)

func TestDirEmptyAppend(t *testing.T) {
	ctx := context.Background()
	st := dirStore(t)
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Append(ctx, "inc", records(0, 0, 3), map[int32]int64{0: 3}); err != nil {
		t.Fatal(err)
	}
	// No rows and no offset change: nothing to do.
	if err := tb.Append(ctx, "inc", nil, map[int32]int64{0: 3}); err != nil {
		t.Fatal(err)
	}
	// Offsets that move without rows cannot be recorded alone yet: refused
	// loudly (iceberg-go makes no snapshot without files), never dropped.
	if err := tb.Append(ctx, "inc", nil, map[int32]int64{0: 5}); !errors.Is(err, ErrEmptyAppend) {
		t.Fatalf("empty append moving offsets: %v, want ErrEmptyAppend", err)
	}
	// They ride along with the next append that has rows.
	if err := tb.Append(ctx, "inc", records(0, 6, 1), map[int32]int64{0: 7}); err != nil {
		t.Fatal(err)
	}
	re, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := re.CommittedOffsets()
	if got[0] != 7 || re.Version() != 3 {
		t.Fatalf("offsets %v at v%d, want 7 at v3", got, re.Version())
	}
}
