package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsoleDataRoutesAuthorization: the table list counts only what the
// caller may DESCRIBE (total included); the message browser and the tail
// need READ on the topic.
func TestConsoleDataRoutesAuthorization(t *testing.T) {
	e := secured(t)
	for _, n := range []string{"mine-a", "mine-b", "theirs"} {
		if _, err := e.log.CreateTopic(n, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	alice := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))}
	e.acl("User:alice", kmsg.ACLResourceTypeTopic, "mine", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationDescribe, kmsg.ACLPermissionTypeAllow)
	code, b := e.do("GET", "/tables?limit=1", "", nil, alice...)
	var page tablesPage
	if code != 200 || json.Unmarshal(b, &page) != nil || page.Count != 1 || page.Total != 2 || page.Tables[0].Name != "mine-a" {
		t.Fatalf("list: %d %s", code, b)
	}
	for _, path := range []string{"/tables/mine-a/messages", "/tables/mine-a/tail", "/tables/theirs/messages", "/tables/theirs/tail"} {
		if code, b := e.do("GET", path, "", nil, alice...); code != 403 {
			t.Errorf("GET %s without READ: %d %s", path, code, b)
		}
		if code, _ := e.do("GET", path, "", nil); code != 401 {
			t.Errorf("GET %s without credentials: %d", path, code)
		}
	}
	e.allow("User:alice", kmsg.ACLResourceTypeTopic, "mine-a", kmsg.ACLOperationRead)
	if code, b := e.do("GET", "/tables/mine-a/messages", "", nil, alice...); code != 200 {
		t.Fatalf("messages with READ: %d %s", code, b)
	}
}
