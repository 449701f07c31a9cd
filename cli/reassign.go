package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reassignPlan is kafka-reassign-partitions' JSON (--reassignment-json-file),
// the form --plan reads and decommission prints.
type reassignPlan struct {
	Version    int             `json:"version" yaml:"version"`
	Partitions []reassignEntry `json:"partitions" yaml:"partitions"`
}

type reassignEntry struct {
	Topic     string  `json:"topic" yaml:"topic"`
	Partition int32   `json:"partition" yaml:"partition"`
	Replicas  []int32 `json:"replicas" yaml:"replicas"`
	// Current is the replica list before the move (decommission's plan).
	Current []int32 `json:"current,omitempty" yaml:"current,omitempty"`
	Error   string  `json:"error,omitempty" yaml:"error,omitempty"`
}

// reassignStatus is one partition of --status.
type reassignStatus struct {
	Topic     string  `json:"topic" yaml:"topic"`
	Partition int32   `json:"partition" yaml:"partition"`
	Replicas  []int32 `json:"replicas" yaml:"replicas"`
	Adding    []int32 `json:"adding" yaml:"adding"`
	Removing  []int32 `json:"removing" yaml:"removing"`
}

func topicReassignCommand(o *options) *cobra.Command {
	var (
		partition int32
		replicas  string
		planFile  string
		status    bool
		cancel    bool
		wait      bool
	)
	c := &cobra.Command{
		Use:   "reassign [TOPIC] (--partition P --replicas 1,2,3 | --plan FILE | --status | --cancel)",
		Short: "Move partition replicas between nodes, raise or lower the replication factor (cluster mode)",
		Long: "Reassign partitions (AlterPartitionReassignments, KIP-455): the new replicas copy the\n" +
			"partition from its leader while writes go on, and the controller switches to the new\n" +
			"replica list once they are in sync (the leader moves if it is not in it).\n" +
			"  --partition P --replicas 1,2,3   one partition of TOPIC (the first replica is the preferred leader)\n" +
			"  --plan FILE                      kafka-reassign-partitions' JSON: {\"version\":1,\"partitions\":\n" +
			"                                   [{\"topic\":\"t\",\"partition\":0,\"replicas\":[1,2,3]}]} (- reads stdin)\n" +
			"  --status                         the reassignments in progress (of TOPIC, or all)\n" +
			"  --cancel                         cancel TOPIC's --partition P (or every partition of --plan)\n" +
			"--wait waits until the submitted reassignments are done.",
		Example: "  zombi topic reassign orders --partition 0 --replicas 1,2,3 --wait\n" +
			"  zombi topic reassign --plan moves.json\n  zombi topic reassign --status\n  zombi topic reassign orders --partition 0 --cancel",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := ""
			if len(args) == 1 {
				topic = args[0]
			}
			partSet := cmd.Flags().Changed("partition")
			modes := 0
			for _, on := range []bool{replicas != "", planFile != "" && !cancel, status, cancel} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				return usagef("topic reassign needs one of --replicas (with --partition), --plan, --status or --cancel")
			}
			var plan reassignPlan
			switch {
			case status:
			case planFile != "":
				if topic != "" || partSet {
					return usagef("--plan names its topics and partitions: give no TOPIC or --partition")
				}
				p, err := o.readPlan(planFile)
				if err != nil {
					return err
				}
				plan = p
			default:
				if topic == "" || !partSet {
					return usagef("topic reassign needs TOPIC and --partition P")
				}
				e := reassignEntry{Topic: topic, Partition: partition}
				if !cancel {
					ids, err := parseIDs(replicas)
					if err != nil {
						return usageError{err}
					}
					e.Replicas = ids
				}
				plan.Partitions = []reassignEntry{e}
			}
			if cancel {
				for i := range plan.Partitions {
					plan.Partitions[i].Replicas = nil
				}
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()
			if status {
				st, err := listReassignments(ctx, cl, topic)
				if err != nil {
					return err
				}
				return o.printStatus(st)
			}
			if err := submitPlan(ctx, adm, &plan); err != nil {
				return err
			}
			if err := o.printPlan(plan, false); err != nil {
				return err
			}
			if failed := planFailures(plan); failed > 0 {
				return fmt.Errorf("%d of %d partitions refused", failed, len(plan.Partitions))
			}
			if wait && !cancel {
				return o.waitReassigned(ctx, cl, plan, 0)
			}
			return nil
		},
	}
	c.Flags().Int32VarP(&partition, "partition", "p", 0, "the partition of TOPIC")
	c.Flags().StringVar(&replicas, "replicas", "", "the new replica list, comma separated node ids")
	c.Flags().StringVar(&planFile, "plan", "", "a kafka-reassign-partitions JSON file (- for stdin)")
	c.Flags().BoolVar(&status, "status", false, "list the reassignments in progress")
	c.Flags().BoolVar(&cancel, "cancel", false, "cancel the reassignment of --partition (or of the --plan's partitions)")
	c.Flags().BoolVar(&wait, "wait", false, "wait until the reassignments are done")
	return c
}

// parseIDs reads "1,2,3".
func parseIDs(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--replicas %q: node ids are comma separated non-negative integers", s)
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}

// readPlan reads a kafka-reassign-partitions JSON file.
func (o *options) readPlan(path string) (reassignPlan, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(o.stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return reassignPlan{}, fmt.Errorf("read the plan: %w", err)
	}
	var p reassignPlan
	if err := json.Unmarshal(b, &p); err != nil {
		return reassignPlan{}, usagef("plan %s: not kafka-reassign-partitions JSON: %v", path, err)
	}
	if p.Version != 1 {
		return reassignPlan{}, usagef("plan %s: version %d, want 1", path, p.Version)
	}
	if len(p.Partitions) == 0 {
		return reassignPlan{}, usagef("plan %s: no partitions", path)
	}
	for _, e := range p.Partitions {
		if e.Topic == "" || e.Partition < 0 || len(e.Replicas) == 0 {
			return reassignPlan{}, usagef("plan %s: each partition needs a topic, a partition >= 0 and replicas", path)
		}
	}
	return p, nil
}

// submitPlan sends the plan (nil replicas: cancel) and records each
// partition's error in it.
func submitPlan(ctx context.Context, adm *kadm.Client, plan *reassignPlan) error {
	var req kadm.AlterPartitionAssignmentsReq
	for _, e := range plan.Partitions {
		req.Assign(e.Topic, e.Partition, e.Replicas)
	}
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("reassign partitions: %w", err)
	}
	for i, e := range plan.Partitions {
		r, ok := res[e.Topic][e.Partition]
		switch {
		case !ok:
			plan.Partitions[i].Error = "no answer for this partition"
		case r.Err != nil:
			plan.Partitions[i].Error = errText(r.Err, r.ErrMessage)
		}
	}
	return nil
}

func planFailures(plan reassignPlan) int {
	n := 0
	for _, e := range plan.Partitions {
		if e.Error != "" {
			n++
		}
	}
	return n
}

// listReassignments lists the reassignments in progress (of topic; "":
// all, a request with null topics, which kadm does not send).
func listReassignments(ctx context.Context, cl *kgo.Client, topic string) ([]reassignStatus, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	if topic != "" {
		md := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		md.Topics = append(md.Topics, mt)
		mresp, err := md.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		rt := kmsg.NewListPartitionReassignmentsRequestTopic()
		rt.Topic = topic
		for _, t := range mresp.Topics {
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, p.Partition)
			}
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list reassignments: %w", err)
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("list reassignments: %s", errText(kerr.ErrorForCode(resp.ErrorCode), deref(resp.ErrorMessage)))
	}
	out := []reassignStatus{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, reassignStatus{Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas,
				Adding: p.AddingReplicas, Removing: p.RemovingReplicas})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

func idList(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

func (o *options) printStatus(st []reassignStatus) error {
	if o.output != "text" {
		return o.print(table{values: st})
	}
	if len(st) == 0 {
		fmt.Fprintln(o.stdout, "no reassignment in progress")
		return nil
	}
	t := table{header: []string{"TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"}}
	for _, s := range st {
		t.rows = append(t.rows, []string{s.Topic, strconv.Itoa(int(s.Partition)), idList(s.Replicas), idList(s.Adding), idList(s.Removing)})
	}
	return o.print(t)
}

// printPlan prints a plan (withCurrent: the replicas before too).
func (o *options) printPlan(plan reassignPlan, withCurrent bool) error {
	if o.output != "text" {
		return o.print(table{values: plan})
	}
	t := table{header: []string{"TOPIC", "PARTITION", "REPLICAS", "STATUS"}}
	if withCurrent {
		t.header = []string{"TOPIC", "PARTITION", "CURRENT", "TARGET", "STATUS"}
	}
	for _, e := range plan.Partitions {
		status := "submitted"
		switch {
		case e.Error != "":
			status = "error: " + e.Error
		case e.Replicas == nil:
			status = "cancelled"
		}
		row := []string{e.Topic, strconv.Itoa(int(e.Partition)), idList(e.Replicas), status}
		if withCurrent {
			row = []string{e.Topic, strconv.Itoa(int(e.Partition)), idList(e.Current), idList(e.Replicas), status}
		}
		t.rows = append(t.rows, row)
	}
	return o.print(t)
}

// waitReassigned polls until no partition of the plan has a reassignment
// in progress, printing progress on stderr; timeout 0: no limit but ctx.
func (o *options) waitReassigned(ctx context.Context, cl *kgo.Client, plan reassignPlan, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	total, last := len(plan.Partitions), -1
	for {
		st, err := listReassignments(ctx, cl, "")
		if err != nil {
			return err
		}
		pending := 0
		for _, e := range plan.Partitions {
			if e.Error == "" && slices.ContainsFunc(st, func(s reassignStatus) bool { return s.Topic == e.Topic && s.Partition == e.Partition }) {
				pending++
			}
		}
		if pending != last {
			fmt.Fprintf(o.stderr, "%d of %d partitions moved\n", total-pending, total)
			last = pending
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d partitions still moving (zombi topic reassign --status shows them): %w", pending, total, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
