package chaos

import (
	"slices"
	"sort"
	"time"
)

// faultGaps measures each fault of h as FaultGap defines.
func faultGaps(h History) []FaultGap {
	if len(h.Faults) == 0 {
		return nil
	}
	times := map[int32][]time.Time{}
	byProducer := map[string]map[int32][]time.Time{}
	for _, a := range h.Acks {
		times[a.Partition] = append(times[a.Partition], a.At)
		if byProducer[a.Producer] == nil {
			byProducer[a.Producer] = map[int32][]time.Time{}
		}
		byProducer[a.Producer][a.Partition] = append(byProducer[a.Producer][a.Partition], a.At)
	}
	for _, m := range byProducer {
		for _, ts := range m {
			sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		}
	}
	all := make([]int32, 0, len(times))
	for p, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		all = append(all, p)
	}
	slices.Sort(all)
	taken := h.Taken
	if taken.IsZero() {
		taken = time.Now()
	}

	out := make([]FaultGap, 0, len(h.Faults))
	for _, f := range h.Faults {
		end := f.End
		if end.Before(f.Start) {
			end = f.Start // a fault never healed: measure from its start
		}
		victims := f.Partitions
		if len(victims) == 0 {
			victims = all
		}
		g := FaultGap{Fault: f, Recovered: true, Partition: -1, Partitions: map[int32]time.Duration{}, ByProducer: map[string]time.Duration{}}
		for name, m := range byProducer {
			for _, p := range victims {
				if gap, _, _, _ := partitionGap(m[p], f.Start, end, taken); gap > g.ByProducer[name] {
					g.ByProducer[name] = gap
				}
			}
		}
		for _, p := range victims {
			gap, from, to, ok := partitionGap(times[p], f.Start, end, taken)
			g.Partitions[p] = gap
			g.Recovered = g.Recovered && ok
			if g.Partition < 0 || gap > g.Gap {
				g.Gap, g.Partition, g.From, g.To = gap, p, from, to
			}
		}
		out = append(out, g)
	}
	return out
}

// partitionGap is the longest interval between consecutive ack times ts
// (sorted) within [L, R]: L the last ack at or before start (else start), R
// the first at or after end (else taken, and recovered is false).
func partitionGap(ts []time.Time, start, end, taken time.Time) (gap time.Duration, from, to time.Time, recovered bool) {
	left := start
	if i := sort.Search(len(ts), func(i int) bool { return ts[i].After(start) }); i > 0 {
		left = ts[i-1]
	}
	right, recovered := taken, false
	if i := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(end) }); i < len(ts) {
		right, recovered = ts[i], true
	}
	prev := left
	from, to = left, left
	for _, t := range ts {
		if !t.After(left) {
			continue
		}
		if t.After(right) {
			break
		}
		if d := t.Sub(prev); d > gap {
			gap, from, to = d, prev, t
		}
		prev = t
	}
	if d := right.Sub(prev); d > gap {
		gap, from, to = d, prev, right
	}
	return gap, from, to, recovered
}
