package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/zombi-dev/zombi/iceberg"
)

// icebergCommand: zombi iceberg status|verify|drop TOPIC, over the REST
// API (/tables/{t}/iceberg): the server holds the warehouse's credentials.
func icebergCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "iceberg", Short: "Inspect, verify and drop the Iceberg tables of topics"}
	path := func(topic, rest string) string { return "/tables/" + url.PathEscape(topic) + "/iceberg" + rest }

	status := &cobra.Command{
		Use:   "status TOPIC",
		Short: "Show a topic's Iceberg table: snapshot, committed offsets, lag, files",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var st iceberg.Status
			if err := o.call(cmd.Context(), http.MethodGet, path(args[0], ""), nil, &st); err != nil {
				return fmt.Errorf("iceberg status %s: %w", args[0], err)
			}
			if o.output != "text" {
				return o.print(table{values: st})
			}
			snap := "none yet"
			if st.SnapshotID != nil {
				snap = strconv.FormatInt(*st.SnapshotID, 10)
			}
			rows := [][]string{
				{"table", st.Table}, {"location", st.Location}, {"enabled", strconv.FormatBool(st.Enabled)},
				{"snapshot", snap}, {"records", strconv.FormatInt(st.Records, 10)}, {"files", strconv.FormatInt(st.Files, 10)},
				{"bytes", strconv.FormatInt(st.Bytes, 10)}, {"lag_records", strconv.FormatInt(st.LagRecords, 10)},
				{"lag_seconds", strconv.FormatFloat(st.LagSeconds, 'f', 1, 64)},
			}
			if st.Error != "" {
				rows = append(rows, []string{"error", st.Error})
			}
			for _, p := range st.Partitions {
				rows = append(rows, []string{fmt.Sprintf("partition %d", p.Partition),
					fmt.Sprintf("committed %d, high watermark %d, lag %d", p.Committed, p.HighWatermark, p.LagRecords)})
			}
			return o.print(table{header: []string{"FIELD", "VALUE"}, rows: rows, values: st})
		},
	}

	verify := &cobra.Command{
		Use:   "verify TOPIC",
		Short: "Compare a topic's Iceberg table with its log, per partition (exit status 1 on any difference)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v iceberg.Verification
			if err := o.call(cmd.Context(), http.MethodGet, path(args[0], "/verify"), nil, &v); err != nil {
				return fmt.Errorf("iceberg verify %s: %w", args[0], err)
			}
			sort.Slice(v.Partitions, func(i, j int) bool { return v.Partitions[i].Partition < v.Partitions[j].Partition })
			t := table{header: []string{"PARTITION", "COMMITTED", "ROWS", "DISTINCT", "MIN", "MAX", "LOG-RECORDS", "LOG-FIRST", "LOG-LAST", "RESULT"}, values: v}
			opt := func(p *int64) string {
				if p == nil {
					return "-"
				}
				return strconv.FormatInt(*p, 10)
			}
			for _, p := range v.Partitions {
				res := "ok"
				if !p.OK {
					res = "DIFFERENT: " + strings.Join(p.Problems, "; ")
				}
				t.rows = append(t.rows, []string{strconv.Itoa(int(p.Partition)), strconv.FormatInt(p.Committed, 10),
					strconv.FormatInt(p.TableRows, 10), strconv.FormatInt(p.TableDistinct, 10), opt(p.TableMin), opt(p.TableMax),
					strconv.FormatInt(p.LogRecords, 10), opt(p.LogFirst), opt(p.LogLast), res})
			}
			if err := o.print(t); err != nil {
				return err
			}
			var lag int64
			for _, p := range v.Partitions {
				lag += max(0, p.HighWatermark-p.Committed)
			}
			if lag > 0 && o.output == "text" {
				fmt.Fprintf(o.stderr, "%d records past the committed offsets are not in the table yet and were not compared\n", lag)
			}
			if !v.OK {
				return fmt.Errorf("iceberg verify %s: the table differs from the log", args[0])
			}
			return nil
		},
	}

	var yes bool
	drop := &cobra.Command{
		Use:   "drop TOPIC",
		Short: "Delete a topic's Iceberg table (every data and metadata file); with zombi.iceberg.enable still true it is rebuilt from the log start",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usagef("drop deletes every file of table %s: add --yes to do it", args[0])
			}
			var out struct {
				Location string `json:"location"`
				Files    int    `json:"files"`
				Rebuild  bool   `json:"rebuild"`
			}
			if err := o.call(cmd.Context(), http.MethodDelete, path(args[0], ""), nil, &out); err != nil {
				return fmt.Errorf("iceberg drop %s: %w", args[0], err)
			}
			if o.output != "text" {
				return o.print(table{values: out})
			}
			fmt.Fprintf(o.stdout, "dropped %s (%d files)\n", out.Location, out.Files)
			if out.Rebuild {
				fmt.Fprintf(o.stderr, "zombi.iceberg.enable is still true for %s: the table is being rebuilt from the log start\n", args[0])
			}
			return nil
		},
	}
	drop.Flags().BoolVar(&yes, "yes", false, "really delete the table's files")
	cmd.AddCommand(status, verify, drop)
	return cmd
}
