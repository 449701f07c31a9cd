package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// table is a listing: column headers and rows of text for --output text, and
// the values behind them for json and yaml.
type table struct {
	header []string
	rows   [][]string
	values any
}

// print writes t in the chosen format.
func (o *options) print(t table) error {
	return printTo(o.stdout, o.output, t)
}

func printTo(w io.Writer, format string, t table) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t.values)
	case "yaml":
		b, err := yaml.Marshal(t.values)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// progress is a progress bar on stderr for a long run of max units (bytes
// when inBytes), or nil when stderr is not a terminal (or max is unknown):
// scripts and pipes get no bar.
func (o *options) progress(max int64, what string, inBytes bool) *progressBar {
	f, ok := o.stderr.(*os.File)
	if !ok || max <= 0 || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return newProgressBar(f, max, what, inBytes)
}

// progressBar redraws a progressbar.ProgressBar on a clock as well as on
// each Add: the library draws only when Add is called and at most once per
// throttle interval, so a burst of records left a stale frame up ("0%
// (1/N)") until the next burst or the end.
type progressBar struct {
	bar  *progressbar.ProgressBar
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// progressRedraw is how often the bar is redrawn (and the throttle of
// draws from Add).
const progressRedraw = 150 * time.Millisecond

func newProgressBar(w io.Writer, max int64, what string, inBytes bool) *progressBar {
	p := &progressBar{
		bar: progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowBytes(inBytes),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(progressRedraw),
			progressbar.OptionClearOnFinish(),
			// Drawn (and so started) now: the rate is then measured from
			// now, and the first Add, inside the throttle interval, does
			// not draw a rate of its bytes over a few microseconds.
			progressbar.OptionSetRenderBlankState(true),
		),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(progressRedraw)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				_ = p.bar.Add(0) // draws the current count (throttled)
			}
		}
	}()
	return p
}

// Add counts n more units.
func (p *progressBar) Add(n int) { _ = p.bar.Add(n) }

// Write counts len(b) bytes (io.TeeReader into the bar).
func (p *progressBar) Write(b []byte) (int, error) {
	_ = p.bar.Add(len(b))
	return len(b), nil
}

// Finish stops the redraws and clears the bar (once; later calls do
// nothing, so it can be deferred too).
func (p *progressBar) Finish() {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		_ = p.bar.Finish()
	})
}
