package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

// clusterCommand: zombi cluster info (Metadata through kadm).
func clusterCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Describe the cluster"}
	cmd.AddCommand(&cobra.Command{
		Use:   "info",
		Short: "Cluster id, controller, brokers (host:port, rack) and the topic count",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			md, err := adm.Metadata(cmd.Context())
			if err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			type broker struct {
				ID   int32  `json:"id" yaml:"id"`
				Host string `json:"host" yaml:"host"`
				Port int32  `json:"port" yaml:"port"`
				Rack string `json:"rack,omitempty" yaml:"rack,omitempty"`
			}
			type info struct {
				ClusterID      string   `json:"cluster_id" yaml:"cluster_id"`
				Controller     int32    `json:"controller" yaml:"controller"`
				Brokers        []broker `json:"brokers" yaml:"brokers"`
				Topics         int      `json:"topics" yaml:"topics"`
				InternalTopics int      `json:"internal_topics" yaml:"internal_topics"`
			}
			in := info{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []broker{}}
			for _, t := range md.Topics {
				if t.IsInternal {
					in.InternalTopics++
				} else {
					in.Topics++
				}
			}
			for _, b := range md.Brokers {
				in.Brokers = append(in.Brokers, broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: deref(b.Rack)})
			}
			if o.output != "text" {
				return o.print(table{values: in})
			}
			if err := printRows(o.stdout, [][]string{
				{"CLUSTER", orDash(in.ClusterID)}, {"CONTROLLER", strconv.Itoa(int(in.Controller))},
				{"TOPICS", strconv.Itoa(in.Topics)}, {"INTERNAL-TOPICS", strconv.Itoa(in.InternalTopics)},
			}); err != nil {
				return err
			}
			fmt.Fprintln(o.stdout)
			t := table{header: []string{"ID", "ADDRESS", "RACK"}}
			for _, b := range in.Brokers {
				t.rows = append(t.rows, []string{strconv.Itoa(int(b.ID)), fmt.Sprintf("%s:%d", b.Host, b.Port), orDash(b.Rack)})
			}
			return o.print(t)
		},
	})
	return cmd
}
