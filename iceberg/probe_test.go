package iceberg

import (
	"context"
	"errors"
	"testing"
)

// blindStore is a store that ignores the create condition (like an S3
// lookalike that drops If-None-Match): Create overwrites.
type blindStore struct{ Storage }

func (b blindStore) Create(ctx context.Context, name string, data []byte) error {
	return b.Storage.Write(ctx, name, data)
}

func testProbe(t *testing.T, st Storage, want bool) {
	t.Helper()
	ctx := context.Background()
	got, err := ProbeConditionalCreate(ctx, st)
	if err != nil || got != want {
		t.Fatalf("probe: %v %v, want %v", got, err, want)
	}
	if names, err := st.List(ctx, probeDir); err != nil || len(names) != 0 {
		t.Fatalf("probe left %v (%v)", names, err)
	}
}

func TestDirProbe(t *testing.T)   { testProbe(t, dirStore(t), true) }
func TestS3Probe(t *testing.T)    { testProbe(t, s3Store(t), true) }
func TestBlindProbe(t *testing.T) { testProbe(t, blindStore{dirStore(t)}, false) }

// TestUnsafeCreate: wrapped, the blind store's Create never overwrites, a
// table commits on it, and a second writer at the same version loses.
func TestUnsafeCreate(t *testing.T) {
	ctx := context.Background()
	inner := dirStore(t)
	st := UnsafeCreate(blindStore{inner})
	testCreateNeverOverwrites(t, st)
	tb, err := Create(ctx, st, ident, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Load(ctx, st, ident)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Append(ctx, "inc", records(0, 0, 5), map[int32]int64{0: 5}); err != nil {
		t.Fatal(err)
	}
	if err := other.Append(ctx, "inc2", records(1, 0, 2), map[int32]int64{1: 2}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second writer at v1: %v, want ErrConflict", err)
	}
	if len(scanRows(t, tb)) != 5 {
		t.Fatal("rows lost")
	}
	// The streaming upload goes through the wrapper.
	if _, ok := st.(fileStorage); !ok {
		t.Fatal("UnsafeCreate hides PutFile")
	}
}
