package replica

import (
	"fmt"
	"hash/crc32"
	"hash/fnv"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// The compaction of the internal partitions (the coordinators' design,
// section 5), as Kafka's log cleaner: whole batches whose every record has
// a newer committed record of the same key go; offsets keep their values.
// This file is the selection, a pure function of the batches; cleaner.go
// runs it.

// cleanRecord is one record of a data batch as the cleaner sees it.
type cleanRecord struct {
	offset int64
	key    uint64 // FNV-64a of the key bytes
	check  uint64 // key length and CRC-32C: tells a hash collision apart
	noKey  bool   // a record without a key is never superseded
}

// cleanBatch is one stored batch as the cleaner sees it.
type cleanBatch struct {
	base, last    int64
	size          int64
	pid           int64
	transactional bool
	control       bool
	commit        bool // a control batch's marker type (commit, or abort)
	marker        bool // a control batch holding a transaction marker
	records       []cleanRecord
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// cleanBatchOf reads what the cleaner needs of a stored batch.
func cleanBatchOf(b plog.Batch) (cleanBatch, error) {
	h, recs, err := batch.Records(b.Raw, 0)
	if err != nil {
		return cleanBatch{}, fmt.Errorf("batch at %d: %w", b.BaseOffset, err)
	}
	cb := cleanBatch{base: b.BaseOffset, last: b.LastOffset, size: int64(len(b.Raw)), pid: h.ProducerID,
		transactional: h.IsTransactional(), control: h.IsControl()}
	if cb.control {
		if len(recs) > 0 {
			if typ, ok := batch.MarkerType(recs[0].Key); ok {
				cb.marker, cb.commit = true, typ == batch.MarkerCommit
			}
		}
		return cb, nil
	}
	cb.records = make([]cleanRecord, len(recs))
	for i, r := range recs {
		cb.records[i] = cleanRecord{offset: r.Offset, noKey: r.Key == nil}
		if r.Key != nil {
			f := fnv.New64a()
			_, _ = f.Write(r.Key)
			cb.records[i].key = f.Sum64()
			cb.records[i].check = uint64(len(r.Key))<<32 | uint64(crc32.Checksum(r.Key, crcTable))
		}
	}
	return cb, nil
}

// cleanPlan is what one pass found.
type cleanPlan struct {
	bases     []int64 // batches to delete, in offset order
	deletable int64   // their bytes
	total     int64   // bytes of every batch seen
}

// ratio is the dirty ratio: deletable bytes over the bytes seen.
func (c cleanPlan) ratio() float64 {
	if c.total == 0 {
		return 0
	}
	return float64(c.deletable) / float64(c.total)
}

// txnOutcome of a transactional data batch: the marker of its producer
// that follows it.
type txnOutcome int

const (
	txnOpen txnOutcome = iota // no marker of its producer after it
	txnCommitted
	txnAborted
)

type keyEntry struct {
	last     int64
	check    uint64
	doubtful bool // two keys share the hash: nothing of it goes
}

// selectClean picks the batches to delete. batches are the partition's
// stored batches in [logStart, hwm), in offset order; cleanEnd (min of the
// view's applied offset and the high watermark) bounds what may go; leo is
// the log end (its last batch never goes); pending holds the producers with
// transactional offsets awaiting their marker in the view (coord/pend);
// markers go only below markerEnd (see Manager.Clean: every replica's log
// end is past them).
//
// The key map holds, per key, the last offset of a record that is visible
// below hwm: non-transactional, or transactional and committed. An aborted
// or open record never supersedes anything. Then a batch below cleanEnd
// goes when:
//   - data, committed: every record has a newer visible record of the same
//     key (a tombstone stays until then too: no delete horizon in v1);
//   - data, aborted: its abort marker is below cleanEnd (nothing of it is
//     ever visible; the marker stays until then);
//   - data, open, or of a pending producer: never;
//   - a marker: below markerEnd, once no data batch of its producer before
//     it is kept.
func selectClean(batches []cleanBatch, cleanEnd, markerEnd, leo int64, pending map[int64]bool) cleanPlan {
	var plan cleanPlan
	// Backwards: each transactional data batch's outcome is its producer's
	// next marker, and whether that marker is below cleanEnd.
	outcome := make([]txnOutcome, len(batches))
	markerDone := make([]bool, len(batches))
	next := map[int64]int{} // pid -> index of its next marker
	for i := len(batches) - 1; i >= 0; i-- {
		b := batches[i]
		if b.pid < 0 {
			continue
		}
		if b.control {
			if b.marker {
				next[b.pid] = i
			}
			continue
		}
		if !b.transactional {
			continue
		}
		j, ok := next[b.pid]
		switch {
		case !ok:
			outcome[i] = txnOpen
		case batches[j].commit:
			outcome[i] = txnCommitted
		default:
			outcome[i] = txnAborted
		}
		markerDone[i] = ok && batches[j].last < cleanEnd
	}
	keys := map[uint64]*keyEntry{}
	for i, b := range batches {
		plan.total += b.size
		if b.control || (b.transactional && outcome[i] != txnCommitted) {
			continue
		}
		for _, r := range b.records {
			if r.noKey {
				continue
			}
			e := keys[r.key]
			if e == nil {
				keys[r.key] = &keyEntry{last: r.offset, check: r.check}
				continue
			}
			if e.check != r.check {
				e.doubtful = true
			}
			e.last = max(e.last, r.offset)
		}
	}
	superseded := func(b cleanBatch) bool {
		for _, r := range b.records {
			if r.noKey {
				return false
			}
			e := keys[r.key]
			if e == nil || e.doubtful || e.last <= r.offset || e.check != r.check {
				return false
			}
		}
		return true
	}
	deleted := make([]bool, len(batches))
	keptTxn := map[int64]bool{} // pid -> a data batch of it before here is kept
	for i, b := range batches {
		inRange := b.last < cleanEnd && b.last+1 < leo
		switch {
		case !inRange:
		case b.control:
			deleted[i] = b.last < markerEnd && (b.pid < 0 || !keptTxn[b.pid])
		case b.transactional && (pending[b.pid] || outcome[i] == txnOpen || !markerDone[i]):
		case b.transactional && outcome[i] == txnAborted:
			deleted[i] = true
		default:
			deleted[i] = superseded(b)
		}
		if b.transactional && !b.control && !deleted[i] {
			keptTxn[b.pid] = true
		}
		if deleted[i] {
			plan.bases = append(plan.bases, b.base)
			plan.deletable += b.size
		}
	}
	return plan
}
