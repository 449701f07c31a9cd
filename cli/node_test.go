package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func metaOf(racks map[int32]string, parts map[string][][]int32) kadm.Metadata {
	md := kadm.Metadata{Topics: kadm.TopicDetails{}}
	for id := int32(1); id <= int32(len(racks)); id++ {
		r := racks[id]
		b := kadm.BrokerDetail{NodeID: id}
		if r != "" {
			b.Rack = &r
		}
		md.Brokers = append(md.Brokers, b)
	}
	for name, ps := range parts {
		td := kadm.TopicDetail{Topic: name, Partitions: kadm.PartitionDetails{}}
		for p, replicas := range ps {
			td.Partitions[int32(p)] = kadm.PartitionDetail{Topic: name, Partition: int32(p), Replicas: replicas}
		}
		md.Topics[name] = td
	}
	return md
}

// TestPlanDecommission: node 3's replicas go to a node not already a
// replica, in an unused rack when there is one, the least loaded first, in
// node 3's place in the list.
func TestPlanDecommission(t *testing.T) {
	md := metaOf(map[int32]string{1: "a", 2: "b", 3: "c", 4: "c", 5: "a"}, map[string][][]int32{
		"t": {{3, 1, 2}, {1, 2}, {2, 3}},
		"u": {{3}},
	})
	plan, err := planDecommission(md, 3)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int32{}
	for _, e := range plan.Partitions {
		got[e.Topic+"-"+string(rune('0'+e.Partition))] = e.Replicas
	}
	want := map[string][]int32{
		// Racks a and b are used: 4 (rack c) is the only unused rack.
		"t-0": {4, 1, 2},
		// Rack b is used; 1 (a, 2 replicas), 4 (c, 1 after t-0), 5 (a, 0):
		// the least loaded.
		"t-2": {2, 5},
		// No other replica; 4 and 5 hold one each now, 1 two: the lowest id.
		"u-0": {4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	if plan.Version != 1 || len(plan.Partitions) != 3 || !reflect.DeepEqual(plan.Partitions[0].Current, []int32{3, 1, 2}) {
		t.Fatalf("plan %+v", plan)
	}
	// Internal topics are left out.
	md = metaOf(map[int32]string{1: "", 2: ""}, map[string][][]int32{"__consumer_offsets": {{2}}})
	td := md.Topics["__consumer_offsets"]
	td.IsInternal = true
	md.Topics["__consumer_offsets"] = td
	if plan, err := planDecommission(md, 2); err != nil || len(plan.Partitions) != 0 {
		t.Fatalf("internal topic: %+v, %v", plan, err)
	}
	// Nowhere to go: three nodes, RF 3.
	md = metaOf(map[int32]string{1: "", 2: "", 3: ""}, map[string][][]int32{"t": {{1, 2, 3}}})
	if _, err := planDecommission(md, 3); err == nil || !strings.Contains(err.Error(), "no live node can take node 3's replica of t-0") {
		t.Fatalf("RF 3 on 3 nodes: %v", err)
	}
	// A node that holds nothing: an empty plan.
	if plan, err := planDecommission(metaOf(map[int32]string{1: "", 2: ""}, map[string][][]int32{"t": {{1}}}), 2); err != nil || len(plan.Partitions) != 0 {
		t.Fatalf("empty node: %+v, %v", plan, err)
	}
}
