package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxListed is how many anomalies of each kind String lists.
const maxListed = 5

// String is a short human table: counts, anomalies (the first few of each),
// and one line per fault.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "acked %d (%s), failures %d", r.Acked, counts(r.Producers), r.Failures)
	if len(r.FailureErrors) > 0 {
		fmt.Fprintf(&b, " (%s)", topErrors(r.FailureErrors, 3))
	}
	fmt.Fprintf(&b, ", read-but-unacked keys %d\n", r.UnackedRead)
	readers := make([]string, 0, len(r.Readers))
	for name := range r.Readers {
		readers = append(readers, name)
	}
	slices.Sort(readers)
	for _, name := range readers {
		st := r.Readers[name]
		fmt.Fprintf(&b, "reader %-12s read %d, acked records unseen %d\n", name, st.Reads, st.Unseen)
	}
	decided := "any reader"
	if r.FinalPass {
		decided = "the final pass"
	}
	fmt.Fprintf(&b, "lost %d (by %s)  duplicated %d  reused %d  misplaced %d\n",
		len(r.Lost), decided, len(r.Duplicated), len(r.Reused), len(r.Misplaced))
	for i, a := range r.Lost {
		if i == maxListed {
			fmt.Fprintf(&b, "  lost: ... %d more\n", len(r.Lost)-i)
			break
		}
		fmt.Fprintf(&b, "  lost: %q acked at %s by %s at %s\n", a.Key, Position{a.Partition, a.Offset}, a.Producer, a.At.Format("15:04:05.000"))
	}
	for i, d := range r.Duplicated {
		if i == maxListed {
			fmt.Fprintf(&b, "  duplicated: ... %d more\n", len(r.Duplicated)-i)
			break
		}
		fmt.Fprintf(&b, "  duplicated: %q at %v\n", d.Key, d.At)
	}
	for i, u := range r.Reused {
		if i == maxListed {
			fmt.Fprintf(&b, "  reused: ... %d more\n", len(r.Reused)-i)
			break
		}
		fmt.Fprintf(&b, "  reused: %s holds %q\n", u.At, u.Records)
	}
	for i, m := range r.Misplaced {
		if i == maxListed {
			fmt.Fprintf(&b, "  misplaced: ... %d more\n", len(r.Misplaced)-i)
			break
		}
		fmt.Fprintf(&b, "  misplaced: %q acked at %s read at %s\n", m.Ack.Key, Position{m.Ack.Partition, m.Ack.Offset}, m.ReadAt)
	}
	if len(r.Faults) > 0 {
		fmt.Fprintf(&b, "%-16s %-10s %-10s %-12s %-10s %s\n", "fault", "partitions", "lasted", "longest gap", "recovered", "per partition")
	}
	for _, f := range r.Faults {
		per := make([]string, 0, len(f.Partitions))
		ps := make([]int32, 0, len(f.Partitions))
		for p := range f.Partitions {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		for _, p := range ps {
			per = append(per, fmt.Sprintf("%d:%s", p, f.Partitions[p].Round(time.Millisecond)))
		}
		victims := "all"
		if len(f.Fault.Partitions) > 0 {
			victims = joinInt32(f.Fault.Partitions)
		}
		fmt.Fprintf(&b, "%-16s %-10s %-10s %-12s %-10t %s\n", f.Name, victims, f.End.Sub(f.Start).Round(time.Millisecond),
			fmt.Sprintf("%s (p%d)", f.Gap.Round(time.Millisecond), f.Partition), f.Recovered, strings.Join(per, " "))
	}
	return b.String()
}

// topErrors is the n most frequent errors with their counts.
func topErrors(m map[string]int, n int) string {
	errs := make([]string, 0, len(m))
	for e := range m {
		errs = append(errs, e)
	}
	slices.SortFunc(errs, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, n+1)
	for i, e := range errs {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more kinds", len(errs)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%dx %s", m[e], e))
	}
	return strings.Join(parts, "; ")
}

func counts(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}

func joinInt32(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}
