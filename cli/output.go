package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
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
