package tiering

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	plog "github.com/zombi-dev/zombi/log"
)

// The aborted transactions of a segment travel in its manifest entry
// (docs/SEGMENT_FORMAT.md, "aborted"), copied from the log's index when the
// segment is cut: the manifest is in memory, so a read_committed cold read
// finds them without fetching anything.

var (
	_ plog.ColdAborted = (*Tier)(nil)
	_ plog.ColdAborted = notLoaded{}
)

// AbortedList is a segment's aborted transactions, by marker offset. In
// JSON each is [producer_id, first_offset, last_offset, stable_at].
type AbortedList []plog.AbortedTxn

// MarshalJSON writes the compact array form.
func (a AbortedList) MarshalJSON() ([]byte, error) {
	rows := make([][4]int64, len(a))
	for i, t := range a {
		rows[i] = [4]int64{t.ProducerID, t.FirstOffset, t.LastOffset, t.StableAt}
	}
	return json.Marshal(rows)
}

// UnmarshalJSON reads the compact array form.
func (a *AbortedList) UnmarshalJSON(b []byte) error {
	var rows [][]int64
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("aborted transactions: %w", err)
	}
	out := make(AbortedList, len(rows))
	for i, r := range rows {
		if len(r) != 4 {
			return fmt.Errorf("aborted transaction %v: want [producer_id, first_offset, last_offset, stable_at]", r)
		}
		out[i] = plog.AbortedTxn{ProducerID: r[0], FirstOffset: r[1], LastOffset: r[2], StableAt: r[3]}
	}
	*a = out
	return nil
}

// checkAborted verifies a segment's aborted list: markers inside the
// segment's range, in order, each after its transaction's first offset.
func checkAborted(s SegmentMeta) error {
	prev := int64(-1)
	for _, a := range s.Aborted {
		if a.ProducerID < 0 || a.FirstOffset < 0 || a.FirstOffset > a.LastOffset || a.LastOffset < s.Start || a.LastOffset >= s.End || a.LastOffset <= prev {
			return fmt.Errorf("segment %s: aborted transaction %v not understood", s.Key, [4]int64{a.ProducerID, a.FirstOffset, a.LastOffset, a.StableAt})
		}
		prev = a.LastOffset
	}
	return nil
}

// countAborted is how many aborted transactions segs list.
func countAborted(segs []SegmentMeta) int {
	n := 0
	for _, s := range segs {
		n += len(s.Aborted)
	}
	return n
}

// hasAborted reports whether any of segs carries aborted transactions.
func hasAborted(segs []SegmentMeta) bool {
	for _, s := range segs {
		if len(s.Aborted) > 0 {
			return true
		}
	}
	return false
}

// AbortedTxns returns the cold aborted transactions with LastOffset >= from
// and FirstOffset < upTo (log.ColdAborted). It walks them from the first
// marker at or after from and stops at the first entry whose StableAt
// reaches upTo: every later abort began after it.
func (t *Tier) AbortedTxns(_ context.Context, topic string, part int32, from, upTo int64) ([]plog.AbortedTxn, error) {
	ps := t.lookup(topic, part)
	if ps == nil {
		return nil, nil
	}
	m := ps.man.Load()
	if m == nil {
		return nil, nil
	}
	all := ps.abortedOf(m)
	var out []plog.AbortedTxn
	for _, a := range all[sort.Search(len(all), func(i int) bool { return all[i].LastOffset >= from }):] {
		if a.FirstOffset < upTo {
			out = append(out, a)
		}
		if a.StableAt >= upTo {
			break
		}
	}
	return out, nil
}

// abortedIndex is every aborted transaction a manifest's segments list, in
// marker order: a lookup skips the segments without any in one search.
type abortedIndex struct {
	man     *Manifest
	entries []plog.AbortedTxn
}

// abortedOf returns the aborted transactions of m, the partition's manifest,
// built once per manifest (readers racing to build it store equal copies).
func (ps *partState) abortedOf(m *Manifest) []plog.AbortedTxn {
	if ix := ps.aborted.Load(); ix != nil && ix.man == m {
		return ix.entries
	}
	var all []plog.AbortedTxn
	for _, s := range m.Segments {
		all = append(all, s.Aborted...)
	}
	ps.aborted.Store(&abortedIndex{man: m, entries: all})
	return all
}
