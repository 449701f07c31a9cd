package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicCommand: zombi topic create|list|describe|alter-config|add-partitions|
// trim|delete, all on kadm (so they work against any Kafka broker).
func topicCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "Create, list, describe, configure, grow, trim, reassign and delete topics"}
	cmd.AddCommand(topicCreateCommand(o), topicListCommand(o), topicDescribeCommand(o), topicAlterConfigCommand(o),
		topicAddPartitionsCommand(o), topicTrimCommand(o), topicDeleteCommand(o), topicReassignCommand(o))
	return cmd
}

// topicResult is one topic's outcome of a change (create, delete, alter,
// add-partitions) in json and yaml.
type topicResult struct {
	Topic             string            `json:"topic" yaml:"topic"`
	TopicID           string            `json:"topic_id,omitempty" yaml:"topic_id,omitempty"`
	Partitions        int32             `json:"partitions,omitempty" yaml:"partitions,omitempty"`
	ReplicationFactor int16             `json:"replication_factor,omitempty" yaml:"replication_factor,omitempty"`
	Configs           map[string]string `json:"configs,omitempty" yaml:"configs,omitempty"`
	Error             string            `json:"error,omitempty" yaml:"error,omitempty"`
}

// printResults prints per-topic outcomes and fails when any topic failed.
func (o *options) printResults(what string, res []topicResult) error {
	t := table{header: []string{"TOPIC", "STATUS"}, values: res}
	for _, r := range res {
		status := "OK"
		if r.Error != "" {
			status = r.Error
		}
		t.rows = append(t.rows, []string{r.Topic, status})
	}
	if err := o.print(t); err != nil {
		return err
	}
	return itemFailures(o, what, "topic", func(yield func(string, string)) {
		for _, r := range res {
			yield(r.Topic, r.Error)
		}
	})
}

// itemFailures puts each failed item's reason on stderr too (stdout may be
// a file or a pipe): one failure is the command's one error line ("topic
// t1: TOPIC_ALREADY_EXISTS: ..."); several are a line each and a count.
func itemFailures(o *options, what, kind string, items func(yield func(name, reason string))) error {
	var lines []string
	total := 0
	items(func(name, reason string) {
		total++
		if reason != "" {
			lines = append(lines, kind+" "+name+": "+reason)
		}
	})
	switch len(lines) {
	case 0:
		return nil
	case 1:
		return errors.New(lines[0])
	}
	for _, l := range lines {
		fmt.Fprintln(o.stderr, "zombi: "+l)
	}
	return fmt.Errorf("%s: %d of %d %s(s) failed", what, len(lines), total, kind)
}

// topicResults is each named topic's outcome in a kadm response (on is the
// response's On method).
func topicResults[R any](names []string, on func(string, func(*R) error) (R, error), errOf func(R) string) []topicResult {
	res := make([]topicResult, 0, len(names))
	for _, n := range names {
		r, err := on(n, nil)
		if err != nil {
			res = append(res, topicResult{Topic: n, Error: "no answer for this topic"})
			continue
		}
		res = append(res, topicResult{Topic: n, Error: errOf(r)})
	}
	return res
}

// errText is a failed item's reason ("" for no error): the broker's
// message with the error's name, or kerr's description.
func errText(err error, msg string) string {
	if err == nil {
		return ""
	}
	return kerrMsg(err, &msg)
}

func topicCreateCommand(o *options) *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
		dryRun     bool
	)
	c := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create topics",
		Long: "Create topics with -p partitions (the broker's default when not given), -r replicas\n" +
			"(the broker's default) and -c name=value topic configs. --dry-run asks the broker to\n" +
			"validate the request without creating anything.",
		Example: "  zombi topic create orders -p 6 -c retention.ms=86400000\n  zombi topic create a b c --dry-run",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseKV(configs, "-c")
			if err != nil {
				return err
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			create := adm.CreateTopics
			if dryRun {
				create = adm.ValidateCreateTopics
			}
			resp, err := create(cmd.Context(), partitions, replicas, cfg, args...)
			if err != nil {
				return fmt.Errorf("create topics: %w", err)
			}
			var res []topicResult
			// By name: kadm's Sorted orders by topic id first, which is random.
			byName := resp.Sorted()
			sort.Slice(byName, func(i, j int) bool { return byName[i].Topic < byName[j].Topic })
			for _, r := range byName {
				tr := topicResult{Topic: r.Topic, Partitions: r.NumPartitions, ReplicationFactor: r.ReplicationFactor,
					TopicID: topicID(r.ID), Error: errText(r.Err, r.ErrMessage)}
				if r.Err == nil && len(cfg) > 0 {
					tr.Configs = map[string]string{}
					for k, v := range cfg {
						tr.Configs[k] = deref(v)
					}
				}
				res = append(res, tr)
				if !dryRun && tr.Error == "" && strings.Contains(deref(cfg["cleanup.policy"]), "compact") && o.isZombiTopic(cmd.Context(), tr.Topic, tr.TopicID) {
					fmt.Fprintf(o.stderr, "zombi: warning: topic %s: cleanup.policy=compact is stored but Zombi does not compact (old records are deleted by retention only)\n", tr.Topic)
				}
			}
			what := "create topics"
			if dryRun {
				what = "validate topics"
			}
			return o.printResults(what, res)
		},
	}
	c.Flags().Int32VarP(&partitions, "partitions", "p", -1, "partitions per topic (-1: the broker's default)")
	c.Flags().Int16VarP(&replicas, "replicas", "r", -1, "replication factor (-1: the broker's default)")
	c.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config name=value (repeatable)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "only validate the request")
	return c
}

// topicID renders a topic ID as Kafka's tools do (URL-safe base64, no
// padding); "" for the zero ID of brokers without topic IDs.
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func topicListCommand(o *options) *cobra.Command {
	var internal bool
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics: name, partitions, replicas (internal topics with -i)",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			topics, err := list(cmd.Context())
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			if err := topics.Error(); err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			type row struct {
				Name       string `json:"name" yaml:"name"`
				TopicID    string `json:"topic_id,omitempty" yaml:"topic_id,omitempty"`
				Partitions int    `json:"partitions" yaml:"partitions"`
				Replicas   int    `json:"replicas" yaml:"replicas"`
				Internal   bool   `json:"internal,omitempty" yaml:"internal,omitempty"`
			}
			t := table{header: []string{"NAME", "PARTITIONS", "REPLICAS"}}
			rows := []row{}
			for _, d := range topics.Sorted() {
				r := row{Name: d.Topic, TopicID: topicID(d.ID), Partitions: len(d.Partitions), Replicas: d.Partitions.NumReplicas(), Internal: d.IsInternal}
				rows = append(rows, r)
				t.rows = append(t.rows, []string{r.Name, strconv.Itoa(r.Partitions), strconv.Itoa(r.Replicas)})
			}
			t.values = rows
			return o.print(t)
		},
	}
	c.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics (__consumer_offsets, ...)")
	return c
}

// partitionInfo is one partition in topic describe. The hot and cold
// fields come from Zombi's GET /tables/{t}/info and are absent elsewhere.
type partitionInfo struct {
	Partition     int32   `json:"partition" yaml:"partition"`
	Leader        int32   `json:"leader" yaml:"leader"`
	Replicas      []int32 `json:"replicas" yaml:"replicas"`
	LogStart      int64   `json:"log_start" yaml:"log_start"`
	HighWatermark int64   `json:"high_watermark" yaml:"high_watermark"`
	HotStart      *int64  `json:"hot_start,omitempty" yaml:"hot_start,omitempty"`
	ColdStart     *int64  `json:"cold_start,omitempty" yaml:"cold_start,omitempty"`
	ColdEnd       *int64  `json:"cold_end,omitempty" yaml:"cold_end,omitempty"`
	Error         string  `json:"error,omitempty" yaml:"error,omitempty"`
}

type configInfo struct {
	Name      string `json:"name" yaml:"name"`
	Value     string `json:"value" yaml:"value"`
	Source    string `json:"source" yaml:"source"`
	Sensitive bool   `json:"sensitive,omitempty" yaml:"sensitive,omitempty"`
}

type topicInfo struct {
	Name       string          `json:"name" yaml:"name"`
	TopicID    string          `json:"topic_id,omitempty" yaml:"topic_id,omitempty"`
	Internal   bool            `json:"internal" yaml:"internal"`
	Partitions []partitionInfo `json:"partitions" yaml:"partitions"`
	Configs    []configInfo    `json:"configs" yaml:"configs"`
}

// zombiTable is the part of Zombi's GET /tables/{t}/info that topic
// describe adds (DESIGN.md, admin REST).
type zombiTable struct {
	TopicID          string `json:"topic_id"`
	PartitionOffsets []struct {
		Partition int32  `json:"partition"`
		HotStart  *int64 `json:"hot_start"`
		ColdStart *int64 `json:"cold_start"`
		ColdEnd   *int64 `json:"cold_end"`
	} `json:"partition_offsets"`
}

func topicDescribeCommand(o *options) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "describe NAME...",
		Short: "Describe topics: configs, and per partition leader, log start, high watermark (and Zombi's hot and cold ranges)",
		Long: "Describe topics: the configs set on the topic (all of them with --all-configs, or in\n" +
			"json/yaml), and per partition the leader, log start offset and high watermark. Against\n" +
			"Zombi, the hot tier's start and the cold tier's range [cold start, cold end) come from\n" +
			"GET {--api}/tables/{t}/info; they are left out when the API does not answer.",
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()
			infos, err := describeTopics(ctx, adm, args)
			if err != nil {
				return err
			}
			for i := range infos {
				o.addZombiRanges(ctx, &infos[i])
			}
			if o.output != "text" {
				return o.print(table{values: infos})
			}
			for i, ti := range infos {
				if i > 0 {
					fmt.Fprintln(o.stdout)
				}
				if err := o.printTopicText(ti, all); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&all, "all-configs", "a", false, "print every config in text output, defaults included")
	return c
}

// describeTopics gathers metadata, configs and offsets of topics.
func describeTopics(ctx context.Context, adm *kadm.Client, names []string) ([]topicInfo, error) {
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	for _, n := range names {
		d, ok := md.Topics[n]
		if !ok {
			return nil, fmt.Errorf("topic %s: not in the broker's metadata", n)
		}
		if d.Err != nil {
			return nil, fmt.Errorf("topic %s: %w", n, d.Err)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	var out []topicInfo
	for _, n := range names {
		d := md.Topics[n]
		ti := topicInfo{Name: n, TopicID: topicID(d.ID), Internal: d.IsInternal, Configs: []configInfo{}, Partitions: []partitionInfo{}}
		for _, p := range d.Partitions.Sorted() {
			pi := partitionInfo{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, LogStart: -1, HighWatermark: -1}
			if pi.Replicas == nil {
				pi.Replicas = []int32{}
			}
			var errs []string
			if p.Err != nil {
				errs = append(errs, p.Err.Error())
			}
			if s, ok := starts.Lookup(n, p.Partition); ok && s.Err == nil {
				pi.LogStart = s.Offset
			} else if ok {
				errs = append(errs, "log start: "+s.Err.Error())
			}
			if e, ok := ends.Lookup(n, p.Partition); ok && e.Err == nil {
				pi.HighWatermark = e.Offset
			} else if ok {
				errs = append(errs, "high watermark: "+e.Err.Error())
			}
			pi.Error = strings.Join(errs, "; ")
			ti.Partitions = append(ti.Partitions, pi)
		}
		rc, err := configs.On(n, nil)
		if err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				ti.Configs = append(ti.Configs, configInfo{Name: c.Key, Value: deref(c.Value), Source: configSource(c.Source), Sensitive: c.Sensitive})
			}
			sort.Slice(ti.Configs, func(i, j int) bool { return ti.Configs[i].Name < ti.Configs[j].Name })
		} else if err == nil {
			return nil, fmt.Errorf("topic %s configs: %s", n, errText(rc.Err, rc.ErrMessage))
		}
		out = append(out, ti)
	}
	return out, nil
}

// configSource names a config's source the way kafka-configs prints it.
func configSource(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "dynamic-broker"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "dynamic-default-broker"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "static-broker"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	case kmsg.ConfigSourceDynamicBrokerLoggerConfig:
		return "broker-logger"
	}
	return strings.ToLower(s.String())
}

// addZombiRanges adds the hot and cold ranges from Zombi's REST API; any
// failure (not Zombi, API unreachable, no permission) leaves them out. So
// does a topic id that differs from the brokers' (--api pointing at another
// server than --brokers), with a warning: the ranges would be another
// topic's.
func (o *options) addZombiRanges(ctx context.Context, ti *topicInfo) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var zt zombiTable
	if err := o.call(ctx, "GET", "/tables/"+url.PathEscape(ti.Name)+"/info", nil, &zt); err != nil {
		return
	}
	if zt.TopicID != ti.TopicID || zt.TopicID == "" {
		fmt.Fprintf(o.stderr, "zombi: warning: topic %s: %s has topic id %s, the brokers %s: hot and cold ranges left out (is --api the server of --brokers?)\n",
			ti.Name, o.api, orDash(zt.TopicID), orDash(ti.TopicID))
		return
	}
	for _, po := range zt.PartitionOffsets {
		for i := range ti.Partitions {
			if ti.Partitions[i].Partition == po.Partition {
				ti.Partitions[i].HotStart, ti.Partitions[i].ColdStart, ti.Partitions[i].ColdEnd = po.HotStart, po.ColdStart, po.ColdEnd
			}
		}
	}
}

// isZombiTopic reports whether --api is a Zombi serving the topic of
// that id: the same topic the brokers just answered for.
func (o *options) isZombiTopic(ctx context.Context, topic, id string) bool {
	if id == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var zt zombiTable
	err := o.call(ctx, "GET", "/tables/"+url.PathEscape(topic)+"/info", nil, &zt)
	return err == nil && zt.TopicID == id
}

func (o *options) printTopicText(ti topicInfo, all bool) error {
	replicas := 0
	if len(ti.Partitions) > 0 {
		replicas = len(ti.Partitions[0].Replicas)
	}
	summary := table{rows: [][]string{
		{"NAME", ti.Name}, {"TOPIC ID", orDash(ti.TopicID)}, {"INTERNAL", strconv.FormatBool(ti.Internal)},
		{"PARTITIONS", strconv.Itoa(len(ti.Partitions))}, {"REPLICAS", strconv.Itoa(replicas)},
	}}
	if err := printRows(o.stdout, summary.rows); err != nil {
		return err
	}
	var cfg [][]string
	for _, c := range ti.Configs {
		if all || c.Source == "topic" {
			cfg = append(cfg, []string{c.Name, c.Value, c.Source})
		}
	}
	fmt.Fprintln(o.stdout)
	if len(cfg) == 0 && !all {
		fmt.Fprintln(o.stdout, "CONFIGS: none set on the topic (--all-configs lists the defaults)")
	} else {
		if err := o.print(table{header: []string{"CONFIG", "VALUE", "SOURCE"}, rows: cfg}); err != nil {
			return err
		}
	}
	fmt.Fprintln(o.stdout)
	t := table{header: []string{"PARTITION", "LEADER", "LOG-START", "HIGH-WATERMARK", "HOT-START", "COLD-RANGE"}}
	for _, p := range ti.Partitions {
		cold := "-"
		if p.ColdStart != nil && p.ColdEnd != nil {
			cold = fmt.Sprintf("[%d, %d)", *p.ColdStart, *p.ColdEnd)
		}
		row := []string{strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)), strconv.FormatInt(p.LogStart, 10),
			strconv.FormatInt(p.HighWatermark, 10), optInt(p.HotStart), cold}
		if p.Error != "" {
			row = append(row, p.Error)
		}
		t.rows = append(t.rows, row)
	}
	return o.print(t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func optInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

func topicAlterConfigCommand(o *options) *cobra.Command {
	var (
		set    []string
		del    []string
		dryRun bool
	)
	c := &cobra.Command{
		Use:   "alter-config NAME... [--set k=v]... [--delete k]...",
		Short: "Set or delete topic configs (IncrementalAlterConfigs)",
		Long: "Set or delete topic configs with IncrementalAlterConfigs: --set name=value and\n" +
			"--delete name (back to the default) change only the configs named; the others stay.",
		Example: "  zombi topic alter-config orders --set retention.ms=3600000 --delete retention.bytes",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(set) == 0 && len(del) == 0 {
				return usagef("topic alter-config needs --set or --delete")
			}
			kv, err := parseKV(set, "--set")
			if err != nil {
				return err
			}
			var alters []kadm.AlterConfig
			for _, k := range slices.Sorted(maps.Keys(kv)) {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kv[k]})
			}
			for _, k := range del {
				if _, both := kv[k]; both {
					return usagef("config %s is both set and deleted", k)
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			alter := adm.AlterTopicConfigs
			if dryRun {
				alter = adm.ValidateAlterTopicConfigs
			}
			resp, err := alter(cmd.Context(), alters, args...)
			if err != nil {
				return fmt.Errorf("alter configs: %w", err)
			}
			res := topicResults(args, resp.On, func(r kadm.AlterConfigsResponse) string { return errText(r.Err, r.ErrMessage) })
			return o.printResults("alter configs", res)
		},
	}
	c.Flags().StringArrayVar(&set, "set", nil, "config name=value to set (repeatable)")
	c.Flags().StringArrayVar(&del, "delete", nil, "config name to delete, back to its default (repeatable)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "only validate the change")
	return c
}

func topicAddPartitionsCommand(o *options) *cobra.Command {
	var add, total int
	c := &cobra.Command{
		Use:   "add-partitions NAME... (-n ADD | --total N)",
		Short: "Add partitions to topics (-n adds that many, as rpk; --total sets the count)",
		Long: "Add partitions to topics: -n/--num N adds N partitions to each (as rpk topic\n" +
			"add-partitions -n), --total N grows each topic to N partitions. Partitions are never\n" +
			"removed: a count below the current one is refused by the broker.",
		Example: "  zombi topic add-partitions orders -n 2\n  zombi topic add-partitions orders --total 12",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (add > 0) == (total > 0) {
				return usagef("topic add-partitions needs one of -n ADD or --total N (> 0)")
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			var resp kadm.CreatePartitionsResponses
			if add > 0 {
				resp, err = adm.CreatePartitions(cmd.Context(), add, args...)
			} else {
				resp, err = adm.UpdatePartitions(cmd.Context(), total, args...)
			}
			if err != nil {
				return fmt.Errorf("add partitions: %w", err)
			}
			res := topicResults(args, resp.On, func(r kadm.CreatePartitionsResponse) string { return errText(r.Err, r.ErrMessage) })
			// The counts after the change, from the broker.
			if md, err := adm.Metadata(cmd.Context(), args...); err == nil {
				for i := range res {
					res[i].Partitions = int32(len(md.Topics[res[i].Topic].Partitions))
				}
			}
			return o.printResults("add partitions", res)
		},
	}
	c.Flags().IntVarP(&add, "num", "n", 0, "partitions to add to each topic")
	c.Flags().IntVar(&total, "total", 0, "partition count to grow each topic to")
	return c
}

func topicTrimCommand(o *options) *cobra.Command {
	var (
		parts  []int32
		before int64
	)
	c := &cobra.Command{
		Use:   "trim NAME -p PARTITION... --before OFFSET",
		Short: "Delete the records before an offset (DeleteRecords): the log start moves up",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(parts) == 0 || !cmd.Flags().Changed("before") {
				return usagef("topic trim needs -p PARTITION and --before OFFSET")
			}
			if before < 0 {
				return usagef("--before must be an offset >= 0")
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			// Partitions the topic does not have are named here: kadm would
			// fail the whole request with "N separate shard errors".
			md, err := adm.Metadata(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("trim %s: %w", args[0], err)
			}
			td, ok := md.Topics[args[0]]
			if !ok || td.Err != nil {
				reason := "UNKNOWN_TOPIC_OR_PARTITION: not in the broker's metadata"
				if ok {
					reason = errText(td.Err, "")
				}
				return fmt.Errorf("trim %s: %s", args[0], reason)
			}
			missing := map[int32]string{}
			offs := kadm.Offsets{}
			for _, p := range parts {
				if _, ok := td.Partitions[p]; !ok {
					missing[p] = fmt.Sprintf("UNKNOWN_TOPIC_OR_PARTITION: topic %s has no partition %d (it has %d)", args[0], p, len(td.Partitions))
					continue
				}
				offs.Add(kadm.Offset{Topic: args[0], Partition: p, At: before, LeaderEpoch: -1})
			}
			resp := kadm.DeleteRecordsResponses{}
			if len(offs) > 0 {
				if resp, err = adm.DeleteRecords(cmd.Context(), offs); err != nil {
					return fmt.Errorf("trim %s: %w", args[0], err)
				}
			}
			type row struct {
				Topic     string `json:"topic" yaml:"topic"`
				Partition int32  `json:"partition" yaml:"partition"`
				LogStart  int64  `json:"log_start" yaml:"log_start"`
				Error     string `json:"error,omitempty" yaml:"error,omitempty"`
			}
			t := table{header: []string{"TOPIC", "PARTITION", "LOG-START", "STATUS"}}
			rows := []row{}
			var failed []string
			for _, p := range parts {
				r := row{Topic: args[0], Partition: p, LogStart: -1}
				if m, ok := missing[p]; ok {
					r.Error = m
				} else if tr, ok := resp[args[0]]; ok {
					if pr, ok := tr[p]; ok {
						r.LogStart = pr.LowWatermark
						r.Error = errText(pr.Err, "")
					} else {
						r.Error = "no answer for this partition"
					}
				} else {
					r.Error = "no answer for this topic"
				}
				status := "OK"
				if r.Error != "" {
					status = r.Error
					failed = append(failed, fmt.Sprintf("partition %d: %s", p, r.Error))
				}
				rows = append(rows, r)
				t.rows = append(t.rows, []string{r.Topic, strconv.Itoa(int(p)), strconv.FormatInt(r.LogStart, 10), status})
			}
			t.values = rows
			if err := o.print(t); err != nil {
				return err
			}
			if len(failed) > 0 {
				for _, f := range failed[:len(failed)-1] {
					fmt.Fprintf(o.stderr, "zombi: trim %s: %s\n", args[0], f)
				}
				return fmt.Errorf("trim %s: %s", args[0], failed[len(failed)-1])
			}
			return nil
		},
	}
	c.Flags().Int32SliceVarP(&parts, "partitions", "p", nil, "partitions to trim (comma separated or repeated)")
	c.Flags().Int64Var(&before, "before", 0, "delete every record below this offset (the new log start)")
	return c
}

func topicDeleteCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics and their records",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := adm.DeleteTopics(cmd.Context(), args...)
			if err != nil {
				return fmt.Errorf("delete topics: %w", err)
			}
			res := topicResults(args, resp.On, func(r kadm.DeleteTopicResponse) string { return errText(r.Err, r.ErrMessage) })
			return o.printResults("delete topics", res)
		},
	}
}

// parseKV reads name=value pairs (flag names the flag for errors).
func parseKV(pairs []string, flag string) (map[string]*string, error) {
	m := map[string]*string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("%s %q: want name=value", flag, p)
		}
		m[strings.TrimSpace(k)] = &v
	}
	return m, nil
}

// printRows prints key-value rows aligned, without a header.
func printRows(w io.Writer, rows [][]string) error {
	return printTo(w, "text", table{header: rows[0], rows: rows[1:]})
}
