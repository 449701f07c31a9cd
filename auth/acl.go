package auth

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterName is the one name of the Cluster resource, as in Kafka.
const ClusterName = "kafka-cluster"

// aclRecord is an ACL as stored (JSON with kmsg's numeric enum values).
type aclRecord struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

func toRecord(a ACL) aclRecord {
	return aclRecord{int8(a.ResourceType), a.ResourceName, int8(a.PatternType), a.Principal, a.Host, int8(a.Operation), int8(a.Permission)}
}

func (r aclRecord) acl() ACL {
	return ACL{kmsg.ACLResourceType(r.ResourceType), r.ResourceName, kmsg.ACLResourcePatternType(r.PatternType),
		r.Principal, r.Host, kmsg.ACLOperation(r.Operation), kmsg.ACLPermissionType(r.Permission)}
}

// aclID is the store id of an ACL: a digest of all its fields, so the same
// ACL created twice is stored once.
func aclID(a ACL) string {
	var b []byte
	b = append(b, byte(a.ResourceType), byte(a.PatternType), byte(a.Operation), byte(a.Permission))
	for _, s := range []string{a.ResourceName, a.Principal, a.Host} {
		b = append(b, fmt.Sprintf("%d:", len(s))...)
		b = append(b, s...)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// ParsePrincipal parses Kafka's "Type:name" form; auth knows only the User
// type.
func ParsePrincipal(s string) (Principal, error) {
	t, n, ok := strings.Cut(s, ":")
	if !ok || t != "User" || n == "" {
		return Principal{}, fmt.Errorf("auth: principal %q, want User:name: %w", s, ErrInvalid)
	}
	return Principal{Type: t, Name: n}, nil
}

// Validate checks an ACL as Kafka's CreateAcls does: concrete enum values
// (no ANY, UNKNOWN or MATCH), a User principal, a non-empty resource name
// (kafka-cluster for the Cluster), a host "*" or an IP address.
func (a ACL) Validate() error {
	bad := func(what string, v any) error { return fmt.Errorf("auth: ACL %s %v: %w", what, v, ErrInvalid) }
	if a.ResourceType < kmsg.ACLResourceTypeTopic || a.ResourceType > kmsg.ACLResourceTypeUser {
		return bad("resource type", a.ResourceType)
	}
	if a.PatternType != kmsg.ACLResourcePatternTypeLiteral && a.PatternType != kmsg.ACLResourcePatternTypePrefixed {
		return bad("pattern type", a.PatternType)
	}
	if a.Operation < kmsg.ACLOperationAll || a.Operation > kmsg.ACLOperationDescribeTokens {
		return bad("operation", a.Operation)
	}
	if a.Permission != kmsg.ACLPermissionTypeAllow && a.Permission != kmsg.ACLPermissionTypeDeny {
		return bad("permission", a.Permission)
	}
	if a.ResourceName == "" {
		return bad("resource name", `""`)
	}
	if a.ResourceType == kmsg.ACLResourceTypeCluster && a.ResourceName != ClusterName {
		return bad("cluster resource name (want "+ClusterName+")", a.ResourceName)
	}
	if _, err := ParsePrincipal(a.Principal); err != nil {
		return err
	}
	if a.Host != "*" {
		if _, err := netip.ParseAddr(a.Host); err != nil {
			return bad("host (want * or an IP address)", fmt.Sprintf("%q", a.Host))
		}
	}
	return nil
}

// Validate checks a filter as Kafka's DescribeAcls and DeleteAcls do: no
// UNKNOWN enum value.
func (f ACLFilter) Validate() error {
	if f.ResourceType == kmsg.ACLResourceTypeUnknown || f.ResourceType > kmsg.ACLResourceTypeUser ||
		f.PatternType == kmsg.ACLResourcePatternTypeUnknown || f.PatternType > kmsg.ACLResourcePatternTypePrefixed ||
		f.Operation == kmsg.ACLOperationUnknown || f.Operation > kmsg.ACLOperationDescribeTokens ||
		f.Permission == kmsg.ACLPermissionTypeUnknown || f.Permission > kmsg.ACLPermissionTypeAllow {
		return fmt.Errorf("auth: ACL filter with an unknown or out-of-range value: %w", ErrInvalid)
	}
	return nil
}

// Matches reports whether the filter selects a, with Kafka's
// ResourcePatternFilter and AccessControlEntryFilter rules.
func (f ACLFilter) Matches(a ACL) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != a.ResourceType {
		return false
	}
	if f.PatternType != kmsg.ACLResourcePatternTypeAny && f.PatternType != kmsg.ACLResourcePatternTypeMatch && f.PatternType != a.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		if f.PatternType == kmsg.ACLResourcePatternTypeMatch {
			switch a.PatternType {
			case kmsg.ACLResourcePatternTypeLiteral:
				if a.ResourceName != name && a.ResourceName != "*" {
					return false
				}
			case kmsg.ACLResourcePatternTypePrefixed:
				if !strings.HasPrefix(name, a.ResourceName) {
					return false
				}
			default:
				return false
			}
		} else if a.ResourceName != name {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != a.Operation {
		return false
	}
	return f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == a.Permission
}

// CreateACLs stores acls; one error per ACL (nil when created, ErrInvalid
// for a malformed one, ErrStorage when it could not be stored). Creating an
// existing ACL again succeeds and changes nothing.
func (s *Service) CreateACLs(acls []ACL) []error {
	errs := make([]error, len(acls))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	changed := false
	for i, a := range acls {
		if err := a.Validate(); err != nil {
			errs[i] = err
			continue
		}
		id := aclID(a)
		if _, ok := s.acls[id]; ok {
			continue
		}
		v, err := json.Marshal(toRecord(a))
		if err != nil {
			errs[i] = fmt.Errorf("auth: encode ACL: %w", err)
			continue
		}
		if err := s.st.Put(aclPrefix+id, v); err != nil {
			errs[i] = storageErr("store ACL", err)
			continue
		}
		s.acls[id] = a
		changed = true
	}
	if changed {
		s.rebuildACLIndex()
	}
	return errs
}

// DescribeACLs returns the ACLs matching f, in a stable order.
func (s *Service) DescribeACLs(f ACLFilter) ([]ACL, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var out []ACL
	for _, a := range s.aclIndex.Load().all {
		if f.Matches(a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// DeleteACLs deletes the ACLs matching each filter and returns them, per
// filter (an ACL matched by two filters is listed under both). An invalid
// filter fails the whole call before anything is deleted; a storage error
// leaves the ACLs deleted so far deleted.
func (s *Service) DeleteACLs(fs []ACLFilter) ([][]ACL, error) {
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			return nil, err
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	out := make([][]ACL, len(fs))
	var ids []string
	seen := make(map[string]bool)
	for _, a := range s.aclIndex.Load().all {
		for i, f := range fs {
			if f.Matches(a) {
				out[i] = append(out[i], a)
				if id := aclID(a); !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
	}
	var err error
	n := 0
	for _, id := range ids {
		if err = s.st.Delete(aclPrefix + id); err != nil {
			err = storageErr("delete ACL", err)
			break
		}
		delete(s.acls, id)
		n++
	}
	if n > 0 {
		s.rebuildACLIndex()
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func compareACL(a, b ACL) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType),
		strings.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType),
		strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission),
	)
}

// sortedACLs returns the ACLs in compareACL order (under wmu).
func (s *Service) sortedACLs() []ACL {
	all := make([]ACL, 0, len(s.acls))
	for _, a := range s.acls {
		all = append(all, a)
	}
	slices.SortFunc(all, compareACL)
	return all
}
