package e2e_test

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/zombi-dev/zombi/internal/clustertest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// Issue 19 point 2: users, ACLs and tokens live in etcd, shared by every
// node. Each node has a PLAINTEXT listener (the inter-broker one) and a
// SASL_PLAINTEXT one for the tests' clients; ACLs are on, admin is the
// superuser. Every check is pinned to one node (a client with that node's
// address only, requests sent to that broker), so what one node does is
// seen by another through etcd alone.

const (
	adminPW = "admin-pw"
	// propagation bounds how long a change made on one node may take to
	// count on another (the watch delivers it in milliseconds; the bound
	// leaves room for a loaded machine).
	propagation = 3 * time.Second
)

// securedCluster is the environment of a cluster with SASL and ACLs.
type securedCluster struct {
	sasl map[int32]string // node id -> SASL_PLAINTEXT address
}

func secured(t *testing.T, ids ...int32) (*securedCluster, clustertest.Options) {
	t.Helper()
	sc := &securedCluster{sasl: map[int32]string{}}
	listeners := map[int32]string{}
	for _, id := range ids {
		plain, err := zombitest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		sasl, err := zombitest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		sc.sasl[id] = fmt.Sprintf("127.0.0.1:%d", sasl)
		listeners[id] = fmt.Sprintf("ZOMBI_KAFKA_LISTENERS=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://%s", plain, sc.sasl[id])
	}
	return sc, clustertest.Options{
		Nodes: len(ids),
		Env:   securityEnv(),
		EnvFor: func(id int32) []string {
			return []string{listeners[id]}
		},
	}
}

func securityEnv() []string {
	return []string{"ZOMBI_SUPERUSERS=admin", "ZOMBI_BOOTSTRAP_USERS=admin:" + adminPW,
		"ZOMBI_AUTHORIZATION=on", "ZOMBI_FAILED_AUTH_DELAY_MS=1"}
}

// pinned sends req to the one broker of addr as user.
func pinned[R any, Q interface {
	RequestWith(context.Context, kmsg.Requestor) (R, error)
}](t *testing.T, addr, user, pw string, req Q) (R, error) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second), kgo.RequestRetries(0),
		kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return req.RequestWith(ctx, cl.SeedBrokers()[0])
}

// authenticates reports whether user/pw passes SCRAM-SHA-256 on addr (a
// Metadata request of no topic, answered only after authentication).
func authenticates(t *testing.T, addr, user, pw string) bool {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	_, err := pinned(t, addr, user, pw, req)
	return err == nil
}

// setSCRAM stores user's SCRAM-SHA-256 credential through addr as admin
// (AlterUserScramCredentials, as kadm and kafka-configs.sh send it).
func setSCRAM(t *testing.T, addr, user, pw string) {
	t.Helper()
	salt := make([]byte, 32)
	_, _ = rand.Read(salt)
	salted, err := pbkdf2.Key(sha256.New, pw, salt, 4096, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: user, Mechanism: 1, Iterations: 4096, Salt: salt, SaltedPassword: salted}}
	resp, err := pinned(t, addr, "admin", adminPW, req)
	if err != nil {
		t.Fatalf("AlterUserScramCredentials %s on %s: %v", user, addr, err)
	}
	if e := kerr.ErrorForCode(resp.Results[0].ErrorCode); e != nil {
		t.Fatalf("AlterUserScramCredentials %s on %s: %v", user, addr, e)
	}
}

// deleteSCRAM deletes user's SCRAM-SHA-256 credential through addr.
func deleteSCRAM(t *testing.T, addr, user string) {
	t.Helper()
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: user, Mechanism: 1}}
	resp, err := pinned(t, addr, "admin", adminPW, req)
	if err != nil {
		t.Fatalf("AlterUserScramCredentials deletion %s on %s: %v", user, addr, err)
	}
	if e := kerr.ErrorForCode(resp.Results[0].ErrorCode); e != nil {
		t.Fatalf("AlterUserScramCredentials deletion %s on %s: %v", user, addr, e)
	}
}

// topicACL is an ALLOW READ on topic for user.
func topicACL(user, topic string) kmsg.CreateACLsRequestCreation {
	return kmsg.CreateACLsRequestCreation{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: topic,
		ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:" + user, Host: "*",
		Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow}
}

func createACL(t *testing.T, addr string, c kmsg.CreateACLsRequestCreation) {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = []kmsg.CreateACLsRequestCreation{c}
	resp, err := pinned(t, addr, "admin", adminPW, req)
	if err != nil {
		t.Fatalf("CreateAcls on %s: %v", addr, err)
	}
	if e := kerr.ErrorForCode(resp.Results[0].ErrorCode); e != nil {
		t.Fatalf("CreateAcls on %s: %v", addr, e)
	}
}

func deleteACL(t *testing.T, addr string, c kmsg.CreateACLsRequestCreation) {
	t.Helper()
	req := kmsg.NewPtrDeleteACLsRequest()
	req.Filters = []kmsg.DeleteACLsRequestFilter{{ResourceType: c.ResourceType, ResourceName: &c.ResourceName,
		ResourcePatternType: c.ResourcePatternType, Principal: &c.Principal, Host: &c.Host, Operation: c.Operation, PermissionType: c.PermissionType}}
	resp, err := pinned(t, addr, "admin", adminPW, req)
	if err != nil {
		t.Fatalf("DeleteAcls on %s: %v", addr, err)
	}
	if r := resp.Results[0]; kerr.ErrorForCode(r.ErrorCode) != nil || len(r.MatchingACLs) != 1 {
		t.Fatalf("DeleteAcls on %s: %v, %d matching, want 1", addr, kerr.ErrorForCode(r.ErrorCode), len(r.MatchingACLs))
	}
}

// kafkaDescribes reports whether user may describe topic on addr: the
// node's own Metadata answer, TOPIC_AUTHORIZATION_FAILED or not.
func kafkaDescribes(t *testing.T, addr, user, pw, topic string) bool {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	name := topic
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}}
	resp, err := pinned(t, addr, user, pw, req)
	if err != nil {
		t.Fatalf("Metadata %s as %s on %s: %v", topic, user, addr, err)
	}
	code := resp.Topics[0].ErrorCode
	if code != 0 && code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("Metadata %s as %s on %s: %v, want none or TOPIC_AUTHORIZATION_FAILED", topic, user, addr, kerr.ErrorForCode(code))
	}
	return code == 0
}

var restClient = &http.Client{Timeout: 5 * time.Second}

// rest sends a request to a node's REST API with Basic (user, pw) or a
// bearer token (user "", pw the token) and returns the status and body.
func rest(t *testing.T, method, url, user, pw string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	} else {
		req.Header.Set("Authorization", "Bearer "+pw)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := restClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// within polls cond until it holds, failing after d; it returns how long
// it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func createToken(t *testing.T, base, user, pw string) (secret, id string) {
	t.Helper()
	code, body := rest(t, http.MethodPost, base+"/auth/tokens", user, pw, []byte(`{"description":"e2e"}`))
	if code != http.StatusCreated {
		t.Fatalf("POST /auth/tokens as %s: %d %s", user, code, body)
	}
	var tok struct{ Token, ID string }
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" || tok.ID == "" {
		t.Fatalf("POST /auth/tokens: %s (%v)", body, err)
	}
	return tok.Token, tok.ID
}

func whoami(t *testing.T, base, token string) int {
	t.Helper()
	code, _ := rest(t, http.MethodGet, base+"/auth/whoami", "", token, nil)
	return code
}

// TestClusterAuthShared: a user made on node 1 authenticates on nodes 2
// and 3; its new password counts everywhere and the old one nowhere; an ACL
// made on node 2 allows on node 3 (Kafka and REST doors) and, deleted,
// denies again; a token made on node 1 works on node 3's REST door and,
// revoked, stops; after kill -9 of every node and a restart, users, ACLs
// and tokens are still there (they live in etcd); a user deleted on node 2
// is refused on nodes 1 and 3.
func TestClusterAuthShared(t *testing.T) {
	sc, opts := secured(t, 1, 2, 3)
	c := clustertest.Start(t, opts)
	n1, n2, n3 := sc.sasl[1], sc.sasl[2], sc.sasl[3]
	api := func(id int32) string { return c.Node(id).HTTPBase }

	// A user made on node 1 authenticates on nodes 2 and 3.
	setSCRAM(t, n1, "alice", "alice-1")
	for _, id := range []int32{2, 3} {
		d := within(t, propagation, fmt.Sprintf("alice authenticates on node %d", id), func() bool { return authenticates(t, sc.sasl[id], "alice", "alice-1") })
		t.Logf("alice made on node 1 authenticates on node %d after %s", id, d.Round(time.Millisecond))
	}
	if authenticates(t, n3, "alice", "wrong") {
		t.Fatal("a wrong password authenticates on node 3")
	}
	// REST Basic on node 3 (the password check is cached after a success).
	if code, body := rest(t, http.MethodGet, api(3)+"/auth/whoami", "alice", "alice-1", nil); code != http.StatusOK || !strings.Contains(string(body), "User:alice") {
		t.Fatalf("node 3 REST as alice: %d %s", code, body)
	}

	// Her password changed on node 1: refused everywhere, the new one
	// accepted everywhere (node 3's cached Basic check included).
	setSCRAM(t, n1, "alice", "alice-2")
	for id, addr := range sc.sasl {
		d := within(t, propagation, fmt.Sprintf("alice's old password refused on node %d", id), func() bool { return !authenticates(t, addr, "alice", "alice-1") })
		t.Logf("alice's old password refused on node %d after %s", id, d.Round(time.Millisecond))
		if !authenticates(t, addr, "alice", "alice-2") {
			t.Fatalf("alice's new password refused on node %d", id)
		}
	}
	if code, _ := rest(t, http.MethodGet, api(3)+"/auth/whoami", "alice", "alice-1", nil); code != http.StatusUnauthorized {
		t.Fatalf("node 3 REST with alice's old (cached) password: %d, want 401", code)
	}

	// An ACL made on node 2 allows on node 3, through both doors.
	const topic = "secured"
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}
	if resp, err := pinned(t, n1, "admin", adminPW, ct); err != nil || kerr.ErrorForCode(resp.Topics[0].ErrorCode) != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp)
	}
	within(t, propagation, "node 3 knows the topic", func() bool { return kafkaDescribes(t, n3, "admin", adminPW, topic) })
	if kafkaDescribes(t, n3, "alice", "alice-2", topic) {
		t.Fatal("alice describes the topic on node 3 without any ACL")
	}
	info := api(3) + "/tables/" + topic + "/info"
	if code, body := rest(t, http.MethodGet, info, "alice", "alice-2", nil); code != http.StatusForbidden {
		t.Fatalf("node 3 REST %s as alice without an ACL: %d %s, want 403", info, code, body)
	}
	acl := topicACL("alice", topic)
	createACL(t, n2, acl)
	d := within(t, propagation, "node 3's Kafka door allows alice after the ACL made on node 2", func() bool { return kafkaDescribes(t, n3, "alice", "alice-2", topic) })
	t.Logf("an ACL made on node 2 allows on node 3 after %s", d.Round(time.Millisecond))
	if code, body := rest(t, http.MethodGet, info, "alice", "alice-2", nil); code != http.StatusOK {
		t.Fatalf("node 3 REST %s as alice with the ACL: %d %s, want 200", info, code, body)
	}
	deleteACL(t, n2, acl)
	within(t, propagation, "node 3 denies alice after the ACL was deleted on node 2", func() bool { return !kafkaDescribes(t, n3, "alice", "alice-2", topic) })
	if code, _ := rest(t, http.MethodGet, info, "alice", "alice-2", nil); code != http.StatusForbidden {
		t.Fatalf("node 3 REST as alice after the ACL was deleted: %d, want 403", code)
	}
	createACL(t, n2, acl) // kept for the restart below

	// A token made on node 1 works on node 3's REST door; revoked, it stops.
	tok, id := createToken(t, api(1), "alice", "alice-2")
	within(t, propagation, "alice's token accepted on node 3", func() bool { return whoami(t, api(3), tok) == http.StatusOK })
	if code, _ := rest(t, http.MethodDelete, api(2)+"/auth/tokens/"+id, "alice", "alice-2", nil); code != http.StatusNoContent {
		t.Fatalf("revoke the token on node 2: %d", code)
	}
	within(t, propagation, "the revoked token refused on node 3", func() bool { return whoami(t, api(3), tok) == http.StatusUnauthorized })
	if code := whoami(t, api(1), tok); code != http.StatusUnauthorized {
		t.Fatalf("the revoked token on node 1: %d, want 401", code)
	}
	kept, _ := createToken(t, api(1), "alice", "alice-2")
	within(t, propagation, "the second token accepted on node 3", func() bool { return whoami(t, api(3), kept) == http.StatusOK })

	// kill -9 of every node, then all back: everything is in etcd.
	for _, id := range c.IDs() {
		c.Kill(id)
	}
	for _, id := range c.IDs() {
		c.Restart(id)
	}
	for id, addr := range sc.sasl {
		if !authenticates(t, addr, "alice", "alice-2") || authenticates(t, addr, "alice", "alice-1") {
			t.Fatalf("node %d after kill -9 and restart: alice's password not as set", id)
		}
		if !kafkaDescribes(t, addr, "alice", "alice-2", topic) {
			t.Fatalf("node %d after kill -9 and restart: alice's ACL gone", id)
		}
		if code := whoami(t, c.Node(id).HTTPBase, kept); code != http.StatusOK {
			t.Fatalf("node %d after kill -9 and restart: alice's token refused (%d)", id, code)
		}
		if code := whoami(t, c.Node(id).HTTPBase, tok); code != http.StatusUnauthorized {
			t.Fatalf("node %d after kill -9 and restart: the revoked token answered %d", id, code)
		}
	}

	// A user deleted on node 2 is refused on nodes 1 and 3, her token too.
	deleteSCRAM(t, n2, "alice")
	for _, id := range []int32{1, 3} {
		within(t, propagation, fmt.Sprintf("the deleted alice refused on node %d", id), func() bool { return !authenticates(t, sc.sasl[id], "alice", "alice-2") })
		if code := whoami(t, c.Node(id).HTTPBase, kept); code != http.StatusUnauthorized {
			t.Fatalf("the deleted alice's token on node %d: %d, want 401", id, code)
		}
	}
	for _, id := range c.IDs() {
		if log := c.Node(id).Log(); strings.Contains(log, "alice-1") || strings.Contains(log, "alice-2") || strings.Contains(log, adminPW) || strings.Contains(log, kept) {
			t.Fatalf("node %d logged a secret", id)
		}
	}
}

// TestClusterUpgradeKeepsUsers (issue 19 point 7): a single node with a
// user, an ACL and a token, restarted as node 1 of a cluster, keeps them;
// a second node, which never had them, knows them from etcd.
func TestClusterUpgradeKeepsUsers(t *testing.T) {
	data := filepath.Join(t.TempDir(), "single", "data")
	sasl, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	saslAddr := fmt.Sprintf("127.0.0.1:%d", sasl)
	single := zombitest.StartT(t, data, append(securityEnv(),
		fmt.Sprintf("ZOMBI_KAFKA_LISTENERS=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://%s", plain, saslAddr))...)
	const topic = "kept"
	setSCRAM(t, saslAddr, "bob", "bob-pw")
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}
	if resp, err := pinned(t, saslAddr, "admin", adminPW, ct); err != nil || kerr.ErrorForCode(resp.Topics[0].ErrorCode) != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp)
	}
	createACL(t, saslAddr, topicACL("bob", topic))
	tok, _ := createToken(t, single.HTTPBase, "bob", "bob-pw")
	if !kafkaDescribes(t, saslAddr, "bob", "bob-pw", topic) || whoami(t, single.HTTPBase, tok) != http.StatusOK {
		t.Fatal("the single node does not honour bob's ACL or token")
	}
	if err := single.Stop(); err != nil {
		t.Fatalf("stop the single node: %v", err)
	}

	sc, opts := secured(t, 1, 2)
	opts.Nodes = 1
	opts.DataDirs = map[int32]string{1: data}
	c := clustertest.Start(t, opts)
	if !authenticates(t, sc.sasl[1], "bob", "bob-pw") {
		t.Fatal("node 1 (the upgraded single node) refuses bob")
	}
	if !kafkaDescribes(t, sc.sasl[1], "bob", "bob-pw", topic) {
		t.Fatal("node 1 lost bob's ACL")
	}
	if code := whoami(t, c.Node(1).HTTPBase, tok); code != http.StatusOK {
		t.Fatalf("node 1 refuses bob's token: %d", code)
	}
	c.AddNode(2)
	if !authenticates(t, sc.sasl[2], "bob", "bob-pw") {
		t.Fatal("node 2, new, refuses bob: the user is not in etcd")
	}
	if !kafkaDescribes(t, sc.sasl[2], "bob", "bob-pw", topic) {
		t.Fatal("node 2, new, does not apply bob's ACL")
	}
	if code := whoami(t, c.Node(2).HTTPBase, tok); code != http.StatusOK {
		t.Fatalf("node 2, new, refuses bob's token: %d", code)
	}
}
