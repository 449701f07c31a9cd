package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
)

func TestConsumerGroupsViews(t *testing.T) {
	coord := groups.New(groups.Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(coord.Close)
	e := newEnv(t, Config{Groups: coord})
	if _, err := e.log.CreateTopic("ev", 2, nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if code, body := e.doJSON("POST", "/tables/ev", `{"payload":"x","partition":1}`); code != http.StatusAccepted {
			t.Fatalf("%d %v", code, body)
		}
	}
	// A live group with one member assigned ev/0 and ev/1, a commit on ev/1.
	j := coord.Join(context.Background(), groups.JoinRequest{Group: "live", ClientID: "cli", ClientHost: "/10.0.0.1", ProtocolType: "consumer",
		Protocols: []groups.Protocol{{Name: "range"}}, SessionTimeout: 10 * time.Second})
	a := kmsg.NewConsumerMemberAssignment()
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "ev", Partitions: []int32{0, 1}}}
	coord.Sync(context.Background(), groups.SyncRequest{Group: "live", MemberID: j.MemberID, Generation: j.Generation,
		Assignments: map[string][]byte{j.MemberID: a.AppendTo(nil)}})
	if err := e.log.CommitOffsets([]plog.CommittedOffset{{Group: "live", Topic: "ev", Partition: 1, Offset: 2}, {Group: "old", Topic: "ev", Partition: 1, Offset: 5}}); err != nil {
		t.Fatal(err)
	}

	code, body := e.do("GET", "/consumers", "", nil)
	var list struct {
		Groups []groupJSON `json:"groups"`
		Count  int         `json:"count"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || list.Count != 2 {
		t.Fatalf("%d %s", code, body)
	}
	if g := list.Groups[0]; g.Group != "live" || g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientID != "cli" || len(g.Members[0].Assignment["ev"]) != 2 {
		t.Fatalf("live: %+v", g)
	}
	if g := list.Groups[1]; g.Group != "old" || g.State != "Empty" || len(g.Members) != 0 {
		t.Fatalf("old: %+v", g)
	}

	code, body = e.do("GET", "/consumers/live", "", nil)
	var one struct {
		groupJSON
		Partitions []groupPartitionJSON `json:"partitions"`
		TotalLag   int64                `json:"total_lag"`
	}
	if err := json.Unmarshal(body, &one); err != nil || code != 200 || len(one.Partitions) != 2 {
		t.Fatalf("%d %s", code, body)
	}
	p0, p1 := one.Partitions[0], one.Partitions[1]
	if p0.CommittedOffset != nil || *p0.HighWatermark != 0 || *p0.Lag != 0 || p0.MemberID != j.MemberID {
		t.Fatalf("ev/0: %s", body)
	}
	if *p1.CommittedOffset != 2 || *p1.HighWatermark != 5 || *p1.Lag != 3 || one.TotalLag != 3 {
		t.Fatalf("ev/1: %s", body)
	}
	code, body = e.do("GET", "/consumers/old", "", nil)
	if code != 200 || json.Unmarshal(body, &one) != nil || one.State != "Empty" || *one.Partitions[0].Lag != 0 {
		t.Fatalf("old: %d %s", code, body)
	}
	if code, _ := e.do("GET", "/consumers/nope", "", nil); code != http.StatusNotFound {
		t.Fatalf("unknown group: %d", code)
	}
	// Without a coordinator: offsets only.
	e2 := newEnv(t, Config{})
	if code, body := e2.do("GET", "/consumers", "", nil); code != 200 || string(body) != `{"count":0,"groups":[]}` {
		t.Fatalf("%d %s", code, body)
	}
}
