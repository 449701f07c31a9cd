package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
)

// fakeCold is a cold tier that knows bounds only (tableView reads nothing
// else from it).
type fakeCold struct{ bounds map[int32][2]int64 }

func (f fakeCold) Bounds(_ string, part int32) (int64, int64, bool) {
	b, ok := f.bounds[part]
	return b[0], b[1], ok
}
func (fakeCold) Read(context.Context, string, int32, int64, int) ([]plog.Batch, error) {
	return nil, errors.New("not here")
}
func (fakeCold) StartForTimestamp(context.Context, string, int32, int64) (int64, bool, error) {
	return 0, false, errors.New("not here")
}

func decodeTable(t *testing.T, b []byte) tableJSON {
	t.Helper()
	var tj tableJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		t.Fatalf("not a TABLE: %v: %s", err, b)
	}
	return tj
}

func TestTablesListAndInfo(t *testing.T) {
	e := newEnv(t, Config{})
	info, err := e.log.CreateTopic("orders", 2, map[string]string{"retention.ms": "3600000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.CreateTopic("other", 1, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.write("orders", fmt.Sprintf(`{"payload":"p%d","partition":1}`, i))
	}
	code, body := e.do("GET", "/tables/orders/info", "", nil)
	if code != 200 {
		t.Fatalf("info: %d %s", code, body)
	}
	tj := decodeTable(t, body)
	id, _ := base64.RawURLEncoding.DecodeString(tj.TopicID)
	if tj.Name != "orders" || tj.Partitions != 2 || [16]byte(id) != info.UUID || tj.Records != 3 || tj.Configs["retention.ms"] != "3600000" || len(tj.Offsets) != 2 {
		t.Fatalf("info: %s", body)
	}
	p1 := tj.Offsets[1]
	if p1.Partition != 1 || p1.LogStart != 0 || p1.HighWatermark != 3 || p1.HotStart != 0 || p1.ColdStart != nil || p1.Bytes <= 0 || tj.Bytes != p1.Bytes {
		t.Fatalf("partition 1: %s", body)
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	if _, ok := raw["partition_offsets"].([]any)[0].(map[string]any)["cold_start"]; ok {
		t.Fatalf("cold_start present without cold data: %s", body)
	}

	// The cold range comes from the cold tier's bounds.
	e.log.SetColdTier(fakeCold{bounds: map[int32][2]int64{1: {0, 2}}})
	_, body = e.do("GET", "/tables/orders/info", "", nil)
	if p := decodeTable(t, body).Offsets[1]; p.ColdStart == nil || *p.ColdStart != 0 || *p.ColdEnd != 2 {
		t.Fatalf("cold range: %s", body)
	}

	code, body = e.do("GET", "/tables", "", nil)
	var list struct {
		Tables []tableJSON `json:"tables"`
		Count  int         `json:"count"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || list.Count != 2 || list.Tables[0].Name != "orders" || list.Tables[1].Name != "other" {
		t.Fatalf("list: %d %s", code, body)
	}
	if _, body = e.do("GET", "/tables?prefix=oth", "", nil); json.Unmarshal(body, &list) != nil || list.Count != 1 || list.Tables[0].Name != "other" || list.Tables[0].Configs == nil {
		t.Fatalf("prefix: %s", body)
	}
	if code, body = e.do("GET", "/tables/nope/info", "", nil); code != 404 || string(body) != `{"error":"table nope does not exist"}`+"\n" {
		t.Fatalf("unknown: %d %s", code, body)
	}
	if code, _ = e.do("GET", "/tables/bad%20name/info", "", nil); code != 400 {
		t.Fatalf("bad name: %d", code)
	}
}

func TestDeleteTable(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("gone", `{"payload":"x"}`)
	if code, body := e.do("DELETE", "/tables/gone", "", nil); code != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if _, ok := e.log.Topic("gone"); ok {
		t.Fatal("table still there")
	}
	if code, _ := e.do("DELETE", "/tables/gone", "", nil); code != 404 {
		t.Fatalf("second delete: %d", code)
	}
	// A new table of the same name starts empty.
	if _, off := e.write("gone", `{"payload":"y"}`); off != 0 {
		t.Fatalf("recreated table starts at %d", off)
	}
}

// joinMember makes a live group member through the coordinator, as a Kafka
// consumer would.
func joinMember(t *testing.T, coord *groups.Coordinator, group string) string {
	t.Helper()
	j := coord.Join(context.Background(), groups.JoinRequest{Group: group, ClientID: "c", ClientHost: "/127.0.0.1", ProtocolType: "consumer",
		Protocols: []groups.Protocol{{Name: "range"}}, SessionTimeout: 10 * time.Second})
	if j.Err != nil {
		t.Fatalf("join: %v", j.Err)
	}
	coord.Sync(context.Background(), groups.SyncRequest{Group: group, MemberID: j.MemberID, Generation: j.Generation})
	return j.MemberID
}

type resetAnswer struct {
	Group    string      `json:"group"`
	To       string      `json:"to"`
	Executed bool        `json:"executed"`
	Plan     []resetStep `json:"plan"`
}

func TestConsumerReset(t *testing.T) {
	coord := groups.New(groups.Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(coord.Close)
	e := newEnv(t, Config{Groups: coord})
	if _, err := e.log.CreateTopic("ev", 2, nil); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).UnixMilli()
	for i := range 10 {
		e.write("ev", fmt.Sprintf(`{"payload":"x","partition":0,"timestamp_ms":%d}`, base+int64(i)*1000))
	}
	if err := e.log.CommitOffsets([]plog.CommittedOffset{{Group: "g", Topic: "ev", Partition: 0, Offset: 5}}); err != nil {
		t.Fatal(err)
	}
	reset := func(body string) (int, resetAnswer, []byte) {
		t.Helper()
		code, b := e.do("POST", "/consumers/g/reset", "application/json", []byte(body))
		var ra resetAnswer
		if code == 200 {
			if err := json.Unmarshal(b, &ra); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
		}
		return code, ra, b
	}
	committed := func(p int32) int64 {
		co, ok, err := e.log.FetchOffset("g", "ev", p)
		if err != nil || !ok {
			return -1
		}
		return co.Offset
	}

	// Dry run: the plan, nothing moves.
	code, ra, b := reset(`{"to":"start"}`)
	if code != 200 || ra.Group != "g" || ra.To != "start" || ra.Executed || len(ra.Plan) != 2 ||
		ra.Plan[0] != (resetStep{"ev", 0, 5, 0}) || ra.Plan[1] != (resetStep{"ev", 1, -1, 0}) {
		t.Fatalf("dry run: %d %s", code, b)
	}
	if committed(0) != 5 || committed(1) != -1 {
		t.Fatal("dry run changed offsets")
	}
	// Targets: end, an offset (clamped), a timestamp, a duration.
	for _, tc := range []struct {
		to   string
		want int64
	}{{"end", 10}, {"3", 3}, {"99", 10}, {fmt.Sprintf("@%d", base+4000), 4}, {"-1m", 10}} {
		if code, ra, b := reset(`{"to":"` + tc.to + `","topics":["ev"]}`); code != 200 || ra.Plan[0].Target != tc.want {
			t.Fatalf("to %s: %d %s (want %d)", tc.to, code, b, tc.want)
		}
	}
	// -DURATION is now minus it: the answer names the time it meant.
	_, ra, b = reset(`{"to":"-59m57s"}`)
	var ms int64
	if _, err := fmt.Sscanf(ra.To, "@%d", &ms); err != nil || ms < base+3000 || ms > time.Now().Add(-59*time.Minute-57*time.Second).UnixMilli() {
		t.Fatalf("-59m57s: %s", b)
	}
	if want := (ms - base + 999) / 1000; ra.Plan[0].Target != want {
		t.Fatalf("-59m57s: %s (want target %d)", b, want)
	}
	// Execute.
	if code, ra, b := reset(`{"to":"2","execute":true}`); code != 200 || !ra.Executed || ra.Plan[0].Target != 2 {
		t.Fatalf("execute: %d %s", code, b)
	}
	if committed(0) != 2 || committed(1) != 0 {
		t.Fatalf("after execute: %d %d", committed(0), committed(1))
	}
	// Bad input changes nothing.
	for _, body := range []string{`{"to":"yesterday","execute":true}`, `{"execute":true}`, `{"to":"-5","execute":true}`, `{"to":"start","topics":["bad name"],"execute":true}`, `[`} {
		if code, _, b := reset(body); code != 400 {
			t.Fatalf("%s: %d %s", body, code, b)
		}
	}
	if code, _, _ := reset(`{"to":"start","topics":["nope"],"execute":true}`); code != 404 {
		t.Fatalf("unknown topic: %d", code)
	}
	if committed(0) != 2 {
		t.Fatal("a refused reset changed offsets")
	}
	// While the group has members: 409, nothing changes (dry run included).
	joinMember(t, coord, "g")
	for _, body := range []string{`{"to":"start","execute":true}`, `{"to":"start"}`} {
		if code, _, b := reset(body); code != http.StatusConflict || decodeMap(t, b)["error"] == nil {
			t.Fatalf("with members %s: %d %s", body, code, b)
		}
	}
	if committed(0) != 2 {
		t.Fatal("reset moved offsets of a group with members")
	}
	// A group with nothing committed and no topics named: 404.
	if code, b := e.do("POST", "/consumers/new/reset", "application/json", []byte(`{"to":"start"}`)); code != 404 {
		t.Fatalf("no commits: %d %s", code, b)
	}
	if code, b := e.do("POST", "/consumers/new/reset", "application/json", []byte(`{"to":"end","topics":["ev","ev"],"execute":true}`)); code != 200 {
		t.Fatalf("named topics: %d %s", code, b)
	}
	if co, ok, _ := e.log.FetchOffset("new", "ev", 0); !ok || co.Offset != 10 {
		t.Fatalf("new group's commit: %v %v", co, ok)
	}
}

func TestDeleteConsumerGroup(t *testing.T) {
	coord := groups.New(groups.Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(coord.Close)
	for _, cfg := range []Config{{Groups: coord}, {}} {
		e := newEnv(t, cfg)
		if err := e.log.CommitOffsets([]plog.CommittedOffset{{Group: "g", Topic: "ev", Partition: 0, Offset: 5}, {Group: "busy", Topic: "ev", Partition: 0, Offset: 1}}); err != nil {
			t.Fatal(err)
		}
		if code, b := e.do("DELETE", "/consumers/g", "", nil); code != http.StatusNoContent {
			t.Fatalf("delete: %d %s", code, b)
		}
		if offs, _ := e.log.GroupOffsets("g"); len(offs) != 0 {
			t.Fatalf("offsets left: %v", offs)
		}
		if code, _ := e.do("DELETE", "/consumers/g", "", nil); code != 404 {
			t.Fatalf("second delete: %d", code)
		}
		if cfg.Groups == nil {
			continue
		}
		joinMember(t, coord, "busy")
		if code, b := e.do("DELETE", "/consumers/busy", "", nil); code != http.StatusConflict {
			t.Fatalf("with members: %d %s", code, b)
		}
		if offs, _ := e.log.GroupOffsets("busy"); len(offs) != 1 {
			t.Fatal("a refused delete removed offsets")
		}
	}
}

func TestHealthLiveReady(t *testing.T) {
	var notReady error = errors.New("cold tier not loaded yet")
	e := newEnv(t, Config{Ready: func() error { return notReady }})
	if code, b := e.do("GET", "/health/live", "", nil); code != 200 || string(b) != `{"status":"live"}`+"\n" {
		t.Fatalf("live: %d %s", code, b)
	}
	if code, b := e.do("GET", "/health/ready", "", nil); code != 503 || decodeMap(t, b)["reason"] != "cold tier not loaded yet" {
		t.Fatalf("not ready: %d %s", code, b)
	}
	notReady = nil
	if code, b := e.do("GET", "/health/ready", "", nil); code != 200 || string(b) != `{"status":"ready"}`+"\n" {
		t.Fatalf("ready: %d %s", code, b)
	}
	_ = e.log.Close()
	if code, _ := e.do("GET", "/health/ready", "", nil); code != 503 {
		t.Fatalf("closed log: %d", code)
	}
	if code, _ := e.do("GET", "/health/live", "", nil); code != 200 {
		t.Fatalf("live with the log closed: %d", code)
	}
}

func TestAdminRoutesAuthorization(t *testing.T) {
	e := secured(t)
	for _, n := range []string{"mine", "theirs"} {
		if _, err := e.log.CreateTopic(n, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.log.CommitOffsets([]plog.CommittedOffset{{Group: "g", Topic: "mine", Partition: 0, Offset: 0}}); err != nil {
		t.Fatal(err)
	}
	alice := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))}
	e.allow("User:alice", kmsg.ACLResourceTypeTopic, "mine", kmsg.ACLOperationDescribe)
	// The list shows only what alice may describe.
	code, b := e.do("GET", "/tables", "", nil, alice...)
	if code != 200 || decodeMap(t, b)["count"] != json.Number("1") {
		t.Fatalf("list: %d %s", code, b)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/tables/mine/info", "", 200},
		{"GET", "/tables/theirs/info", "", 403},
		{"DELETE", "/tables/mine", "", 403},
		{"POST", "/consumers/g/reset", `{"to":"start"}`, 403},
		{"DELETE", "/consumers/g", "", 403},
	} {
		var body []byte
		if tc.body != "" {
			body = []byte(tc.body)
		}
		if code, b := e.do(tc.method, tc.path, "application/json", body, alice...); code != tc.want {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, code, b)
		}
	}
	// READ on the group alone is not enough: the topic needs READ too.
	e.allow("User:alice", kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationRead)
	if code, b := e.do("POST", "/consumers/g/reset", "application/json", []byte(`{"to":"start"}`), alice...); code != 403 {
		t.Fatalf("reset without READ on the topic: %d %s", code, b)
	}
	e.allow("User:alice", kmsg.ACLResourceTypeTopic, "mine", kmsg.ACLOperationRead)
	if code, b := e.do("POST", "/consumers/g/reset", "application/json", []byte(`{"to":"start"}`), alice...); code != 200 {
		t.Fatalf("reset: %d %s", code, b)
	}
	e.allow("User:alice", kmsg.ACLResourceTypeTopic, "mine", kmsg.ACLOperationDelete)
	e.allow("User:alice", kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationDelete)
	if code, b := e.do("DELETE", "/tables/mine", "", nil, alice...); code != 204 {
		t.Fatalf("delete table: %d %s", code, b)
	}
	if code, b := e.do("DELETE", "/consumers/g", "", nil, alice...); code != 204 {
		t.Fatalf("delete group: %d %s", code, b)
	}
	// Probes and the schema need no credentials.
	for _, p := range []string{"/health/live", "/health/ready"} {
		if code, b := e.do("GET", p, "", nil); code != 200 {
			t.Fatalf("%s: %d %s", p, code, b)
		}
	}
}
