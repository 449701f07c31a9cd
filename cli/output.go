package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
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
func (o *options) progress(max int64, what string, inBytes bool) *progressbar.ProgressBar {
	f, ok := o.stderr.(*os.File)
	if !ok || max <= 0 || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(inBytes),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
