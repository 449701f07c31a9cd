package iceberg

import (
	"context"
	"fmt"
)

// WriteOptions are the per-topic settings a writer follows (topic configs
// zombi.iceberg.target.file.bytes and, later, mode and columns).
type WriteOptions struct {
	// TargetFileBytes rolls a data file once it reaches this size
	// (zombi.iceberg.target.file.bytes, default 128 MiB).
	TargetFileBytes int64
}

// DefaultTargetFileBytes is zombi.iceberg.target.file.bytes' default.
const DefaultTargetFileBytes = 128 << 20

// Append is one pending snapshot: records are added in offset order per
// partition (a partition's records all before the next partition's, so rows
// in a file stay sorted by partition and offset), then Commit makes them
// visible at once with the offsets they reach, or Abort drops them.
//
// This first version buffers the records and writes the files at Commit;
// the contract for callers is the methods, not the buffering: Add may
// upload rolled files, and Bytes is what the append holds or has written.
type Append struct {
	t     *Table
	opts  WriteOptions
	recs  []Record
	bytes int64
	done  bool
}

// NewAppend starts an append to t.
func (t *Table) NewAppend(opts WriteOptions) *Append {
	if opts.TargetFileBytes <= 0 {
		opts.TargetFileBytes = DefaultTargetFileBytes
	}
	return &Append{t: t, opts: opts}
}

// Add adds one record. Records of one partition must come in offset order.
func (a *Append) Add(_ context.Context, r Record) error {
	if a.done {
		return fmt.Errorf("iceberg: add to a finished append")
	}
	a.recs = append(a.recs, r)
	a.bytes += int64(len(r.Key) + len(r.Value) + 24)
	for _, h := range r.Headers {
		a.bytes += int64(len(h.Key) + len(h.Value))
	}
	return nil
}

// Rows is the number of records added.
func (a *Append) Rows() int { return len(a.recs) }

// Bytes is an estimate of the data the append holds or has written, for
// the caller's memory and per-commit budget.
func (a *Append) Bytes() int64 { return a.bytes }

// Commit makes the added records one snapshot whose zombi.offsets is the
// committed one updated with next (see Table.Append for the rules and the
// conflict resolution).
func (a *Append) Commit(ctx context.Context, incarnation string, next map[int32]int64) error {
	if a.done {
		return fmt.Errorf("iceberg: commit of a finished append")
	}
	a.done = true
	err := a.t.Append(ctx, incarnation, a.recs, next)
	a.recs = nil
	return err
}

// Abort drops the append; files it uploaded are left to the orphan clean-up.
func (a *Append) Abort(context.Context) {
	a.done = true
	a.recs = nil
}
