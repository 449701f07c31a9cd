package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/zombi-dev/zombi/internal/seek"
)

// groupCommand: zombi group list|describe|seek|delete, on kadm.
func groupCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "List, describe, seek and delete consumer groups"}
	cmd.AddCommand(groupListCommand(o), groupDescribeCommand(o), groupSeekCommand(o), groupDeleteCommand(o))
	return cmd
}

func groupListCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups: name, state, protocol type, members",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			listed, err := adm.ListGroups(cmd.Context())
			if err != nil {
				return fmt.Errorf("list groups: %w", err)
			}
			type row struct {
				Group        string `json:"group" yaml:"group"`
				State        string `json:"state" yaml:"state"`
				ProtocolType string `json:"protocol_type" yaml:"protocol_type"`
				Members      int    `json:"members" yaml:"members"`
			}
			rows := []row{}
			t := table{header: []string{"GROUP", "STATE", "PROTOCOL-TYPE", "MEMBERS"}}
			var described kadm.DescribedGroups
			if names := listed.Groups(); len(names) > 0 {
				if described, err = adm.DescribeGroups(cmd.Context(), names...); err != nil {
					return fmt.Errorf("describe groups: %w", err)
				}
			}
			for _, g := range listed.Sorted() {
				r := row{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType}
				if d, ok := described[g.Group]; ok && d.Err == nil {
					r.State, r.Members = d.State, len(d.Members)
					if r.ProtocolType == "" {
						r.ProtocolType = d.ProtocolType
					}
				}
				rows = append(rows, r)
				t.rows = append(t.rows, []string{r.Group, r.State, orDash(r.ProtocolType), strconv.Itoa(r.Members)})
			}
			t.values = rows
			return o.print(t)
		},
	}
}

// groupPartition is one partition of group describe.
type groupPartition struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	Committed int64  `json:"committed" yaml:"committed"` // -1: nothing committed
	LogEnd    int64  `json:"log_end" yaml:"log_end"`
	Lag       int64  `json:"lag" yaml:"lag"` // -1: nothing committed
	MemberID  string `json:"member_id" yaml:"member_id"`
	ClientID  string `json:"client_id" yaml:"client_id"`
	Host      string `json:"host" yaml:"host"`
	Error     string `json:"error,omitempty" yaml:"error,omitempty"`
}

type groupMember struct {
	MemberID   string `json:"member_id" yaml:"member_id"`
	InstanceID string `json:"instance_id,omitempty" yaml:"instance_id,omitempty"`
	ClientID   string `json:"client_id" yaml:"client_id"`
	Host       string `json:"host" yaml:"host"`
}

type groupInfo struct {
	Group        string           `json:"group" yaml:"group"`
	State        string           `json:"state" yaml:"state"`
	ProtocolType string           `json:"protocol_type" yaml:"protocol_type"`
	Protocol     string           `json:"protocol" yaml:"protocol"`
	Coordinator  int32            `json:"coordinator" yaml:"coordinator"`
	Members      []groupMember    `json:"members" yaml:"members"`
	TotalLag     int64            `json:"total_lag" yaml:"total_lag"`
	Partitions   []groupPartition `json:"partitions" yaml:"partitions"`
}

func groupDescribeCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Describe groups: per partition committed offset, log end, lag, member, client, host",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			lags, err := adm.Lag(cmd.Context(), args...)
			if err != nil {
				return fmt.Errorf("describe groups: %w", err)
			}
			var infos []groupInfo
			for _, g := range args {
				l, ok := lags[g]
				if !ok {
					return fmt.Errorf("group %s: no answer", g)
				}
				if l.DescribeErr != nil {
					return fmt.Errorf("group %s: %w", g, l.DescribeErr)
				}
				if l.FetchErr != nil {
					return fmt.Errorf("group %s offsets: %w", g, l.FetchErr)
				}
				gi := groupInfo{Group: g, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
					Coordinator: l.Coordinator.NodeID, Members: []groupMember{}, Partitions: []groupPartition{}}
				for _, m := range l.Members {
					gi.Members = append(gi.Members, groupMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID), ClientID: m.ClientID, Host: m.ClientHost})
				}
				for _, ml := range l.Lag.Sorted() {
					gp := groupPartition{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, LogEnd: ml.End.Offset, Lag: ml.Lag}
					if ml.Member != nil {
						gp.MemberID, gp.ClientID, gp.Host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
					}
					if ml.Err != nil {
						gp.Error = ml.Err.Error()
					}
					if ml.Commit.At < 0 {
						// Nothing committed: no lag to speak of, and none
						// in the total (as kafka-consumer-groups, and
						// /metrics' kafka_consumergroup_lag -1).
						gp.Committed, gp.Lag = -1, -1
					}
					if gp.Lag > 0 {
						gi.TotalLag += gp.Lag
					}
					gi.Partitions = append(gi.Partitions, gp)
				}
				infos = append(infos, gi)
			}
			if o.output != "text" {
				return o.print(table{values: infos})
			}
			for i, gi := range infos {
				if i > 0 {
					fmt.Fprintln(o.stdout)
				}
				if err := printRows(o.stdout, [][]string{
					{"GROUP", gi.Group}, {"STATE", gi.State}, {"PROTOCOL", orDash(strings.Trim(gi.ProtocolType+"/"+gi.Protocol, "/"))},
					{"COORDINATOR", strconv.Itoa(int(gi.Coordinator))}, {"MEMBERS", strconv.Itoa(len(gi.Members))},
					{"TOTAL-LAG", strconv.FormatInt(gi.TotalLag, 10)},
				}); err != nil {
					return err
				}
				fmt.Fprintln(o.stdout)
				t := table{header: []string{"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID", "CLIENT-ID", "HOST"}}
				for _, p := range gi.Partitions {
					row := []string{p.Topic, strconv.Itoa(int(p.Partition)), offsetOrDash(p.Committed), offsetOrDash(p.LogEnd),
						offsetOrDash(p.Lag), orDash(p.MemberID), orDash(p.ClientID), orDash(p.Host)}
					if p.Error != "" {
						row = append(row, p.Error)
					}
					t.rows = append(t.rows, row)
				}
				if err := o.print(t); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func offsetOrDash(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// seekPlan is group seek's answer, shaped as POST /consumers/{g}/reset's.
type seekPlan struct {
	Group    string      `json:"group" yaml:"group"`
	To       string      `json:"to" yaml:"to"`
	Executed bool        `json:"executed" yaml:"executed"`
	Plan     []seekEntry `json:"plan" yaml:"plan"`
}

type seekEntry struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	Current   int64  `json:"current" yaml:"current"` // -1: nothing committed
	Target    int64  `json:"target" yaml:"target"`
}

func groupSeekCommand(o *options) *cobra.Command {
	var (
		to      string
		topics  []string
		execute bool
	)
	c := &cobra.Command{
		Use:   "seek GROUP --to TARGET [--topics T...] [--execute]",
		Short: "Plan (and with --execute, commit) new offsets for a group with no members",
		Long: "Move a consumer group's committed offsets, as kafka-consumer-groups --reset-offsets:\n" +
			"--to start, end, OFFSET, @TIMESTAMP (ms or RFC 3339: the first record at or after it)\n" +
			"or -DURATION / @-DURATION (like -1h, @-2d: from that long ago). Offsets outside a partition's log are\n" +
			"clamped into it. --topics limits the change (default: every topic the group has\n" +
			"committed offsets for). Prints the plan and changes nothing unless --execute is given.\n" +
			"Refused while the group has members: stop its consumers first.",
		Example: "  zombi group seek billing --to start --topics orders\n  zombi group seek billing --to -15m --execute",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if to == "" {
				return usagef("group seek needs --to")
			}
			target, err := seek.Parse(to, time.Now())
			if err != nil {
				return usageError{err}
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()
			known, err := refuseActive(ctx, adm, group)
			if err != nil {
				return err
			}
			if !known && len(topics) == 0 {
				return usagef("group %s does not exist yet: name the topics it should start on with --topics", group)
			}
			plan, err := planSeek(ctx, adm, group, target, topics)
			if err != nil {
				return err
			}
			plan.To = to
			if execute && len(plan.Plan) > 0 {
				// Checked again just before the commit: a member may have
				// joined while the plan was computed.
				if _, err := refuseActive(ctx, adm, group); err != nil {
					return err
				}
				offs := kadm.Offsets{}
				for _, e := range plan.Plan {
					offs.Add(kadm.Offset{Topic: e.Topic, Partition: e.Partition, At: e.Target, LeaderEpoch: -1})
				}
				resp, err := adm.CommitOffsets(ctx, group, offs)
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					return fmt.Errorf("commit offsets of group %s: %w", group, err)
				}
				plan.Executed = true
			}
			if o.output != "text" {
				return o.print(table{values: plan})
			}
			t := table{header: []string{"TOPIC", "PARTITION", "CURRENT", "TARGET"}}
			for _, e := range plan.Plan {
				t.rows = append(t.rows, []string{e.Topic, strconv.Itoa(int(e.Partition)), offsetOrDash(e.Current), strconv.FormatInt(e.Target, 10)})
			}
			if err := o.print(t); err != nil {
				return err
			}
			switch {
			case len(plan.Plan) == 0:
				fmt.Fprintf(o.stdout, "group %s has no committed offsets to move (name topics with --topics)\n", group)
			case plan.Executed:
				fmt.Fprintf(o.stdout, "committed: group %s resumes from these targets\n", group)
			default:
				fmt.Fprintln(o.stdout, "dry run: nothing changed (add --execute to commit these offsets)")
			}
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "start, end, OFFSET, @TIMESTAMP, -DURATION or @-DURATION (units h, m, s, d)")
	c.Flags().StringSliceVar(&topics, "topics", nil, "only these topics (comma separated or repeated)")
	c.Flags().BoolVar(&execute, "execute", false, "commit the new offsets (default: print the plan only)")
	return c
}

// refuseActive fails unless the group is Empty or Dead (unknown), as
// Kafka's tools refuse to reset the offsets of a group with members. known
// is false for a group the coordinator does not know (GROUP_ID_NOT_FOUND or
// Dead): it is seeked as an empty group, as kafka-consumer-groups
// --reset-offsets and rpk group seek do.
func refuseActive(ctx context.Context, adm *kadm.Client, group string) (known bool, err error) {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return false, fmt.Errorf("describe group %s: %w", group, err)
	}
	d, ok := described[group]
	if !ok {
		return false, fmt.Errorf("describe group %s: no answer", group)
	}
	if errors.Is(d.Err, kerr.GroupIDNotFound) {
		return false, nil
	}
	if d.Err != nil {
		return false, fmt.Errorf("describe group %s: %s", group, errText(d.Err, d.ErrMessage))
	}
	if d.State != "Empty" && d.State != "Dead" && d.State != "" {
		return true, fmt.Errorf("group %s is %s with %d member(s): stop its consumers first (offsets of an active group cannot be moved)", group, d.State, len(d.Members))
	}
	return d.State != "Dead", nil
}

// planSeek computes where each partition of the group's topics goes.
func planSeek(ctx context.Context, adm *kadm.Client, group string, target seek.Target, topics []string) (seekPlan, error) {
	plan := seekPlan{Group: group, Plan: []seekEntry{}}
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // a new group: nothing committed yet
	}
	if err != nil {
		return plan, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	if len(topics) == 0 {
		seen := map[string]bool{}
		committed.Each(func(r kadm.OffsetResponse) {
			if !seen[r.Topic] {
				seen[r.Topic] = true
				topics = append(topics, r.Topic)
			}
		})
	}
	if len(topics) == 0 {
		return plan, nil
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return plan, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return plan, fmt.Errorf("list end offsets: %w", err)
	}
	var times kadm.ListedOffsets
	if target.Kind == seek.Time {
		if times, err = adm.ListOffsetsAfterMilli(ctx, target.TimeMs, topics...); err == nil {
			err = times.Error()
		}
		if err != nil {
			return plan, fmt.Errorf("list offsets at %d ms: %w", target.TimeMs, err)
		}
	}
	byTP := map[tp]seekEntry{}
	ends.Each(func(e kadm.ListedOffset) {
		logStart, timeOffset, current := int64(0), int64(-1), int64(-1)
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok {
			logStart = s.Offset
		}
		if t, ok := times.Lookup(e.Topic, e.Partition); ok {
			timeOffset = t.Offset
		}
		if c, ok := committed.Lookup(e.Topic, e.Partition); ok && c.Err == nil {
			current = c.At
		}
		byTP[tp{e.Topic, e.Partition}] = seekEntry{Topic: e.Topic, Partition: e.Partition, Current: current,
			Target: target.Resolve(logStart, e.Offset, timeOffset)}
	})
	for _, k := range sortedTPs(byTP) {
		plan.Plan = append(plan.Plan, byTP[k])
	}
	return plan, nil
}

func groupDeleteCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups and their committed offsets (refused while a group has members)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := adm.DeleteGroups(cmd.Context(), args...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", err)
			}
			type row struct {
				Group string `json:"group" yaml:"group"`
				Error string `json:"error,omitempty" yaml:"error,omitempty"`
			}
			rows := []row{}
			t := table{header: []string{"GROUP", "STATUS"}}
			for _, g := range args {
				r := row{Group: g}
				if d, ok := resp[g]; !ok {
					r.Error = "no answer for this group"
				} else {
					r.Error = errText(d.Err, d.ErrMessage)
				}
				status := "OK"
				if r.Error != "" {
					status = r.Error
				}
				rows = append(rows, r)
				t.rows = append(t.rows, []string{g, status})
			}
			t.values = rows
			if err := o.print(t); err != nil {
				return err
			}
			return itemFailures(o, "delete groups", "group", func(yield func(string, string)) {
				for _, r := range rows {
					yield(r.Group, r.Error)
				}
			})
		},
	}
}
