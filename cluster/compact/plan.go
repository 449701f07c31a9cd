// Package compact plans the compaction of an internal partition
// (__consumer_offsets, __transaction_state) in cluster mode: which whole
// batches a cleaner may delete, as Kafka's log cleaner keeps only the
// latest record of each key (the coordinators' design, section 5). It only
// plans: deleting batches with offset gaps (Log.DeleteBatches) and running
// the cleaner on each replica are the log's and the replica manager's.
//
// The rules, v1:
//   - Only batches wholly below the cleanable end, min(applied, HWM), go.
//   - A batch goes when every record in it has a newer record of the same
//     key (a visible one: non-transactional, or of a committed
//     transaction). Keys are compared by an 8-byte hash; a hash two
//     different keys share keeps every batch holding it.
//   - Tombstones are records like any: one goes once a newer record of its
//     key exists (no delete horizon in v1, so a replica far behind cannot
//     miss a delete).
//   - Transactional batches: an aborted transaction's go (never applied);
//     a committed one's by the rule above; an open one's (no marker yet,
//     or its producer has pending offsets) never.
//   - A control batch (marker) goes once no transactional batch of its
//     producer is left before it, back to that producer's previous marker.
//   - The last batch never goes (the log end stays where it is).
package compact

import (
	"bytes"
	"fmt"
	"hash/fnv"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Plan is what a cleaner may delete from one partition.
type Plan struct {
	// Delete are the base offsets of the batches to delete, ascending.
	Delete []int64
	// DeletableBytes and TotalBytes give the dirty ratio the cleaner
	// runs on (above 0.5).
	DeletableBytes, TotalBytes int64
}

// DirtyRatio is DeletableBytes / TotalBytes (0 for an empty partition).
func (p Plan) DirtyRatio() float64 {
	if p.TotalBytes == 0 {
		return 0
	}
	return float64(p.DeletableBytes) / float64(p.TotalBytes)
}

// batchInfo is one batch as the planner sees it.
type batchInfo struct {
	base, last int64
	size       int
	pid        int64
	control    bool
	txn        bool
	commit     bool     // control: a commit marker
	keys       []uint64 // hashes of its records' keys (data batches)
	outcome    outcome  // transactional data batches
}

type outcome int8

const (
	open outcome = iota
	committed
	aborted
)

// keyState is the newest visible record of one key hash.
type keyState struct {
	last     int64
	key      []byte
	collided bool // two keys share the hash: keep every batch holding it
}

// Make plans the compaction of batches (the partition's batches in
// [logStart, HWM), ascending, as Log.Read returns them; gaps allowed).
// cleanableEnd is min(applied, HWM); openPIDs are the producers with
// pending transactional offsets (Meta coord/pend/{p}/{pid}), whose
// batches are kept whatever the markers say. A batch that does not decode
// stops the plan with an error: a cleaner deletes nothing then.
func Make(batches []plog.Batch, cleanableEnd int64, openPIDs map[int64]bool) (Plan, error) {
	infos := make([]batchInfo, 0, len(batches))
	var plan Plan
	for _, b := range batches {
		h, recs, err := batch.Records(b.Raw, 0)
		if err != nil {
			return Plan{}, fmt.Errorf("compact: batch at %d: %w", b.BaseOffset, err)
		}
		bi := batchInfo{base: h.BaseOffset, last: h.LastOffset(), size: len(b.Raw), pid: h.ProducerID,
			control: h.IsControl(), txn: h.IsTransactional()}
		if bi.control {
			if len(recs) > 0 {
				typ, ok := batch.MarkerType(recs[0].Key)
				bi.commit = ok && typ == batch.MarkerCommit
			}
		} else {
			bi.keys = make([]uint64, len(recs))
			for i, r := range recs {
				bi.keys[i] = hashKey(r.Key)
			}
		}
		infos = append(infos, bi)
		plan.TotalBytes += int64(bi.size)
	}
	if len(infos) == 0 {
		return plan, nil
	}
	// Each transactional batch's outcome: the first marker of its
	// producer after it.
	pendingOf := map[int64][]int{} // pid -> transactional batches awaiting their marker
	for i := range infos {
		bi := &infos[i]
		switch {
		case bi.control:
			for _, j := range pendingOf[bi.pid] {
				if bi.commit {
					infos[j].outcome = committed
				} else {
					infos[j].outcome = aborted
				}
			}
			delete(pendingOf, bi.pid)
		case bi.txn:
			pendingOf[bi.pid] = append(pendingOf[bi.pid], i)
		}
	}
	// The newest visible record of each key (hash), over the whole range.
	keys := map[uint64]*keyState{}
	for i, b := range batches {
		bi := &infos[i]
		if bi.control || (bi.txn && bi.outcome != committed) {
			continue
		}
		_, recs, _ := batch.Records(b.Raw, 0)
		for j, r := range recs {
			h := bi.keys[j]
			ks, ok := keys[h]
			if !ok {
				keys[h] = &keyState{last: r.Offset, key: append([]byte(nil), r.Key...)}
				continue
			}
			if !bytes.Equal(ks.key, r.Key) {
				ks.collided = true
			}
			ks.last = r.Offset
		}
	}
	// Data batches first, then markers (which wait for their data).
	gone := make([]bool, len(infos))
	for i := range infos {
		bi := &infos[i]
		if bi.control || bi.last >= cleanableEnd || i == len(infos)-1 {
			continue
		}
		if bi.txn && (bi.outcome == open || openPIDs[bi.pid]) {
			continue
		}
		if bi.txn && bi.outcome == aborted {
			gone[i] = true
			continue
		}
		gone[i] = superseded(bi, batches[i].Raw, keys)
	}
	lastMarker := map[int64]int{} // pid -> index of its previous marker
	for i := range infos {
		bi := &infos[i]
		if !bi.control {
			continue
		}
		from, had := lastMarker[bi.pid]
		if !had {
			from = -1
		}
		lastMarker[bi.pid] = i
		if bi.last >= cleanableEnd || i == len(infos)-1 || openPIDs[bi.pid] {
			continue
		}
		left := false
		for j := from + 1; j < i; j++ {
			if infos[j].txn && !infos[j].control && infos[j].pid == bi.pid && !gone[j] {
				left = true
				break
			}
		}
		gone[i] = !left
	}
	for i, g := range gone {
		if g {
			plan.Delete = append(plan.Delete, infos[i].base)
			plan.DeletableBytes += int64(infos[i].size)
		}
	}
	return plan, nil
}

// superseded says whether every record of the batch has a newer visible
// record of its key (and no hash it holds is shared by two keys).
func superseded(bi *batchInfo, raw []byte, keys map[uint64]*keyState) bool {
	_, recs, err := batch.Records(raw, 0)
	if err != nil || len(recs) == 0 {
		return false
	}
	for j, r := range recs {
		ks, ok := keys[bi.keys[j]]
		if !ok || ks.collided || ks.last <= r.Offset {
			return false
		}
	}
	return true
}

// hashKey is the 8-byte hash the plan compares keys by (FNV-1a; a nil key
// hashes as empty: Kafka refuses keyless records in compacted topics, and
// the coordinators write none).
func hashKey(k []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(k)
	return h.Sum64()
}
