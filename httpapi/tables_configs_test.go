package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// TestPutTable: PUT creates a table with partitions and configs (201
// TABLE), answers 409 when it exists, 400 for a bad config or partition
// count, and creates nothing then.
func TestPutTable(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 2})
	code, body := e.doJSON("PUT", "/tables/t1", `{"partitions":3,"configs":{"retention.ms":3600000,"message.timestamp.type":"LogAppendTime"}}`)
	if code != http.StatusCreated || body["name"] != "t1" || num(body["partitions"]) != 3 {
		t.Fatalf("create: %d %v", code, body)
	}
	cfgs := body["configs"].(map[string]any)
	if cfgs["retention.ms"] != "3600000" || cfgs["message.timestamp.type"] != "LogAppendTime" || len(cfgs) != 2 {
		t.Fatalf("configs %v", cfgs)
	}
	if po := body["partition_offsets"].([]any); len(po) != 3 {
		t.Fatalf("partition_offsets %v", po)
	}
	if id, _ := body["topic_id"].(string); len(id) != 22 {
		t.Fatalf("topic_id %q: want 22 base64url characters", id)
	}
	info, ok := e.log.Topic("t1")
	if !ok || info.Partitions != 3 || !info.Effective().LogAppendTime {
		t.Fatalf("log: %+v", info)
	}
	if code, body := e.doJSON("PUT", "/tables/t1", `{}`); code != http.StatusConflict || !strings.Contains(body["error"].(string), "already exists") {
		t.Fatalf("again: %d %v", code, body)
	}
	// Defaults: no body at all.
	if code, body := e.doJSON("PUT", "/tables/t2", ""); code != http.StatusCreated || num(body["partitions"]) != 2 || len(body["configs"].(map[string]any)) != 0 {
		t.Fatalf("defaults: %d %v", code, body)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"configs":{"cleanup.policy":"compact"}}`, "Zombi does not compact"},
		{`{"configs":{"no.such":"1"}}`, "Unknown topic config name: no.such"},
		{`{"configs":{"retention.ms":"soon"}}`, "Invalid value soon for configuration retention.ms"},
		{`{"configs":{"retention.ms":[1]}}`, "configs.retention.ms"},
		{`{"partitions":0}`, "partitions must be"},
		{`{"partitions":1.5}`, "partitions must be"},
		{`{"partitionz":1}`, "unknown field"},
		{`{"partitions":1} {}`, "after the object"},
	} {
		code, body := e.doJSON("PUT", "/tables/bad", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body["error"].(string), tc.want) {
			t.Errorf("%s: %d %v, want 400 with %q", tc.body, code, body, tc.want)
		}
	}
	if _, ok := e.log.Topic("bad"); ok {
		t.Fatal("a refused PUT created the table")
	}
	if code, _ := e.doJSON("PUT", "/tables/bad%20name", `{}`); code != http.StatusBadRequest {
		t.Fatalf("bad name: %d", code)
	}
}

// TestPatchTableConfigs: set and delete land together, durably in the log;
// a bad config changes nothing; an unknown table is 404.
func TestPatchTableConfigs(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 1})
	if code, _ := e.doJSON("PUT", "/tables/p", `{"configs":{"retention.ms":"1000","segment.ms":"5000"}}`); code != http.StatusCreated {
		t.Fatal(code)
	}
	code, body := e.doJSON("PATCH", "/tables/p/configs", `{"set":{"max.message.bytes":"200","retention.bytes":-1},"delete":["segment.ms","never.set.before"]}`)
	if code != http.StatusOK {
		t.Fatalf("patch: %d %v", code, body)
	}
	cfgs := body["configs"].(map[string]any)
	if len(cfgs) != 3 || cfgs["max.message.bytes"] != "200" || cfgs["retention.ms"] != "1000" || cfgs["retention.bytes"] != "-1" {
		t.Fatalf("configs %v", cfgs)
	}
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"set":{"cleanup.policy":"delete,compact"}}`, 400, "Zombi does not compact"},
		{`{"set":{"retention.ms":"-7"}}`, 400, "Value must be at least -1"},
		{`{"set":{"bogus":"1"}}`, 400, "Unknown topic config name: bogus"},
		{`{"set":{"retention.ms":"5"},"delete":["retention.ms"]}`, 400, "both set and deleted"},
		{`{"sett":{}}`, 400, "unknown field"},
	} {
		code, body := e.doJSON("PATCH", "/tables/p/configs", tc.body)
		if code != tc.code || !strings.Contains(body["error"].(string), tc.want) {
			t.Errorf("%s: %d %v, want %d with %q", tc.body, code, body, tc.code, tc.want)
		}
	}
	if info, _ := e.log.Topic("p"); len(info.Configs) != 3 || info.Configs["retention.ms"] != "1000" {
		t.Fatalf("a refused PATCH changed the configs: %v", info.Configs)
	}
	if code, body := e.doJSON("PATCH", "/tables/nope/configs", `{"set":{"retention.ms":"5"}}`); code != http.StatusNotFound || body["error"] != "table nope does not exist" {
		t.Fatalf("unknown table: %d %v", code, body)
	}
}

// TestMaxMessageBytesHTTP: a record whose batch is above the table's
// max.message.bytes is refused with 413 JSON, single or in a bulk, and
// nothing of the request is appended.
func TestMaxMessageBytesHTTP(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 1, MaxRequestBytes: 1 << 20})
	if code, _ := e.doJSON("PUT", "/tables/m", `{"configs":{"max.message.bytes":"200"}}`); code != http.StatusCreated {
		t.Fatal(code)
	}
	big := strings.Repeat("x", 300)
	code, body := e.doJSON("POST", "/tables/m", `{"payload":"`+big+`"}`)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body["error"].(string), "max.message.bytes=200") {
		t.Fatalf("single: %d %v", code, body)
	}
	code, body = e.doJSON("POST", "/tables/m/bulk", `{"records":[{"payload":"small"},{"payload":"`+big+`"}]}`)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body["error"].(string), "records[1].") {
		t.Fatalf("bulk: %d %v", code, body)
	}
	if h := e.hwms("m"); h[0] != 0 {
		t.Fatalf("refused writes appended: hwm %d", h[0])
	}
	if code, body := e.doJSON("POST", "/tables/m", `{"payload":"small"}`); code != http.StatusAccepted {
		t.Fatalf("small: %d %v", code, body)
	}
	// Raised at once: the next write passes.
	if code, _ := e.doJSON("PATCH", "/tables/m/configs", `{"delete":["max.message.bytes"]}`); code != 200 {
		t.Fatal(code)
	}
	if code, body := e.doJSON("POST", "/tables/m", `{"payload":"`+big+`"}`); code != http.StatusAccepted {
		t.Fatalf("after raising: %d %v", code, body)
	}
}

// TestPatchLogAppendTimeAppliesAtOnce: switching a table to LogAppendTime
// makes the next write take the server's time instead of timestamp_ms.
func TestPatchLogAppendTimeAppliesAtOnce(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 1})
	e.doJSON("PUT", "/tables/l", "")
	e.doJSON("POST", "/tables/l", `{"payload":"a","timestamp_ms":5}`)
	if code, _ := e.doJSON("PATCH", "/tables/l/configs", `{"set":{"message.timestamp.type":"LogAppendTime"}}`); code != 200 {
		t.Fatal(code)
	}
	before := time.Now().UnixMilli()
	e.doJSON("POST", "/tables/l", `{"payload":"b","timestamp_ms":5}`)
	_, body := e.doJSON("GET", "/tables/l?partition=0&offset=0", "")
	recs := body["records"].([]any)
	if len(recs) != 2 || num(recs[0].(map[string]any)["timestamp_ms"]) != 5 || num(recs[1].(map[string]any)["timestamp_ms"]) < before {
		t.Fatalf("records %v", recs)
	}
}

// FuzzAdminTableBodies: any PUT or PATCH body gets 2xx or a 4xx JSON
// error, never a 500 or a panic, and a refused PATCH changes nothing.
func FuzzAdminTableBodies(f *testing.F) {
	for _, s := range []string{
		`{"partitions":3,"configs":{"retention.ms":"1000"}}`,
		`{"configs":{"retention.ms":1e3,"preallocate":true,"x":null}}`,
		`{"set":{"max.message.bytes":"200"},"delete":["retention.ms"]}`,
		`{"set":{"cleanup.policy":"compact"}}`,
		`{"partitions":-1}`, `[]`, `null`, `{"set":{"a":{"b":1}}}`, ``, `{`,
	} {
		f.Add(s)
	}
	e := newEnv(f, Config{DefaultPartitions: 1})
	e.doJSON("PUT", "/tables/fz", `{"configs":{"retention.ms":"1000"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		e := &testEnv{t: t, log: e.log, stats: e.stats, h: e.h}
		before, _ := e.log.Topic("fz")
		for _, r := range []struct{ method, path string }{{"PUT", "/tables/fz2"}, {"PATCH", "/tables/fz/configs"}} {
			code, b := e.do(r.method, r.path, "application/json", []byte(body))
			if code >= 500 {
				t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, code, b)
			}
			decodeMap(t, b)
			if r.method == "PATCH" && code != 200 {
				if after, _ := e.log.Topic("fz"); !sameConfigs(before.Configs, after.Configs) {
					t.Fatalf("refused PATCH %q changed %v to %v", body, before.Configs, after.Configs)
				}
			}
		}
		_ = e.log.DeleteTopic("fz2")
	})
}

func sameConfigs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestAuthAdminTables: PUT needs CREATE on the cluster or the topic, PATCH
// ALTER_CONFIGS on the topic; refused requests (403) change nothing.
func TestAuthAdminTables(t *testing.T) {
	e := secured(t)
	bob := basic("bob", "bob-pw")
	if w := e.req("PUT", "/tables/adm", `{"partitions":1}`, bob); w.Code != http.StatusForbidden {
		t.Fatalf("PUT without CREATE: %d %s", w.Code, w.Body)
	}
	if _, ok := e.log.Topic("adm"); ok {
		t.Fatal("refused PUT created the table")
	}
	e.allow("User:bob", kmsg.ACLResourceTypeTopic, "adm", kmsg.ACLOperationCreate)
	if w := e.req("PUT", "/tables/adm", `{"partitions":1}`, bob); w.Code != http.StatusCreated {
		t.Fatalf("PUT with CREATE on the topic: %d %s", w.Code, w.Body)
	}
	if w := e.req("PATCH", "/tables/adm/configs", `{"set":{"retention.ms":"5"}}`, bob); w.Code != http.StatusForbidden {
		t.Fatalf("PATCH without ALTER_CONFIGS: %d %s", w.Code, w.Body)
	}
	if info, _ := e.log.Topic("adm"); info.Configs != nil {
		t.Fatalf("refused PATCH changed %v", info.Configs)
	}
	e.allow("User:bob", kmsg.ACLResourceTypeTopic, "adm", kmsg.ACLOperationAlterConfigs)
	if w := e.req("PATCH", "/tables/adm/configs", `{"set":{"retention.ms":"5"}}`, bob); w.Code != http.StatusOK {
		t.Fatalf("PATCH with ALTER_CONFIGS: %d %s", w.Code, w.Body)
	}
	e.allow("User:bob", kmsg.ACLResourceTypeCluster, auth.ClusterName, kmsg.ACLOperationCreate)
	if w := e.req("PUT", "/tables/adm2", ``, bob); w.Code != http.StatusCreated {
		t.Fatalf("PUT with CREATE on the cluster: %d %s", w.Code, w.Body)
	}
}
