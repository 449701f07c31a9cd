package cluster

import (
	"errors"
	"reflect"
	"testing"

	"github.com/zombi-dev/zombi/cluster/meta"
)

func racked(pairs ...any) []meta.NodeRecord {
	var out []meta.NodeRecord
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, meta.NodeRecord{ID: int32(pairs[i].(int)), Rack: pairs[i+1].(string)})
	}
	return out
}

// TestAssign: Kafka's assignment, exact where Kafka's own tests give the
// answer, and its properties everywhere: distinct replicas, racks distinct
// when there are enough, leaders and replicas spread evenly.
func TestAssign(t *testing.T) {
	cases := []struct {
		name       string
		nodes      []meta.NodeRecord
		partitions int32
		rf         int16
		start      int
		want       [][]int32 // nil: properties only
	}{
		{"no racks, Kafka AdminTest's 5 brokers", racked(0, "", 1, "", 2, "", 3, "", 4, ""), 10, 3, 0,
			[][]int32{{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1}, {0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2}}},
		{"no racks, 3 nodes", racked(3, "", 1, "", 2, ""), 6, 2, 1, nil},
		{"3 nodes in 3 racks", racked(1, "a", 2, "b", 3, "c"), 6, 3, 0,
			[][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 3, 2}, {2, 1, 3}, {3, 2, 1}}},
		{"6 nodes in 3 racks, rf 3", racked(0, "rack1", 1, "rack2", 2, "rack2", 3, "rack3", 4, "rack3", 5, "rack1"), 12, 3, 2, nil},
		{"6 nodes in 3 racks, rf 2", racked(1, "a", 2, "a", 3, "b", 4, "b", 5, "c", 6, "c"), 6, 2, 0, nil},
		{"6 nodes in 2 racks, rf 3: both racks used", racked(1, "a", 2, "a", 3, "a", 4, "b", 5, "b", 6, "b"), 6, 3, 0, nil},
		{"random start", racked(1, "a", 2, "b", 3, "c"), 9, 3, -1, nil},
		{"rf 1", racked(1, "", 2, ""), 4, 1, 0, [][]int32{{1}, {2}, {1}, {2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Assign(c.nodes, c.partitions, c.rf, c.start)
			if err != nil {
				t.Fatalf("Assign: %v", err)
			}
			if c.want != nil && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Assign = %v, want %v", got, c.want)
			}
			checkAssignment(t, c.nodes, got, int(c.partitions), int(c.rf))
		})
	}
}

func checkAssignment(t *testing.T, nodes []meta.NodeRecord, got [][]int32, partitions, rf int) {
	t.Helper()
	rackOf := map[int32]string{}
	racks := map[string]bool{}
	for _, n := range nodes {
		rackOf[n.ID] = n.Rack
		racks[n.Rack] = true
	}
	if len(got) != partitions {
		t.Fatalf("%d partitions assigned, want %d", len(got), partitions)
	}
	leaders, replicas := map[int32]int{}, map[int32]int{}
	for p, rs := range got {
		if len(rs) != rf {
			t.Fatalf("partition %d: %v, want %d replicas", p, rs, rf)
		}
		seen, seenRacks := map[int32]bool{}, map[string]bool{}
		for _, id := range rs {
			if _, ok := rackOf[id]; !ok || seen[id] {
				t.Fatalf("partition %d: %v: unknown or repeated node %d", p, rs, id)
			}
			seen[id] = true
			seenRacks[rackOf[id]] = true
			replicas[id]++
		}
		if want := min(rf, len(racks)); len(seenRacks) != want {
			t.Fatalf("partition %d: %v spans %d racks, want %d", p, rs, len(seenRacks), want)
		}
		leaders[rs[0]]++
	}
	spread := func(what string, m map[int32]int, total int) {
		lo, hi := total, 0
		for _, n := range nodes {
			lo, hi = min(lo, m[n.ID]), max(hi, m[n.ID])
		}
		if hi-lo > 1 {
			t.Fatalf("%s per node %v: uneven (min %d, max %d)", what, m, lo, hi)
		}
	}
	spread("leaders", leaders, partitions)
	spread("replicas", replicas, partitions*rf)
}

// TestAssignRefused: Kafka's errors and texts.
func TestAssignRefused(t *testing.T) {
	three := racked(1, "", 2, "", 3, "")
	cases := []struct {
		name       string
		nodes      []meta.NodeRecord
		partitions int32
		rf         int16
		code       int16
		msg        string
	}{
		{"rf above live nodes", three, 3, 4, 38, "Replication factor: 4 larger than available brokers: 3."},
		{"rf 0", three, 3, 0, 38, "Replication factor must be larger than 0."},
		{"no partitions", three, 0, 1, 37, "Number of partitions must be larger than 0."},
		{"no nodes", nil, 1, 1, 38, "Replication factor: 1 larger than available brokers: 0."},
		{"some racks", racked(1, "a", 2, ""), 1, 1, 39, "Not all brokers have rack information for replica rack aware assignment."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Assign(c.nodes, c.partitions, c.rf, 0)
			var ae *AssignError
			if !errors.As(err, &ae) || ae.Code != c.code || ae.Msg != c.msg {
				t.Fatalf("Assign = %v, %v; want AssignError{%d, %q}", got, err, c.code, c.msg)
			}
		})
	}
}

// TestRackAlternated: Kafka's AdminRackAwareTest example.
func TestRackAlternated(t *testing.T) {
	got := rackAlternated(racked(0, "rack1", 1, "rack3", 2, "rack3", 3, "rack2", 4, "rack2", 5, "rack1"))
	if want := []int32{0, 3, 1, 5, 4, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rackAlternated = %v, want %v", got, want)
	}
}
