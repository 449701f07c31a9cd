package auth

import (
	"net/netip"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclIndex is an immutable snapshot of the ACLs, rebuilt on every change
// and swapped in atomically, so Authorize takes no lock and allocates
// nothing: per resource type, a map of literal names, the literal "*"
// entries, and the prefixed entries by prefix with the distinct prefix
// lengths, so a name is checked with one map lookup per length.
type aclIndex struct {
	gen   uint64
	all   []ACL // sorted, for Describe and Delete
	types [kmsg.ACLResourceTypeUser + 1]typeIndex
}

type typeIndex struct {
	literal    map[string][]aclEntry
	wildcard   []aclEntry
	prefixed   map[string][]aclEntry
	prefixLens []int // ascending
}

// aclEntry is the part of an ACL Authorize compares, principal pre-split.
type aclEntry struct {
	ptype, pname string // pname "*": every name of ptype
	host         string // "*": every host
	op           kmsg.ACLOperation
	deny         bool
}

// rebuildACLIndex publishes a new index of s.acls and bumps the generation
// (under wmu).
func (s *Service) rebuildACLIndex() {
	idx := &aclIndex{gen: s.aclGen.Add(1), all: s.sortedACLs()}
	for _, a := range idx.all {
		p, _ := ParsePrincipal(a.Principal) // validated when created or loaded
		e := aclEntry{ptype: p.Type, pname: p.Name, host: canonicalHost(a.Host), op: a.Operation, deny: a.Permission == kmsg.ACLPermissionTypeDeny}
		ti := &idx.types[a.ResourceType]
		switch {
		case a.PatternType == kmsg.ACLResourcePatternTypePrefixed:
			if ti.prefixed == nil {
				ti.prefixed = make(map[string][]aclEntry)
			}
			if _, ok := ti.prefixed[a.ResourceName]; !ok {
				if n := len(a.ResourceName); !slices.Contains(ti.prefixLens, n) {
					ti.prefixLens = append(ti.prefixLens, n)
				}
			}
			ti.prefixed[a.ResourceName] = append(ti.prefixed[a.ResourceName], e)
		case a.ResourceName == "*":
			ti.wildcard = append(ti.wildcard, e)
		default:
			if ti.literal == nil {
				ti.literal = make(map[string][]aclEntry)
			}
			ti.literal[a.ResourceName] = append(ti.literal[a.ResourceName], e)
		}
	}
	for i := range idx.types {
		slices.Sort(idx.types[i].prefixLens)
	}
	s.aclIndex.Store(idx)
}

// canonicalHost is the form hosts are compared in: Go's String form of the
// address (so "0:0:0:0:0:0:0:1" matches "::1"), IPv4-mapped IPv6 as IPv4.
func canonicalHost(h string) string {
	a, err := netip.ParseAddr(h)
	if err != nil {
		return h // "*"
	}
	return a.Unmap().String()
}

// Generation changes whenever an ACL is created or deleted, so callers can
// cache decisions per connection.
func (s *Service) Generation() uint64 { return s.aclIndex.Load().gen }

// Authorize decides whether p, connected from host (an IP address in Go's
// String form, e.g. net.IP.String or netip.Addr.Unmap().String()), may do
// op on the resource: superusers always; otherwise DENY wins, an ALLOW for
// op (or ALL; READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS
// implies DESCRIBE_CONFIGS) allows, and with no ACL on the resource at all,
// AllowEveryoneIfNoACL decides. Always true when authorization is off.
func (s *Service) Authorize(p Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if !s.cfg.Authorization || s.IsSuperuser(p) {
		return true
	}
	idx := s.aclIndex.Load()
	if rt < 0 || int(rt) >= len(idx.types) {
		return false
	}
	ti := &idx.types[rt]
	var d decision
	d.check(ti.literal[name], p, host, op)
	d.check(ti.wildcard, p, host, op)
	for _, n := range ti.prefixLens {
		if n > len(name) {
			break
		}
		if es, ok := ti.prefixed[name[:n]]; ok {
			d.check(es, p, host, op)
		}
	}
	switch {
	case d.denied:
		return false
	case d.allowed:
		return true
	case !d.found:
		return s.cfg.AllowEveryoneIfNoACL
	}
	return false
}

// decision accumulates the ACLs of one resource.
type decision struct {
	found, allowed, denied bool
}

func (d *decision) check(es []aclEntry, p Principal, host string, op kmsg.ACLOperation) {
	if len(es) == 0 {
		return
	}
	d.found = true
	for i := range es {
		e := &es[i]
		if e.ptype != p.Type || (e.pname != "*" && e.pname != p.Name) || (e.host != "*" && e.host != host) {
			continue
		}
		if e.deny {
			// DENY applies to its operation and ALL only, never implied ones.
			if e.op == op || e.op == kmsg.ACLOperationAll {
				d.denied = true
			}
		} else if impliesAllow(e.op, op) {
			d.allowed = true
		}
	}
}

// impliesAllow reports whether an ALLOW for granted allows op.
func impliesAllow(granted, op kmsg.ACLOperation) bool {
	if granted == op || granted == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		return granted == kmsg.ACLOperationRead || granted == kmsg.ACLOperationWrite ||
			granted == kmsg.ACLOperationDelete || granted == kmsg.ACLOperationAlter
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}
