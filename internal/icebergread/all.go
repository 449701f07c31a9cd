package icebergread

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Readers are the readers ReadAll runs, by name.
var Readers = map[string]func(ctx context.Context, location string, s3 *S3Config) ([]Row, error){
	"js":        ReadJS,
	"duckdb":    ReadDuckDB,
	"pyiceberg": ReadPyIceberg,
}

// ReadAll runs every reader of Readers on location at once and returns
// their rows by reader name. Any error fails the whole call; if a reader is
// not installed the error wraps ErrUnavailable.
func ReadAll(ctx context.Context, location string, s3 *S3Config) (map[string][]Row, error) {
	// The venv first, so that concurrent readers do not race to make it
	// (pyvenv.sh takes a lock, but each would wait for the download).
	if _, err := Python(); err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		out  = map[string][]Row{}
		errs []error
	)
	for name, read := range Readers {
		wg.Go(func() {
			rows, err := read(ctx, location, s3)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s reader: %w", name, err))
				return
			}
			out[name] = rows
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// PO is a row's place in the log.
type PO struct {
	Partition int32
	Offset    int64
}

// ByOffset indexes rows by partition and offset; a row present twice is
// an error (every log record must be in the table exactly once).
func ByOffset(rows []Row) (map[PO]Row, error) {
	m := make(map[PO]Row, len(rows))
	for _, r := range rows {
		k := PO{r.Partition, r.Offset}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("partition %d offset %d: in the table twice", r.Partition, r.Offset)
		}
		m[k] = r
	}
	return m, nil
}
