package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/google/uuid"
)

// probeDir holds the probe's objects, under the storage's location (the
// warehouse root when the caller probes the warehouse).
const probeDir = ".zombi-cas-probe"

// ProbeConditionalCreate reports whether st's Create really is
// create-if-absent: it creates .zombi-cas-probe/<uuid> twice and expects
// success then ErrExists with the first content kept, then deletes it.
// Some S3 lookalikes (old MinIO, proxies that drop the header) ignore
// If-None-Match and overwrite silently: false.
//
// When false, the materializer should (plan notes §3):
//   - log a warning once per warehouse: commits are safe for one writer
//     only, and two Zombi clusters sharing this warehouse can lose commits;
//   - run one writer per table (it does: one materializer per topic);
//   - wrap the storage with UnsafeCreate, which refuses a create when the
//     object exists and reads v{N+1} back after writing it, so an overwrite
//     seen at that point is reported as ErrExists (then the usual reload
//     and compare of zombi.offsets decides).
func ProbeConditionalCreate(ctx context.Context, st Storage) (bool, error) {
	name := probeDir + "/" + uuid.NewString()
	defer func() {
		if err := st.FS().Remove(st.Location() + "/" + name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("iceberg conditional-write probe object not removed", "component", "iceberg", "location", st.Location(), "name", name, "err", err)
		}
		if d, ok := st.(dirStorage); ok { // S3 has no directories to leave behind
			_ = os.Remove(d.path(probeDir))
		}
	}()
	if err := st.Create(ctx, name, []byte("first")); err != nil {
		return false, fmt.Errorf("conditional-write probe at %s: %w", st.Location(), err)
	}
	err := st.Create(ctx, name, []byte("second"))
	if err != nil && !errors.Is(err, ErrExists) {
		return false, fmt.Errorf("conditional-write probe at %s: %w", st.Location(), err)
	}
	got, rerr := st.Read(ctx, name)
	if rerr != nil {
		return false, fmt.Errorf("conditional-write probe at %s: %w", st.Location(), rerr)
	}
	return err != nil && bytes.Equal(got, []byte("first")), nil
}

// UnsafeCreate wraps a storage whose Create is not create-if-absent (the
// probe said false). Its Create reads first (exists: ErrExists), writes,
// then reads back and compares: different bytes mean another writer
// overwrote it, reported as ErrExists. This narrows the window but does not
// close it: only one writer per table is safe.
func UnsafeCreate(st Storage) Storage { return &unsafeCreate{Storage: st} }

type unsafeCreate struct{ Storage }

func (u *unsafeCreate) Create(ctx context.Context, name string, data []byte) error {
	if _, err := u.Storage.Read(ctx, name); err == nil {
		return fmt.Errorf("create %s: %w", name, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := u.Storage.Write(ctx, name, data); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	got, err := u.Storage.Read(ctx, name)
	if err != nil {
		return fmt.Errorf("create %s: read back: %w", name, err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("create %s: overwritten by another writer: %w", name, ErrExists)
	}
	return nil
}

// PutFile keeps the wrapped storage's streaming upload.
func (u *unsafeCreate) PutFile(ctx context.Context, name, local string) error {
	return putFile(ctx, u.Storage, name, local)
}
