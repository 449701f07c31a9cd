package cluster

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/zombi-dev/zombi/cluster/meta"
)

// Kafka error codes of a refused assignment.
const (
	codeInvalidPartitions        = 37 // INVALID_PARTITIONS
	codeInvalidReplicationFactor = 38 // INVALID_REPLICATION_FACTOR
	codeInvalidReplicaAssignment = 39 // INVALID_REPLICA_ASSIGNMENT
)

// AssignError is a refused assignment: the Kafka error code for the answer
// and Kafka's own message text (CreateTopics shows it to the client).
type AssignError struct {
	Code int16
	Msg  string
}

func (e *AssignError) Error() string { return e.Msg }

// Assign places rf replicas of partitions new partitions (0..partitions-1)
// on nodes, as Kafka's AdminUtils.assignReplicasToBrokers: leaders (the
// first replica) go round the nodes from start, the followers of each
// partition follow at a shift that grows every full round, so load and
// leadership spread evenly. When every node has a rack, the node list
// alternates racks and a follower is skipped while its rack already holds
// a replica and another rack holds none (replicas in distinct racks when
// there are at least rf racks). start < 0 picks a random start and shift,
// as Kafka does; tests pass a fixed one.
func Assign(nodes []meta.NodeRecord, partitions int32, rf int16, start int) ([][]int32, error) {
	if partitions <= 0 {
		return nil, &AssignError{codeInvalidPartitions, "Number of partitions must be larger than 0."}
	}
	if rf <= 0 {
		return nil, &AssignError{codeInvalidReplicationFactor, "Replication factor must be larger than 0."}
	}
	if int(rf) > len(nodes) {
		return nil, &AssignError{codeInvalidReplicationFactor, fmt.Sprintf("Replication factor: %d larger than available brokers: %d.", rf, len(nodes))}
	}
	sorted := append([]meta.NodeRecord(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	withRack := 0
	for _, n := range sorted {
		if n.Rack != "" {
			withRack++
		}
	}
	if withRack > 0 && withRack < len(sorted) {
		// Kafka's AdminUtils refuses a half-racked cluster the same way.
		return nil, &AssignError{codeInvalidReplicaAssignment, "Not all brokers have rack information for replica rack aware assignment."}
	}
	startIndex, shift := start, start
	if start < 0 {
		startIndex, shift = rand.IntN(len(sorted)), rand.IntN(len(sorted))
	}
	if withRack == 0 {
		ids := make([]int32, len(sorted))
		for i, n := range sorted {
			ids[i] = n.ID
		}
		return assignRackUnaware(ids, int(partitions), int(rf), startIndex, shift), nil
	}
	return assignRackAware(sorted, int(partitions), int(rf), startIndex, shift), nil
}

func assignRackUnaware(ids []int32, partitions, rf, startIndex, shift int) [][]int32 {
	n := len(ids)
	out := make([][]int32, partitions)
	for p := 0; p < partitions; p++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + startIndex) % n
		replicas := []int32{ids[first]}
		for j := 0; j < rf-1; j++ {
			replicas = append(replicas, ids[replicaIndex(first, shift, j, n)])
		}
		out[p] = replicas
	}
	return out
}

func assignRackAware(nodes []meta.NodeRecord, partitions, rf, startIndex, shift int) [][]int32 {
	rackOf := map[int32]string{}
	for _, n := range nodes {
		rackOf[n.ID] = n.Rack
	}
	list := rackAlternated(nodes)
	n := len(list)
	racks := map[string]bool{}
	for _, r := range rackOf {
		racks[r] = true
	}
	numRacks := len(racks)
	out := make([][]int32, partitions)
	for p := 0; p < partitions; p++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + startIndex) % n
		leader := list[first]
		replicas := []int32{leader}
		racksWith := map[string]bool{rackOf[leader]: true}
		nodesWith := map[int32]bool{leader: true}
		k := 0
		for len(replicas) < rf {
			id := list[replicaIndex(first, shift*numRacks, k, n)]
			k++
			rack := rackOf[id]
			// Skip a node whose rack has a replica while a rack has none,
			// or that has one while a node has none.
			if (!racksWith[rack] || len(racksWith) == numRacks) && (!nodesWith[id] || len(nodesWith) == n) {
				replicas = append(replicas, id)
				racksWith[rack] = true
				nodesWith[id] = true
			}
		}
		out[p] = replicas
	}
	return out
}

// replicaIndex is the node index of follower j of a partition whose leader
// is at first: shifted 1..n-1 places, so never the leader.
func replicaIndex(first, shift, j, n int) int {
	if n == 1 {
		return first
	}
	return (first + 1 + (shift+j)%(n-1)) % n
}

// rackAlternated lists the nodes taking one from each rack in turn (racks
// and the nodes of a rack in order): rack a, b, c, a, b, c, ...
func rackAlternated(nodes []meta.NodeRecord) []int32 {
	byRack := map[string][]int32{}
	for _, n := range nodes { // sorted by id
		byRack[n.Rack] = append(byRack[n.Rack], n.ID)
	}
	racks := make([]string, 0, len(byRack))
	for r := range byRack {
		racks = append(racks, r)
	}
	sort.Strings(racks)
	out := make([]int32, 0, len(nodes))
	next := make([]int, len(racks))
	for i := 0; len(out) < len(nodes); i = (i + 1) % len(racks) {
		if next[i] < len(byRack[racks[i]]) {
			out = append(out, byRack[racks[i]][next[i]])
			next[i]++
		}
	}
	return out
}
