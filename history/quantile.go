package history

import "math"

// Hist is a cumulative histogram as Prometheus keeps it: Cum[i] counts the
// observations <= Bounds[i] (seconds, ascending, +Inf left out) and Count
// all of them.
type Hist struct {
	Bounds []float64
	Cum    []uint64
	Count  uint64
}

// add sums o into h; both must have the same bounds (the doors' histograms
// share metrics.LatencyBuckets). A histogram with other bounds is left out
// rather than mixed in wrongly.
func (h *Hist) add(o Hist) {
	if len(o.Bounds) == 0 {
		h.Count += o.Count
		return
	}
	if len(h.Bounds) == 0 && h.Count == 0 {
		h.Bounds = o.Bounds
		h.Cum = append([]uint64(nil), o.Cum...)
		h.Count = o.Count
		return
	}
	if !sameBounds(h.Bounds, o.Bounds) {
		return
	}
	for i := range h.Cum {
		h.Cum[i] += o.Cum[i]
	}
	h.Count += o.Count
}

func sameBounds(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sub is h - prev: the observations between two readings. ok is false when
// nothing was observed or the readings do not line up (a counter went back).
func (h Hist) sub(prev Hist) (Hist, bool) {
	if h.Count <= prev.Count || len(h.Cum) == 0 {
		return Hist{}, false
	}
	if len(prev.Cum) == 0 && prev.Count == 0 {
		return h, true
	}
	if !sameBounds(h.Bounds, prev.Bounds) {
		return Hist{}, false
	}
	d := Hist{Bounds: h.Bounds, Cum: make([]uint64, len(h.Cum)), Count: h.Count - prev.Count}
	for i := range h.Cum {
		if h.Cum[i] < prev.Cum[i] {
			return Hist{}, false
		}
		d.Cum[i] = h.Cum[i] - prev.Cum[i]
	}
	return d, true
}

// quantile is Prometheus's histogram_quantile over h: linear
// interpolation inside the bucket that holds rank q*Count, the lower bound
// of the first bucket taken as 0, and the highest finite bound when the
// rank falls in the +Inf bucket. NaN when h is empty.
func (h Hist) quantile(q float64) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	var below uint64
	lower := 0.0
	for i, upper := range h.Bounds {
		c := h.Cum[i]
		if float64(c) >= rank && c > below {
			return lower + (upper-lower)*(rank-float64(below))/float64(c-below)
		}
		below, lower = c, upper
	}
	return h.Bounds[len(h.Bounds)-1]
}
