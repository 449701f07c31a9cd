package cli

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// nodeCommand: zombi node decommission (cluster mode).
func nodeCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Operate on the nodes of a cluster"}
	cmd.AddCommand(nodeDecommissionCommand(o))
	return cmd
}

// decommissionPlan is decommission's answer in json and yaml.
type decommissionPlan struct {
	Node     int32 `json:"node" yaml:"node"`
	Executed bool  `json:"executed" yaml:"executed"`
	reassignPlan
}

func nodeDecommissionCommand(o *options) *cobra.Command {
	var (
		execute bool
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "decommission ID [--execute]",
		Short: "Move every replica off a node (prints the plan; --execute moves them and waits)",
		Long: "Plan the moves that empty node ID: in each partition it holds, its replica is replaced by\n" +
			"a live node that is not already a replica, in a rack the partition's other replicas do not\n" +
			"use when there is one, the least loaded first. Prints the plan and changes nothing unless\n" +
			"--execute is given; then submits it (AlterPartitionReassignments) and waits, with\n" +
			"progress, until the node holds no replica. Stop the node afterwards.",
		Example: "  zombi node decommission 3\n  zombi node decommission 3 --execute",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id64, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id64 < 0 {
				return usagef("node id %q: want a non-negative integer", args[0])
			}
			id := int32(id64)
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()
			md, err := adm.Metadata(ctx)
			if err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			plan, err := planDecommission(md, id)
			if err != nil {
				return err
			}
			out := decommissionPlan{Node: id, reassignPlan: plan}
			if execute && len(plan.Partitions) > 0 {
				if err := submitPlan(ctx, adm, &out.reassignPlan); err != nil {
					return err
				}
				out.Executed = true
			}
			if o.output != "text" {
				if err := o.print(table{values: out}); err != nil {
					return err
				}
			} else if err := o.printPlan(out.reassignPlan, true); err != nil {
				return err
			}
			if failed := planFailures(out.reassignPlan); failed > 0 {
				return fmt.Errorf("%d of %d partitions refused: node %d is not empty", failed, len(plan.Partitions), id)
			}
			switch {
			case len(plan.Partitions) == 0:
				fmt.Fprintf(o.stderr, "node %d holds no replica\n", id)
				return nil
			case !out.Executed:
				fmt.Fprintln(o.stderr, "dry run: nothing changed (add --execute to move these replicas)")
				return nil
			}
			if err := o.waitReassigned(ctx, cl, out.reassignPlan, timeout); err != nil {
				return err
			}
			fmt.Fprintf(o.stderr, "node %d holds no replica: it can be stopped\n", id)
			return nil
		},
	}
	c.Flags().BoolVar(&execute, "execute", false, "submit the moves and wait for them (default: print the plan only)")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "how long --execute waits for the moves")
	return c
}

// planDecommission replaces node id in every partition that lists it: by
// a live node not already a replica, whose rack the other replicas do not
// use when one can be found (Kafka's rack-aware placement), the one with
// the fewest replicas first (the plan's own moves counted), the lowest id
// on a tie. The replacement takes the node's place in the list, so the
// preferred leader stays in the same position. Internal topics are left
// out (not replicated partitions yet).
func planDecommission(md kadm.Metadata, id int32) (reassignPlan, error) {
	plan := reassignPlan{Version: 1, Partitions: []reassignEntry{}}
	rack := map[int32]string{}
	var nodes []int32
	for _, b := range md.Brokers {
		rack[b.NodeID] = deref(b.Rack)
		if b.NodeID != id {
			nodes = append(nodes, b.NodeID)
		}
	}
	load := map[int32]int{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				load[r]++
			}
		}
	}
	names := make([]string, 0, len(md.Topics))
	for name, td := range md.Topics {
		// The internal topics are not replicated partitions of the
		// cluster yet (their coordinators are per node): nothing to move.
		if td.IsInternal {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		parts := md.Topics[name].Partitions.Sorted()
		for _, p := range parts {
			i := slices.Index(p.Replicas, id)
			if i < 0 {
				continue
			}
			usedRacks := map[string]bool{}
			for _, r := range p.Replicas {
				if r != id && rack[r] != "" {
					usedRacks[rack[r]] = true
				}
			}
			best := int32(-1)
			bestScore := [2]int{}
			for _, n := range nodes {
				if slices.Contains(p.Replicas, n) {
					continue
				}
				score := [2]int{0, load[n]}
				if usedRacks[rack[n]] {
					score[0] = 1 // a rack already used: only when no other
				}
				if best < 0 || score[0] < bestScore[0] || score[0] == bestScore[0] && score[1] < bestScore[1] {
					best, bestScore = n, score
				}
			}
			if best < 0 {
				return plan, fmt.Errorf("no live node can take node %d's replica of %s-%d (replicas %v, live nodes %v): add a node or lower the replication factor",
					id, name, p.Partition, p.Replicas, nodes)
			}
			target := slices.Clone(p.Replicas)
			target[i] = best
			load[best]++
			load[id]--
			plan.Partitions = append(plan.Partitions, reassignEntry{Topic: name, Partition: p.Partition, Replicas: target, Current: slices.Clone(p.Replicas)})
		}
	}
	return plan, nil
}
