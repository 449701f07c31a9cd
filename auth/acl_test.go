package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	cluster = kmsg.ACLResourceTypeCluster
	txn     = kmsg.ACLResourceTypeTransactionalId
	literal = kmsg.ACLResourcePatternTypeLiteral
	prefix  = kmsg.ACLResourcePatternTypePrefixed
	allow   = kmsg.ACLPermissionTypeAllow
	deny    = kmsg.ACLPermissionTypeDeny

	opAll       = kmsg.ACLOperationAll
	opRead      = kmsg.ACLOperationRead
	opWrite     = kmsg.ACLOperationWrite
	opCreate    = kmsg.ACLOperationCreate
	opDelete    = kmsg.ACLOperationDelete
	opAlter     = kmsg.ACLOperationAlter
	opDescribe  = kmsg.ACLOperationDescribe
	opDescCfg   = kmsg.ACLOperationDescribeConfigs
	opAlterCfg  = kmsg.ACLOperationAlterConfigs
	opIdempWrit = kmsg.ACLOperationIdempotentWrite
)

func acl(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{rt, name, pt, principal, host, op, perm}
}

func mustCreate(t testing.TB, s *Service, acls ...ACL) {
	t.Helper()
	for i, err := range s.CreateACLs(acls) {
		if err != nil {
			t.Fatalf("CreateACLs %+v: %v", acls[i], err)
		}
	}
}

func TestAuthorizeMatrix(t *testing.T) {
	s := newTestService(t, Config{Authorization: true, Superusers: []string{"admin"}})
	mustCreate(t, s,
		acl(topic, "orders", literal, "User:alice", "*", opRead, allow),
		acl(topic, "orders", literal, "User:alice", "*", opWrite, allow),
		acl(topic, "orders", literal, "User:bob", "*", opAll, allow),
		acl(topic, "orders", literal, "User:bob", "*", opWrite, deny), // DENY beats ALL
		acl(topic, "logs-", prefix, "User:carol", "*", opRead, allow),
		acl(topic, "logs-secret", prefix, "User:carol", "*", opRead, deny),
		acl(topic, "*", literal, "User:dave", "*", opDescribe, allow),
		acl(topic, "public", literal, "User:*", "*", opRead, allow),
		acl(topic, "public", literal, "User:eve", "*", opAll, deny),
		acl(topic, "lan", literal, "User:frank", "10.0.0.1", opRead, allow),
		acl(topic, "lan", literal, "User:*", "10.0.0.66", opAll, deny),
		acl(topic, "cfg", literal, "User:gina", "*", opAlterCfg, allow),
		acl(group, "g1", literal, "User:alice", "*", opRead, allow),
		acl(cluster, ClusterName, literal, "User:alice", "*", opIdempWrit, allow),
		acl(txn, "tx-", prefix, "User:alice", "*", opWrite, allow),
	)
	const any = "192.0.2.1"
	for _, tc := range []struct {
		user string
		host string
		op   kmsg.ACLOperation
		rt   kmsg.ACLResourceType
		name string
		want bool
	}{
		{"alice", any, opRead, topic, "orders", true},
		{"alice", any, opWrite, topic, "orders", true},
		{"alice", any, opDescribe, topic, "orders", true}, // implied by READ/WRITE
		{"alice", any, opDelete, topic, "orders", false},
		{"alice", any, opAlter, topic, "orders", false},
		{"alice", any, opDescCfg, topic, "orders", false},
		{"alice", any, opRead, topic, "orders2", false}, // literal is exact; no ACL -> deny
		{"alice", any, opRead, group, "g1", true},
		{"alice", any, opRead, topic, "g1", false}, // resource types are separate
		{"alice", any, opIdempWrit, cluster, ClusterName, true},
		{"alice", any, opAlter, cluster, ClusterName, false},
		{"alice", any, opWrite, txn, "tx-123", true},
		{"alice", any, opDescribe, txn, "tx-123", true},
		{"alice", any, opWrite, txn, "tx", false},
		{"bob", any, opRead, topic, "orders", true},
		{"bob", any, opWrite, topic, "orders", false}, // DENY wins over ALLOW ALL
		{"bob", any, opDescribe, topic, "orders", true},
		{"carol", any, opRead, topic, "logs-new-topic", true}, // PREFIXED covers new names
		{"carol", any, opDescribe, topic, "logs-x", true},
		{"carol", any, opRead, topic, "logs-secret-1", false}, // longer prefixed DENY
		{"carol", any, opRead, topic, "logs", false},
		{"carol", any, opWrite, topic, "logs-x", false},
		{"dave", any, opDescribe, topic, "anything", true}, // literal "*"
		{"dave", any, opRead, topic, "anything", false},
		{"zed", any, opRead, topic, "public", true}, // User:*
		{"eve", any, opRead, topic, "public", false},
		{"zed", any, opWrite, topic, "public", false},
		{"frank", "10.0.0.1", opRead, topic, "lan", true},
		{"frank", "10.0.0.2", opRead, topic, "lan", false},
		{"frank", "10.0.0.66", opRead, topic, "lan", false},
		{"gina", any, opDescCfg, topic, "cfg", true}, // implied by ALTER_CONFIGS
		{"gina", any, opAlterCfg, topic, "cfg", true},
		{"gina", any, opDescribe, topic, "cfg", false},
		{"admin", any, opAll, topic, "orders", true}, // superuser
		{"admin", any, opWrite, topic, "public", true},
		{"nobody", any, opRead, topic, "unlisted", false},
		{"alice", any, opRead, kmsg.ACLResourceType(99), "x", false},
	} {
		if got := s.Authorize(User(tc.user), tc.host, tc.op, tc.rt, tc.name); got != tc.want {
			t.Errorf("%s@%s %v %v %q = %v, want %v", tc.user, tc.host, tc.op, tc.rt, tc.name, got, tc.want)
		}
	}
	if s.IsSuperuser(Principal{Type: "Group", Name: "admin"}) || !s.IsSuperuser(User("admin")) || s.IsSuperuser(User("alice")) {
		t.Error("IsSuperuser")
	}
	if s2 := newTestService(t, Config{Superusers: []string{"User:root"}}); !s2.IsSuperuser(User("root")) {
		t.Error("a superuser in Kafka's User:name form")
	}
}

// Kafka's allow.everyone.if.no.acl.found: "no ACL" means no ACL on the
// resource at all, whatever its principal or operation.
func TestAllowEveryoneIfNoACL(t *testing.T) {
	for _, allowNone := range []bool{false, true} {
		t.Run(fmt.Sprint(allowNone), func(t *testing.T) {
			s := newTestService(t, Config{Authorization: true, AllowEveryoneIfNoACL: allowNone})
			if got := s.Authorize(User("a"), "h", opRead, topic, "t"); got != allowNone {
				t.Fatalf("no ACL at all: %v, want %v", got, allowNone)
			}
			mustCreate(t, s, acl(topic, "t", literal, "User:b", "*", opWrite, allow))
			if s.Authorize(User("a"), "h", opRead, topic, "t") {
				t.Fatal("an ACL for someone else exists: must be refused either way")
			}
			if got := s.Authorize(User("a"), "h", opRead, topic, "other"); got != allowNone {
				t.Fatalf("other topic without ACLs: %v, want %v", got, allowNone)
			}
			mustCreate(t, s, acl(topic, "o", prefix, "User:b", "*", opWrite, allow))
			if s.Authorize(User("a"), "h", opRead, topic, "other") {
				t.Fatal("a prefixed ACL covers the topic now: must be refused")
			}
		})
	}
}

func TestAuthorizationOff(t *testing.T) {
	s := newTestService(t, Config{Authorization: false})
	mustCreate(t, s, acl(topic, "*", literal, "User:*", "*", opAll, deny))
	if !s.Authorize(User("a"), "h", opWrite, topic, "t") || s.Enabled() {
		t.Fatal("authorization off must allow everything")
	}
}

func TestCreateACLValidation(t *testing.T) {
	s := newTestService(t, Config{Authorization: true})
	good := acl(topic, "t", literal, "User:a", "*", opRead, allow)
	mod := func(f func(*ACL)) ACL { a := good; f(&a); return a }
	for _, tc := range []struct {
		name string
		a    ACL
		ok   bool
	}{
		{"good", good, true},
		{"good prefixed ipv6", mod(func(a *ACL) { a.PatternType = prefix; a.Host = "::1" }), true},
		{"cluster", acl(cluster, ClusterName, literal, "User:*", "*", opAlter, deny), true},
		{"delegation token stored", acl(kmsg.ACLResourceTypeDelegationToken, "x", literal, "User:a", "*", opDescribe, allow), true},
		{"resource ANY", mod(func(a *ACL) { a.ResourceType = kmsg.ACLResourceTypeAny }), false},
		{"resource UNKNOWN", mod(func(a *ACL) { a.ResourceType = kmsg.ACLResourceTypeUnknown }), false},
		{"resource 8", mod(func(a *ACL) { a.ResourceType = 8 }), false},
		{"pattern MATCH", mod(func(a *ACL) { a.PatternType = kmsg.ACLResourcePatternTypeMatch }), false},
		{"pattern ANY", mod(func(a *ACL) { a.PatternType = kmsg.ACLResourcePatternTypeAny }), false},
		{"op ANY", mod(func(a *ACL) { a.Operation = kmsg.ACLOperationAny }), false},
		{"op UNKNOWN", mod(func(a *ACL) { a.Operation = kmsg.ACLOperationUnknown }), false},
		{"op 15", mod(func(a *ACL) { a.Operation = 15 }), false},
		{"perm ANY", mod(func(a *ACL) { a.Permission = kmsg.ACLPermissionTypeAny }), false},
		{"perm UNKNOWN", mod(func(a *ACL) { a.Permission = kmsg.ACLPermissionTypeUnknown }), false},
		{"empty name", mod(func(a *ACL) { a.ResourceName = "" }), false},
		{"cluster name", acl(cluster, "other", literal, "User:a", "*", opAlter, allow), false},
		{"principal no colon", mod(func(a *ACL) { a.Principal = "alice" }), false},
		{"principal group", mod(func(a *ACL) { a.Principal = "Group:x" }), false},
		{"principal empty name", mod(func(a *ACL) { a.Principal = "User:" }), false},
		{"host name", mod(func(a *ACL) { a.Host = "example.com" }), false},
		{"host empty", mod(func(a *ACL) { a.Host = "" }), false},
	} {
		errs := s.CreateACLs([]ACL{tc.a})
		if len(errs) != 1 || (errs[0] == nil) != tc.ok || (!tc.ok && !errors.Is(errs[0], ErrInvalid)) {
			t.Errorf("%s: %v", tc.name, errs)
		}
	}
	all, err := s.DescribeACLs(ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny})
	if err != nil || len(all) != 4 {
		t.Fatalf("stored %d ACLs (%v), want the 4 valid ones", len(all), err)
	}
}

func anyFilter() ACLFilter {
	return ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
}

func ptr(s string) *string { return &s }

func TestCreateIdempotentAndGeneration(t *testing.T) {
	s := newTestService(t, Config{Authorization: true})
	g0 := s.Generation()
	a := acl(topic, "t", literal, "User:a", "*", opRead, allow)
	mustCreate(t, s, a, a)
	g1 := s.Generation()
	if g1 == g0 {
		t.Fatal("generation unchanged by a create")
	}
	mustCreate(t, s, a)
	if s.Generation() != g1 {
		t.Fatal("generation changed by a create that stored nothing")
	}
	if got, _ := s.DescribeACLs(anyFilter()); len(got) != 1 {
		t.Fatalf("the same ACL twice stored %d times", len(got))
	}
	if _, err := s.DeleteACLs([]ACLFilter{{ResourceType: topic, ResourceName: ptr("nope"), PatternType: literal, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}}); err != nil {
		t.Fatal(err)
	}
	if s.Generation() != g1 {
		t.Fatal("generation changed by a delete that matched nothing")
	}
	if _, err := s.DeleteACLs([]ACLFilter{anyFilter()}); err != nil {
		t.Fatal(err)
	}
	if s.Generation() == g1 {
		t.Fatal("generation unchanged by a delete")
	}
}

func TestDescribeAndDeleteFilters(t *testing.T) {
	s := newTestService(t, Config{Authorization: true})
	acls := []ACL{
		acl(topic, "foo", literal, "User:a", "*", opRead, allow),         // 0
		acl(topic, "*", literal, "User:a", "*", opRead, allow),           // 1
		acl(topic, "fo", prefix, "User:b", "*", opWrite, allow),          // 2
		acl(topic, "foo", prefix, "User:b", "1.2.3.4", opWrite, deny),    // 3
		acl(topic, "foobar", literal, "User:c", "*", opRead, allow),      // 4
		acl(topic, "bar", prefix, "User:c", "*", opRead, allow),          // 5
		acl(group, "foo", literal, "User:a", "*", opRead, allow),         // 6
		acl(cluster, ClusterName, literal, "User:a", "*", opAlter, deny), // 7
	}
	mustCreate(t, s, acls...)
	f := func(mod func(*ACLFilter)) ACLFilter { x := anyFilter(); mod(&x); return x }
	for _, tc := range []struct {
		name string
		f    ACLFilter
		want []int
	}{
		{"all", anyFilter(), []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"topics", f(func(x *ACLFilter) { x.ResourceType = topic }), []int{0, 1, 2, 3, 4, 5}},
		{"MATCH foo", f(func(x *ACLFilter) {
			x.ResourceType = topic
			x.ResourceName = ptr("foo")
			x.PatternType = kmsg.ACLResourcePatternTypeMatch
		}), []int{0, 1, 2, 3}},
		{"MATCH foobar", f(func(x *ACLFilter) {
			x.ResourceType = topic
			x.ResourceName = ptr("foobar")
			x.PatternType = kmsg.ACLResourcePatternTypeMatch
		}), []int{1, 2, 3, 4}},
		{"MATCH no name", f(func(x *ACLFilter) { x.PatternType = kmsg.ACLResourcePatternTypeMatch }), []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"ANY pattern name foo", f(func(x *ACLFilter) { x.ResourceName = ptr("foo") }), []int{0, 3, 6}},
		{"LITERAL foo", f(func(x *ACLFilter) {
			x.ResourceName = ptr("foo")
			x.PatternType = literal
		}), []int{0, 6}},
		{"PREFIXED", f(func(x *ACLFilter) { x.PatternType = prefix }), []int{2, 3, 5}},
		{"LITERAL *", f(func(x *ACLFilter) {
			x.ResourceName = ptr("*")
			x.PatternType = literal
		}), []int{1}},
		{"principal", f(func(x *ACLFilter) { x.Principal = ptr("User:c") }), []int{4, 5}},
		{"host", f(func(x *ACLFilter) { x.Host = ptr("1.2.3.4") }), []int{3}},
		{"op", f(func(x *ACLFilter) { x.Operation = opWrite }), []int{2, 3}},
		{"deny", f(func(x *ACLFilter) { x.Permission = deny }), []int{3, 7}},
	} {
		got, err := s.DescribeACLs(tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var want []ACL
		for _, i := range tc.want {
			want = append(want, acls[i])
		}
		if !sameACLs(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, want)
		}
	}
	for _, bad := range []ACLFilter{
		f(func(x *ACLFilter) { x.ResourceType = kmsg.ACLResourceTypeUnknown }),
		f(func(x *ACLFilter) { x.PatternType = kmsg.ACLResourcePatternTypeUnknown }),
		f(func(x *ACLFilter) { x.Operation = kmsg.ACLOperationUnknown }),
		f(func(x *ACLFilter) { x.Permission = kmsg.ACLPermissionTypeUnknown }),
		f(func(x *ACLFilter) { x.Operation = 40 }),
	} {
		if _, err := s.DescribeACLs(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Describe %+v: %v, want ErrInvalid", bad, err)
		}
		if _, err := s.DeleteACLs([]ACLFilter{anyFilter(), bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Delete %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if got, _ := s.DescribeACLs(anyFilter()); len(got) != len(acls) {
		t.Fatal("an invalid delete filter deleted something")
	}
	// Two filters, overlapping: each lists its matches, both are deleted.
	res, err := s.DeleteACLs([]ACLFilter{
		f(func(x *ACLFilter) { x.Principal = ptr("User:c") }),
		f(func(x *ACLFilter) { x.ResourceName = ptr("foobar") }),
		f(func(x *ACLFilter) { x.ResourceName = ptr("nothing") }),
	})
	if err != nil || len(res) != 3 || !sameACLs(res[0], []ACL{acls[4], acls[5]}) || !sameACLs(res[1], []ACL{acls[4]}) || len(res[2]) != 0 {
		t.Fatalf("DeleteACLs = %v, %v", res, err)
	}
	if got, _ := s.DescribeACLs(anyFilter()); len(got) != len(acls)-2 {
		t.Fatalf("%d ACLs left, want %d", len(got), len(acls)-2)
	}
	if s.Authorize(User("x"), "h", opRead, topic, "barx") {
		// bar-prefixed ACL gone: no ACL for the resource, default deny.
		t.Fatal("deleted prefixed ACL still applies")
	}
}

func sameACLs(a, b []ACL) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[ACL]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// Authorize runs while ACLs change (go test -race): no lock, no torn index.
func TestAuthorizeConcurrentWithChanges(t *testing.T) {
	s := newTestService(t, Config{Authorization: true})
	mustCreate(t, s, acl(topic, "stable", literal, "User:a", "*", opRead, allow))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !s.Authorize(User("a"), "h", opRead, topic, "stable") {
					t.Error("a stable ACL flickered")
					return
				}
				s.Authorize(User("a"), "h", opRead, topic, "p-1")
				s.Generation()
			}
		}()
	}
	for i := range 200 {
		name := fmt.Sprintf("p-%d", i%10)
		mustCreate(t, s, acl(topic, name, prefix, "User:a", "*", opRead, allow))
		if i%3 == 0 {
			if _, err := s.DeleteACLs([]ACLFilter{{ResourceType: topic, ResourceName: ptr(name), PatternType: prefix, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}}); err != nil {
				t.Error(err)
			}
		}
		if _, err := s.DescribeACLs(anyFilter()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestHostCanonicalForm(t *testing.T) {
	s := newTestService(t, Config{Authorization: true})
	mustCreate(t, s,
		acl(topic, "t", literal, "User:a", "0:0:0:0:0:0:0:1", opRead, allow),
		acl(topic, "t", literal, "User:a", "::ffff:10.0.0.5", opRead, allow),
	)
	if !s.Authorize(User("a"), "::1", opRead, topic, "t") || !s.Authorize(User("a"), "10.0.0.5", opRead, topic, "t") {
		t.Fatal("IPv6 written long or IPv4-mapped must match Go's form")
	}
	if s.Authorize(User("a"), "10.0.0.6", opRead, topic, "t") {
		t.Fatal("other host allowed")
	}
	// Describe shows the ACL as it was written.
	got, _ := s.DescribeACLs(anyFilter())
	if len(got) != 2 || got[0].Host != "0:0:0:0:0:0:0:1" {
		t.Fatalf("%v", got)
	}
}

func TestAuthorizeByResourceType(t *testing.T) {
	for _, tc := range []struct {
		name string
		acls []ACL
		cfg  Config
		user string
		want bool
	}{
		{"no ACL", nil, Config{}, "a", false},
		{"no ACL, allow everyone", nil, Config{AllowEveryoneIfNoACL: true}, "a", true},
		{"superuser", nil, Config{Superusers: []string{"a"}}, "a", true},
		{"literal allow", []ACL{acl(topic, "t", literal, "User:a", "*", opWrite, allow)}, Config{}, "a", true},
		{"literal allow, other user", []ACL{acl(topic, "t", literal, "User:a", "*", opWrite, allow)}, Config{}, "b", false},
		{"literal allow ALL", []ACL{acl(topic, "t", literal, "User:a", "*", opAll, allow)}, Config{}, "a", true},
		{"READ does not count for WRITE", []ACL{acl(topic, "t", literal, "User:a", "*", opRead, allow)}, Config{}, "a", false},
		{"literal allow, same literal deny", []ACL{
			acl(topic, "t", literal, "User:a", "*", opWrite, allow),
			acl(topic, "t", literal, "User:*", "*", opWrite, deny),
		}, Config{}, "a", false},
		{"literal allow, deny prefix", []ACL{
			acl(topic, "team-t", literal, "User:a", "*", opWrite, allow),
			acl(topic, "team", prefix, "User:a", "*", opWrite, deny),
		}, Config{}, "a", false},
		{"prefixed allow, shorter deny prefix", []ACL{
			acl(topic, "team-", prefix, "User:a", "*", opWrite, allow),
			acl(topic, "te", prefix, "User:a", "*", opAll, deny),
		}, Config{}, "a", false},
		{"prefixed allow, longer deny prefix", []ACL{
			acl(topic, "team-", prefix, "User:a", "*", opWrite, allow),
			acl(topic, "team-x", prefix, "User:a", "*", opWrite, deny),
		}, Config{}, "a", true},
		{"wildcard deny", []ACL{
			acl(topic, "t", literal, "User:a", "*", opWrite, allow),
			acl(topic, "*", literal, "User:a", "*", opWrite, deny),
		}, Config{}, "a", false},
		{"wildcard allow", []ACL{acl(topic, "*", literal, "User:*", "*", opWrite, allow)}, Config{}, "a", true},
		{"other type", []ACL{acl(group, "t", literal, "User:a", "*", opWrite, allow)}, Config{}, "a", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Authorization = true
			s := newTestService(t, tc.cfg)
			mustCreate(t, s, tc.acls...)
			if got := s.AuthorizeByResourceType(User(tc.user), "1.2.3.4", opWrite, topic); got != tc.want {
				t.Fatalf("= %v, want %v", got, tc.want)
			}
		})
	}
	if !newTestService(t, Config{}).AuthorizeByResourceType(User("a"), "h", opWrite, topic) {
		t.Fatal("authorization off")
	}
}
