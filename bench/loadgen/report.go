package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 60 s, 3 significant
// digits.
const (
	histMin = 1
	histMax = 60_000_000
	histSig = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSig) }

// recorder is one worker's latencies: the whole run and the current
// progress interval. The mutex is only contended once a second, by the
// progress printer.
type recorder struct {
	mu       sync.Mutex
	total    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
}

func newRecorder() *recorder { return &recorder{total: newHist(), interval: newHist()} }

func (r *recorder) record(d time.Duration) {
	us := d.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	r.mu.Lock()
	_ = r.total.RecordValue(us)
	_ = r.interval.RecordValue(us)
	r.mu.Unlock()
}

// drainInterval adds the interval's values to into and starts a new interval.
func (r *recorder) drainInterval(into *hdrhistogram.Histogram) {
	r.mu.Lock()
	into.Merge(r.interval)
	r.interval.Reset()
	r.mu.Unlock()
}

// Latency summarises a histogram, in microseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanUS float64 `json:"mean_us"`
	P50US  int64   `json:"p50_us"`
	P90US  int64   `json:"p90_us"`
	P99US  int64   `json:"p99_us"`
	P999US int64   `json:"p999_us"`
	MaxUS  int64   `json:"max_us"`
}

// LatencyOf summarises h.
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count:  h.TotalCount(),
		MeanUS: h.Mean(),
		P50US:  h.ValueAtQuantile(50),
		P90US:  h.ValueAtQuantile(90),
		P99US:  h.ValueAtQuantile(99),
		P999US: h.ValueAtQuantile(99.9),
		MaxUS:  h.Max(),
	}
}

// Result is what a run measured. Latency is per operation: one request (a
// single event, one bulk request, one batch of Kafka records awaited
// together) or, for the consume modes, one poll that returned records.
type Result struct {
	Mode          string        `json:"mode"`
	Profile       Profile       `json:"profile"`
	Target        string        `json:"target"`
	Concurrency   int           `json:"concurrency"`
	Batch         int           `json:"batch"`
	PayloadSize   int           `json:"payload_size"`
	Records       int64         `json:"records"`
	Bytes         int64         `json:"bytes"`
	Ops           int64         `json:"ops"`
	Errors        int64         `json:"errors"`
	FirstError    string        `json:"first_error,omitempty"`
	Elapsed       time.Duration `json:"-"`
	ElapsedSecs   float64       `json:"elapsed_secs"`
	RecordsPerSec float64       `json:"records_per_sec"`
	MBPerSec      float64       `json:"mb_per_sec"`
	Latency       Latency       `json:"latency"`
}

// finish fills the derived fields.
func (r *Result) finish() {
	r.ElapsedSecs = r.Elapsed.Seconds()
	if r.ElapsedSecs > 0 {
		r.RecordsPerSec = float64(r.Records) / r.ElapsedSecs
		r.MBPerSec = float64(r.Bytes) / r.ElapsedSecs / 1e6
	}
}

// WriteJSON writes r as one indented JSON object.
func (r Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as the human-readable report.
func (r Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("mode", fmt.Sprintf("%s (%s profile)", r.Mode, r.Profile))
	row("target", r.Target)
	row("concurrency", fmt.Sprint(r.Concurrency))
	if r.Batch > 1 {
		row("batch", fmt.Sprintf("%d records per operation", r.Batch))
	}
	row("payload", fmt.Sprintf("%d bytes", r.PayloadSize))
	row("duration", fmt.Sprintf("%.2f s", r.ElapsedSecs))
	row("records", fmt.Sprintf("%d (%d operations)", r.Records, r.Ops))
	errs := fmt.Sprint(r.Errors)
	if r.FirstError != "" {
		errs += " (first: " + r.FirstError + ")"
	}
	row("errors", errs)
	row("throughput", fmt.Sprintf("%s records/s, %.2f MB/s", FormatCount(r.RecordsPerSec), r.MBPerSec))
	l := r.Latency
	row("latency", fmt.Sprintf("p50 %s  p99 %s  p99.9 %s  max %s  (mean %s, %d samples)",
		FormatMicros(l.P50US), FormatMicros(l.P99US), FormatMicros(l.P999US), FormatMicros(l.MaxUS),
		FormatMicros(int64(l.MeanUS+0.5)), l.Count))
	return tw.Flush()
}

// FormatMicros renders a latency in microseconds with a unit that keeps 3-4
// significant digits: 850µs, 1.25ms, 12.3ms, 1.50s.
func FormatMicros(us int64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 10_000:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	case us < 1_000_000:
		return fmt.Sprintf("%.1fms", float64(us)/1e3)
	default:
		return fmt.Sprintf("%.2fs", float64(us)/1e6)
	}
}

// FormatCount renders a rate with thousands separators: 12,345.
func FormatCount(v float64) string {
	n := int64(math.Round(v))
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
