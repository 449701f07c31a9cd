package cluster

import (
	"reflect"
	"testing"

	"github.com/zombi-dev/zombi/cluster/meta"
)

func ps(replicas, isr []int32, leader, epoch, pepoch int32) meta.PartitionState {
	return meta.PartitionState{Replicas: replicas, ISR: isr, Leader: leader, LeaderEpoch: epoch, PartitionEpoch: pepoch}
}

func r(ids ...int32) []int32 { return ids }

// TestDecidePartition: the controller's decision, state in, state out.
func TestDecidePartition(t *testing.T) {
	cases := []struct {
		name    string
		in      meta.PartitionState
		live    []int32
		unclean bool
		want    meta.PartitionState
		changed bool
	}{
		{"all live: nothing", ps(r(1, 2, 3), r(1, 2, 3), 1, 4, 9), r(1, 2, 3), false, ps(r(1, 2, 3), r(1, 2, 3), 1, 4, 9), false},
		{"leader dead: first live ISR replica in assignment order", ps(r(1, 2, 3), r(3, 1, 2), 1, 4, 9), r(2, 3), false, ps(r(1, 2, 3), r(3, 2), 2, 5, 10), true},
		{"leader dead, next replica out of ISR is skipped", ps(r(1, 2, 3), r(1, 3), 1, 4, 9), r(2, 3), false, ps(r(1, 2, 3), r(3), 3, 5, 10), true},
		{"follower dead: leaves the ISR, leader epoch stays", ps(r(1, 2, 3), r(1, 2, 3), 1, 4, 9), r(1, 3), false, ps(r(1, 2, 3), r(1, 3), 1, 4, 10), true},
		{"dead follower not in ISR: nothing", ps(r(1, 2, 3), r(1, 3), 1, 4, 9), r(1, 3), false, ps(r(1, 2, 3), r(1, 3), 1, 4, 9), false},
		{"last ISR member dies: offline, ISR kept", ps(r(1, 2, 3), r(1), 1, 4, 9), r(2, 3), false, ps(r(1, 2, 3), r(1), -1, 5, 10), true},
		{"all ISR dead at once: offline, ISR kept whole", ps(r(1, 2, 3), r(1, 2), 1, 4, 9), r(3), false, ps(r(1, 2, 3), r(1, 2), -1, 5, 10), true},
		{"offline stays offline: nothing", ps(r(1, 2, 3), r(1), -1, 5, 10), r(2, 3), false, ps(r(1, 2, 3), r(1), -1, 5, 10), false},
		{"ISR member returns: leads the offline partition", ps(r(1, 2, 3), r(1), -1, 5, 10), r(1, 2, 3), false, ps(r(1, 2, 3), r(1), 1, 6, 11), true},
		{"one of a kept ISR returns: it leads, the dead leave", ps(r(1, 2, 3), r(1, 2), -1, 5, 10), r(2, 3), false, ps(r(1, 2, 3), r(2), 2, 6, 11), true},
		{"out-of-sync replica returns, unclean off: stays offline", ps(r(1, 2, 3), r(1), -1, 5, 10), r(2), false, ps(r(1, 2, 3), r(1), -1, 5, 10), false},
		{"unclean on: first live replica leads alone", ps(r(1, 2, 3), r(1), 1, 4, 9), r(2, 3), true, ps(r(1, 2, 3), r(2), 2, 5, 10), true},
		{"unclean on, offline, a replica returns: it leads", ps(r(1, 2, 3), r(1), -1, 5, 10), r(3), true, ps(r(1, 2, 3), r(3), 3, 6, 11), true},
		{"unclean on, nobody live: offline", ps(r(1, 2), r(1), 1, 4, 9), nil, true, ps(r(1, 2), r(1), -1, 5, 10), true},
		{"replication factor 1, its node dies", ps(r(2), r(2), 2, 0, 0), r(1, 3), false, ps(r(2), r(2), -1, 1, 1), true},
		{"live leader alone in ISR of dead: untouched", ps(r(1, 2), r(2), 1, 4, 9), r(1), false, ps(r(1, 2), r(2), 1, 4, 9), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			live := map[int32]bool{}
			for _, id := range c.live {
				live[id] = true
			}
			before := clonePartition(c.in)
			got, changed := decidePartition(c.in, func(id int32) bool { return live[id] }, c.unclean)
			if changed != c.changed || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decide(%+v, live %v, unclean %v) = %+v, %v; want %+v, %v", c.in, c.live, c.unclean, got, changed, c.want, c.changed)
			}
			if !reflect.DeepEqual(c.in, before) {
				t.Fatalf("the input was changed: %+v, was %+v", c.in, before)
			}
		})
	}
}
