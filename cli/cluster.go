package cli

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// clusterCommand: zombi cluster info, from GET /cluster on --api, else
// Kafka Metadata (through kadm) when the REST API does not answer.
func clusterCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Describe the cluster"}
	cmd.AddCommand(&cobra.Command{
		Use:   "info",
		Short: "Cluster id, controller, nodes (addresses, rack, alive) and every partition's leader, replicas and ISR",
		Long: "Cluster id, controller, nodes (Kafka and REST addresses, rack, alive) and per partition the\n" +
			"leader, replicas, ISR and offline replicas. Read from GET /cluster on --api; when the REST API\n" +
			"does not answer, from Kafka Metadata on --brokers (nodes that are down are then not listed).",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := o.clusterFromAPI(cmd.Context())
			if err != nil {
				if in, err = o.clusterFromKafka(cmd.Context()); err != nil {
					return err
				}
			}
			if o.output != "text" {
				return o.print(table{values: in})
			}
			return o.printCluster(in)
		},
	})
	return cmd
}

type clusterBroker struct {
	ID    int32  `json:"id" yaml:"id"`
	Host  string `json:"host,omitempty" yaml:"host,omitempty"`
	Port  int32  `json:"port,omitempty" yaml:"port,omitempty"`
	Rack  string `json:"rack,omitempty" yaml:"rack,omitempty"`
	HTTP  string `json:"http,omitempty" yaml:"http,omitempty"`
	Alive bool   `json:"alive" yaml:"alive"`
	// Listeners are every advertised Kafka listener (host and port are the
	// first's).
	Listeners []clusterListener `json:"listeners,omitempty" yaml:"listeners,omitempty"`
}

type clusterListener struct {
	Name string `json:"name" yaml:"name"`
	Host string `json:"host" yaml:"host"`
	Port int32  `json:"port" yaml:"port"`
}

type clusterPartition struct {
	Topic       string  `json:"topic" yaml:"topic"`
	Partition   int32   `json:"partition" yaml:"partition"`
	Leader      int32   `json:"leader" yaml:"leader"`
	LeaderEpoch int32   `json:"leader_epoch" yaml:"leader_epoch"`
	Replicas    []int32 `json:"replicas" yaml:"replicas"`
	ISR         []int32 `json:"isr" yaml:"isr"`
	Offline     []int32 `json:"offline" yaml:"offline"`
}

type clusterInfo struct {
	ClusterID      string             `json:"cluster_id" yaml:"cluster_id"`
	Controller     int32              `json:"controller" yaml:"controller"`
	Source         string             `json:"source" yaml:"source"` // "api" or "kafka"
	Brokers        []clusterBroker    `json:"brokers" yaml:"brokers"`
	Topics         int                `json:"topics" yaml:"topics"`
	InternalTopics int                `json:"internal_topics" yaml:"internal_topics"`
	Partitions     []clusterPartition `json:"partitions" yaml:"partitions"`
}

// clusterFromAPI reads GET /cluster.
func (o *options) clusterFromAPI(ctx context.Context) (clusterInfo, error) {
	var ans struct {
		ClusterID  string `json:"cluster_id"`
		Controller int32  `json:"controller"`
		Nodes      []struct {
			ID    int32             `json:"id"`
			Kafka []clusterListener `json:"kafka"`
			HTTP  string            `json:"http"`
			Rack  string            `json:"rack"`
			Alive bool              `json:"alive"`
		} `json:"nodes"`
		Topics []struct {
			Name       string             `json:"name"`
			Partitions []clusterPartition `json:"partitions"`
		} `json:"topics"`
	}
	if err := o.call(ctx, "GET", "/cluster", nil, &ans); err != nil {
		return clusterInfo{}, err
	}
	in := clusterInfo{ClusterID: ans.ClusterID, Controller: ans.Controller, Source: "api", Brokers: []clusterBroker{}, Partitions: []clusterPartition{}}
	for _, n := range ans.Nodes {
		b := clusterBroker{ID: n.ID, HTTP: n.HTTP, Rack: n.Rack, Alive: n.Alive, Listeners: n.Kafka}
		if len(n.Kafka) > 0 {
			b.Host, b.Port = n.Kafka[0].Host, n.Kafka[0].Port
		}
		in.Brokers = append(in.Brokers, b)
	}
	for _, t := range ans.Topics {
		if strings.HasPrefix(t.Name, "__") {
			in.InternalTopics++
		} else {
			in.Topics++
		}
		for _, p := range t.Partitions {
			p.Topic = t.Name
			in.Partitions = append(in.Partitions, p)
		}
	}
	return in, nil
}

// clusterFromKafka reads Kafka Metadata: live brokers only.
func (o *options) clusterFromKafka(ctx context.Context) (clusterInfo, error) {
	cl, adm, err := o.kafka()
	if err != nil {
		return clusterInfo{}, err
	}
	defer cl.Close()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return clusterInfo{}, fmt.Errorf("metadata: %w", err)
	}
	in := clusterInfo{ClusterID: md.Cluster, Controller: md.Controller, Source: "kafka", Brokers: []clusterBroker{}, Partitions: []clusterPartition{}}
	for _, t := range md.Topics.Sorted() {
		if t.IsInternal {
			in.InternalTopics++
		} else {
			in.Topics++
		}
		for _, p := range t.Partitions.Sorted() {
			in.Partitions = append(in.Partitions, clusterPartition{Topic: t.Topic, Partition: p.Partition, Leader: p.Leader,
				LeaderEpoch: p.LeaderEpoch, Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), Offline: nonNil(p.OfflineReplicas)})
		}
	}
	for _, b := range md.Brokers {
		in.Brokers = append(in.Brokers, clusterBroker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: deref(b.Rack), Alive: true})
	}
	slices.SortFunc(in.Brokers, func(a, b clusterBroker) int { return int(a.ID - b.ID) })
	return in, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func (o *options) printCluster(in clusterInfo) error {
	if err := printRows(o.stdout, [][]string{
		{"CLUSTER", orDash(in.ClusterID)}, {"CONTROLLER", strconv.Itoa(int(in.Controller))},
		{"TOPICS", strconv.Itoa(in.Topics)}, {"INTERNAL-TOPICS", strconv.Itoa(in.InternalTopics)},
	}); err != nil {
		return err
	}
	fmt.Fprintln(o.stdout)
	nodes := table{header: []string{"ID", "ADDRESS", "HTTP", "RACK", "ALIVE"}}
	for _, b := range in.Brokers {
		addr := "-"
		if b.Host != "" {
			addr = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		}
		alive := "yes"
		if !b.Alive {
			alive = "no"
		}
		nodes.rows = append(nodes.rows, []string{strconv.Itoa(int(b.ID)), addr, orDash(b.HTTP), orDash(b.Rack), alive})
	}
	if err := o.print(nodes); err != nil {
		return err
	}
	if len(in.Partitions) == 0 {
		return nil
	}
	fmt.Fprintln(o.stdout)
	parts := table{header: []string{"TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE"}}
	for _, p := range in.Partitions {
		parts.rows = append(parts.rows, []string{p.Topic, strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)),
			strconv.Itoa(int(p.LeaderEpoch)), ids(p.Replicas), ids(p.ISR), ids(p.Offline)})
	}
	return o.print(parts)
}

// ids is a replica list as Kafka's tools print it: 1,2,3 ("-" when empty).
func ids(s []int32) string {
	if len(s) == 0 {
		return "-"
	}
	out := make([]string, len(s))
	for i, id := range s {
		out[i] = strconv.Itoa(int(id))
	}
	return strings.Join(out, ",")
}
